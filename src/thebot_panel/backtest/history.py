"""The candle histories a backtest or a sweep reads: the bundled recording, or files and folders the replay reads
(``replay.Recording.from_paths``: kline CSVs, tick recordings, ...), aggregated to the interval as the exchange
does (``market.candles.aggregate``)."""

from __future__ import annotations

import pandas as pd

from ..binance.streams import interval_ms, normalize_symbol, validate_interval
from ..market.candles import aggregate, candle_frame
from ..replay import Recording, load_candles
from .engine import candle_arrays


def load_history(symbol: str = "BTCUSDT", interval: str = "1m", data=None, start=None, end=None) -> pd.DataFrame:
    """Closed candles of ``symbol`` at ``interval`` from ``data`` (paths, or a ``Recording``; None: the bundled
    recording), with open time in [``start``, ``end``] (anything ``pd.Timestamp`` reads, UTC; None: all).

    Returns a frame indexed by ``open_time`` (UTC) with float64 open, high, low, close, volume (quote currency
    prices, base asset volume): the closed 1m candles (``replay.load_candles``), aggregated to ``interval`` with
    the last bucket left out unless its last minute is there. ``ValueError`` for an unknown interval, a symbol the
    data does not hold (naming those it holds) or a range with no candle; ``FileNotFoundError`` for a missing
    path."""
    symbol, interval = normalize_symbol(symbol), validate_interval(interval)
    recording = data if isinstance(data, Recording) else Recording.bundled() if data is None \
        else Recording.from_paths(data)
    minutes = load_candles(recording, [symbol])[symbol]
    frame = minutes
    if interval != "1m":
        open_time, columns = candle_arrays(minutes)
        frame = candle_frame(*aggregate(open_time, columns, interval))
        if len(frame) and frame.index[-1] + pd.Timedelta(milliseconds=interval_ms(interval) - 60_000) > minutes.index[-1]:
            frame = frame.iloc[:-1]  # its last minutes are not there (yet)
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
