"""The stream graph of one (symbol, interval), built on streamz and run in the app's event loop.

Reading left to right (one ``route`` per source, so an event costs one dict lookup whatever the number of markets)::

    source.route(market_key).select((symbol, interval))     # this market's klines
          .candles(book)                                     # CandleUpdate: a closed or forming candle
          .indicate(book)                                    # Analysis: every indicator any branch shows, once
          .signal(branch, rules)                             # Analysis + Signal records + Evaluated, per branch
          .confluence(branch, aggregator, trend)             # + one Confluence per closed candle (the hub's branch)
    branch.signals.filter(is_signal).each(alerts.on_signal)  # the hub branch's signals raise alerts

The ``indicate`` node computes each distinct indicator (class and parameters) once per closed candle for every
branch that shows it (a forming candle's values when something reads them): the hub's alerts, every browser tab, every notebook cell. A ``Branch`` is a session's view
of it: its own indicator objects by key (the widgets edit them), the shared computations they map to, and its own
signal node with its rules. When a session changes a parameter, its branch moves that key to the computation of
the new parameters (computed over the book's history at once if no other branch has it) and tells only its own
signal node and views (``Recomputed``); the other sessions see nothing.
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
import weakref

import numpy as np
import pandas as pd
from streamz import Stream
from streamz.dataframe import DataFrame as StreamingDataFrame

from ..binance.events import Kline
from ..indicators import Indicator
from ..metrics import MarketMetrics, last_price
from ..signals.aggregator import Aggregator, Confluence
from ..signals.rules import Signal
from .candles import OHLCV, CandleBook, Columns, candle_frame
from .messages import Analysis, Evaluated, Recomputed
from .node import Node, route


def market_key(event) -> tuple[str, str] | None:
    """The key a ``route`` sends a parsed event by: ``(symbol, interval)`` of a ``Kline``, None for other events."""
    return (event.symbol, event.interval) if type(event) is Kline else None


def router(source: Stream) -> route:
    """The ``route`` node of ``source`` by ``market_key`` (created on first use: one per source)."""
    for node in source.downstreams:
        if type(node) is route and node.key is market_key:
            return node
    return source.route(market_key)


@Stream.register_api()
class candles(Node):
    """Candle node: applies each kline to ``book`` and emits the ``CandleUpdate`` (nothing for a duplicate)."""

    def __init__(self, upstream, book: CandleBook, **kwargs):
        self.book = book
        super().__init__(upstream, **kwargs)

    def update(self, x, who=None, metadata=None):
        update = self.book.apply(x)
        return None if update is None else self._emit(update, metadata)


def indicator_spec(indicator: Indicator) -> tuple:
    """What makes two indicators compute the same values: the class and every parameter (a chained ``of``
    indicator by its own spec)."""
    return type(indicator), tuple((name, indicator_spec(value) if isinstance(value, Indicator) else value)
                                  for name in indicator._parameter_names() for value in [getattr(indicator, name)])


class Computation:
    """One indicator computed for every branch that shows it with the same parameters.

    ``indicator`` is the node's own copy; ``columns`` its column names (e.g. ``("ema_9",)``); ``history`` the
    committed values of the book's closed candles (``Columns`` named by ``columns``, aligned with the book);
    ``users`` how many branch keys use it. ``forming(kline)`` gives the provisional values of a forming kline
    (a tuple in the order of ``columns``), computed on demand and kept for the last kline asked.
    """

    __slots__ = ("indicator", "columns", "history", "users", "update", "_kline", "_forming")

    def __init__(self, indicator, book: CandleBook):
        self.indicator, self.columns, self.users = indicator, tuple(indicator.columns), 0
        self.recompute(book)

    def recompute(self, book: CandleBook) -> None:
        """Values over the book's closed candles (batch == streaming); the forming candle's on the next read."""
        candles = book.candles
        values = self.indicator.recompute_arrays(candles.open_time, {name: candles.column(name) for name in OHLCV})
        self.history = Columns.from_arrays(self.columns, candles.open_time, values, max_rows=candles.max_rows)
        self.update = self.indicator.update  # the kernel's own method, bound once (a param attribute read costs µs)
        self._kline = self._forming = None

    def commit(self, open_time: int, values: tuple) -> None:
        """Append a closed candle's values (what ``update(kline, True)`` returned) to ``history``."""
        self.history.append(open_time, values)
        self._kline = None  # a kept forming value was computed against the state before this candle

    def forming(self, kline) -> tuple:
        """Provisional values of the forming ``kline`` against the committed state (() for None)."""
        if kline is None:
            return ()
        if kline is not self._kline:
            self._forming, self._kline = self.update(kline, False), kline
        return self._forming


