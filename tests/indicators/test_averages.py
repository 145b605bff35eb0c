"""Moving averages: one candle at a time and in batch they equal TA-Lib (HMA: its definition over talib.WMA)."""

import numpy as np
import pandas as pd
import pytest
import talib
from talib import abstract

from indicator_cases import (HALT_START, RECORDINGS, assert_close_after_warmup, check_batch_equals_streaming,
                             check_provisional_equals_committed, check_streaming_matches_reference, load, stream)
from thebot_panel.indicators import DEMA, EMA, HMA, KAMA, RSI, T3, TEMA, TRIMA, WMA

PRICES = {  # source -> the candle price, as TA-Lib computes it
    "close": lambda f: f["close"].to_numpy(),
    "hl2": lambda f: (f["high"] + f["low"]).to_numpy() / 2,
    "hlc3": lambda f: (f["high"] + f["low"] + f["close"]).to_numpy() / 3,
    "ohlc4": lambda f: talib.AVGPRICE(*(f[c].to_numpy() for c in ("open", "high", "low", "close"))),
}


def ta(function, source="close", **params):
    """Reference: ``talib.<function>`` of the ``source`` price."""
    return lambda f: getattr(talib, function)(PRICES[source](f), **params)


def hull(x, n):
    """Hull's definition with TA-Lib's WMA, independent of our kernels."""
    return talib.WMA(2 * talib.WMA(x, n // 2) - talib.WMA(x, n), int(np.sqrt(n)))


CASES = {  # case -> (make, reference): TA-Lib defaults, our defaults, other settings
    "WMA(30)=talib default": (lambda: WMA(period=30), ta("WMA")),
    "WMA(20)=default": (lambda: WMA(), ta("WMA", timeperiod=20)),
    "WMA(9, hl2)": (lambda: WMA(period=9, source="hl2"), ta("WMA", "hl2", timeperiod=9)),
    "DEMA(30)=talib default": (lambda: DEMA(period=30), ta("DEMA")),
    "DEMA(20)=default": (lambda: DEMA(), ta("DEMA", timeperiod=20)),
    "DEMA(9, hlc3)": (lambda: DEMA(period=9, source="hlc3"), ta("DEMA", "hlc3", timeperiod=9)),
    "TEMA(30)=talib default": (lambda: TEMA(period=30), ta("TEMA")),
    "TEMA(20)=default": (lambda: TEMA(), ta("TEMA", timeperiod=20)),
    "TEMA(9, ohlc4)": (lambda: TEMA(period=9, source="ohlc4"), ta("TEMA", "ohlc4", timeperiod=9)),
    "TRIMA(30)=talib default": (lambda: TRIMA(period=30), ta("TRIMA")),
    "TRIMA(20)=default": (lambda: TRIMA(), ta("TRIMA", timeperiod=20)),
    "TRIMA(9, hl2)": (lambda: TRIMA(period=9, source="hl2"), ta("TRIMA", "hl2", timeperiod=9)),
    "TRIMA(2)": (lambda: TRIMA(period=2), ta("TRIMA", timeperiod=2)),
    "KAMA(30)=defaults": (lambda: KAMA(), ta("KAMA")),
    "KAMA(10)": (lambda: KAMA(period=10), ta("KAMA", timeperiod=10)),
    "KAMA(21, hlc3)": (lambda: KAMA(period=21, source="hlc3"), ta("KAMA", "hlc3", timeperiod=21)),
    "T3(5, 0.7)=defaults": (lambda: T3(), ta("T3")),
    "T3(10, 0.5, hl2)": (lambda: T3(period=10, vfactor=0.5, source="hl2"), ta("T3", "hl2", timeperiod=10, vfactor=0.5)),
    "T3(20, 0.0)": (lambda: T3(period=20, vfactor=0.0), ta("T3", timeperiod=20, vfactor=0.0)),
    "HMA(20)=default": (lambda: HMA(), lambda f: hull(PRICES["close"](f), 20)),
    "HMA(9, hl2)": (lambda: HMA(period=9, source="hl2"), lambda f: hull(PRICES["hl2"](f), 9)),
    "HMA(16)": (lambda: HMA(period=16), lambda f: hull(PRICES["close"](f), 16)),
    "DEMA(10) of RSI(14)": (lambda: DEMA(period=10, of=RSI(period=14)),
                            lambda f: talib.DEMA(talib.RSI(PRICES["close"](f), 14), 10)),
    "KAMA(10) of EMA(5)": (lambda: KAMA(period=10, of=EMA(period=5)),
                           lambda f: talib.KAMA(talib.EMA(PRICES["close"](f), 5), 10)),
    "HMA(9) of TEMA(5)": (lambda: HMA(period=9, of=TEMA(period=5)), lambda f: hull(talib.TEMA(PRICES["close"](f), 5), 9)),
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_reference(case, recording):
    check_streaming_matches_reference(*CASES[case], recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    check_batch_equals_streaming(CASES[case][0], recording)


@pytest.mark.parametrize("make", [lambda: WMA(period=9), lambda: DEMA(period=9), lambda: TEMA(period=7),
                                  lambda: TRIMA(period=10), lambda: KAMA(period=10), lambda: T3(period=5),
                                  lambda: HMA(period=16), lambda: TRIMA(period=9, of=DEMA(period=5))],
                         ids=["WMA", "DEMA", "TEMA", "TRIMA", "KAMA", "T3", "HMA", "TRIMA of DEMA"])
def test_provisional_value_equals_committed_value_and_commits_nothing(make):
    check_provisional_equals_committed(make)


@pytest.mark.parametrize("indicator, function, params", [
    (WMA(), "WMA", {"timeperiod": 20}), (WMA(period=7), "WMA", {"timeperiod": 7}),
    (DEMA(), "DEMA", {"timeperiod": 20}), (DEMA(period=30), "DEMA", {}),
    (TEMA(), "TEMA", {"timeperiod": 20}), (TEMA(period=30), "TEMA", {}),
    (TRIMA(), "TRIMA", {"timeperiod": 20}), (TRIMA(period=9), "TRIMA", {"timeperiod": 9}),
    (KAMA(), "KAMA", {}), (KAMA(period=10), "KAMA", {"timeperiod": 10}),
    (T3(), "T3", {}), (T3(period=10, vfactor=0.5), "T3", {"timeperiod": 10, "vfactor": 0.5}),
], ids=lambda v: v.label if hasattr(v, "label") else "")
def test_lookback_equals_talib(indicator, function, params):
    assert indicator.lookback == indicator.warmup == abstract.Function(function, **params).lookback


@pytest.mark.parametrize("period", [4, 9, 16, 20, 50])
def test_hma_lookback_is_where_the_reference_starts(period):
    close = load("btcusdt_2025")["close"].to_numpy()
    assert HMA(period=period).lookback == np.argmax(~np.isnan(hull(close, period)))


@pytest.mark.parametrize("case", ["WMA(9, hl2)", "DEMA(9, hlc3)", "TEMA(9, ohlc4)", "TRIMA(9, hl2)", "KAMA(10)",
                                  "T3(5, 0.7)=defaults", "HMA(9, hl2)"])
def test_seeded_inside_the_flat_halt_matches_reference(case):
    """Starting at the 2023-03-24 halt: the whole seed window is flat (KAMA's change sum is 0), then trading resumes."""
    make, reference = CASES[case]
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]
    indicator = make()
    assert_close_after_warmup(stream(indicator, frame)[:, 0], reference(frame), indicator.warmup)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", [case for case in CASES if " of " not in case])
def test_equals_the_reference_bit_for_bit(case, recording):
    """Beyond the harness's 1e-9: TA-Lib 0.8's own arithmetic (fused EMA steps, WMA's re-summation every 8 periods...)."""
    make, reference = CASES[case]
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
