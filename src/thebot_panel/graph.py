"""The stream graph: klines → candle book → one node per indicator → signal node → alerts, one chain per
(symbol, interval), built on streamz and run asynchronously in the app's event loop.

Reading left to right::

    source.filter(is this market's kline).map(book.apply).filter(changed)   # candles
          .indicate(book, "ema_fast", EMA(9)).indicate(book, "rsi", RSI(14)) # Analysis rows
          .signal(branch, [Crossover(...), ...])                             # Analysis + Signal records
          .sink(alerts.append)

A ``Branch`` is such a chain of indicator nodes and its signal node. The hub keeps one per market
for its alerts; sessions (browser tabs, notebook cells) hang their own off ``MarketGraph.candles``,
add and remove indicators on it while it runs, and ``destroy()`` it when they end. When an
indicator parameter changes, its node recomputes from the book's history and emits a
``Recomputed`` marker downstream.
"""

from __future__ import annotations

import collections
import functools
import heapq

import numpy as np
import pandas as pd
from streamz import Stream
from streamz.dataframe import DataFrame as StreamingDataFrame

from .binance.events import Kline
from .pipeline.candles import OHLCV, CandleBook, Columns, candle_frame
from .pipeline.messages import Analysis, Evaluated, Recomputed
from .signals.aggregator import confluence
from .signals.rules import Signal


@Stream.register_api()
class indicate(Stream):
    """Indicator node: one indicator, after the candles or after another indicator node.

    For every ``CandleUpdate`` (or ``Analysis`` from the node before) it emits an ``Analysis`` with
    its own values added under ``keys`` (``key``, or ``"<key>.<output>"`` for several outputs).
    Committed values of closed candles are kept in ``history`` (``Columns`` aligned with the book's
    candles), the provisional values of the forming candle in ``forming``. A parameter change
    recomputes the indicator over ``book``'s closed candles (batch == streaming) and emits
    ``Recomputed``; a ``Recomputed`` from upstream is passed on.
    """

    def __init__(self, upstream, book: CandleBook, key: str, indicator, **kwargs):
        self.book, self.key, self.indicator = book, key, indicator
        self.forming: dict[str, float] = {}
        super().__init__(upstream, **kwargs)
        self._watcher = indicator.param.watch(self.recompute, indicator._parameter_names())
        self._recompute()

    @property
    def keys(self) -> list[str]:
        return output_keys(self.key, self.indicator)

    def labels(self) -> dict[str, str]:
        """Key → column name for the current parameters (e.g. ``"ema_fast": "ema_9"``)."""
        return dict(zip(self.keys, self.indicator.columns))

    def update(self, x, who=None, metadata=None):
        if type(x) is Recomputed:
            return self._emit(x, metadata=metadata)
        candle, values = (x.candle, dict(x.values)) if type(x) is Analysis else (x, {})
        out = self.indicator.update(candle.kline, candle.closed)
        if candle.closed:
            self.history.append(candle.kline.open_time, out)
            self.forming = {}
        else:
            self.forming = dict(zip(self.keys, out))
        values.update(zip(self.keys, out))
        return self._emit(Analysis(candle, values), metadata=metadata)

    def _recompute(self) -> None:
        history = self.book.frame()
        values = self.indicator.recompute(history).to_numpy()
        self.history = Columns.from_arrays(self.keys, self.book.candles.open_time, values,
                                           max_rows=self.book.candles.max_rows)
        forming = self.book.forming
        self.forming = {} if forming is None else dict(zip(self.keys, self.indicator.update(forming, False)))

    def recompute(self, *events) -> None:
        """Recompute over the book's history and emit ``Recomputed`` (the indicator's parameter watcher)."""
        self._recompute()
        self._emit(Recomputed(self))

    def destroy(self, streams=None):
        self.indicator.param.unwatch(self._watcher)
        super().destroy(streams)


def output_keys(key: str, indicator) -> list[str]:
    """Value keys of an indicator in a node: ``key`` for one output, ``key.output`` for several."""
    outputs = indicator.outputs
    return [key] if len(outputs) == 1 else [f"{key}.{out}" for out in outputs]


