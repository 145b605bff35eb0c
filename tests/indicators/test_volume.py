"""Volume indicators: OBV, AD, ADOSC equal TA-Lib one candle at a time and in batch; VWAP equals its pandas definition."""

import numpy as np
import pandas as pd
import pytest
import talib
from talib import abstract

from indicator_cases import (HALT_START, RECORDINGS, assert_close_after_warmup, check_batch_equals_streaming,
                             check_provisional_equals_committed, check_streaming_matches_reference, hlcv, load, stream)
from thebot_panel.indicators import AD, ADOSC, OBV, VWAP, Indicator


def ta(function, *columns, **params):
    """Reference: ``talib.<function>`` of the frame's ``columns``."""
    return lambda f: getattr(talib, function)(*(f[c].to_numpy() for c in columns), **params)


PRICE = {  # VWAP source -> the candle price, by its definition
    "hlc3": lambda f: (f["high"] + f["low"] + f["close"]) / 3,
    "close": lambda f: f["close"],
    "ohlc4": lambda f: (f["open"] + f["high"] + f["low"] + f["close"]) / 4,
}


def anchor_periods(index: pd.DatetimeIndex, anchor: str) -> np.ndarray:
    """A key of each candle's UTC day, Monday-started week or calendar month (pandas, not our kernel)."""
    day = index.normalize()
    if anchor == "session":
        return day.asi8
    if anchor == "week":
        return (day - pd.to_timedelta(index.day_of_week, unit="D")).asi8
    return (index.year * 12 + index.month - 1).to_numpy()


def vwap_reference(anchor="session", source="hlc3"):
    def reference(f):
        key = anchor_periods(f.index, anchor)
        weighted = (PRICE[source](f) * f["volume"]).groupby(key).cumsum()
        volume = f["volume"].groupby(key).cumsum()
        return (weighted / volume).where(volume != 0).to_numpy()
    return reference


