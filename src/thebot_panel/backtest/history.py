"""The candle histories a backtest or a sweep reads: the bundled recording, or files and folders the replay reads
(``replay.Recording.from_paths``: kline CSVs, tick recordings, ...), aggregated to the interval as the exchange
does (``market.candles.aggregate``)."""

from __future__ import annotations

import pandas as pd

from ..binance.streams import interval_ms, normalize_symbol, validate_interval
from ..market.candles import aggregate, candle_frame
from ..replay import Recording


def load_history(symbol: str = "BTCUSDT", interval: str = "1m", data=None, start=None, end=None) -> pd.DataFrame:
    """Closed candles of ``symbol`` at ``interval`` from ``data`` (paths, or a ``Recording``; None: the bundled
    recording), with open time in [``start``, ``end``] (anything ``pd.Timestamp`` reads, UTC; None: all).

    Returns a frame indexed by ``open_time`` (UTC) with float64 open, high, low, close, volume (quote currency
    prices, base asset volume). ``ValueError`` for an unknown interval, a symbol the data does not hold (naming
    those it holds) or a range with no candle; ``FileNotFoundError`` for a missing path."""
    symbol, interval = normalize_symbol(symbol), validate_interval(interval)
    recording = data if isinstance(data, Recording) else Recording.bundled() if data is None \
        else Recording.from_paths(data)
    if symbol not in recording:
        raise ValueError(f"no {symbol} candles in {recording.describe()}: it holds {', '.join(recording.symbols)}")
    candles = recording[symbol]
    open_time, ohlcv = aggregate(candles.open_time, candles.ohlcv, interval) if interval != "1m" \
        else (candles.open_time, candles.ohlcv)
    frame = candle_frame(open_time, ohlcv)
    if interval_ms(interval) > 60_000 and len(frame):  # the last bucket may still be forming in the recording
        last = frame.index[-1].value // 1_000_000 + interval_ms(interval) - 60_000
        if last > int(candles.open_time[-1]):
            frame = frame.iloc[:-1]
    frame = frame.loc[_utc(start):_utc(end)]
    if frame.empty:
        raise ValueError(f"no {symbol} {interval} candles between {start or 'the start'} and {end or 'the end'} "
                         f"in {recording.describe()}")
    return frame


def _utc(when) -> pd.Timestamp | None:
    if when is None:
        return None
    stamp = pd.Timestamp(when)
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