class Branch:
    """Indicator nodes chained after one market's candles, ending in a signal node (``signals``).

    ``indicators`` maps a stable key (e.g. ``"ema_fast"``) to an ``Indicator``. ``add`` and
    ``remove`` change the chain while it runs; ``signals`` passes every ``Analysis`` on, so a view
    sinks only ``signals``. ``destroy()`` detaches the whole branch.
    """

    def __init__(self, market: MarketGraph, indicators: dict, rules, max_signals: int = 1000):
        self.market, self.book = market, market.book
        self.nodes: dict[str, indicate] = {}
        tail = market.candles
        for key, indicator in indicators.items():
            tail = self.nodes[key] = tail.indicate(self.book, key, indicator)
        self.signals = tail.signal(self, rules, max_signals=max_signals)
        market.branches.append(self)

    @property
    def indicators(self) -> dict:
        return {key: node.indicator for key, node in self.nodes.items()}

    @property
    def keys(self) -> list[str]:
        return [k for node in self.nodes.values() for k in node.keys]

    def labels(self) -> dict[str, str]:
        """Value key → column name of every indicator output (e.g. ``"rsi": "rsi_14"``)."""
        return {k: col for node in self.nodes.values() for k, col in node.labels().items()}

    def forming(self) -> dict[str, float]:
        """Provisional values of the forming candle, by key (empty when none is forming)."""
        return {k: v for node in self.nodes.values() for k, v in node.forming.items()}

    def column(self, key: str):
        """Committed values of one key over the book's closed candles (float64 array)."""
        return self.nodes[key.partition(".")[0]].history.column(key)

    def frame(self) -> pd.DataFrame:
        """Closed candles joined with the indicator columns, named for the current parameters.

        Index ``open_time`` (UTC); columns open, high, low, close, volume, then e.g. ema_9, rsi_14.
        """
        frame = self.book.frame()
        for node in self.nodes.values():  # an indicator on the chart twice (same parameters) gives one column
            columns = node.history.frame().rename(columns=node.labels())
            frame = frame.join(columns[[c for c in columns.columns if c not in frame.columns]])
        return frame

    def stream_frame(self) -> StreamingDataFrame:
        """This branch's closed candles as a ``streamz.dataframe.DataFrame``: one single-row pandas frame per closed
        candle, index ``open_time`` (UTC), float64 columns open, high, low, close, volume, then the indicator
        columns named for the parameters at this call (e.g. ``rsi_14``, ``ema_50``, ``macd_12_26_9``).

        The values are the ones the indicator nodes computed for the graph (nothing is computed twice); building
        the row costs about 0.1 ms per closed candle. Forming updates and ``Recomputed`` markers are not emitted."""
        labels = self.labels()
        columns = [*OHLCV, *labels.values()]
        example = candle_frame(np.empty(0, dtype="int64"), {c: np.empty(0) for c in columns})

        def row(analysis: Analysis) -> pd.DataFrame:
            k = analysis.candle.kline
            values = {"open": [k.open], "high": [k.high], "low": [k.low], "close": [k.close], "volume": [k.volume]}
            values.update((labels[key], [v]) for key, v in analysis.values.items())
            return candle_frame(np.array([k.open_time]), values)

        return StreamingDataFrame(self.signals.filter(_is_closed_analysis).map(row), example=example)

    def add(self, key: str, indicator) -> indicate:
        """Append an indicator node (computed over the history at once); ``ValueError`` if ``key`` is taken."""
        if key in self.nodes:
            raise ValueError(f"an indicator with key {key!r} is already on this chart")
        tail = list(self.nodes.values())[-1] if self.nodes else self.market.candles
        tail.disconnect(self.signals)
        node = self.nodes[key] = tail.indicate(self.book, key, indicator)
        node.connect(self.signals)
        node.recompute()
        return node

    def remove(self, key: str) -> None:
        """Take an indicator node out of the chain; ``KeyError`` if there is none with ``key``."""
        node = self.nodes.pop(key)
        upstream, = node.upstreams
        downstream = next(d for d in node.downstreams if d is self.signals or d in self.nodes.values())
        upstream.disconnect(node)
        node.disconnect(downstream)
        upstream.connect(downstream)
        node.destroy()
        self.signals.update(Recomputed(node))

    def recompute(self) -> None:
        """Recompute every node over the book (after a history load) and tell the views once."""
        for node in self.nodes.values():
            node._recompute()
        self.signals.update(Recomputed(self.signals))

    def destroy(self) -> None:
        for node in (self.signals, *self.nodes.values()):
            node.destroy()
        self.market.branches.remove(self)