@Stream.register_api()
class indicate(Node):
    """Indicator node of a market: every ``Computation`` its branches use, each updated once per closed candle.

    For every ``CandleUpdate`` it emits an ``Analysis`` whose ``values`` are keyed by column name
    (``{"ema_9": …, "rsi_14": …}``): a closed candle's computed at once, a forming candle's when first read.
    ``acquire``/``release`` share computations between branches by ``indicator_spec``; ``recompute()`` redoes them
    all (after a history load).
    """

    def __init__(self, upstream, book: CandleBook, **kwargs):
        self.book = book
        self.computations: dict[tuple, Computation] = {}
        self._running: tuple[Computation, ...] = ()
        self._columns: tuple[str, ...] = ()
        self._unread: list[weakref.ref] = []  # the forming Analysis messages since the last closed candle
        super().__init__(upstream, **kwargs)

    def acquire(self, indicator) -> Computation:
        """The computation of ``indicator``'s class and parameters: shared if a branch has it, else a new one
        (over a copy, computed over the book's history at once). Pair with ``release``."""
        spec = indicator_spec(indicator)
        computation = self.computations.get(spec)
        if computation is None:
            computation = self.computations[spec] = Computation(indicator.copy(), self.book)
            self._running_changed()
        computation.users += 1
        return computation

    def release(self, computation: Computation) -> None:
        """One user less; the computation stops with its last user."""
        computation.users -= 1
        if computation.users == 0:
            del self.computations[indicator_spec(computation.indicator)]
            self._running_changed()

    def _running_changed(self) -> None:
        self._settle()
        self._running = tuple(self.computations.values())
        self._columns = tuple(column for computation in self._running for column in computation.columns)

    def recompute(self) -> None:
        self._settle()
        for computation in self._running:
            computation.recompute(self.book)

    def forming_values(self, kline) -> dict[str, float]:
        """Provisional values of the forming ``kline`` by column name, of every computation (``Analysis.values``)."""
        return dict(zip(self._columns, itertools.chain.from_iterable(
            computation.forming(kline) for computation in self._running)))

    def _settle(self) -> None:
        """Give every forming ``Analysis`` still held somewhere its values before the state they depend on changes
        (a closed candle, a recompute, a computation added or removed): what it holds is what it would have been
        given at once. Most are held by nobody (their weak reference is dead) and cost nothing."""
        for ref in self._unread:
            analysis = ref()
            if analysis is not None and analysis._values is None:
                analysis._values = self.forming_values(analysis.candle.kline)
        self._unread.clear()

    def update(self, x, who=None, metadata=None):
        if x.kind != "closed":  # provisional values are computed when read (Analysis.values)
            analysis = Analysis(x, None, self)
            if len(self._unread) >= 4096:  # a long candle (1d: ~43,000 updates): keep only the messages still held
                self._unread = [ref for ref in self._unread if ref() is not None]
            self._unread.append(weakref.ref(analysis))
            return self._emit(analysis, metadata)
        self._settle()
        kline = x.kline
        outs = [computation.update(kline, True) for computation in self._running]
        for computation, out in zip(self._running, outs):
            computation.commit(kline.open_time, out)
        return self._emit(Analysis(x, dict(zip(self._columns, itertools.chain.from_iterable(outs)))), metadata)


def output_keys(key: str, indicator) -> list[str]:
    """Value keys of an indicator in a branch: ``key`` for one output, ``key.output`` for several."""
    outputs = indicator.outputs
    return [key] if len(outputs) == 1 else [f"{key}.{out}" for out in outputs]


