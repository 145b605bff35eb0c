"""The stream graph: klines → candle book → indicator node → signal node → alerts, one chain per
(symbol, interval), built on streamz and run asynchronously in the app's event loop.

Reading left to right::

    source.filter(is this market's kline).map(book.apply).filter(changed)   # candles
          .indicate(book, {"ema_fast": EMA(9), ...})                         # Analysis rows
          .signal([Crossover(...), ...])                                     # Signal records
          .sink(alerts.append)

Sessions (browser tabs, notebook cells) hang their own ``indicate``/``signal`` branch off
``MarketGraph.candles`` and ``destroy()`` it when they end. When an indicator parameter changes,
its node recomputes from the book's history and emits a ``Recomputed`` marker downstream.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

import numpy as np
import pandas as pd
from streamz import Stream

from .binance.events import Kline
from .pipeline.candles import CandleBook, CandleUpdate, Columns
from .signals.rules import Signal


@dataclass(frozen=True, slots=True)
class Analysis:
    """One candle update with every indicator value of the node at that candle (provisional if forming)."""

    candle: CandleUpdate
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class Recomputed:
    """The node recomputed its whole history (a parameter changed): readers reload from the node."""

    node: Stream


@Stream.register_api()
class indicate(Stream):
    """Indicator node: for every ``CandleUpdate`` emits an ``Analysis`` with one value per key.

    ``indicators`` maps a stable key (e.g. ``"ema_fast"``) to an ``Indicator``; multi-output
    indicators give keys ``"<key>.<output>"``. Committed values of closed candles are kept in
    ``history`` (``Columns`` keyed by open time) for views and notebooks; the provisional values
    of the forming candle in ``forming``. A parameter change of any indicator recomputes it over
    ``book``'s closed candles (batch == streaming) and emits ``Recomputed``.
    """

    def __init__(self, upstream, book: CandleBook, indicators: dict, **kwargs):
        self.book = book
        self.indicators = dict(indicators)
        self.forming: dict[str, float] = {}
        super().__init__(upstream, **kwargs)
        self._watchers = [ind.param.watch(self.recompute, [p for p in ind.param if p != "name"])
                          for ind in self.indicators.values()]
        self.history = Columns(self.keys)
        self._recompute()

    @property
    def keys(self) -> list[str]:
        return [k for key, ind in self.indicators.items() for k in output_keys(key, ind)]

    def labels(self) -> dict[str, str]:
        """Key → the indicator's column name for its current parameters (e.g. ``"ema_fast": "ema_9"``)."""
        return {k: col for key, ind in self.indicators.items()
                for k, col in zip(output_keys(key, ind), ind.columns)}

    def _values(self, kline: Kline, closed: bool) -> dict[str, float]:
        values = {}
        for key, ind in self.indicators.items():
            values.update(zip(output_keys(key, ind), ind.update(kline, closed)))
        return values

    def update(self, x: CandleUpdate, who=None, metadata=None):
        values = self._values(x.kline, x.closed)
        if x.closed:
            self.history.append(x.kline.open_time, tuple(values.values()))
            self.forming = {}
        else:
            self.forming = values
        return self._emit(Analysis(x, values), metadata=metadata)

    def _recompute(self, changed=None) -> None:
        """Recompute ``changed`` indicators (all if None) over the book's closed candles."""
        history = self.book.frame()
        if changed is None or len(self.history) != len(history):
            columns = [ind.recompute(history).to_numpy() for ind in self.indicators.values()]
            values = np.hstack(columns) if columns else np.empty((len(history), 0))
            self.history = Columns.from_arrays(self.keys, self.book.candles.open_time, values,
                                               max_rows=self.book.candles.max_rows)
        else:
            for key, ind in self.indicators.items():
                if ind in changed:
                    for k, column in zip(output_keys(key, ind), ind.recompute(history).to_numpy().T):
                        self.history.set_column(k, column)
        forming = self.book.forming
        self.forming = self._values(forming, False) if forming is not None else {}

    def recompute(self, *events) -> None:
        """Recompute over the book's history and emit ``Recomputed``: only the indicators whose parameters
        changed when called as their param watcher, all of them otherwise (e.g. after a warm-up)."""
        self._recompute({e.obj for e in events} if events else None)
        self._emit(Recomputed(self))

    def frame(self) -> pd.DataFrame:
        """Closed candles joined with the indicator columns, named for the current parameters.

        Index ``open_time`` (UTC); columns open, high, low, close, volume, then e.g. ema_9, rsi_14.
        """
        return self.book.frame().join(self.history.frame().rename(columns=self.labels()))

    def destroy(self, streams=None):
        for ind, watcher in zip(self.indicators.values(), self._watchers):
            ind.param.unwatch(watcher)
        super().destroy(streams)


