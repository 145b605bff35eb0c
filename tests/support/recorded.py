"""The recorded market data the tests use (slices of ../shared/data under tests/fixtures) and how they feed it."""

import dataclasses
from pathlib import Path

import pandas as pd

from thebot_panel.binance.events import Kline
from thebot_panel.market.candles import OHLCV, candle_frame

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
HALT_RECORDING = FIXTURES / "klines" / "BTCUSDT-1m-2023-03-23_to_2023-03-24.csv.gz"
WS = FIXTURES / "ws"  # recorded and documented websocket frames
SCREENER = FIXTURES / "screener"  # 13 USDT pairs, 1m, 2023-04-10 → 2023-04-12
SCREENER_SYMBOLS = ["ADAUSDT", "AVAXUSDT", "XRPUSDT", "MATICUSDT", "ATOMUSDT", "TRXUSDT", "SOLUSDT", "DOTUSDT",
                    "DOGEUSDT", "ETHUSDT", "BTCUSDT", "LTCUSDT", "LINKUSDT"]
RECORDINGS = {  # 3,000 real 1m candles each; the ETH slice holds the 2023-03-24 halt (72 flat zero-volume candles, then a gap)
    "btcusdt_2025": "BTCUSDT-1m-2025-3000.csv.gz",
    "ethusdt_2023_halt": "ETHUSDT-1m-2023-03-23_halt_3000.csv.gz",
}
HALT_START = 1500  # row of 2023-03-24 11:28 UTC in the ETH slice


def ws_lines(name: str) -> list[str]:
    """The non-empty lines of a recorded websocket file (one frame each)."""
    return [line for line in (WS / name).read_text().splitlines() if line]


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


def load(recording: str) -> pd.DataFrame:
    """A ``RECORDINGS`` slice as a candle frame (index open_time UTC; float columns open/high/low/close/volume)."""
    raw = pd.read_csv(FIXTURES / RECORDINGS[recording])
    return candle_frame(raw["open_time"].to_numpy(), {c: raw[c].to_numpy() for c in OHLCV})


def klines(frame: pd.DataFrame) -> list[Kline]:
    """The closed 1m klines of a candle frame (``load``'s), in order."""
    times = frame.index.as_unit("ms").asi8.tolist()
    rows = frame[list(OHLCV)].itertuples(index=False)
    return [Kline("ETHUSDT", "1m", t, t + 59_999, *row, closed=True) for t, row in zip(times, rows)]
