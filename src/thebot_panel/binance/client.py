"""The market-data socket client: one websockets connection to Binance's combined stream endpoint.

It knows websockets and Binance's protocol, nothing of candles. Events are parsed once here
(``events.parse_message``) and put on a bounded queue that the hub drains into the stream graph; after every
(re)connection a ``Connected`` marker is queued first, so the consumer can look for what was missed.

Protocol facts honoured (Binance spot WebSocket docs): combined URL ``/stream?streams=a/b``;
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS at run time; at most 5 incoming messages per second
per connection: one sender task sends every control frame, paced by a token bucket of
``CONTROL_PER_SECOND`` frames per second (capacity 1), which leaves room for a pong in any second;
concurrent SUBSCRIBE (or UNSUBSCRIBE) calls waiting for it go out as one frame. At most 1024 streams per
connection, and at most ``MAX_URL_STREAMS_CHARS`` characters of stream names in its URL: more streams open more
connections. At most 300 connection attempts per 5 minutes per IP: a ``ConnectionBudget`` allows far fewer.
The server pings every 20 s and websockets echoes the payload in its pong; a connection lives at most
24 h (we reconnect before); ``serverShutdown`` means reconnect soon (after a short jittered delay).

The wanted streams (``streams``) are the connection URL of every new connection, so a SUBSCRIBE that
was cut off by a disconnect is applied by the next connection.

Overflow policy of the queue: when it is full, the newest event is dropped and counted in
``counters.dropped``; as soon as there is room again a ``Connected(resync=True)`` marker is
queued so the consumer backfills closed klines over REST: closed candles are never lost.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import itertools
import logging
import random
import time
from dataclasses import dataclass, field

import orjson
import websockets
from websockets.asyncio.client import connect

from .events import ControlReply, Kline, MalformedMessage, ServerShutdown, parse_message

log = logging.getLogger(__name__)

#: Binance's market-data-only WebSocket endpoint.
BINANCE_WS_URL = "wss://data-stream.binance.vision"
#: Control frames we send per second (Binance disconnects above 5 incoming messages/s, pongs included).
CONTROL_PER_SECOND = 4
#: Binance's limit of streams on one connection.
MAX_STREAMS = 1024
#: Characters of stream names, "/" separators included, in one connection's URL (``/stream?streams=a/b/…``):
#: every (re)connection sends them in its request line, and servers refuse a long one: websockets' server above
#: 8,192 bytes (HTTP 414), Binance above 8,004 characters of URL (measured by unicorn-binance-websocket-api, its
#: issue 17). Half of that leaves room for the host and path, and for proxies with shorter limits.
MAX_URL_STREAMS_CHARS = 4_000
#: Reconnect before Binance's 24-hour connection limit.
MAX_CONNECTION_AGE_S = 23.5 * 3600
#: Connection attempts allowed per 5 minutes by default (Binance bans an IP above 300).
CONNECTIONS_PER_5_MIN = 60
#: How far (ms) an event's time may be from the exchange clock before the event is malformed.
CLOCK_WINDOW_MS = 10 * 60_000


class Status(enum.Enum):
    """Connection status shown by the UI."""

    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    ERROR = "error"


class BinanceError(RuntimeError):
    """Binance answered a control request with an error (``{"error": {"code", "msg"}}``)."""


@dataclass(frozen=True, slots=True)
class Connected:
    """Queued first after every (re)connection: ``resync`` is True when events may have been missed."""

    resync: bool
    at: float


@dataclass
class Counters:
    """Socket counters; times are ``time.monotonic()`` seconds."""

    received: int = 0
    parsed: int = 0
    malformed: int = 0
    dropped: int = 0
    reconnects: int = 0
    last_message_at: float | None = None
    _per_second: collections.deque = field(default_factory=lambda: collections.deque(maxlen=11))

    def count(self, now: float) -> None:
        self.received += 1
        self.last_message_at = now
        second = int(now)
        if self._per_second and self._per_second[-1][0] == second:
            self._per_second[-1][1] += 1
        else:
            self._per_second.append([second, 1])

    def last_message_age(self, now: float | None = None) -> float | None:
        """Seconds since the last message, or None before the first."""
        if self.last_message_at is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_message_at

    def messages_per_second(self, now: float | None = None, window: int = 5) -> float:
        """Mean messages/s over the last ``window`` complete seconds."""
        current = int(time.monotonic() if now is None else now)
        return sum(n for s, n in self._per_second if current - window <= s < current) / window


def jittered_backoff(failures: int, initial: float, maximum: float) -> float:
    """Seconds to wait after ``failures`` (≥ 1) failures in a row: ``initial`` doubling up to ``maximum``, of which a
    random second half ("equal jitter"), so that many clients do not retry in step."""
    delay = min(maximum, initial * 2 ** (failures - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class TokenBucket:
    """``rate`` sends per second with bursts of at most ``capacity``: ``await take()`` before each send.

    Safe for one sender task (the socket has exactly one); a window of one second holds at most
    ``capacity + rate`` sends, i.e. 5 for the defaults of the socket (1 + 4).
    """

    def __init__(self, rate: float, capacity: int = 1):
        self.rate, self.capacity = rate, capacity
        self._tokens, self._at = float(capacity), time.monotonic()

    async def take(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens < 1:
            await asyncio.sleep((1 - self._tokens) / self.rate)
            self._tokens, self._at = 1.0, time.monotonic()
        self._tokens -= 1


class ConnectionBudget:
    """At most ``limit`` connection attempts per ``window_s`` seconds (Binance: 300 per 5 minutes per IP)."""

    def __init__(self, limit: int = CONNECTIONS_PER_5_MIN, window_s: float = 300.0):
        if limit < 1:
            raise ValueError(f"the connection budget must allow at least 1 attempt, got {limit}")
        self.limit, self.window_s = limit, window_s
        self.attempts: collections.deque[float] = collections.deque()

    def used(self, now: float | None = None) -> int:
        """Attempts within the last ``window_s`` seconds."""
        now = time.monotonic() if now is None else now
        while self.attempts and self.attempts[0] <= now - self.window_s:
            self.attempts.popleft()
        return len(self.attempts)

    def wait_s(self, now: float | None = None) -> float:
        """Seconds until the next attempt is allowed (0: now)."""
        now = time.monotonic() if now is None else now
        return 0.0 if self.used(now) < self.limit else self.attempts[0] + self.window_s - now

    def spend(self) -> None:
        self.attempts.append(time.monotonic())


@dataclass
class _Request:
    method: str
    params: list | None
    futures: list[asyncio.Future]


def _merged(requests: list[_Request]) -> list[_Request]:
    """Consecutive SUBSCRIBE (or UNSUBSCRIBE) requests as one, in order; other requests as they are."""
    merged: list[_Request] = []
    for request in requests:
        last = merged[-1] if merged else None
        if last is not None and last.method == request.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            last.params += [p for p in request.params if p not in last.params]
            last.futures += request.futures
        else:
            merged.append(request)
    return merged


class _Connection:
    """One websockets connection of a ``MarketSocket`` and its streams (at most ``MAX_STREAMS``): its own
    reconnect loop, control sender and pending requests; the queue, counters and budget are the socket's."""

    def __init__(self, socket: MarketSocket, streams: list[str]):
        self.socket, self.streams = socket, streams
        self.status = Status.DISCONNECTED
        self.error: str | None = None
        self.connected_at = 0.0
        self.last_message_at: float | None = None
        self.stopping = False
        self.watchdog_fired = False
        self.ws = None
        self.task: asyncio.Task | None = None
        self.outbox: asyncio.Queue[_Request] = asyncio.Queue()
        self.pending: dict[int, _Request] = {}
        self.bucket = TokenBucket(CONTROL_PER_SECOND)
        self.connected_once = False

    def url(self) -> str:
        base = self.socket.url
        return f"{base}/stream?streams={'/'.join(self.streams)}" if self.streams else f"{base}/stream"

    def start(self) -> None:
        self.stopping = False
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="binance-socket")

    async def stop(self) -> None:
        if self.task is not None:
            self.stopping = True
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.ws.close(1000, "client stopping"), 2.0)
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        self._set_status(Status.DISCONNECTED)

    def _set_status(self, status: Status, error: str | None = None) -> None:
        self.status, self.error = status, error
        self.socket._status_changed()

    def _waiting(self) -> Status:
        return Status.RECONNECTING if self.connected_once else Status.CONNECTING

    async def _run(self) -> None:
        socket, failures = self.socket, 0
        while True:
            await self._within_budget()
            if self.connected_once:
                socket.counters.reconnects += 1
            self._set_status(self._waiting(), self.error)
            delay, opened, asked = None, None, list(self.streams)
            try:
                socket.budget.spend()
                async with connect(self.url(), open_timeout=socket.open_timeout,
                                   max_size=2**22, compression=None) as ws:
                    self.ws, self.connected_at = ws, opened = ws, time.monotonic()
                    socket._enqueue(Connected(resync=self.connected_once, at=opened))
                    self.connected_once = True
                    self._set_status(Status.CONNECTED)
                    missed = [s for s in self.streams if s not in asked]  # subscribed while connecting
                    if missed:
                        self.outbox.put_nowait(_Request("SUBSCRIBE", missed, []))
                    sender = asyncio.get_running_loop().create_task(self._send_controls(ws))
                    try:
                        delay = await self._receive(ws, opened)
                    finally:
                        sender.cancel()
                        await asyncio.gather(sender, return_exceptions=True)  # e.g. ConnectionClosed mid-send
                    failures = 0 if self._was_stable(opened) else failures + 1
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                if self.stopping:
                    return
                failures = 1 if self._was_stable(opened) else failures + 1
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("socket %s: %s", socket.url, self.error)
                if socket.max_attempts is not None and failures >= socket.max_attempts:
                    self._set_status(Status.ERROR, self.error)
                    return
            finally:
                self.ws = None
                self._settle_pending()
            self._set_status(self._waiting(), self.error)
            if failures:
                delay = max(delay or 0.0, jittered_backoff(failures, socket.backoff_initial, socket.backoff_max))
            if delay:
                await asyncio.sleep(delay)

    def _was_stable(self, opened: float | None) -> bool:
        """Whether the connection opened at ``opened`` (None: never opened) delivered data for ``stable_after`` s."""
        last = self.last_message_at
        return opened is not None and last is not None and last - opened >= self.socket.stable_after

    async def _within_budget(self) -> None:
        budget = self.socket.budget
        while (wait := budget.wait_s()) > 0:
            self.error = (f"connection budget used: {budget.limit} attempts in {budget.window_s:.0f} s; "
                          f"next attempt in {wait:.0f} s")
            log.warning("socket %s: %s", self.socket.url, self.error)
            self._set_status(self._waiting(), self.error)
            await asyncio.sleep(wait)

    async def _receive(self, ws, opened: float) -> float | None:
        """Read until the connection must be replaced: returns the delay before the next connection (None: at
        once), raises on failure."""
        socket, counters, on_frame = self.socket, self.socket.counters, self.socket.on_frame
        self.watchdog_fired = False
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws, opened))
        try:
            async for raw in ws:
                now = self.last_message_at = time.monotonic()
                counters.count(now)
                if on_frame is not None:
                    on_frame(raw)
                try:
                    event = parse_message(raw)
                except MalformedMessage as exc:
                    counters.malformed += 1
                    log.debug("skipped malformed message: %s", exc)
                    continue
                except Exception:  # a parser bug: the frame is skipped, the feed goes on, the log says why
                    counters.malformed += 1
                    log.exception("parser failed on a frame; skipped: %r", raw[:200])
                    continue
                if socket.clock is not None and not socket._in_clock_window(event):
                    counters.malformed += 1
                    log.debug("skipped an event far from the exchange clock: %r", event)
                    continue
                counters.parsed += 1
                if type(event) is ControlReply:
                    self._answer(event)
                elif type(event) is ServerShutdown:
                    log.info("serverShutdown received: reconnecting soon")
                    return random.uniform(0.5, 1.5)
                else:
                    socket._enqueue(event)
                if now - opened > MAX_CONNECTION_AGE_S:
                    return None
        finally:
            watchdog.cancel()
        if self.watchdog_fired:  # our own close: reconnect at once (the backoff only if it was never stable)
            return None
        raise ConnectionError(f"server closed the connection (code {ws.close_code}, {ws.close_reason or 'no reason'})")

    async def _watchdog(self, ws, opened: float) -> None:
        """Close ``ws`` when no message arrived for ``watchdog_timeout`` seconds (``watchdog_fired`` says so)."""
        timeout = self.socket.watchdog_timeout
        while True:
            await asyncio.sleep(timeout / 4)
            quiet = time.monotonic() - max(opened, self.last_message_at or opened)
            if quiet > timeout:
                log.warning("watchdog: no message for %.1f s: reconnecting", quiet)
                self.watchdog_fired = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(1000, "watchdog: no message"), 2.0)
                return

    async def _send_controls(self, ws) -> None:
        """The one sender of control frames on ``ws``: paced by the token bucket; SUBSCRIBE (or UNSUBSCRIBE)
        requests waiting together go out as one frame."""
        while True:
            waiting = [await self.outbox.get()]
            while not self.outbox.empty():
                waiting.append(self.outbox.get_nowait())
            for request in _merged(waiting):
                request_id = next(self.socket._ids)
                message = {"method": request.method, "id": request_id}
                if request.params is not None:
                    message["params"] = request.params
                await self.bucket.take()
                self.pending[request_id] = request
                await ws.send(orjson.dumps(message).decode())

    def _answer(self, reply: ControlReply) -> None:
        request = self.pending.pop(reply.id, None)
        for future in request.futures if request is not None else ():
            if not future.done():
                future.set_result(reply)

    def _settle_pending(self) -> None:
        """The connection is gone: SUBSCRIBE/UNSUBSCRIBE requests are done (the next connection's URL holds the
        wanted streams); other requests fail with ``ConnectionError``."""
        requests = list(self.pending.values())
        while not self.outbox.empty():
            requests.append(self.outbox.get_nowait())
        self.pending.clear()
        for request in requests:
            for future in request.futures:
                if future.done():
                    continue
                if request.method in ("SUBSCRIBE", "UNSUBSCRIBE"):
                    future.set_result(ControlReply(None))
                else:
                    future.set_exception(ConnectionError(f"connection lost before the {request.method} reply"))

    async def control(self, method: str, params: list | None = None, timeout: float = 10.0):
        if self.ws is None:
            return None
        future = asyncio.get_running_loop().create_future()
        self.outbox.put_nowait(_Request(method, None if params is None else list(params), [future]))
        reply: ControlReply = await asyncio.wait_for(future, timeout)
        if reply.error:
            raise BinanceError(f"{method} {params or ''} refused: {reply.error.get('msg')} "
                               f"(code {reply.error.get('code')})")
        return reply.result


