"""Shared fixtures: real recorded candles (copied slices of ../shared/data) as Kline records."""

import dataclasses
import os
from pathlib import Path

import pandas as pd
import pytest

from thebot_panel.binance.events import Kline

FIXTURES = Path(__file__).parent / "fixtures"
HALT_RECORDING = FIXTURES / "klines" / "BTCUSDT-1m-2023-03-23_to_2023-03-24.csv.gz"


def klines_of(frame: pd.DataFrame, symbol: str = "BTCUSDT", interval: str = "1m") -> list[Kline]:
    """Closed 1m klines from a recording frame (columns open_time, open, high, low, close, volume)."""
    return [Kline(symbol, interval, int(r.open_time), int(r.open_time) + 59_999, float(r.open), float(r.high),
                  float(r.low), float(r.close), float(r.volume), closed=True)
            for r in frame.itertuples(index=False)]


def feed(source, klines) -> None:
    """Emit each candle as two forming updates (partial, then final OHLCV) and the closed kline, like the stream."""
    for k in klines:
        source.emit(dataclasses.replace(k, closed=False, close=k.open, high=k.open, low=k.open, volume=0.0))
        source.emit(dataclasses.replace(k, closed=False))
        source.emit(k)


@pytest.fixture(scope="session", autouse=True)
def alert_database(tmp_path_factory):
    """Every hub of the test session (served apps included) keeps its alerts in a temporary SQLite file, and
    reads no news from the internet."""
    os.environ["THEBOT_DB"] = str(tmp_path_factory.mktemp("db") / "thebot.sqlite")
    os.environ["THEBOT_NEWS_FEEDS"] = "http://127.0.0.1:9/news.rss"  # tests talk to 127.0.0.1 only (port 9: refused)
    yield os.environ["THEBOT_DB"]


@pytest.fixture(scope="session")
def halt_recording() -> pd.DataFrame:
    """BTCUSDT spot 1m, 2023-03-23 → 2023-03-24, with the real 2023-03-24 halt (flat candles, 80 missing minutes)."""
    return pd.read_csv(HALT_RECORDING)