@Stream.register_api()
class signal(Stream):
    """Signal node: evaluates its rules on every closed candle's ``Analysis`` and emits each ``Signal``.

    Every ``Analysis`` is passed on before the signals it gives, and a closed candle's are followed by
    ``Evaluated(open_time)``, so views sink this node only and know when a candle is complete.
    Rules name series by indicator column (``"ema_9"``, ``"rsi_14"``); when a parameter change renames
    a column (``ema_9`` → ``ema_12``) the rules follow. Keeps the last ``max_signals`` in ``history``
    (oldest first); on ``Recomputed`` it re-derives the history in batch from ``branch.frame()``
    (the same signals streaming gives) and emits ``Recomputed(self)``.
    """

    def __init__(self, upstream, branch: Branch, rules, max_signals: int = 1000, **kwargs):
        self.branch = branch
        self.rules = list(rules)
        self.history: collections.deque[Signal] = collections.deque(maxlen=max_signals)
        self._found: dict = {}  # rule -> its last max_signals signals
        self._renaming = False
        super().__init__(upstream, **kwargs)
        self._labels = branch.labels()
        available = list(branch.frame().columns)
        for rule in self.rules:
            rule.validate(available)  # ValueError naming a series the chart does not have
        self._watchers = [rule.param.watch(functools.partial(self._rule_changed, rule),
                                           [n for n in rule.param if n != "name"]) for rule in self.rules]
        self._rebuild()

    def _rule_changed(self, rule, *events) -> None:
        """A rule's parameter changed (e.g. toggled in the UI): re-derive its signals and tell the views."""
        if self._renaming:  # the node itself follows a renamed column: it rebuilds anyway
            return
        self._rebuild(rule)
        self._emit(Recomputed(self))

    def destroy(self, streams=None):
        for rule, watcher in zip(self.rules, self._watchers):
            rule.param.unwatch(watcher)
        super().destroy(streams)

    def _rebuild(self, changed=None) -> None:
        """Re-derive signals in batch: of ``changed`` (a rule whose parameters changed), of the rules reading
        ``changed``'s columns (an indicator node whose parameters changed), or of every rule (``changed``
        None, or a node added or removed)."""
        labels = self.branch.labels()
        renamed = {self._labels[k]: col for k, col in labels.items() if self._labels.get(k, col) != col}
        self._labels = labels
        for rule in self.rules:
            changes = {name: renamed[getattr(rule, name)] for name in rule.series_params
                       if getattr(rule, name) in renamed}
            if changes:
                self._renaming = True
                try:
                    rule.param.update(changes)
                finally:
                    self._renaming = False
        frame = self.branch.frame()
        book = self.branch.book
        # a rule whose series left the chart (its indicator was removed) rests until they are back
        self.active = [rule for rule in self.rules if set(rule.columns) <= set(frame.columns)]
        touched = set(changed.indicator.columns) if changed in self.branch.nodes.values() else None
        for rule in self.active:
            if rule in self._found and (changed in self.rules and rule is not changed
                                        or touched is not None and not touched & set(rule.columns)):
                continue
            # the signals of the history, and the rule's state at its end to continue streaming from
            self._found[rule] = collections.deque(rule.recompute(frame, book.symbol, book.interval),
                                                  maxlen=self.history.maxlen)
        self._found = {rule: self._found[rule] for rule in self.active}
        self.history.clear()
        self.history.extend(heapq.merge(*self._found.values(), key=lambda s: s.open_time))

    def update(self, x, who=None, metadata=None):
        if type(x) is Recomputed:
            self._rebuild(x.node)
            return self._emit(Recomputed(self), metadata=metadata)
        results = self._emit(x, metadata=metadata)
        k, closed = x.candle.kline, x.candle.closed
        values = {"open": k.open, "high": k.high, "low": k.low, "close": k.close, "volume": k.volume}
        values.update((self._labels[key], v) for key, v in x.values.items())
        for rule in self.active:
            found = rule.update(k.open_time, k.close, values, k.symbol, k.interval, closed)
            if found is not None:
                if closed:
                    self.history.append(found)
                    self._found[rule].append(found)
                results.extend(self._emit(found, metadata=metadata))
        if closed:
            results.extend(self._emit(Evaluated(k.open_time), metadata=metadata))
        return results


class MarketGraph:
    """The chain of one (symbol, interval) hanging off the shared ``source`` of parsed events.

    ``branch`` is the hub's own ``Branch``: its signals feed ``alerts`` (an ``AlertManager``), as
    every kline update does for the price alerts, and ``confluence`` (an ``Aggregator`` node, with
    ``trend`` from a higher interval if given); ``branches`` lists every branch on the candles,
    sessions' included.
    """

    def __init__(self, source: Stream, symbol: str, interval: str, indicators: dict, rules, alerts,
                 aggregator=None, trend=None):
        self.symbol, self.interval = symbol, interval
        self.book = CandleBook(symbol, interval)
        self.branches: list[Branch] = []
        self.klines = source.filter(self._mine)
        self.candles = self.klines.map(self.book.apply).filter(_is_not_none)
        self.branch = Branch(self, indicators, rules)
        self.confluence = confluence(self.branch.signals, self.branch, aggregator, trend)
        self.alerts = self.branch.signals.filter(_is_signal).sink(alerts.on_signal)
        self.prices = self.klines.sink(alerts.on_candle)

    def _mine(self, event) -> bool:
        return type(event) is Kline and event.symbol == self.symbol and event.interval == self.interval

    def load(self, klines) -> None:
        """Merge REST klines (warm-up) into the book; every branch on it recomputes."""
        self.book.load(klines)
        for branch in self.branches:
            branch.recompute()

    def add_branch(self, indicators: dict, rules) -> Branch:
        """A session's own indicator and signal nodes after this market's candles; ``destroy()`` it when done."""
        return Branch(self, indicators, rules)


def _is_not_none(x) -> bool:
    return x is not None


def _is_closed_analysis(x) -> bool:
    return type(x) is Analysis and x.candle.closed


def _is_signal(x) -> bool:
    return type(x) is Signal and not x.provisional
