"""Volatility family beyond the shared checks of ``test_families.py``: the flat halt as the first candles,
KELTNER against talib.KC (which seeds its legs differently), instruments quoted below 1e-8, SUPERTREND's flips,
labels and panes."""

import numpy as np
import pytest
import talib

from indicator_checks import assert_close_after_warmup, check_streaming_matches_reference, stream
from indicator_families import VOLATILITY, hlc, supertrend_arrays
from recorded import HALT_START, RECORDINGS, load

from thebot_panel.indicators import ATR, BBANDS, DONCHIAN, KELTNER, NATR, SUPERTREND, TRANGE


@pytest.mark.parametrize("case", ["BBANDS(20, 2, 2)", "BBANDS(5, 2, 2)", "ATR(14)=talib default",
                                  "NATR(14)=talib default", "KELTNER(20, 2, 10)", "DONCHIAN(20)", "SUPERTREND(10, 3)=talib default"])
def test_when_the_halt_is_the_first_candles(case):
    """From the halt on, the first 72 candles are flat: true range and deviation are 0 there."""
    make, reference = VOLATILITY[case]
    indicator = make()
    got = check_streaming_matches_reference(make, reference, load("ethusdt_2023_halt").iloc[HALT_START:])
    if case.startswith(("ATR", "NATR")):
        assert (got[indicator.warmup:72] == 0.0).all()
    if case.startswith("BBANDS"):
        assert (got[indicator.warmup:72, 0] == got[indicator.warmup:72, 2]).all()


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
