"""Volume family beyond the shared checks of ``test_families.py``: OBV, AD, ADOSC bit for bit with TA-Lib,
OBV and AD through the halt, VWAP's anchor periods and its sessions without volume."""

import numpy as np
import pandas as pd
import pytest
import talib

from indicator_checks import assert_close_after_warmup, stream
from indicator_families import VOLUME, VWAP_PRICES, anchor_periods, vwap_reference
from recorded import HALT_START, RECORDINGS, load

from thebot_panel.indicators import AD, ADOSC, OBV, VWAP


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", [case for case in VOLUME if not case.startswith("VWAP")])
def test_equals_talib_bit_for_bit(case, recording):
    """Beyond the harness's 1e-9: TA-Lib 0.8's own arithmetic (ADOSC's fused EMA steps)."""
    make, reference = VOLUME[case]
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
    typical = VWAP_PRICES["hlc3"](frame).to_numpy()
    np.testing.assert_allclose(got[starts], typical[starts], rtol=1e-15)  # a period's first VWAP: its first price
    np.testing.assert_array_equal(indicator.batch(frame).to_numpy()[:, 0], got)


def test_vwap_is_nan_until_the_period_has_volume():
    """A session opening in the 2023-03-24 halt (zero-volume candles) has no VWAP until trading resumes."""
    frame = load("ethusdt_2023_halt").iloc[HALT_START:HALT_START + 300]
    frame = frame.set_axis(frame.index - (frame.index[0] - pd.Timestamp("2023-03-24", tz="UTC")))
    got = stream(VWAP(), frame)[:, 0]
    assert np.isnan(got[:72]).all() and not np.isnan(got[72:]).any()
    assert_close_after_warmup(got, vwap_reference()(frame), 0)