def output_keys(key: str, indicator) -> list[str]:
    """Value keys of an indicator in a node: ``key`` for one output, ``key.output`` for several."""
    outputs = indicator.outputs
    return [key] if len(outputs) == 1 else [f"{key}.{out}" for out in outputs]


@Stream.register_api()
class signal(Stream):
    """Signal node: evaluates its rules on every closed candle's ``Analysis`` and emits each ``Signal``.

    Rules name series by indicator column (``"ema_9"``, ``"rsi_14"``); when a parameter change renames
    a column (``ema_9`` → ``ema_12``) the rules follow. Keeps the last ``max_signals`` in ``history``
    (oldest first); on ``Recomputed`` it re-derives the history in batch from the indicator node's
    frame (the same signals streaming gives) and forwards the marker.
    """

    def __init__(self, upstream: indicate, rules, max_signals: int = 1000, **kwargs):
        self.rules = list(rules)
        self.history: collections.deque[Signal] = collections.deque(maxlen=max_signals)
        super().__init__(upstream, **kwargs)
        self._labels = upstream.labels()
        self._rebuild(upstream)

    def _rebuild(self, node: indicate) -> None:
        labels = node.labels()
        renamed = {self._labels[k]: col for k, col in labels.items() if self._labels.get(k, col) != col}
        self._labels = labels
        for rule in self.rules:
            changes = {name: renamed[value] for name, value in rule.param.values().items()
                       if isinstance(value, str) and value in renamed}
            if changes:
                rule.param.update(changes)
        frame = node.frame()
        symbol, interval = node.book.symbol, node.book.interval
        found = sorted((s for rule in self.rules for s in rule.batch(frame, symbol, interval)),
                       key=lambda s: s.open_time)
        self.history.clear()
        self.history.extend(found)
        if len(frame):  # continue streaming from the last closed candle of the history
            last = frame.iloc[-1]
            for rule in self.rules:
                rule.reset()
                rule.update(int(frame.index[-1].value // 1_000_000), last["close"], last, symbol, interval)

    def update(self, x, who=None, metadata=None):
        if type(x) is Recomputed:
            self._rebuild(x.node)
            return self._emit(Recomputed(self), metadata=metadata)
        if not x.candle.closed:
            return None
        k = x.candle.kline
        values = {self._labels[key]: v for key, v in x.values.items()}
        results = []
        for rule in self.rules:
            found = rule.update(k.open_time, k.close, values, k.symbol, k.interval)
            if found is not None:
                self.history.append(found)
                results.extend(self._emit(found, metadata=metadata))
        return results


class MarketGraph:
    """The chain of one (symbol, interval) hanging off the shared ``source`` of parsed events."""

    def __init__(self, source: Stream, symbol: str, interval: str, indicators: dict, rules, alerts):
        self.symbol, self.interval = symbol, interval
        self.book = CandleBook(symbol, interval)
        self.klines = source.filter(self._mine)
        self.candles = self.klines.map(self.book.apply).filter(_is_not_none)
        self.analysis = self.candles.indicate(self.book, indicators)
        self.signals = self.analysis.signal(rules)
        self.alerts = self.signals.filter(_is_signal).sink(alerts.append)

    def _mine(self, event) -> bool:
        return type(event) is Kline and event.symbol == self.symbol and event.interval == self.interval

    def load(self, klines) -> None:
        """Merge REST klines (warm-up) into the book; every indicator node on it recomputes."""
        self.book.load(klines)
        for node in list(self.candles.downstreams):
            if isinstance(node, indicate):
                node.recompute()

    def branch(self, indicators: dict, rules) -> tuple[indicate, signal]:
        """A session's own indicator and signal nodes after this market's candles; ``destroy()`` both when done."""
        node = self.candles.indicate(self.book, indicators)
        return node, node.signal(rules)


def _is_not_none(x) -> bool:
    return x is not None


def _is_signal(x) -> bool:
    return type(x) is Signal