class Branch:
    """A session's indicators and signal rules on one market: ``indicators`` maps a stable key (e.g.
    ``"ema_fast"``) to an ``Indicator`` the session owns (its widgets edit it); each is computed by the market's
    shared ``indicate`` node. ``signals`` (the branch's signal node) passes every ``Analysis`` on (values by column
    name; ``labels()`` maps the branch's keys to them), then the branch's ``Signal``s and ``Evaluated``; a view
    sinks only ``signals``. ``add``/``remove`` change the set while it runs; a parameter change moves the key to
    the computation of the new parameters. ``destroy()`` detaches the branch.
    """

    def __init__(self, market: MarketGraph, indicators: dict, rules, max_signals: int = 1000):
        self.market, self.book = market, market.book
        self.computations: dict[str, Computation] = {}
        self._indicators: dict = {}
        self._watchers: dict = {}
        available = [*OHLCV, *(column for indicator in indicators.values() for column in indicator.columns)]
        for rule in rules:
            rule.validate(available)  # ValueError naming a series the branch does not have, before anything runs
        for key, indicator in indicators.items():
            self._attach(key, indicator)
        self.signals = market.indicators.signal(self, rules, max_signals=max_signals)
        market.branches.append(self)

    def _attach(self, key: str, indicator) -> None:
        self._indicators[key] = indicator
        self.computations[key] = self.market.indicators.acquire(indicator)
        self._watchers[key] = indicator.param.watch(functools.partial(self._changed, key),
                                                    indicator._parameter_names())

    def _detach(self, key: str) -> None:
        indicator = self._indicators.pop(key)
        indicator.param.unwatch(self._watchers.pop(key))
        self.market.indicators.release(self.computations.pop(key))

    def _changed(self, key: str, *events) -> None:
        """The session changed a parameter of ``key``: move it to the computation of the new parameters."""
        old = self.computations[key]
        self.computations[key] = self.market.indicators.acquire(self._indicators[key])
        self.market.indicators.release(old)
        self.signals.update(Recomputed(key))

    @property
    def indicators(self) -> dict:
        return dict(self._indicators)

    @property
    def keys(self) -> list[str]:
        return [k for key, indicator in self._indicators.items() for k in output_keys(key, indicator)]

    def labels(self) -> dict[str, str]:
        """Value key → column name of every indicator output (e.g. ``"rsi": "rsi_14"``)."""
        return {k: col for key, indicator in self._indicators.items()
                for k, col in zip(output_keys(key, indicator), self.computations[key].columns)}

    def forming(self) -> dict[str, float]:
        """Provisional values of the forming candle by column name (empty when none is forming)."""
        kline = self.book.forming
        return {col: v for computation in self.computations.values()
                for col, v in zip(computation.columns, computation.forming(kline))}

    def column(self, key: str):
        """Committed values of one key over the book's closed candles (float64 array); ``KeyError`` for an unknown
        key."""
        name = key.partition(".")[0]
        computation = self.computations[name]
        labels = dict(zip(output_keys(name, self._indicators[name]), computation.columns))
        return computation.history.column(labels[key])

    def open_time(self, key: str):
        """Open times (int64 ms) of ``column(key)``'s values (the book's closed candles)."""
        return self.computations[key.partition(".")[0]].history.open_time

    def frame(self, last: int | None = None) -> pd.DataFrame:
        """Closed candles (the ``last`` ones, or all) with the indicator columns, named for the current parameters.

        Index ``open_time`` (UTC); columns open, high, low, close, volume, then e.g. ema_9, rsi_14 (an indicator
        shown twice with the same parameters gives one column).
        """
        return candle_frame(*self.arrays(last=last))

    def arrays(self, columns=None, last: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``frame``'s data without the frame: open times (int64 ms) and the columns (all, or those named in
        ``columns``) as read-only float64 arrays. Every computation is aligned with the book's closed candles."""
        rows = slice(None) if last is None else slice(-last, None)
        candles = self.book.candles
        found = {name: candles.column(name)[rows] for name in OHLCV if columns is None or name in columns}
        for computation in self.computations.values():
            found.update((name, computation.history.column(name)[rows]) for name in computation.columns
                         if columns is None or name in columns)
        return candles.open_time[rows], found

    def stream_frame(self) -> StreamingDataFrame:
        """This branch's closed candles as a ``streamz.dataframe.DataFrame``: one single-row pandas frame per closed
        candle, index ``open_time`` (UTC), float64 columns open, high, low, close, volume, then the indicator
        columns named for the parameters at this call (e.g. ``rsi_14``, ``ema_50``, ``macd_12_26_9``); they keep
        those names (the frame's schema) when a parameter changes later, and carry the new parameters' values.

        The values are the ones the indicator node computed for the graph (nothing is computed twice); building
        the row costs about 0.1 ms per closed candle. Forming updates and ``Recomputed`` markers are not emitted."""
        named = self.labels()   # key → the column name it has in this frame
        columns = [*OHLCV, *named.values()]
        example = candle_frame(np.empty(0, dtype="int64"), {c: np.empty(0) for c in columns})

        def row(analysis: Analysis) -> pd.DataFrame:
            k = analysis.candle.kline
            values = {"open": [k.open], "high": [k.high], "low": [k.low], "close": [k.close], "volume": [k.volume]}
            now = self.labels()  # a key removed since gives NaN
            values.update((column, [analysis.values.get(now.get(key), np.nan)]) for key, column in named.items())
            return candle_frame(np.array([k.open_time]), values)

        return StreamingDataFrame(self.signals.filter(_is_closed_analysis).map(row), example=example)

    def add(self, key: str, indicator) -> None:
        """Add an indicator (computed over the history at once unless shared); ``ValueError`` if ``key`` is taken."""
        if key in self._indicators:
            raise ValueError(f"an indicator with key {key!r} is already on this chart")
        self._attach(key, indicator)
        self.signals.update(Recomputed(key))

    def remove(self, key: str) -> None:
        """Take an indicator off the branch; ``KeyError`` if there is none with ``key``."""
        self._detach(key)
        self.signals.update(Recomputed(key))

    def destroy(self) -> None:
        """Detach the branch (its computations stop with their last user); a second call does nothing."""
        if self not in self.market.branches:
            return
        for key in list(self._indicators):
            self._detach(key)
        self.signals.destroy()
        self.market.branches.remove(self)


