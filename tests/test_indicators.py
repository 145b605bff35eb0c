"""Incremental indicators: one candle at a time they equal TA-Lib; batch, provisional and recompute agree."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from talib import abstract

from thebot_panel import indicators
from thebot_panel.binance.events import Kline
from thebot_panel.indicators import EMA, RSI, SMA, Indicator
from thebot_panel.indicators.base import NAN
from thebot_panel.pipeline.candles import OHLCV, candle_frame

FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = {  # 3,000 real 1m candles each; the ETH slice holds the 2023-03-24 halt (72 flat candles, then a gap)
    "btcusdt_2025": "BTCUSDT-1m-2025-3000.csv.gz",
    "ethusdt_2023_halt": "ETHUSDT-1m-2023-03-23_halt_3000.csv.gz",
}
HALT_START = 1500  # row of 2023-03-24 11:28 UTC in the ETH slice


def load(recording: str) -> pd.DataFrame:
    raw = pd.read_csv(FIXTURES / RECORDINGS[recording])
    return candle_frame(raw["open_time"].to_numpy(), {c: raw[c].to_numpy() for c in OHLCV})


def klines(frame: pd.DataFrame) -> list[Kline]:
    times = frame.index.as_unit("ms").asi8.tolist()
    rows = frame[list(OHLCV)].itertuples(index=False)
    return [Kline("ETHUSDT", "1m", t, t + 59_999, *row, closed=True) for t, row in zip(times, rows)]


def stream(indicator: Indicator, frame: pd.DataFrame) -> np.ndarray:
    """Feed ``frame`` one closed kline at a time; first output per candle."""
    return np.array([indicator.update(k, closed=True)[0] for k in klines(frame)])


def assert_matches_talib(got: np.ndarray, expected: np.ndarray, lookback: int) -> None:
    assert np.isnan(got[:lookback]).all()
    assert not np.isnan(got[lookback:]).any()
    np.testing.assert_allclose(got[lookback:], expected[lookback:], rtol=1e-9, atol=0)


def o_h_l_c(frame):
    return (frame[c].to_numpy() for c in ("open", "high", "low", "close"))


CASES = {  # indicator -> the TA-Lib computation it must equal
    "SMA(20)": (lambda: SMA(), lambda o, h, l, c: talib.SMA(c, 20)),
    "SMA(30)=talib default": (lambda: SMA(period=30), lambda o, h, l, c: talib.SMA(c)),
    "SMA(50, hlc3)": (lambda: SMA(period=50, source="hlc3"), lambda o, h, l, c: talib.SMA(talib.TYPPRICE(h, l, c), 50)),
    "EMA(20)": (lambda: EMA(), lambda o, h, l, c: talib.EMA(c, 20)),
    "EMA(30)=talib default": (lambda: EMA(period=30), lambda o, h, l, c: talib.EMA(c)),
    "EMA(9)": (lambda: EMA(period=9), lambda o, h, l, c: talib.EMA(c, 9)),
    "EMA(21)": (lambda: EMA(period=21), lambda o, h, l, c: talib.EMA(c, 21)),
    "EMA(50)": (lambda: EMA(period=50), lambda o, h, l, c: talib.EMA(c, 50)),
    "EMA(9, hl2)": (lambda: EMA(period=9, source="hl2"), lambda o, h, l, c: talib.EMA(talib.MEDPRICE(h, l), 9)),
    "RSI(14)=talib default": (lambda: RSI(), lambda o, h, l, c: talib.RSI(c)),
    "RSI(7)": (lambda: RSI(period=7), lambda o, h, l, c: talib.RSI(c, 7)),
    "RSI(21)": (lambda: RSI(period=21), lambda o, h, l, c: talib.RSI(c, 21)),
    "RSI(14, ohlc4)": (lambda: RSI(source="ohlc4"), lambda o, h, l, c: talib.RSI(talib.AVGPRICE(o, h, l, c), 14)),
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_talib(case, recording):
    make, reference = CASES[case]
    frame = load(recording)
    indicator = make()
    assert_matches_talib(stream(indicator, frame), reference(*o_h_l_c(frame)), indicator.lookback)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    make, _ = CASES[case]
    frame = load(recording)
    indicator = make()
    batch = indicator.batch(frame)
    assert list(batch.columns) == indicator.columns
    assert batch.index.equals(frame.index) and (batch.dtypes == "float64").all()
    np.testing.assert_array_equal(batch.iloc[:, 0].to_numpy(), stream(make(), frame))


@pytest.mark.parametrize("period", [7, 14, 21])
def test_rsi_is_zero_on_flat_halt_candles_like_talib(period):
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]  # the seed period is all flat: gain + loss == 0
    got = stream(RSI(period=period), frame)
    assert (got[period:72] == 0.0).all()
    assert_matches_talib(got, talib.RSI(frame["close"].to_numpy(), period), period)


@pytest.mark.parametrize("make", [lambda: SMA(period=5), lambda: EMA(period=9), lambda: RSI(period=7)])
def test_provisional_value_equals_committed_value_and_commits_nothing(make):
    indicator, twin = make(), make()  # twin sees closed candles only
    for k in klines(load("btcusdt_2025").iloc[:200]):
        for partial in (replace(k, high=k.open, low=k.open, close=k.open, volume=0.0, closed=False),
                        replace(k, close=(k.open + k.close) / 2, closed=False)):
            indicator.update(partial, closed=False)
        provisional = indicator.update(replace(k, closed=False), closed=False)
        committed = indicator.update(k, closed=True)
        np.testing.assert_array_equal(provisional, committed)
        np.testing.assert_array_equal(committed, twin.update(k, closed=True))


@pytest.mark.parametrize("make, change, reference", [
    (lambda: EMA(period=20), {"period": 50}, lambda c: talib.EMA(c, 50)),
    (lambda: SMA(period=20), {"period": 9}, lambda c: talib.SMA(c, 9)),
    (lambda: RSI(period=14), {"period": 21}, lambda c: talib.RSI(c, 21)),
    (lambda: EMA(period=20), {"source": "hl2"}, None),
])
def test_recompute_after_parameter_change_then_updates_continue(make, change, reference):
    frame = load("btcusdt_2025")
    history, live = frame.iloc[:2000], klines(frame.iloc[2000:])
    indicator = make()
    indicator.recompute(history)
    indicator.param.update(**change)
    expected = (reference(frame["close"].to_numpy()) if reference
                else talib.EMA(talib.MEDPRICE(frame["high"].to_numpy(), frame["low"].to_numpy()), 20))
    recomputed = indicator.recompute(history)[indicator.columns[0]].to_numpy()
    continued = np.array([indicator.update(k, closed=True)[0] for k in live])
    assert_matches_talib(np.r_[recomputed, continued], expected, indicator.lookback)


def test_parameter_change_resets_committed_state_until_recompute():
    frame = load("btcusdt_2025").iloc[:100]
    ema = EMA(period=9)
    ema.recompute(frame)
    ema.period = 10
    assert np.isnan(ema.update(klines(frame)[-1], closed=True)[0])


@pytest.mark.parametrize("value", [1, 10**6, "x", 2.5])
def test_period_outside_bounds_or_not_an_integer_raises_naming_parameter_and_bounds(value):
    with pytest.raises(ValueError) as created:
        EMA(period=value)
    ema = EMA(period=9)
    with pytest.raises(ValueError) as assigned:
        ema.period = value
    for error in (created, assigned):
        message = str(error.value)
        assert "EMA.period" in message and repr(value) in message and "(2, 1000)" in message
    assert ema.period == 9


def test_unknown_source_raises_naming_the_choices():
    with pytest.raises(ValueError, match=r"RSI\.source='hl3'.*'hlc3'"):
        RSI(source="hl3")


def test_labels_columns_and_panes():
    assert (EMA().label, EMA().columns) == ("EMA(20)", ["ema_20"])
    assert (SMA().label, RSI().label) == ("SMA(20)", "RSI(14)")
    hl2 = EMA(period=9, source="hl2")
    assert (hl2.label, hl2.column("ema")) == ("EMA(9, hl2)", "ema_9_hl2")
    assert (SMA.pane, EMA.pane, RSI.pane) == ("price", "price", "own")


@pytest.mark.parametrize("indicator, function",
                         [(SMA(period=20), "SMA"), (EMA(period=50), "EMA"), (RSI(period=7), "RSI")])
def test_lookback_equals_talib_lookback(indicator, function):
    reference = abstract.Function(function)
    reference.parameters = {"timeperiod": indicator.period}
    assert indicator.lookback == reference.lookback


def test_registry_lists_and_creates_indicators():
    assert indicators.available() == ["EMA", "RSI", "SMA"]
    ema = indicators.create("EMA", period=50)
    assert isinstance(ema, EMA) and ema.period == 50
    with pytest.raises(ValueError, match=r"'MACDX'.*\['EMA', 'RSI', 'SMA'\]"):
        indicators.create("MACDX")


class TrueRange(Indicator):
    """A multi-input indicator written as the later ones will be: ``take`` returns a tuple."""

    outputs = ("tr",)
    lookback = 1

    def take(self, candle):
        return candle.high, candle.low, candle.close

    def initial_state(self):
        return NAN  # previous close

    def step(self, previous_close, x, past):
        high, low, close = x
        if previous_close != previous_close:
            return close, (NAN,)
        return close, (max(high, previous_close) - min(low, previous_close),)


def test_multi_input_indicator_streams_and_batches_like_talib():
    frame = load("ethusdt_2023_halt")
    expected = talib.TRANGE(*[frame[c].to_numpy() for c in ("high", "low", "close")])
    streamed = stream(TrueRange(), frame)
    assert_matches_talib(streamed, expected, 1)
    np.testing.assert_array_equal(TrueRange().batch(frame)["tr"].to_numpy(), streamed)
