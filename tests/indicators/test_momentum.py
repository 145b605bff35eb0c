"""Momentum family beyond the shared checks of ``test_families.py``: TA-Lib's zero guards in the flat
2023-03-24 halt and around its 1e-14 flatness band, RSI after long flat stretches, panes, levels and labels."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from indicator_checks import assert_close_after_warmup, stream
from indicator_families import hlc, hlcv
from recorded import HALT_START, load

from thebot_panel.indicators import CCI, MACD, MFI, MOM, ROC, RSI, STOCH, STOCHF, STOCHRSI, WILLR
from thebot_panel.market.candles import candle_frame


@pytest.mark.parametrize("period", [7, 14, 21])
def test_rsi_is_zero_on_flat_halt_candles_like_talib(period):
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]  # the seed period is all flat: gain + loss == 0
    got = stream(RSI(period=period), frame)[:, 0]
    assert (got[period:72] == 0.0).all()
    assert_close_after_warmup(got, talib.RSI(frame["close"].to_numpy(), period), period)


def test_halt_candles_take_talib_zero_guards_without_nan():
    """Inside the 72 flat zero-volume halt candles the windows are flat: TA-Lib's guards give 0 (-0 for %R)."""
    frame = load("ethusdt_2023_halt")
    h, l, c = hlc(frame)
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