@Stream.register_api()
class signal(Node):
    """Signal node of a branch: evaluates its rules on every closed candle and emits each ``Signal``.

    Every ``Analysis`` is passed on (the market's, values by column name) before the signals it gives, and a closed
    candle's are followed by ``Evaluated(open_time)``, so views sink this node only and know when a candle is
    complete. Rules name series by indicator column (``"ema_9"``, ``"rsi_14"``); when a parameter change renames
    a column (``ema_9`` → ``ema_12``) the rules follow. Keeps the last ``max_signals`` in ``history`` (oldest
    first); on ``Recomputed`` (a key of the branch that changed, or the market's indicator node after a history
    load) it re-derives the history in batch from ``branch.frame()`` (the same signals streaming gives) and emits
    ``Recomputed(self)``.
    """

    def __init__(self, upstream, branch: Branch, rules, max_signals: int = 1000, **kwargs):
        self.branch = branch
        self.rules = list(rules)
        self.history: collections.deque[Signal] = collections.deque(maxlen=max_signals)
        self._found: dict = {}  # rule -> its last max_signals signals
        self._renaming = False
        super().__init__(upstream, **kwargs)
        self._labels = branch.labels()
        self._series_keys = {rule: self._keys_of(rule) for rule in self.rules}
        available = list(branch.frame().columns)
        for rule in self.rules:
            rule.validate(available)  # ValueError naming a series the chart does not have
        self._watchers = [rule.param.watch(functools.partial(self._rule_changed, rule),
                                           [n for n in rule.param if n != "name"]) for rule in self.rules]
        self._rebuild()

    def _keys_of(self, rule) -> dict[str, str]:
        """The branch key each series parameter of ``rule`` reads (``{"fast": "ema_fast"}``): the first key whose
        column it names now; a candle field (``close``) has none."""
        by_column: dict[str, str] = {}
        for key, column in self._labels.items():
            by_column.setdefault(column, key)
        return {name: by_column[getattr(rule, name)] for name in rule.series_params
                if getattr(rule, name) in by_column}

    def _rule_changed(self, rule, *events) -> None:
        """A rule's parameter changed (e.g. toggled in the UI): re-derive its signals and tell the views."""
        if self._renaming:  # the node itself follows a renamed column: it rebuilds anyway
            return
        self._series_keys[rule] = self._keys_of(rule)  # a series may now name another key
        self._rebuild(rule)
        self._emit(Recomputed(self))

    def destroy(self, streams=None):
        for rule, watcher in zip(self.rules, self._watchers):
            rule.param.unwatch(watcher)
        super().destroy(streams)

    def _rebuild(self, changed=None) -> None:
        """Re-derive signals in batch: of ``changed`` (a rule whose parameters changed), of the rules reading the
        columns of ``changed`` (a key of the branch whose parameters changed), or of every rule (``changed``
        None, or a key added or removed)."""
        labels = self.branch.labels()
        touched = {col for k, col in [*labels.items(), *self._labels.items()] if k.partition(".")[0] == changed} \
            if type(changed) is str else None
        self._labels = labels
        for rule in self.rules:  # each series follows its own key's column (ema_9 → ema_12), not a namesake's
            changes = {name: labels[key] for name, key in self._series_keys[rule].items()
                       if key in labels and getattr(rule, name) != labels[key]}
            if changes:
                self._renaming = True
                try:
                    rule.param.update(changes)
                finally:
                    self._renaming = False
        # a rule whose series left the chart (its indicator was removed) rests until they are back
        available = {*OHLCV, *labels.values()}
        self.active = [rule for rule in self.rules if set(rule.columns) <= available]
        self._provisional = any(rule.provisional for rule in self.active)
        stale = [rule for rule in self.active
                 if not (rule in self._found and (changed in self.rules and rule is not changed
                                                  or touched is not None and not touched & set(rule.columns)))]
        if stale:  # the signals of the history, and each rule's state at its end to continue streaming from
            open_time, columns = self.branch.arrays({"close", *(c for rule in stale for c in rule.columns)})
            book = self.branch.book
            for rule in stale:
                self._found[rule] = collections.deque(rule.recompute_arrays(open_time, columns, book.symbol,
                                                                            book.interval), maxlen=self.history.maxlen)
        self._found = {rule: self._found[rule] for rule in self.active}
        self.history.clear()  # the rules' signals in candle order (a stable sort: a candle's in rule order)
        self.history.extend(sorted(itertools.chain.from_iterable(self._found.values()), key=_open_time))

    def update(self, x, who=None, metadata=None):
        if type(x) is Recomputed:
            self._rebuild(x.node)
            return self._emit(Recomputed(self), metadata)
        results = self._emit(x, metadata)
        closed = x.candle.closed
        if not (closed or self._provisional):
            return results
        k = x.candle.kline
        values = {"open": k.open, "high": k.high, "low": k.low, "close": k.close, "volume": k.volume, **x.values}
        for rule in self.active:
            found = rule.update(k.open_time, k.close, values, k.symbol, k.interval, closed)
            if found is not None:
                if closed:
                    self.history.append(found)
                    self._found[rule].append(found)
                results.extend(self._emit(found, metadata))
        if closed:
            results.extend(self._emit(Evaluated(k.open_time), metadata))
        return results


