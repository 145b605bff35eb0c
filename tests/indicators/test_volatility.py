"""Volatility family on both recordings, streaming and batch: BBANDS, ATR, NATR, TRANGE, DONCHIAN and SUPERTREND
equal to their TA-Lib twins (TA-Lib 0.8.1 has DONCHIAN and SUPERTREND); KELTNER and DONCHIAN equal to a numpy
computation of their definition on TA-Lib building blocks (talib.KC seeds its legs differently: see its test)."""

import numpy as np
import pytest
import talib
from indicator_cases import (HALT_START, RECORDINGS, assert_close_after_warmup, check_batch_equals_streaming,
                             check_provisional_equals_committed, check_streaming_matches_reference, hlcv, load, stream)
from talib import abstract

from thebot_panel.indicators import ATR, BBANDS, DONCHIAN, KELTNER, NATR, SUPERTREND, TRANGE


def hlc(frame):
    _, high, low, close, _ = hlcv(frame)
    return high, low, close


def keltner(frame, period, multiplier, atr_period, source=None):
    """TradingView's Keltner channels: EMA(source) ± multiplier × ATR (here talib's), NaN until both exist."""
    high, low, close = hlc(frame)
    middle = talib.EMA(close if source is None else source(frame), period)
    span = multiplier * talib.ATR(high, low, close, atr_period)
    middle = np.where(np.isnan(span), np.nan, middle)
    return middle + span, middle, middle - span


def donchian(frame, period):
    """Highest high, midpoint, lowest low from talib.MAX / talib.MIN (the definition)."""
    high, low, _ = hlc(frame)
    upper, lower = talib.MAX(high, period), talib.MIN(low, period)
    return upper, (upper + lower) / 2, lower


def supertrend_arrays(high, low, close, atr_period, multiplier):
    """talib.SUPERTREND, its integer trend (0 in the warm-up) as a float direction (NaN in the warm-up)."""
    value, trend = talib.SUPERTREND(high, low, close, atr_period, multiplier)
    return value, np.where(np.isnan(value), np.nan, trend.astype("float64"))


def supertrend(frame, atr_period, multiplier):
    return supertrend_arrays(*hlc(frame), atr_period, multiplier)


