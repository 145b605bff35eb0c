"""The real recordings the indicator and signal tests run on, as candle frames and closed klines.

The indicator cases and their shared checks live in ``tests/indicators/`` (``indicator_families``,
``indicator_checks``); this module holds only the recordings they and ``test_signal_rules``,
``test_aggregator`` share.
"""

from __future__ import annotations

from pathlib import Path

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


def klines(frame: pd.DataFrame) -> list[Kline]:
    """The closed 1m klines of a candle frame, in order."""
    times = frame.index.as_unit("ms").asi8.tolist()
    rows = frame[list(OHLCV)].itertuples(index=False)
    return [Kline("ETHUSDT", "1m", t, t + 59_999, *row, closed=True) for t, row in zip(times, rows)]