@Stream.register_api()
class confluence(Node):
    """Confluence node, placed after a branch's signal node. It passes every input on and emits one
    ``Confluence`` per closed candle.

    The signal node emits a closed candle's ``Analysis`` first, then that candle's ``Signal``\\ s,
    then ``Evaluated``. This node buffers those signals and emits the candle's ``Confluence`` on
    ``Evaluated`` (or, failing that, on the next input), before passing that input on.
    ``trend`` (such as ``HigherTrend``) is consulted only when ``aggregator.confirm_interval`` is
    set. The node sets its aggregator's ``symbol`` and ``interval`` to the branch's market.

    ``history`` keeps the last ``max_history`` records, oldest first, and ``latest`` the newest. On a
    ``Recomputed`` from upstream, and when an aggregator parameter changes, the streaming state and
    ``latest`` are re-derived in batch over the last ``window`` candles at once, and ``history`` on its
    next read (a parameter change waits for O(window), not O(max_history)). Both use the book's closed
    candles and ``branch.signals.history``, which holds that node's last ``max_signals``. Then the
    marker is passed on, or ``Recomputed(self)`` is emitted.
    """

    def __init__(self, upstream, branch, aggregator: Aggregator | None = None, trend=None,
                 max_history: int = 1000, **kwargs):
        self.branch, self.trend = branch, trend
        self.aggregator = aggregator if aggregator is not None else Aggregator()
        self.aggregator.param.update(symbol=branch.book.symbol, interval=branch.book.interval)
        self.max_history = max_history
        self._history: collections.deque[Confluence] | None = None  # None: re-derived on the next read
        self.latest: Confluence | None = None
        self._pending: int | None = None  # open time of the closed candle whose signals are arriving
        self._signals: list[Signal] = []
        super().__init__(upstream, **kwargs)
        watched = [n for n in self.aggregator.param if n not in ("name", "symbol", "interval")]
        self._watcher = self.aggregator.param.watch(self.recompute, watched)
        self._rebuild()

    def update(self, x, who=None, metadata=None):
        if type(x) is Signal and x.open_time == self._pending:
            self._signals.append(x)
            return self._emit(x, metadata=metadata)
        if type(x) is Recomputed:
            self._rebuild()
            return self._emit(x, metadata=metadata)
        if type(x) is Evaluated and x.open_time == self._pending:  # the candle is complete
            results = self.flush()
            results.extend(self._emit(x, metadata=metadata))
            return results
        results = self.flush() if self._pending is not None else []
        results.extend(self._emit(x, metadata=metadata))
        if type(x) is Analysis and x.candle.closed:
            self._pending = x.candle.kline.open_time
        return results

    def flush(self) -> list:
        """Emit the buffered closed candle's ``Confluence`` now. Does nothing if no candle is pending."""
        if self._pending is None:
            return []
        open_time, signals = self._pending, self._signals
        self._pending, self._signals = None, []
        trend = self._trend()
        found = self.aggregator.update(open_time, signals, None if trend is None else trend(open_time))
        if self._history is not None:
            self._history.append(found)
        self.latest = found
        return self._emit(found)

    def _trend(self):
        """The trend callable, or None when no higher interval is to be consulted."""
        return self.trend if self.aggregator._snapshot().confirm_interval is not None else None

    @property
    def history(self) -> collections.deque[Confluence]:
        """The last ``max_history`` records, oldest first."""
        if self._history is None:
            times = self.branch.book.candles.open_time[-(self.max_history + self.aggregator.window - 1):]
            found = self.aggregator.batch(times, self.branch.signals.history, self._trend())
            # the first window − 1 records (truncated windows) fall out of a full deque
            self._history = collections.deque(found, maxlen=self.max_history)
        return self._history

    def _rebuild(self) -> None:
        """The streaming state and ``latest`` from the last ``window`` candles; ``history`` on its next read."""
        self._pending, self._signals = None, []
        times = self.branch.book.candles.open_time[-self.aggregator.window:]
        first = times[0] if len(times) else 0
        recent = itertools.takewhile(lambda s: s.open_time >= first, reversed(self.branch.signals.history))
        found = self.aggregator.batch(times, list(recent)[::-1], self._trend(), resume=True)
        self.latest = found[-1] if found else None
        self._history = None

    def recompute(self, *events) -> None:
        """Recompute the history in batch and emit ``Recomputed`` (the aggregator's parameter watcher)."""
        self._rebuild()
        self._emit(Recomputed(self))

    def destroy(self, streams=None):
        self.aggregator.param.unwatch(self._watcher)
        super().destroy(streams)


