"""Candles: the book of one (symbol, interval) and the exchange's interval aggregation.

A kline is identified by (symbol, interval, open_time). A closed kline (Binance ``x: true``) is
immutable and appended once; the forming kline is replaced on every update; anything older than
the last closed candle, or equal to it, is a duplicate and ignored (counted).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..binance.events import Kline
from ..binance.streams import interval_ms

#: Candle columns, in order; all float64 (prices in quote currency, volume in base asset).
OHLCV = ("open", "high", "low", "close", "volume")


def candle_frame(open_time: np.ndarray, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """A frame indexed by ``open_time`` (UTC ``DatetimeIndex`` from int64 ms) with the given float columns."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(open_time, dtype="int64"), unit="ms", utc=True),
                             name="open_time")
    return pd.DataFrame({k: np.asarray(v, dtype="float64") for k, v in columns.items()}, index=index)


def aggregate(open_time: np.ndarray, ohlcv: dict[str, np.ndarray], interval: str) -> tuple[np.ndarray, dict]:
    """Aggregate 1m candles into ``interval`` candles as the exchange does.

    Buckets are aligned to UTC multiples of the interval length: open of the first 1m candle,
    max high, min low, close of the last, summed volume. A bucket with no 1m candle yields no
    candle (nothing is invented across gaps). ``open_time`` must be int64 ms, strictly increasing.
    Returns ``(bucket_open_time, {"open", "high", "low", "close", "volume"})``. Raises ``ValueError``
    for intervals without a fixed length (``1M``).
    """
    length = interval_ms(interval)
    t = np.asarray(open_time, dtype="int64")
    if len(t) == 0:
        return t, {k: np.asarray(ohlcv[k], dtype="float64") for k in OHLCV}
    bucket = t - t % length
    starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
    ends = np.r_[starts[1:], len(t)] - 1
    return bucket[starts], {
        "open": np.asarray(ohlcv["open"], dtype="float64")[starts],
        "high": np.maximum.reduceat(np.asarray(ohlcv["high"], dtype="float64"), starts),
        "low": np.minimum.reduceat(np.asarray(ohlcv["low"], dtype="float64"), starts),
        "close": np.asarray(ohlcv["close"], dtype="float64")[ends],
        "volume": np.add.reduceat(np.asarray(ohlcv["volume"], dtype="float64"), starts),
    }


