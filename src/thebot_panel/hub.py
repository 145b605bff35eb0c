"""The feed hub: ONE per process, the composition root. It owns the socket, the REST client, the backfill and the
stream graph of every (symbol, interval) (``open`` creates and subscribes, ``get`` only reads); sessions (browser
tabs, notebook cells) attach their own branches and detach them when they end. The upstream socket is never
opened per session. Alerts, notifications, the paper portfolio, news and the broadcast are ``services``
(``services.Services``), started and stopped with the feed.

The source (``auto``, ``binance``, ``replay``) is resolved by ``sources.resolve_source`` and shown in
``source_label`` and ``replay_badge``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import param

from .backfill import YIELD_EVERY, Backfill, BackfillCounters
from .binance.client import CLOCK_WINDOW_MS, Connected, MarketSocket, Status
from .binance.rest import RestClient
from .binance.streams import interval_ms, normalize_symbol, stream_name, validate_interval
from .market.graph import MarketGraph
from .indicators import Indicator, create
from .market.node import Node
from .metrics import MarketMetrics
from .presets import default_indicators, default_rules
from .services import Services
from .signals.aggregator import Aggregator, HigherTrend
from .sources import SOURCES, resolve_source

log = logging.getLogger(__name__)

#: A wanted market whose kline stream stays silent this long (s, exchange time / replay speed) is reported.
SILENT_AFTER_S = 30.0


class FeedHub(param.Parameterized):
    """Process-wide market feed. Create with ``FeedHub.shared(...)``, then ``await hub.start()``.

    ``symbols``/``interval`` are validated at construction (``ValueError`` naming the bad value);
    symbols are checked against the source's exchangeInfo in ``start()`` before the socket opens.
    ``socket_options`` go to ``MarketSocket`` (e.g. ``watchdog_timeout``, ``budget``); ``rest_timeout`` (s) to
    ``RestClient``. Every market's history is kept whole by a ``backfill.Backfill`` job.
    """

    source = param.Selector(default="auto", objects=list(SOURCES), constant=True)
    symbols = param.List(default=["BTCUSDT"], item_type=str, constant=True)
    interval = param.String(default="1m", constant=True)
    speed = param.Number(default=10.0, bounds=(0.01, 100_000),
                         doc="Replay speed: 1 = real time, 60 = one 1m candle per second (changeable while the "
                             "bundled replay runs)")
    paused = param.Boolean(default=False, doc="Pause the bundled replay (its clock stands still, nothing is lost)")
    warmup = param.Integer(default=1000, bounds=(50, 20_000), constant=True,
                           doc="Closed candles loaded over REST before going live (at most ``history``)")
    history = param.Integer(default=5000, bounds=(200, 200_000), constant=True,
                            doc="Closed candles kept per market with their indicator values (the newest; about "
                                "160 bytes each with the default indicators): 5,000 = 3.5 days of 1m candles")
    probe_timeout = param.Number(default=3.0, bounds=(0.1, 60), constant=True)
    confirm_interval = param.String(default=None, allow_None=True, constant=True,
                                    doc="Higher interval whose EMA fast/slow trend confirms each market's confluence "
                                        "(e.g. 15m); None: no confirmation")
    db_path = param.String(default=None, allow_None=True, constant=True,
                           doc="SQLite file of alerts and signals; None: $THEBOT_DB, else the user data dir")
    broadcast_port = param.Integer(default=None, allow_None=True, bounds=(0, 65535), constant=True,
                                   doc="Port of the event broadcast websocket (ws://127.0.0.1:<port>/events); "
                                       "None: off, 0: any free port")
    news_urls = param.List(default=None, allow_None=True, item_type=str, constant=True,
                           doc="RSS/Atom feeds of the News tab; None: $THEBOT_NEWS_FEEDS, else a few crypto news feeds")
    notify_config = param.String(default=None, allow_None=True, constant=True,
                                 doc="TOML file of notification channels; None: $THEBOT_NOTIFY_CONFIG and the "
                                     "THEBOT_* variables (see signals/notify.py)")

    status = param.String(default="starting", doc="Connection status shown by the UI")
    source_label = param.String(default="", doc="Where the data comes from (URL or replay)")
    replay_badge = param.String(default="", doc="Non-empty in replay: recording date and speed")
    error = param.String(default="", doc="Why the feed is down, in words a user can act on")

    _shared: FeedHub | None = None

    def __init__(self, ws_url: str | None = None, rest_url: str | None = None, replay_url: str | None = None,
                 replay_data=None, replay_start=None, socket_options: dict | None = None, rest_timeout: float = 10.0,
                 **params):
        if "symbols" in params:
            params["symbols"] = [normalize_symbol(s) for s in params["symbols"]]
        for name in ("interval", "confirm_interval"):
            if params.get(name) is not None:
                validate_interval(params[name])
        super().__init__(**params)
        if self.warmup > self.history:
            raise ValueError(f"warmup={self.warmup} is more than the history kept per market ({self.history}): "
                             f"raise history or lower warmup")
        self._ws_url, self._rest_url, self._replay_url = ws_url, rest_url, replay_url
        self._replay_data, self._replay_start = replay_data, replay_start
        self._socket_options, self._rest_timeout = socket_options or {}, rest_timeout
        self.source_stream = Node(asynchronous=True)  # parsed events; each kline routed to its market by key
        self.metrics = MarketMetrics(clock=lambda: float("nan"))  # the feed's clock, once the source is known
        self.metrics_sink = self.source_stream.each(self.metrics.on_event)
        self.services = Services.configure(self.db_path, self.notify_config, self.news_urls,
                                           self.broadcast_port)  # ValueError naming a bad setting
        self.graphs: dict[tuple[str, str], MarketGraph] = {}
        self.socket: MarketSocket | None = None
        self.rest: RestClient | None = None
        self.backfill: Backfill | None = None
        self.replay = None
        self.graph_errors = 0
        self._market_errors: dict[tuple[str, str], str] = {}
        self._fatal = ""
        self._exchange_clock = None  # the source's clock (ms), when known: Binance's, or the bundled replay's
        self._quote_streams = None   # the source's quote streams of a symbol, when known
        self._quoted: set[str] = set()  # symbols whose quote streams are subscribed
        self._tasks: list[asyncio.Task] = []
        self._started: asyncio.Task | None = None
        for symbol in self.symbols:
            self.open(symbol, self.interval)

    @classmethod
    def shared(cls, **config) -> FeedHub:
        """The process-wide hub, created with ``config`` on first call (later configs are ignored)."""
        if cls._shared is None:
            cls._shared = cls(**config)
        return cls._shared

    def get(self, symbol: str, interval: str) -> MarketGraph:
        """The graph of (symbol, interval) if the hub has it (pure: nothing is created or subscribed);
        ``KeyError`` naming the market otherwise. Views read through it (``MarketGraph.tail``, ``latest_signal``…)."""
        try:
            return self.graphs[(symbol.upper(), interval)]
        except KeyError:
            raise KeyError(f"no market {symbol} {interval} on the hub (open it first)") from None

    def open(self, symbol: str, interval: str) -> MarketGraph:
        """The graph of (symbol, interval), created (and, once started, subscribed and warmed up) if new.
        ``ValueError`` for a malformed symbol or an unknown interval."""
        key = (normalize_symbol(symbol), validate_interval(interval))
        if key not in self.graphs:
            indicators = default_indicators()
            higher = self.confirm_interval
            confirm = higher is not None and interval_ms(higher) > interval_ms(key[1])
            trend = HigherTrend(self.open(key[0], higher).branch, "ema_fast", "ema_slow", lower=key[1]) if confirm \
                else None
            aggregator = Aggregator(confirm_interval=higher if confirm else None)
            self.graphs[key] = MarketGraph(self.source_stream, *key, indicators, default_rules(indicators),
                                           self.services.alerts, aggregator, trend, metrics=self.metrics,
                                           history=self.history)
            self.services.follow(self.graphs[key], trade=key[1] == self.interval)
            if self.socket is not None:
                self.backfill.follow(self.graphs[key])
                self._spawn(self._add_market(key))
        return self.graphs[key]

    def stream_frame(self, symbol: str, interval: str, *indicators: Indicator | str):
        """The closed candles of (symbol, interval) with ``indicators`` as a ``streamz.dataframe.DataFrame``.

        ``indicators``: instances, or names with their defaults (``"RSI"``, ``EMA(period=50)``); each is copied,
        so the frame's columns keep their names. They are computed by the market's shared indicator node, fed by
        the same candles as the views (the market is created and subscribed if new). Emits one single-row pandas frame per
        closed candle: index ``open_time`` (UTC), float64 columns open, high, low, close, volume, then the indicator
        columns (e.g. ``rsi_14``, ``ema_50``); chain ``streamz.dataframe`` operations on it (``sdf.close.rolling(20)
        .mean()``, ``sdf.window(100)``). Cost: about 0.1 ms per closed candle on top of the indicators' own update.
        ``sdf.branch.destroy()`` takes its nodes off the graph. ``ValueError`` for an unknown symbol, interval or
        indicator name."""
        resolved = [create(i) if isinstance(i, str) else i.copy() for i in indicators]
        branch = self.open(symbol, interval).add_branch({i.columns[0]: i for i in resolved}, [])
        frame = branch.stream_frame()
        frame.branch = branch
        return frame

    def ensure_started(self) -> asyncio.Task:
        """Start the hub in the running event loop once; later calls return the same task."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self.start())
        return self._started

    async def start(self) -> None:
        """Resolve the source, validate the symbols, connect, warm up. Errors land in ``error``."""
        try:
            source = await resolve_source(
                self.source, ws_url=self._ws_url, rest_url=self._rest_url, replay_url=self._replay_url,
                replay_data=self._replay_data, replay_start=self._replay_start, speed=self.speed, paused=self.paused,
                probe_timeout=self.probe_timeout, rest_timeout=self._rest_timeout)
            self.rest, self.replay, self._exchange_clock = source.rest, source.replay, source.clock
            self.source_label, self.replay_badge = source.label, source.badge
            if source.live:
                self.metrics.clock = lambda: time.time_ns() // 1_000_000
            elif source.replay is not None:
                self.metrics.clock = source.replay.now_ms
                self.metrics.speed = lambda: None if source.replay.speed == "max" else source.replay.speed
            for symbol in await self.rest.validate_symbols(self.symbols):
                log.info("validated %s on %s", symbol, source.rest_url)
            self._quote_streams = source.quote_streams
            streams = [stream_name(s, "kline", i) for s, i in self.graphs]
            streams += self._quotes_of(symbol for symbol, _ in list(self.graphs))
            self.backfill = Backfill(self.rest, self.warmup)
            for graph in self.graphs.values():
                self.backfill.follow(graph)
            self.socket = MarketSocket(source.ws_url, streams, on_status=self._on_status, clock=self._exchange_clock,
                                       **self._socket_options)
            self._steer_replay()
            self.socket.start()
            self._spawn(self._consume())
            self._spawn(self._watch_health())
            await self.services.start(self)
            await asyncio.gather(*(self.backfill.warmed_up(key) for key in list(self.graphs)))
        except Exception as exc:  # shown to the user, not a traceback
            self._fatal = str(exc)
            self.status, self.error = "error", self._fatal
            log.error("feed hub failed to start: %s", exc)

    @param.depends("speed", "paused", watch=True)
    def _steer_replay(self) -> None:
        """Apply ``speed`` and ``paused`` to the bundled replay (no effect on Binance or an external replay), and
        widen the socket's clock window with the speed (replay time runs ``speed`` times faster)."""
        if self.replay is not None:
            self.replay.set_speed(self.speed)
            (self.replay.pause if self.paused else self.replay.resume)()
            self.replay_badge = self.replay.describe()
            if self.socket is not None:
                self.socket.clock_window_ms = CLOCK_WINDOW_MS * max(1.0, self.speed)

    async def add_symbol(self, symbol: str) -> str:
        """Validate ``symbol`` against the source's exchangeInfo, create its market at the hub's interval
        (subscribed and warmed up once started) and add it to ``symbols``; returns it upper-cased. ``ValueError`` saying why for a
        malformed, unlisted or halted symbol, or before the source is known."""
        symbol = normalize_symbol(symbol)
        if (symbol, self.interval) not in self.graphs:
            if self.rest is None:
                raise ValueError(f"cannot add {symbol} yet: the feed is still starting")
            await self.rest.validate_symbols([symbol])
            self.open(symbol, self.interval)
        if symbol not in self.symbols:
            with param.edit_constant(self):
                self.symbols = [*self.symbols, symbol]  # the views list the hub's symbols
        return symbol

    def _on_status(self, status: Status) -> None:
        self.status = status.value
        self.error = "; ".join(self.problems())

    def problems(self) -> list[str]:
        """What is wrong with the feed right now, in words a user can act on ([] when all is well): the socket's
        last error while not connected (or the connection budget's wait), markets whose history is incomplete
        (retrying), that could not be added, or whose kline stream is silent."""
        found = [self._fatal] if self._fatal else []
        socket = self.socket
        if socket is not None and socket.status is not Status.CONNECTED and socket.error:
            found.append(socket.error)
        if self.backfill is not None:
            found += self.backfill.problems.values()
        found += self._market_errors.values()
        found += self._silent_markets()
        return found

    def _silent_markets(self) -> list[str]:
        socket = self.socket
        if socket is None or socket.status is not Status.CONNECTED or self.paused:
            return []
        slow = self.replay is not None and self.replay.speed != "max" and self.replay.speed < 1
        after = SILENT_AFTER_S / self.replay.speed if slow else SILENT_AFTER_S
        now = time.monotonic()
        return [f"no {stream_name(key[0], 'kline', key[1])} data for {now - since:.0f} s (subscribed)"
                for key, graph in self.graphs.items() if key not in self._market_errors
                and now - (since := max(socket.connected_at, graph.book.updated_at)) > after]

    async def _watch_health(self, every_s: float = 1.0) -> None:
        """Keep ``error`` equal to ``problems()``: it clears by itself once data flows again."""
        while True:
            await asyncio.sleep(every_s)
            error = "; ".join(self.problems())
            if error != self.error:
                self.error = error

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._tasks.remove)

    async def _consume(self) -> None:
        """Drain the socket queue into the graph; after a reconnect or an overflow, the backfill looks for gaps.

        An exception in a node (e.g. a view's sink) is logged and counted in ``graph_errors``; the feed goes on.
        """
        handled = 0
        while True:
            item = await self.socket.get()
            handled += 1
            if handled % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # a full queue must not starve the UI sharing this event loop
            try:
                if type(item) is Connected:
                    if item.resync:
                        self.backfill.look_for_gaps()
                else:
                    self.source_stream.push(item)
            except Exception:
                self.graph_errors += 1
                log.exception("stream graph failed on %r; skipped", item)

    def _quotes_of(self, symbols) -> list[str]:
        """The quote streams (``ticker``, ``bookTicker`` where the source has them) of those of ``symbols`` that do
        not have them yet, for the metrics strip and the screener; marks them as quoted."""
        new = [symbol for symbol in dict.fromkeys(symbols) if symbol not in self._quoted]
        self._quoted.update(new)
        return [stream_name(symbol, kind) for symbol in new for kind in self._quote_streams(symbol)]

    async def _add_market(self, key) -> None:
        try:
            await self.socket.subscribe([stream_name(key[0], "kline", key[1]), *self._quotes_of([key[0]])])
            self._market_errors.pop(key, None)
        except Exception as exc:  # shown to the user in the status strip
            self._market_errors[key] = f"cannot add {key[0]} {key[1]}: {exc}"
            log.error(self._market_errors[key])
        await self.backfill.warmed_up(key)

    def stats(self) -> dict:
        """Status strip figures: status, source, error (``problems()``), last message age (s), messages/s, socket
        counters, connection attempts in the last 5 minutes and their budget, and the backfill's counters."""
        socket, backfill = self.socket, self.backfill
        counters = socket.counters if socket else None
        now = time.monotonic()
        return {
            "status": self.status,
            "source": self.source_label,
            "replay": self.replay_badge,
            "error": self.error,
            "last_message_age": counters.last_message_age(now) if counters else None,
            "messages_per_second": counters.messages_per_second(now) if counters else 0.0,
            "received": counters.received if counters else 0,
            "malformed": counters.malformed if counters else 0,
            "dropped": counters.dropped if counters else 0,
            "reconnects": counters.reconnects if counters else 0,
            "connection_attempts": socket.budget.used(now) if socket else 0,
            "connection_budget": socket.budget.limit if socket else 0,
            **dataclasses.asdict(backfill.counters if backfill else BackfillCounters()),
        }

    async def stop(self) -> None:
        """Stop the services; close the socket, REST client and embedded replay server."""
        for task in list(self._tasks):
            task.cancel()
        if self.backfill is not None:
            await self.backfill.stop()
        await self.services.stop()
        if self.socket is not None:
            await self.socket.stop()
        if self.rest is not None:
            await self.rest.close()
        if self.replay is not None:
            await self.replay.stop()
        if FeedHub._shared is self:
            FeedHub._shared = None