class MarketGraph:
    """The chain of one (symbol, interval) off the shared ``source`` of parsed events (see the module docstring).

    ``branch`` is the hub's own ``Branch``: its signals feed ``alerts`` (an ``AlertManager``), as every kline
    update does for the price alerts, and ``confluence`` (an ``Aggregator`` node, with ``trend`` from a higher
    interval if given); ``branches`` lists every branch on the market, sessions' included. ``history``: the closed
    candles kept (the newest; each indicator's values alongside). ``ValueError`` if the source already has a graph
    for (symbol, interval).

    Views read a market through ``price``, ``tail(n)``, ``last()``, ``signals``, ``latest_signal``,
    ``latest_confluence``, ``day()`` and ``metrics()`` (the hub branch's values: the default indicators and rules), or
    open their own branch (``add_branch``) to show other indicators; never through the nodes.
    """

    def __init__(self, source: Stream, symbol: str, interval: str, indicators: dict, rules, alerts,
                 aggregator=None, trend=None, metrics: MarketMetrics | None = None, history: int = 200_000):
        self.symbol, self.interval = symbol, interval
        self._metrics = metrics
        self.book = CandleBook(symbol, interval, max_candles=history)
        self.branches: list[Branch] = []
        self.klines = router(source).select((symbol, interval))
        self.candles = self.klines.candles(self.book)
        self.indicators = self.candles.indicate(self.book)
        self.branch = Branch(self, indicators, rules)
        self.confluence = confluence(self.branch.signals, self.branch, aggregator, trend)
        self.alerts = self.branch.signals.filter(_is_signal).each(alerts.on_signal)
        self.prices = self.klines.each(alerts.on_candle)

    def load(self, klines) -> None:
        """Merge REST klines (warm-up, backfill) into the book; every computation and branch recomputes."""
        self.book.load(klines)
        self.indicators.recompute()
        for branch in self.branches:
            branch.signals.update(Recomputed(self.indicators))

    def add_branch(self, indicators: dict, rules) -> Branch:
        """A session's own indicators and signal rules on this market; ``destroy()`` it when done."""
        return Branch(self, indicators, rules)

    # --- what views read ----------------------------------------------------------------------------------
    @property
    def price(self) -> float:
        """The last price (quote currency): the forming candle's close, else the last closed one's; NaN if none."""
        return last_price(self.book)

    def tail(self, n: int) -> pd.DataFrame:
        """The last ``n`` closed candles (all if fewer) with the hub branch's indicator columns, oldest first:
        index ``open_time`` (UTC), float64 open, high, low, close, volume, then e.g. ema_9, rsi_14 (named for
        the parameters). ``ValueError`` if ``n`` < 1."""
        if n < 1:
            raise ValueError(f"tail needs n >= 1, not {n}")
        return self.branch.frame(last=n)

    def last(self) -> dict[str, float]:
        """The hub branch's committed values at the last closed candle by key (``"rsi"``, ``"ema_fast"``,
        ``"macd.signal"``, …) and its ``"close"``; {} before the first closed candle."""
        if not len(self.book):
            return {}
        values = {key: float(self.branch.column(key)[-1]) for key in self.branch.keys}
        return {"close": float(self.book.candles.column("close")[-1]), **values}

    @property
    def signals(self) -> list[Signal]:
        """The hub branch's last signals (at most 1000), oldest first."""
        return list(self.branch.signals.history)

    @property
    def latest_signal(self) -> Signal | None:
        """The hub branch's newest signal, None before any."""
        history = self.branch.signals.history
        return history[-1] if history else None

    @property
    def latest_confluence(self) -> Confluence | None:
        """The confluence at the last closed candle, None before any."""
        return self.confluence.latest

    def day(self) -> tuple[float, float, str]:
        """(24 h change %, 24 h base volume, source) as the metrics strip shows them (``MarketMetrics.day``)."""
        return self._require_metrics().day(self.symbol, self.book)

    def metrics(self) -> dict:
        """What the metrics strip shows for this market (``MarketMetrics.snapshot``); ``RuntimeError`` for a
        graph built without ``metrics``."""
        return self._require_metrics().snapshot(self.symbol, self.book, self.branch.signals.history)

    def _require_metrics(self) -> MarketMetrics:
        if self._metrics is None:
            raise RuntimeError(f"the {self.symbol} {self.interval} graph was built without metrics")
        return self._metrics


_open_time = operator.attrgetter("open_time")


def _is_closed_analysis(x) -> bool:
    return type(x) is Analysis and x.candle.closed


def _is_signal(x) -> bool:
    return type(x) is Signal and not x.provisional