class MarketSocket:
    """A self-healing feed of Binance's combined market streams, on as many connections as its streams need.

    ``streams``: initial stream names (``btcusdt@kline_1m``...); each connection carries at most ``MAX_STREAMS``
    (Binance's limit) and ``MAX_URL_STREAMS_CHARS`` characters of them in its URL, so more open another connection;
    all of them feed one queue and share the counters and the connection budget. A connection reconnects after an
    exponential backoff with jitter (``backoff_initial`` doubling to ``backoff_max`` seconds; ``max_attempts`` None
    = forever); the backoff is kept until a connection has delivered data for ``stable_after`` seconds, so a server
    that accepts and then closes is not hammered.
    Reconnects soon (0.5–1.5 s) on ``serverShutdown``, at once before the 24-hour limit and when no message
    arrived for ``watchdog_timeout`` seconds. Never more than ``budget`` (a ``ConnectionBudget``) attempts per 5
    minutes: beyond it, it waits and says so in ``error``. ``queue_size`` bounds the queue between socket and
    stream graph (overflow policy: see module docstring). Read events with ``await get()``.

    ``status`` is the worst of the connections' (CONNECTED only when all are), ``error`` the first error of a
    connection that is not connected, ``connected_at`` the ``time.monotonic()`` of the latest connection.

    ``clock`` (optional): the exchange's time now, ms since the epoch (UTC). With it, an event whose time is
    more than ``clock_window_ms`` from it, or a kline not overlapping [now - window, now + window], is counted
    as malformed and skipped (e.g. a closed kline dated 2100, which would make the book refuse every real one).

    ``on_frame`` (optional): called with every frame as received (``str`` for text frames, ``bytes`` for binary
    ones), malformed ones included, on the event loop, right after it is read and before it is parsed; the
    callee reads its own clock for the receive time. It must return at once (``thebot-record`` appends to a
    buffer) and not raise; a connection reads it when it opens. Without it the receive path costs one ``is None``
    check more per frame.
    """

    def __init__(self, url: str = BINANCE_WS_URL, streams=(), *, queue_size: int = 10_000,
                 backoff_initial: float = 1.0, backoff_max: float = 30.0, max_attempts: int | None = None,
                 watchdog_timeout: float = 60.0, open_timeout: float = 10.0, stable_after: float = 30.0,
                 budget: ConnectionBudget | None = None, clock=None, clock_window_ms: float = CLOCK_WINDOW_MS,
                 on_status=None, on_frame=None):
        self.url = url.rstrip("/")
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self.backoff_initial, self.backoff_max, self.max_attempts = backoff_initial, backoff_max, max_attempts
        self.watchdog_timeout, self.open_timeout, self.stable_after = watchdog_timeout, open_timeout, stable_after
        self.budget = budget or ConnectionBudget()
        self.clock, self.clock_window_ms = clock, clock_window_ms
        self.counters = Counters()
        self.status = Status.DISCONNECTED
        self._on_status = on_status
        self.on_frame = on_frame
        self._ids = itertools.count(1)
        self._resync_due = False
        self._running = False
        self.connections: list[_Connection] = []
        self._place(list(dict.fromkeys(streams)))

    @property
    def streams(self) -> list[str]:
        """Every wanted stream, connection by connection."""
        return [s for c in self.connections for s in c.streams]

    @property
    def error(self) -> str | None:
        return next((c.error for c in self.connections if c.status is not Status.CONNECTED and c.error), None)

    @property
    def connected_at(self) -> float:
        return max((c.connected_at for c in self.connections), default=0.0)

    def _place(self, streams: list[str]) -> dict[_Connection, list[str]]:
        """Put new streams on the first connections with room (fewer than ``MAX_STREAMS`` streams, and the name fits
        within ``MAX_URL_STREAMS_CHARS`` of URL), opening new ones (started if running); returns where."""
        placed: dict[_Connection, list[str]] = {}
        chars = {c: len("/".join(c.streams)) for c in self.connections}  # of stream names in each URL
        for name in streams:
            connection = next((c for c in self.connections if len(c.streams) < MAX_STREAMS and
                               (not c.streams or chars[c] + 1 + len(name) <= MAX_URL_STREAMS_CHARS)), None)
            if connection is None:
                connection = _Connection(self, [])
                self.connections.append(connection)
                chars[connection] = 0
                if self._running:
                    connection.start()
            chars[connection] += len(name) + bool(connection.streams)
            connection.streams.append(name)
            placed.setdefault(connection, []).append(name)
        if not self.connections:
            self.connections.append(_Connection(self, []))
        return placed

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start connecting in the running event loop (returns at once)."""
        self._running = True
        for connection in self.connections:
            connection.start()

    async def stop(self) -> None:
        """Close the connections (normal closure, 1000) and stop reconnecting."""
        self._running = False
        await asyncio.gather(*(c.stop() for c in self.connections))

    async def get(self):
        """Next queued item: a parsed event (``events.Kline``...) or a ``Connected`` marker."""
        return await self.queue.get()

    def _status_changed(self) -> None:
        statuses = {c.status for c in self.connections}
        status = next((s for s in (Status.ERROR, Status.RECONNECTING, Status.CONNECTING, Status.DISCONNECTED)
                       if s in statuses), Status.CONNECTED)
        if status is not self.status:
            self.status = status
            if self._on_status is not None:
                self._on_status(status)

    def _in_clock_window(self, event) -> bool:
        now, window = self.clock(), self.clock_window_ms
        at = getattr(event, "event_time", 0)
        if at and abs(at - now) > window:
            return False
        return type(event) is not Kline or (event.close_time >= now - window and event.open_time <= now + window)

    def _enqueue(self, item) -> None:
        if self._resync_due and self.queue.qsize() < self.queue.maxsize:
            self._resync_due = False
            self.queue.put_nowait(Connected(resync=True, at=time.monotonic()))
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.counters.dropped += 1
            self._resync_due = True

    # ---- live control ----------------------------------------------------------------------
    async def subscribe(self, streams) -> None:
        """Add streams: wanted at once (every new connection subscribes them; beyond ``MAX_STREAMS`` on a new
        connection), sent now where connected; ``BinanceError`` (and not wanted) if the server refuses. A reply that
        does not come within 10 s leaves them wanted (logged): the next connection's URL carries them."""
        wanted = set(self.streams)
        placed = self._place([s for s in dict.fromkeys(streams) if s not in wanted])
        results = await asyncio.gather(*(c.control("SUBSCRIBE", new) for c, new in placed.items()),
                                       return_exceptions=True)
        refused = None
        for (connection, new), result in zip(placed.items(), results):
            if isinstance(result, BinanceError):
                connection.streams = [s for s in connection.streams if s not in new]
                refused = result
            elif isinstance(result, TimeoutError):
                log.warning("no reply to SUBSCRIBE %s within 10 s: kept for the next connection", new)
            elif isinstance(result, BaseException):
                raise result
        await self._close_idle()
        if refused is not None:
            raise refused

    async def unsubscribe(self, streams) -> None:
        """Remove streams (no longer wanted at once, sent now where connected); ``BinanceError`` if refused."""
        gone = set(streams)
        calls = []
        for connection in self.connections:
            mine = [s for s in connection.streams if s in gone]
            if mine:
                connection.streams = [s for s in connection.streams if s not in gone]
                calls.append(connection.control("UNSUBSCRIBE", mine))
        await asyncio.gather(*calls)
        await self._close_idle()

    async def _close_idle(self) -> None:
        """Close the connections left without a stream (the first one stays, even with none)."""
        idle = [c for c in self.connections[1:] if not c.streams]
        self.connections = [c for c in self.connections if c not in idle]
        await asyncio.gather(*(c.stop() for c in idle))

    async def list_subscriptions(self) -> list[str]:
        """The servers' lists of the streams of every connection (``LIST_SUBSCRIPTIONS``); [] for a connection
        that is down, ``ConnectionError`` if one is lost before its reply."""
        replies = await asyncio.gather(*(c.control("LIST_SUBSCRIPTIONS") for c in self.connections))
        return [s for reply in replies for s in reply or []]