CASES = {  # case -> (make, reference)
    "BBANDS()=talib default": (lambda: BBANDS(), lambda f: talib.BBANDS(f["close"].to_numpy())),
    "BBANDS(20, 2, 2)": (lambda: BBANDS(period=20), lambda f: talib.BBANDS(f["close"].to_numpy(), 20, 2.0, 2.0)),
    "BBANDS(5, 2, 2)": (lambda: BBANDS(period=5), lambda f: talib.BBANDS(f["close"].to_numpy(), 5, 2.0, 2.0)),
    "BBANDS(10, 1.5, 2.5, hlc3)": (lambda: BBANDS(period=10, nbdevup=1.5, nbdevdn=2.5, source="hlc3"),
                                   lambda f: talib.BBANDS(talib.TYPPRICE(*hlc(f)), 10, 1.5, 2.5)),
    "BBANDS(20, 1, 1)": (lambda: BBANDS(nbdevup=1.0, nbdevdn=1.0),
                         lambda f: talib.BBANDS(f["close"].to_numpy(), 20, 1.0, 1.0)),
    "ATR(14)=talib default": (lambda: ATR(), lambda f: talib.ATR(*hlc(f))),
    "ATR(7)": (lambda: ATR(period=7), lambda f: talib.ATR(*hlc(f), 7)),
    "NATR(14)=talib default": (lambda: NATR(), lambda f: talib.NATR(*hlc(f))),
    "NATR(21)": (lambda: NATR(period=21), lambda f: talib.NATR(*hlc(f), 21)),
    "TRANGE": (lambda: TRANGE(), lambda f: talib.TRANGE(*hlc(f))),
    "KELTNER(20, 2, 10)": (lambda: KELTNER(), lambda f: keltner(f, 20, 2.0, 10)),
    "KELTNER(10, 1.5, 14, hlc3)": (lambda: KELTNER(period=10, multiplier=1.5, atr_period=14, source="hlc3"),
                                   lambda f: keltner(f, 10, 1.5, 14, lambda f: talib.TYPPRICE(*hlc(f)))),
    "DONCHIAN(20)": (lambda: DONCHIAN(), lambda f: donchian(f, 20)),
    "DONCHIAN(55)": (lambda: DONCHIAN(period=55), lambda f: donchian(f, 55)),
    "DONCHIAN(20)=talib default": (lambda: DONCHIAN(), lambda f: talib.DONCHIAN(*hlc(f)[:2])),
    "DONCHIAN(10)=talib": (lambda: DONCHIAN(period=10), lambda f: talib.DONCHIAN(*hlc(f)[:2], 10)),
    "SUPERTREND(10, 3)=talib default": (lambda: SUPERTREND(), lambda f: supertrend(f, 10, 3.0)),
    "SUPERTREND(7, 2)": (lambda: SUPERTREND(atr_period=7, multiplier=2.0), lambda f: supertrend(f, 7, 2.0)),
    "SUPERTREND(10, 0.5)": (lambda: SUPERTREND(multiplier=0.5), lambda f: supertrend(f, 10, 0.5)),  # closes beyond the basic band
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_reference(case, recording):
    check_streaming_matches_reference(*CASES[case], recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    check_batch_equals_streaming(CASES[case][0], recording)


@pytest.mark.parametrize("case", ["BBANDS(20, 2, 2)", "BBANDS(5, 2, 2)", "ATR(14)=talib default",
                                  "NATR(14)=talib default", "KELTNER(20, 2, 10)", "DONCHIAN(20)", "SUPERTREND(10, 3)=talib default"])
def test_when_the_halt_is_the_first_candles(case):
    """From the halt on, the first 72 candles are flat: true range and deviation are 0 there."""
    make, reference = CASES[case]
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]
    indicator = make()
    got, expected = stream(indicator, frame), reference(frame)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for i in range(len(indicator.outputs)):
        assert_close_after_warmup(got[:, i], np.asarray(expected[i]), indicator.warmup)
    if case.startswith(("ATR", "NATR")):
        assert (got[indicator.warmup:72] == 0.0).all()
    if case.startswith("BBANDS"):
        assert (got[indicator.warmup:72, 0] == got[indicator.warmup:72, 2]).all()


@pytest.mark.parametrize("make", [BBANDS, ATR, NATR, TRANGE, KELTNER, DONCHIAN, SUPERTREND])
def test_provisional_value_equals_committed_value_and_commits_nothing(make):
    check_provisional_equals_committed(make)


@pytest.mark.parametrize("indicator, function, parameters", [
    (BBANDS(), "BBANDS", {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
    (BBANDS(period=5, nbdevup=1.5), "BBANDS", {"timeperiod": 5, "nbdevup": 1.5, "nbdevdn": 2.0}),
    (ATR(), "ATR", {"timeperiod": 14}),
    (ATR(period=7), "ATR", {"timeperiod": 7}),
    (NATR(period=21), "NATR", {"timeperiod": 21}),
    (TRANGE(), "TRANGE", {}),
    (KELTNER(period=10, atr_period=14), "KC", {"timeperiod": 10, "atrperiod": 14, "nbdev": 2.0}),
    (KELTNER(), "KC", {"timeperiod": 20, "atrperiod": 10, "nbdev": 2.0}),
    (DONCHIAN(period=55), "DONCHIAN", {"timeperiod": 55}),
    (SUPERTREND(atr_period=7, multiplier=2.0), "SUPERTREND", {"timeperiod": 7, "multiplier": 2.0}),
])
def test_lookback_equals_talib_lookback(indicator, function, parameters):
    reference = abstract.Function(function)
    reference.parameters = parameters
    assert indicator.lookback == indicator.warmup == reference.lookback


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("period, atr_period", [(20, 10), (10, 14)])
def test_keltner_on_typical_price_converges_to_talib_kc(recording, period, atr_period):
    """talib.KC is EMA(hlc3) ± nbdev × ATR with both legs seeded at KC's lookback, not at their own:
    the same middle line once the EMA is seeded there, and bands within 1e-9 after ~130 candles."""
    frame = load(recording)
    got = KELTNER(period=period, atr_period=atr_period, source="hlc3").batch(frame).to_numpy()
    expected = np.column_stack(talib.KC(*hlc(frame), period, atr_period, 2.0))
    settled = 200
    np.testing.assert_allclose(got[settled:], expected[settled:], rtol=1e-9)
    if atr_period <= period - 1:
        np.testing.assert_array_equal(got[:, 1], expected[:, 1])


SCALED = {  # indicator -> (make, reference on high/low/close, a sign its values were not zeroed)
    "BBANDS": (BBANDS, lambda h, l, c: talib.BBANDS(c, 20, 2.0, 2.0), lambda values: values[:, 0] > values[:, 2]),
    "NATR": (NATR, lambda h, l, c: (talib.NATR(h, l, c, 14),), lambda values: values[:, 0] > 0),
    "SUPERTREND": (SUPERTREND, lambda h, l, c: supertrend_arrays(h, l, c, 10, 3.0), lambda values: values[:, 0] > 0),
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", SCALED)
def test_an_instrument_quoted_below_1e_8_is_not_zeroed_like_talib(case, recording):
    """Prices scaled by 1e-13 (true ranges, closes and variances below 1e-8): TA-Lib 0.8.1 tests zero exactly
    (#243, #253), not against a fixed 1e-8."""
    make, reference, alive = SCALED[case]
    frame = load(recording)
    frame[["open", "high", "low", "close"]] *= 1e-13
    indicator = make()
    got, expected = stream(indicator, frame), reference(*hlc(frame))
    for i in range(len(indicator.outputs)):
        assert_close_after_warmup(got[:, i], np.asarray(expected[i]), indicator.warmup)
    assert alive(got[indicator.warmup:]).mean() > 0.9


def test_supertrend_flips_both_ways_and_stays_on_the_far_side_of_the_close():
    frame = load("btcusdt_2025")
    values = SUPERTREND().batch(frame).dropna()
    line, direction, close = values.iloc[:, 0], values.iloc[:, 1], frame["close"].loc[values.index]
    assert set(direction) == {-1.0, 1.0} and (direction.diff().fillna(0) != 0).sum() > 10
    assert ((line <= close)[direction > 0]).all() and ((line >= close)[direction < 0]).all()


def test_labels_columns_panes():
    assert BBANDS(period=21, nbdevup=2.5).label == "BBANDS(21, 2.5, 2)" and BBANDS().columns[0] == "upperband_20_2_2"
    assert KELTNER().label == "KELTNER(20, 2, 10)" and KELTNER(source="hl2").label == "KELTNER(20, 2, 10, hl2)"
    assert KELTNER(source="hl2").needs == ["high", "low", "close"] and KELTNER(source="open").needs[0] == "open"
    assert TRANGE().columns == ["trange"] and SUPERTREND.outputs == ("supertrend", "direction")
    price = (BBANDS, KELTNER, DONCHIAN, SUPERTREND)
    assert all(cls.pane == "price" for cls in price) and all(cls.pane == "own" for cls in (ATR, NATR, TRANGE))