class Columns:
    """Named float64 columns keyed by int64 open time (ms), growable with amortised O(1) append, holding the
    newest ``max_rows`` rows at most.

    ``append`` queues a row in a Python list (a NumPy row write costs ~0.7 µs; the graph appends a row per closed
    candle and indicator); the queue is written into the arrays in one move on the next read, or every
    ``WRITE_EVERY`` rows. Past ``max_rows`` the oldest rows leave the window one by one, so two ``Columns`` fed
    the same rows hold the same ones whenever they write; the storage (up to 1.25 × ``max_rows`` rows) is
    compacted in one move when full. ``ValueError`` if ``max_rows`` < 2 × ``WRITE_EVERY``.
    """

    WRITE_EVERY = 64

    def __init__(self, names, max_rows: int = 200_000, capacity: int = 1024):
        if max_rows < 2 * self.WRITE_EVERY:
            raise ValueError(f"max_rows must be at least {2 * self.WRITE_EVERY}, not {max_rows}")
        self.names = tuple(names)
        self.max_rows = max_rows
        self._limit = max_rows + max(self.WRITE_EVERY, max_rows // 4)  # storage rows
        self._start = self._size = 0  # the rows are [_start, _size) of the storage
        self._queued: list[tuple[int, tuple]] = []
        self.last_open_time: int | None = None  # of the newest row (a Python int: read on every kline)
        capacity = max(1, min(capacity, self._limit))
        self._open_time = np.empty(capacity, dtype="int64")
        self._values = np.empty((capacity, len(self.names)), dtype="float64")

    @classmethod
    def from_arrays(cls, names, open_time: np.ndarray, values: np.ndarray, max_rows: int = 200_000) -> Columns:
        """Columns holding ``values`` (rows × names, float64) at ``open_time`` (int64 ms), the newest ``max_rows``
        of them, in one copy."""
        values = np.asarray(values, dtype="float64").reshape(len(open_time), len(names))[-max_rows:]
        open_time = open_time[-max_rows:]
        n = len(open_time)
        columns = cls(names, max_rows=max_rows, capacity=max(1024, 2 * n))
        columns._open_time[:n] = open_time
        columns._values[:n] = values
        columns._size = n
        columns.last_open_time = int(open_time[-1]) if n else None
        return columns

    def __len__(self) -> int:
        self._write()
        return self._size - self._start

    def append(self, open_time: int, values) -> None:
        """Append one row; ``values`` (a tuple) in the order of ``names``."""
        self._queued.append((open_time, values))
        self.last_open_time = int(open_time)
        if len(self._queued) >= self.WRITE_EVERY:
            self._write()

    def _write(self) -> None:
        """Move the queued rows into the arrays (growing them, or compacting the window to the front)."""
        queued = self._queued
        if not queued:
            return
        self._queued = []
        times, rows = zip(*queued[-self.max_rows:])
        n = len(times)
        rows = np.fromiter(itertools.chain.from_iterable(rows), "float64", n * len(self.names))  # 2× array(rows)
        if self._size + n > len(self._open_time):
            if len(self._open_time) < self._limit:
                capacity = min(max(2 * self._size, self._size + n), self._limit)
                self._open_time = np.resize(self._open_time, capacity)
                self._values = np.resize(self._values, (capacity, len(self.names)))
            if self._size + n > len(self._open_time):
                keep = min(self._size - self._start, self.max_rows - n)
                self._open_time[:keep] = self._open_time[self._size - keep:self._size]
                self._values[:keep] = self._values[self._size - keep:self._size]
                self._start, self._size = 0, keep
        self._open_time[self._size:self._size + n] = times
        self._values[self._size:self._size + n] = rows.reshape(n, len(self.names))
        self._size += n
        self._start = max(self._start, self._size - self.max_rows)

    @property
    def open_time(self) -> np.ndarray:
        """Open times (int64 ms), oldest first (read-only view)."""
        self._write()
        view = self._open_time[self._start:self._size]
        view.flags.writeable = False
        return view

    def column(self, name: str) -> np.ndarray:
        """One column as float64, oldest first (read-only view)."""
        self._write()
        view = self._values[self._start:self._size, self.names.index(name)]
        view.flags.writeable = False
        return view

    def frame(self) -> pd.DataFrame:
        """All rows as a frame indexed by ``open_time`` (UTC ``DatetimeIndex``), one float64 column per name."""
        return candle_frame(self.open_time, {name: self.column(name) for name in self.names})


@dataclass(slots=True)
class CandleUpdate:
    """What the book did with a kline: ``closed`` (appended) or ``forming`` (replaced). Read-only by convention
    (see ``market.messages``)."""

    symbol: str
    interval: str
    kind: str
    kline: Kline

    @property
    def closed(self) -> bool:
        return self.kind == "closed"


class CandleBook:
    """Closed candles of one (symbol, interval), in open-time order, plus the forming candle.

    ``candles`` holds the closed candles (``Columns`` of open, high, low, close, volume);
    ``forming`` the current unclosed kline. Nothing is invented across a gap: ``gaps()`` lists the
    open-time ranges that are missing (e.g. lost in a disconnect, or an exchange halt), and
    ``on_gap`` (a callable, e.g. the backfill's wake-up) is called when a kline reveals a new one.
    ``updated_at`` is the ``time.monotonic()`` of the last kline applied (even a duplicate), 0 before any.
    At most the newest ``max_candles`` closed candles are kept (memory); older ones leave as new ones close.
    """

    def __init__(self, symbol: str, interval: str, max_candles: int = 200_000):
        self.symbol, self.interval = symbol, interval
        self.step = interval_ms(interval)
        self.candles = Columns(OHLCV, max_rows=max_candles)
        self.forming: Kline | None = None
        self.duplicates = 0
        self.on_gap = None
        self.updated_at = 0.0

    def __len__(self) -> int:
        return len(self.candles)

    @property
    def last_closed_open_time(self) -> int | None:
        """Open time (ms) of the newest closed candle, or None if the book is empty."""
        return self.candles.last_open_time

    def gaps(self) -> list[tuple[int, int]]:
        """Missing open times as ``[(first_missing, next_present), ...]`` (ms), oldest first: between consecutive
        closed candles, and between the last closed candle and the forming one."""
        t = self.candles.open_time
        cut = np.flatnonzero(np.diff(t) != self.step)
        found = [(int(t[i]) + self.step, int(t[i + 1])) for i in cut]
        if len(t) and self.forming is not None and self.forming.open_time > t[-1] + self.step:
            found.append((int(t[-1]) + self.step, self.forming.open_time))
        return found

    def apply(self, kline: Kline) -> CandleUpdate | None:
        """Apply one kline; returns what changed, or None for a duplicate/stale kline (counted)."""
        self.updated_at = time.monotonic()
        last = self.candles.last_open_time
        if last is not None and kline.open_time <= last:
            self.duplicates += 1
            return None
        beyond = last is not None and kline.open_time > last + self.step
        if not kline.closed:
            forming = self.forming
            if forming is not None and kline.open_time < forming.open_time:
                self.duplicates += 1  # a late update of a candle that is no longer forming
                return None
            self.forming = kline
            if beyond and (forming is None or forming.open_time != kline.open_time) and self.on_gap is not None:
                self.on_gap()
            return CandleUpdate(self.symbol, self.interval, "forming", kline)
        # a closed candle newer than the last closed one is always kept, even if a newer one is already forming
        self.candles.append(kline.open_time, (kline.open, kline.high, kline.low, kline.close, kline.volume))
        if self.forming is not None and self.forming.open_time <= kline.open_time:
            self.forming = None
        if beyond and self.on_gap is not None:
            self.on_gap()
        return CandleUpdate(self.symbol, self.interval, "closed", kline)

    def load(self, klines) -> int:
        """Merge a REST history (warm-up or backfill) into the book; returns how many candles were added.

        Closed klines older than the newest closed candle are merged in place, wherever they fall (before
        the first candle, or into a gap); the rest are applied in open-time order like stream klines.
        Closed klines already in the book are counted as duplicates.
        """
        klines = sorted(klines, key=lambda k: k.open_time)
        last = self.candles.last_open_time
        older = list({k.open_time: k for k in klines if k.closed and last is not None and k.open_time < last}.values())
        known = np.isin([k.open_time for k in older], self.candles.open_time)
        older = [k for k, seen in zip(older, known) if not seen]
        self.duplicates += int(known.sum())
        if older:
            open_time = np.r_[[k.open_time for k in older], self.candles.open_time]
            values = np.vstack([[(k.open, k.high, k.low, k.close, k.volume) for k in older],
                                np.column_stack([self.candles.column(name) for name in OHLCV])])
            order = np.argsort(open_time, kind="stable")
            self.candles = Columns.from_arrays(OHLCV, open_time[order], values[order], max_rows=self.candles.max_rows)
        added = len(older)
        for k in klines:
            if last is None or k.open_time >= last:
                update = self.apply(k)
                added += update is not None and update.closed
        return added

    def frame(self, include_forming: bool = False) -> pd.DataFrame:
        """Closed candles (and the forming one last, if asked) as a frame.

        Index ``open_time`` (UTC ``DatetimeIndex``); columns open, high, low, close, volume (float64).
        """
        frame = self.candles.frame()
        if include_forming and self.forming is not None:
            f = self.forming
            frame = pd.concat([frame, candle_frame([f.open_time], {
                "open": [f.open], "high": [f.high], "low": [f.low], "close": [f.close], "volume": [f.volume]})])
        return frame
