"""Momentum family: one closed candle at a time and in batch, each indicator equals TA-Lib's same-named function.

References come from ``talib`` only. Every indicator runs at TA-Lib's defaults, at our user defaults
(TradingView's for the stochastics) and at one other set, on both recordings (the ETH one holds the
2023-03-24 halt: 72 flat zero-volume candles, where TA-Lib's zero guards decide the values).
"""

from __future__ import annotations

import numpy as np
import pytest
import talib
from indicator_cases import (HALT_START, RECORDINGS, assert_close_after_warmup, check_batch_equals_streaming,
                             check_provisional_equals_committed, check_streaming_matches_reference, hlcv, load,
                             stream)
from talib import abstract

from thebot_panel.indicators import CCI, MACD, MFI, MOM, ROC, RSI, SMA, STOCH, STOCHF, STOCHRSI, WILLR
from thebot_panel.market.candles import candle_frame


def _hlc(frame):
    _, h, l, c, _ = hlcv(frame)
    return h, l, c


def _close(frame):
    return frame["close"].to_numpy()


CASES = {  # case -> (make, reference(frame) -> outputs in `outputs` order)
    "STOCH(5,3,3)=talib default": (lambda: STOCH(fastk_period=5, slowk_period=3, slowd_period=3),
                                   lambda f: talib.STOCH(*_hlc(f))),
    "STOCH(14,3,3)=ours": (lambda: STOCH(),
                           lambda f: talib.STOCH(*_hlc(f), fastk_period=14, slowk_period=3, slowd_period=3)),
    "STOCH(21,5,4)": (lambda: STOCH(fastk_period=21, slowk_period=5, slowd_period=4),
                      lambda f: talib.STOCH(*_hlc(f), fastk_period=21, slowk_period=5, slowd_period=4)),
    "STOCH(9,1,1)": (lambda: STOCH(fastk_period=9, slowk_period=1, slowd_period=1),
                     lambda f: talib.STOCH(*_hlc(f), fastk_period=9, slowk_period=1, slowd_period=1)),
    "STOCHF(5,3)=talib default": (lambda: STOCHF(fastk_period=5, fastd_period=3), lambda f: talib.STOCHF(*_hlc(f))),
    "STOCHF(14,3)=ours": (lambda: STOCHF(), lambda f: talib.STOCHF(*_hlc(f), fastk_period=14, fastd_period=3)),
    "STOCHF(21,5)": (lambda: STOCHF(fastk_period=21, fastd_period=5),
                     lambda f: talib.STOCHF(*_hlc(f), fastk_period=21, fastd_period=5)),
    "STOCHRSI(14,5,3)=talib default": (lambda: STOCHRSI(fastk_period=5), lambda f: talib.STOCHRSI(_close(f))),
    "STOCHRSI(14,14,3)=ours": (lambda: STOCHRSI(),
                               lambda f: talib.STOCHRSI(_close(f), timeperiod=14, fastk_period=14, fastd_period=3)),
    "STOCHRSI(7,9,4, hlc3)": (lambda: STOCHRSI(timeperiod=7, fastk_period=9, fastd_period=4, source="hlc3"),
                              lambda f: talib.STOCHRSI(talib.TYPPRICE(*_hlc(f)), timeperiod=7, fastk_period=9,
                                                       fastd_period=4)),
    "MACD(12,26,9)=talib default=ours": (lambda: MACD(), lambda f: talib.MACD(_close(f))),
    "MACD(8,21,5)": (lambda: MACD(fast=8, slow=21, signal=5),
                     lambda f: talib.MACD(_close(f), fastperiod=8, slowperiod=21, signalperiod=5)),
    "MACD(26,12,1) swapped like talib": (lambda: MACD(fast=26, slow=12, signal=1),
                                         lambda f: talib.MACD(_close(f), fastperiod=26, slowperiod=12,
                                                              signalperiod=1)),
    "MOM(10)=talib default=ours": (lambda: MOM(), lambda f: talib.MOM(_close(f))),
    "MOM(3, hl2)": (lambda: MOM(period=3, source="hl2"),
                    lambda f: talib.MOM(talib.MEDPRICE(f["high"].to_numpy(), f["low"].to_numpy()), 3)),
    "ROC(10)=talib default=ours": (lambda: ROC(), lambda f: talib.ROC(_close(f))),
    "ROC(20)": (lambda: ROC(period=20), lambda f: talib.ROC(_close(f), 20)),
    "WILLR(14)=talib default=ours": (lambda: WILLR(), lambda f: talib.WILLR(*_hlc(f))),
    "WILLR(7)": (lambda: WILLR(period=7), lambda f: talib.WILLR(*_hlc(f), 7)),
    "CCI(14)=talib default=ours": (lambda: CCI(), lambda f: talib.CCI(*_hlc(f))),
    "CCI(40)": (lambda: CCI(period=40), lambda f: talib.CCI(*_hlc(f), 40)),
    "MFI(14)=talib default=ours": (lambda: MFI(), lambda f: talib.MFI(*hlcv(f)[1:])),
    "MFI(7)": (lambda: MFI(period=7), lambda f: talib.MFI(*hlcv(f)[1:], 7)),
    "SMA(9) of MACD hist": (lambda: SMA(period=9, of=MACD(), output="hist"),
                            lambda f: talib.SMA(talib.MACD(_close(f))[2], 9)),
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_talib(case, recording):
    check_streaming_matches_reference(*CASES[case], recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    check_batch_equals_streaming(CASES[case][0], recording)


@pytest.mark.parametrize("case", [
    "STOCH(14,3,3)=ours", "STOCHF(14,3)=ours", "STOCHRSI(14,14,3)=ours", "MACD(12,26,9)=talib default=ours",
    "MOM(10)=talib default=ours", "ROC(10)=talib default=ours", "WILLR(14)=talib default=ours",
    "CCI(14)=talib default=ours", "MFI(14)=talib default=ours", "SMA(9) of MACD hist",
])
def test_provisional_value_equals_committed_value_and_commits_nothing(case):
    check_provisional_equals_committed(CASES[case][0])


@pytest.mark.parametrize("indicator, function, parameters", [
    (STOCH(), "STOCH", {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3}),
    (STOCH(fastk_period=21, slowk_period=5, slowd_period=4), "STOCH",
     {"fastk_period": 21, "slowk_period": 5, "slowd_period": 4}),
    (STOCHF(), "STOCHF", {"fastk_period": 14, "fastd_period": 3}),
    (STOCHF(fastk_period=5, fastd_period=1), "STOCHF", {"fastk_period": 5, "fastd_period": 1}),
    (STOCHRSI(), "STOCHRSI", {"timeperiod": 14, "fastk_period": 14, "fastd_period": 3}),
    (STOCHRSI(timeperiod=7, fastk_period=9, fastd_period=4), "STOCHRSI",
     {"timeperiod": 7, "fastk_period": 9, "fastd_period": 4}),
    (MACD(), "MACD", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
    (MACD(fast=26, slow=12, signal=1), "MACD", {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1}),
    (MOM(period=3), "MOM", {"timeperiod": 3}),
    (ROC(period=20), "ROC", {"timeperiod": 20}),
    (WILLR(period=7), "WILLR", {"timeperiod": 7}),
    (CCI(period=40), "CCI", {"timeperiod": 40}),
    (MFI(period=7), "MFI", {"timeperiod": 7}),
])
def test_lookback_equals_talib_lookback(indicator, function, parameters):
    reference = abstract.Function(function)
    reference.parameters = parameters
    assert indicator.lookback == reference.lookback


def test_halt_candles_take_talib_zero_guards_without_nan():
    """Inside the 72 flat zero-volume halt candles the windows are flat: TA-Lib's guards give 0 (-0 for %R)."""
    frame = load("ethusdt_2023_halt")
    h, l, c = _hlc(frame)
    inside = slice(HALT_START + 40, HALT_START + 72)  # windows entirely within the halt
    for indicator, expected in [(STOCHF(), talib.STOCHF(h, l, c, 14, 3)[0]), (WILLR(), talib.WILLR(h, l, c)),
                                (CCI(), talib.CCI(h, l, c)), (MFI(), talib.MFI(h, l, c, hlcv(frame)[4])),
                                (STOCHRSI(), talib.STOCHRSI(c, 14, 14, 3)[0])]:
        got = stream(indicator, frame)[:, 0]
        assert (expected[inside] == 0.0).all() and (got[inside] == 0.0).all(), indicator.label


def test_near_flat_windows_follow_talib_scaled_zero_tests():
    """Ranges around TA-Lib's 1e-14 relative flatness band (TA_IS_ZERO_SCALED), at two price levels."""
    rng = np.random.default_rng(7)
    n, rows = 400, []
    for level in (0.001, 30000.0):
        steps = rng.choice([0.0, 0.5e-14, 1.5e-14, 1e-13, 1e-9], size=n) * rng.choice([-1, 1], size=n)
        close = level * (1 + np.cumsum(steps))
        spread = level * rng.choice([0.0, 0.4e-14, 0.6e-14, 2e-14], size=n)
        rows.append((close + spread, close - spread, close, rng.choice([0.0, 3.0], size=n)))
    high, low, close, volume = (np.concatenate(parts) for parts in zip(*rows))
    frame = candle_frame(np.arange(2 * n, dtype="int64") * 60_000,
                         {"open": close, "high": high, "low": low, "close": close, "volume": volume})
    for indicator, expected in [(STOCHF(), talib.STOCHF(high, low, close, 14, 3)), (WILLR(), talib.WILLR(high, low, close)),
                                (CCI(), talib.CCI(high, low, close)), (MFI(), talib.MFI(high, low, close, volume))]:
        got = stream(indicator, frame)
        expected = expected if isinstance(expected, tuple) else (expected,)
        for i in range(len(expected)):
            assert_close_after_warmup(got[:, i], expected[i], indicator.warmup)


def test_panes_levels_and_styles():
    for cls in (STOCH, STOCHF, STOCHRSI, MACD, MOM, ROC, WILLR, CCI, MFI):
        assert cls.pane == "own"
    assert STOCH.levels == STOCHF.levels == STOCHRSI.levels == MFI.levels == (20.0, 80.0)
    assert (WILLR.levels, CCI.levels) == ((-80.0, -20.0), (-100.0, 100.0))
    assert MOM.levels == ROC.levels == MACD.levels == (0.0,)
    assert MACD.styles == {"hist": "histogram"}
    assert (STOCH.fields, MFI.fields) == (("high", "low", "close"), ("high", "low", "close", "volume"))


def test_columns_and_labels_list_parameters_in_declaration_order():
    assert MACD().columns == ["macd_12_26_9", "signal_12_26_9", "hist_12_26_9"]
    assert STOCHRSI(timeperiod=7, fastk_period=9, fastd_period=4).label == "STOCHRSI(7, 9, 4)"


def test_rsi_after_a_long_flat_stretch_and_at_tiny_prices_matches_talib():
    """TA-Lib tests gain + loss exactly: a decayed gain (250+ flat candles) or a tiny-priced instrument still has an RSI."""
    rises = np.r_[np.arange(1000.0, 1016.0), np.full(400, 1015.0)]
    tiny = 1e-5 * (1 + np.cumsum(np.tile([3e-9, -2e-9], 100)))
    for close in (rises, tiny):
        frame = candle_frame(np.arange(len(close), dtype="int64") * 60_000,
                             {"open": close, "high": close, "low": close, "close": close, "volume": close})
        for indicator, expected in [(RSI(), (talib.RSI(close),)), (STOCHRSI(), talib.STOCHRSI(close, 14, 14, 3))]:
            got = stream(indicator, frame)
            for i in range(len(expected)):
                assert_close_after_warmup(got[:, i], expected[i], indicator.warmup)
