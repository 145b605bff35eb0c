"""The alert list: the newest signals of every market, one alert per (symbol, interval, rule, candle)."""

from __future__ import annotations

import collections

from .rules import Signal


class AlertList:
    """A bounded, de-duplicated list of alerts (``Signal`` records), oldest first.

    ``append`` ignores a signal already alerted for the same (symbol, interval, rule, open_time) —
    e.g. when a backfill replays a candle — and keeps at most ``maxlen`` alerts.
    """

    def __init__(self, maxlen: int = 500):
        self._items: collections.deque[Signal] = collections.deque(maxlen=maxlen)
        self._seen: set[tuple] = set()

    def append(self, signal: Signal) -> bool:
        """Add ``signal``; False if it was a duplicate."""
        key = (signal.symbol, signal.interval, signal.rule, signal.open_time)
        if key in self._seen:
            return False
        if len(self._items) == self._items.maxlen:
            old = self._items[0]
            self._seen.discard((old.symbol, old.interval, old.rule, old.open_time))
        self._items.append(signal)
        self._seen.add(key)
        return True

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter(self._items)