CASES = {  # case -> (make, reference)
    "OBV": (lambda: OBV(), ta("OBV", "close", "volume")),
    "AD": (lambda: AD(), ta("AD", "high", "low", "close", "volume")),
    "ADOSC(3, 10)=defaults": (lambda: ADOSC(), ta("ADOSC", "high", "low", "close", "volume")),
    "ADOSC(5, 20)": (lambda: ADOSC(fast=5, slow=20), ta("ADOSC", "high", "low", "close", "volume", fastperiod=5, slowperiod=20)),
    "ADOSC(10, 3)": (lambda: ADOSC(fast=10, slow=3), ta("ADOSC", "high", "low", "close", "volume", fastperiod=10, slowperiod=3)),
    "VWAP(session)=default": (lambda: VWAP(), vwap_reference()),
    "VWAP(session, close)": (lambda: VWAP(source="close"), vwap_reference(source="close")),
    "VWAP(week, ohlc4)": (lambda: VWAP(anchor="week", source="ohlc4"), vwap_reference("week", "ohlc4")),
    "VWAP(month)": (lambda: VWAP(anchor="month"), vwap_reference("month")),
}


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_reference(case, recording):
    check_streaming_matches_reference(*CASES[case], recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    check_batch_equals_streaming(CASES[case][0], recording)


@pytest.mark.parametrize("make", [OBV, AD, lambda: ADOSC(fast=4, slow=12), lambda: VWAP(anchor="week")],
                         ids=["OBV", "AD", "ADOSC", "VWAP"])
def test_provisional_value_equals_committed_value_and_commits_nothing(make):
    check_provisional_equals_committed(make)


@pytest.mark.parametrize("indicator, function, params", [
    (OBV(), "OBV", {}), (AD(), "AD", {}), (ADOSC(), "ADOSC", {}),
    (ADOSC(fast=5, slow=20), "ADOSC", {"fastperiod": 5, "slowperiod": 20}),
    (ADOSC(fast=10, slow=3), "ADOSC", {"fastperiod": 10, "slowperiod": 3}),
], ids=lambda v: v.label if isinstance(v, Indicator) else "")
def test_lookback_equals_talib(indicator, function, params):
    assert indicator.lookback == indicator.warmup == abstract.Function(function, **params).lookback


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", [case for case in CASES if not case.startswith("VWAP")])
def test_equals_talib_bit_for_bit(case, recording):
    """Beyond the harness's 1e-9: TA-Lib 0.8's own arithmetic (ADOSC's fused EMA steps)."""
    make, reference = CASES[case]
    frame = load(recording)
    np.testing.assert_array_equal(make().batch(frame).iloc[:, 0].to_numpy(), reference(frame))


@pytest.mark.parametrize("fast, slow", [(3, 10), (12, 4)])
def test_adosc_on_white_noise_equals_talib_bit_for_bit(fast, slow):
    """Large swings, where a separately rounded EMA step would often differ from TA-Lib's fused one in the last bit."""
    rng = np.random.default_rng(2)
    close = rng.uniform(100, 1000, 2000)
    frame = pd.DataFrame({"high": close + rng.uniform(0, 50, 2000), "low": close - rng.uniform(0, 50, 2000), "close": close,
                          "volume": rng.uniform(0, 1e4, 2000)},
                         index=pd.date_range("2024-01-01", periods=len(close), freq="min", tz="UTC"))
    expected = talib.ADOSC(*(frame[c].to_numpy() for c in ("high", "low", "close", "volume")), fast, slow)
    np.testing.assert_array_equal(ADOSC(fast=fast, slow=slow).batch(frame).iloc[:, 0].to_numpy(), expected)


def test_halt_candles_leave_obv_and_ad_unchanged():
    frame = load("ethusdt_2023_halt")
    halt = slice(HALT_START, HALT_START + 72)
    assert (frame["volume"].iloc[halt] == 0).all() and (frame["high"].iloc[halt] == frame["low"].iloc[halt]).all()
    for make in (OBV, AD):
        got = stream(make(), frame)[:, 0]
        assert (got[halt] == got[HALT_START - 1]).all()


def rehearsal(start: str, every: str) -> pd.DataFrame:
    """The BTC recording's candles re-stamped every ``every`` from ``start``: 3,000 candles over many weeks and months."""
    frame = load("btcusdt_2025")
    return frame.set_axis(pd.date_range(start, periods=len(frame), freq=every, tz="UTC", name=frame.index.name))


@pytest.mark.parametrize("anchor", ["session", "week", "month"])
def test_vwap_restarts_at_each_anchor_period(anchor):
    frame = rehearsal("2023-12-30 07:00", "3h")  # 375 days: crosses days, Mondays, month and year ends
    indicator = VWAP(anchor=anchor)
    got = stream(indicator, frame)[:, 0]
    assert_close_after_warmup(got, vwap_reference(anchor)(frame), 0)
    starts = np.flatnonzero(np.diff(anchor_periods(frame.index, anchor)) != 0) + 1
    assert len(starts) >= {"session": 300, "week": 50, "month": 12}[anchor]
    typical = PRICE["hlc3"](frame).to_numpy()
    np.testing.assert_allclose(got[starts], typical[starts], rtol=1e-15)  # a period's first VWAP: its first price
    np.testing.assert_array_equal(indicator.batch(frame).to_numpy()[:, 0], got)


def test_vwap_is_nan_until_the_period_has_volume():
    """A session opening in the 2023-03-24 halt (zero-volume candles) has no VWAP until trading resumes."""
    frame = load("ethusdt_2023_halt").iloc[HALT_START:HALT_START + 300]
    frame = frame.set_axis(frame.index - (frame.index[0] - pd.Timestamp("2023-03-24", tz="UTC")))
    got = stream(VWAP(), frame)[:, 0]
    assert np.isnan(got[:72]).all() and not np.isnan(got[72:]).any()
    assert_close_after_warmup(got, vwap_reference()(frame), 0)
