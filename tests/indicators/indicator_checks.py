"""Shared checks of the indicator tests: one-candle-at-a-time feeding, comparison after the warm-up,
batch == streaming, provisional == committed.

A case is ``(make, reference)``: ``make()`` builds the indicator, ``reference(frame)`` returns the expected
outputs (an array, or a tuple of arrays in ``outputs`` order, e.g. from ``talib``). The recordings come from
``tests/support/recorded.py``.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from recorded import klines, load


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


def check_streaming_matches_reference(make, reference, frame: pd.DataFrame | str) -> np.ndarray:
    """Every output, fed one closed candle at a time over ``frame`` (or a recording's name), equals the reference
    after the warm-up (NaN before); returns the streamed values, (n, outputs)."""
    frame = load(frame) if isinstance(frame, str) else frame
    indicator = make()
    got, expected = stream(indicator, frame), reference(frame)
    expected = expected if isinstance(expected, tuple) else (expected,)
    assert got.shape == (len(frame), len(indicator.outputs)) == (len(frame), len(expected))
    for i, output in enumerate(indicator.outputs):
        try:
            assert_close_after_warmup(got[:, i], np.asarray(expected[i], dtype="float64"), indicator.warmup)
        except AssertionError as exc:
            raise AssertionError(f"{indicator.label} output {output!r}: {exc}") from None
    return got


def check_batch_equals_streaming(make, recording: str) -> None:
    """``batch`` returns the indicator's columns on the frame's index, float64, bit-for-bit the streamed values."""
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
