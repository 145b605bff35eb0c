"""Shared checks of the indicator tests: real recordings, one-candle-at-a-time feeding, TA-Lib comparison.

A family test module declares ``CASES``: case name → ``(make, reference)`` where ``make()`` builds
the indicator and ``reference(frame)`` returns the expected outputs (a tuple of arrays in
``outputs`` order, e.g. from ``talib``), and hands them to ``check_*`` in parametrized tests.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from thebot_panel.binance.events import Kline
from thebot_panel.market.candles import OHLCV, candle_frame

FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = {  # 3,000 real 1m candles each; the ETH slice holds the 2023-03-24 halt (72 flat zero-volume candles, then a gap)
    "btcusdt_2025": "BTCUSDT-1m-2025-3000.csv.gz",
    "ethusdt_2023_halt": "ETHUSDT-1m-2023-03-23_halt_3000.csv.gz",
}
HALT_START = 1500  # row of 2023-03-24 11:28 UTC in the ETH slice


def load(recording: str) -> pd.DataFrame:
    """A recording slice as a candle frame (index open_time UTC; float columns open/high/low/close/volume)."""
    raw = pd.read_csv(FIXTURES / RECORDINGS[recording])
    return candle_frame(raw["open_time"].to_numpy(), {c: raw[c].to_numpy() for c in OHLCV})


def hlcv(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume arrays of ``frame``, for ``talib`` calls."""
    return tuple(frame[c].to_numpy() for c in OHLCV)


def klines(frame: pd.DataFrame) -> list[Kline]:
    times = frame.index.as_unit("ms").asi8.tolist()
    rows = frame[list(OHLCV)].itertuples(index=False)
    return [Kline("ETHUSDT", "1m", t, t + 59_999, *row, closed=True) for t, row in zip(times, rows)]


def stream(indicator, frame: pd.DataFrame) -> np.ndarray:
    """Feed ``frame`` one closed kline at a time: an (n, outputs) array."""
    return np.array([indicator.update(k, closed=True) for k in klines(frame)], dtype="float64")


def assert_close_after_warmup(got: np.ndarray, expected: np.ndarray, warmup: int) -> None:
    """NaN exactly during the warm-up, then equal to ``expected`` within 1e-9 relative (of the series' scale)."""
    assert np.isnan(got[:warmup]).all(), "values before the end of the warm-up"
    valid = ~np.isnan(expected[warmup:])
    np.testing.assert_array_equal(np.isnan(got[warmup:]), ~valid, err_msg="NaN where the reference has values")
    scale = np.nanmax(np.abs(expected[warmup:])) if valid.any() else 1.0
    np.testing.assert_allclose(got[warmup:][valid], expected[warmup:][valid], rtol=1e-9, atol=1e-12 * scale)


def check_streaming_matches_reference(make, reference, recording: str) -> None:
    frame = load(recording)
    indicator = make()
    got, expected = stream(indicator, frame), reference(frame)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert got.shape == (len(frame), len(indicator.outputs)) == (len(frame), len(expected))
    for i, output in enumerate(indicator.outputs):
        try:
            assert_close_after_warmup(got[:, i], np.asarray(expected[i], dtype="float64"), indicator.warmup)
        except AssertionError as exc:
            raise AssertionError(f"{indicator.label} output {output!r}: {exc}") from None


def check_batch_equals_streaming(make, recording: str) -> None:
    frame = load(recording)
    indicator = make()
    batch = indicator.batch(frame)
    assert list(batch.columns) == indicator.columns
    assert batch.index.equals(frame.index) and (batch.dtypes == "float64").all()
    np.testing.assert_array_equal(batch.to_numpy(), stream(make(), frame))


def check_provisional_equals_committed(make, recording: str = "btcusdt_2025", n: int = 300) -> None:
    """Forming updates of each candle commit nothing; the last one equals the value once the candle closes."""
    indicator, twin = make(), make()  # the twin sees closed candles only
    for k in klines(load(recording).iloc[:n]):
        for partial in (replace(k, high=k.open, low=k.open, close=k.open, volume=0.0, closed=False),
                        replace(k, close=(k.open + k.close) / 2, closed=False)):
            indicator.update(partial, closed=False)
        provisional = indicator.update(replace(k, closed=False), closed=False)
        committed = indicator.update(k, closed=True)
        np.testing.assert_array_equal(provisional, committed)
        np.testing.assert_array_equal(committed, twin.update(k, closed=True))
