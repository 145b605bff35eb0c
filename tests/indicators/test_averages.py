"""Moving averages beyond the shared checks of ``test_families.py``: TA-Lib's arithmetic bit for bit, seeds inside
the flat halt, KAMA's flat stretches, HMA's lookback (HMA: its definition over talib.WMA)."""

import numpy as np
import pandas as pd
import pytest
import talib

from indicator_checks import assert_close_after_warmup, stream
from indicator_families import AVERAGES, hull
from recorded import HALT_START, RECORDINGS, load

from thebot_panel.indicators import DEMA, HMA, KAMA, T3, TEMA, TRIMA, WMA


@pytest.mark.parametrize("period", [4, 9, 16, 20, 50])
def test_hma_lookback_is_where_the_reference_starts(period):
    close = load("btcusdt_2025")["close"].to_numpy()
    assert HMA(period=period).lookback == np.argmax(~np.isnan(hull(close, period)))


@pytest.mark.parametrize("case", ["WMA(9, hl2)", "DEMA(9, hlc3)", "TEMA(9, ohlc4)", "TRIMA(9, hl2)", "KAMA(10)",
                                  "T3(5, 0.7)=defaults", "HMA(9, hl2)"])
def test_seeded_inside_the_flat_halt_matches_reference(case):
    """Starting at the 2023-03-24 halt: the whole seed window is flat (KAMA's change sum is 0), then trading resumes."""
    make, reference = AVERAGES[case]
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]
    indicator = make()
    assert_close_after_warmup(stream(indicator, frame)[:, 0], reference(frame), indicator.warmup)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", [case for case in AVERAGES if " of " not in case])
def test_equals_the_reference_bit_for_bit(case, recording):
    """Beyond the harness's 1e-9: TA-Lib 0.8's own arithmetic (fused EMA steps, WMA's re-summation every 8 periods...)."""
    make, reference = AVERAGES[case]
    frame = load(recording)
    np.testing.assert_array_equal(make().batch(frame).iloc[:, 0].to_numpy(), reference(frame))


def test_kama_on_flat_stretches_equals_talib_bit_for_bit():
    """Random walks at several price scales broken by flat stretches (TA-Lib 0.8 zeroes the change sum after
    ``period`` flat candles and caps the efficiency ratio at 1, both against the running sum's rounding residue)."""
    rng = np.random.default_rng(11)
    for _ in range(300):
        period, level, pieces = int(rng.integers(2, 12)), rng.choice([1e-9, 0.1, 0.7, 1000.3, 12345.678, 33000.01]), []
        for _ in range(4):
            size = int(rng.integers(1, 15))
            steps = rng.normal(0, 1, size) * 10.0 ** rng.integers(-4, 3) if rng.random() < 0.5 else np.zeros(size)
            pieces.append(level + np.cumsum(steps))
            level = pieces[-1][-1]
        close = np.concatenate(pieces)
        frame = pd.DataFrame({"close": close}, index=pd.date_range("2024-01-01", periods=len(close), freq="min", tz="UTC"))
        np.testing.assert_array_equal(KAMA(period=period).batch(frame).iloc[:, 0].to_numpy(), talib.KAMA(close, period),
                                      err_msg=f"KAMA({period}) of {close.tolist()}")


@pytest.mark.parametrize("make, function, params", [
    (lambda: DEMA(period=9), "DEMA", {"timeperiod": 9}), (lambda: TEMA(period=30), "TEMA", {"timeperiod": 30}),
    (lambda: T3(period=7, vfactor=0.3), "T3", {"timeperiod": 7, "vfactor": 0.3}),
    (lambda: KAMA(period=10), "KAMA", {"timeperiod": 10}), (lambda: WMA(period=5), "WMA", {"timeperiod": 5}),
    (lambda: TRIMA(period=12), "TRIMA", {"timeperiod": 12}),
], ids=["DEMA", "TEMA", "T3", "KAMA", "WMA", "TRIMA"])
def test_on_white_noise_equals_talib_bit_for_bit(make, function, params):
    """Large candle-to-candle swings, where a separately rounded EMA step ((x - ema) * k + ema) often differs from
    TA-Lib's fused one in the last bit: the fused multiply-adds must be TA-Lib's."""
    close = np.random.default_rng(1).uniform(0, 1000, 2000)
    frame = pd.DataFrame({"close": close}, index=pd.date_range("2024-01-01", periods=len(close), freq="min", tz="UTC"))
    np.testing.assert_array_equal(make().batch(frame).iloc[:, 0].to_numpy(), getattr(talib, function)(close, **params))
