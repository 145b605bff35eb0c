"""The market-data socket client: one websockets connection to Binance's combined stream endpoint.

It knows websockets and Binance's protocol, nothing of candles. Events are parsed once here
(``events.parse_message``) and put on a bounded queue that the pipeline drains; after every
(re)connection a ``Connected`` marker is queued first, so the consumer can backfill what was
missed over REST before it applies newer events.

Protocol facts honoured (Binance spot WebSocket docs): combined URL ``/stream?streams=a/b``;
SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS at run time; at most 5 incoming messages per second
per connection (we send at most ``CONTROL_PER_SECOND`` control frames per rolling second, leaving
room for pongs); the server pings every 20 s and websockets echoes the payload in its pong;
a connection lives at most 24 h (we reconnect before); ``serverShutdown`` means reconnect now.

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

from .events import ControlReply, MalformedMessage, ServerShutdown, parse_message

log = logging.getLogger(__name__)

#: Binance's market-data-only WebSocket endpoint.
BINANCE_WS_URL = "wss://data-stream.binance.vision"
#: Control frames we send per rolling second (Binance disconnects above 5 incoming messages/s).
CONTROL_PER_SECOND = 4
#: Reconnect before Binance's 24-hour connection limit.
MAX_CONNECTION_AGE_S = 23.5 * 3600


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


class _ControlRate:
    """At most ``limit`` sends per rolling second."""

    def __init__(self, limit: int):
        self.sent: collections.deque[float] = collections.deque(maxlen=limit)

    async def wait(self) -> None:
        if len(self.sent) == self.sent.maxlen:
            delay = self.sent[0] + 1.0 - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        self.sent.append(time.monotonic())


class MarketSocket:
    """A self-healing connection to Binance's combined market streams.

    ``streams``: initial stream names (``btcusdt@kline_1m``...). Reconnects with exponential
    backoff and jitter (``backoff_initial`` doubling to ``backoff_max`` seconds; ``max_attempts``
    None = forever), at once on ``serverShutdown``, before the 24-hour limit, and when no message
    arrived for ``watchdog_timeout`` seconds. ``queue_size`` bounds the queue between socket and
    pipeline (overflow policy: see module docstring). Read events with ``await get()``.
    """

    def __init__(self, url: str = BINANCE_WS_URL, streams=(), *, queue_size: int = 10_000,
                 backoff_initial: float = 1.0, backoff_max: float = 30.0, max_attempts: int | None = None,
                 watchdog_timeout: float = 60.0, open_timeout: float = 10.0, on_status=None):
        self.url = url.rstrip("/")
        self.streams: list[str] = list(dict.fromkeys(streams))
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self.backoff_initial, self.backoff_max, self.max_attempts = backoff_initial, backoff_max, max_attempts
        self.watchdog_timeout, self.open_timeout = watchdog_timeout, open_timeout
        self.counters = Counters()
        self.status = Status.DISCONNECTED
        self.error: str | None = None
        self._on_status = on_status
        self._ws = None
        self._task: asyncio.Task | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._rate = _ControlRate(CONTROL_PER_SECOND)
        self._resync_due = False
        self._connected_once = False
        self._stopping = False

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start connecting in the running event loop (returns at once)."""
        self._stopping = False
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="binance-socket")

    async def stop(self) -> None:
        """Close the connection (normal closure, 1000) and stop reconnecting."""
        if self._task is not None:
            self._stopping = True
            if self._ws is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._ws.close(1000, "client stopping"), 2.0)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._set_status(Status.DISCONNECTED)

    async def get(self):
        """Next queued item: a parsed event (``events.Kline``...) or a ``Connected`` marker."""
        return await self.queue.get()

    def _set_status(self, status: Status, error: str | None = None) -> None:
        changed = status is not self.status
        self.status, self.error = status, error
        if changed and self._on_status is not None:
            self._on_status(status)

    def stream_url(self) -> str:
        """The combined-stream URL for the current subscriptions."""
        return f"{self.url}/stream?streams={'/'.join(self.streams)}" if self.streams else f"{self.url}/stream"

    async def _run(self) -> None:
        failures = 0
        while True:
            if self._connected_once:
                self.counters.reconnects += 1
            self._set_status(Status.RECONNECTING if self._connected_once else Status.CONNECTING, self.error)
            try:
                async with connect(self.stream_url(), open_timeout=self.open_timeout,
                                   max_size=2**22, compression=None) as ws:
                    self._ws, failures = ws, 0
                    self._enqueue(Connected(resync=self._connected_once, at=time.monotonic()))
                    self._connected_once = True
                    self._set_status(Status.CONNECTED)
                    await self._receive(ws)
                    continue  # serverShutdown, watchdog or connection age: reconnect at once
            except asyncio.CancelledError:
                raise
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                failures += 1
                self.error = f"{type(exc).__name__}: {exc}"
                if not self._stopping:
                    log.warning("socket %s: %s", self.url, self.error)
                if self.max_attempts is not None and failures >= self.max_attempts:
                    self._set_status(Status.ERROR, self.error)
                    return
            finally:
                self._ws = None
                for future in self._pending.values():
                    future.cancel()
                self._pending.clear()
            self._set_status(Status.RECONNECTING if self._connected_once else Status.CONNECTING, self.error)
            delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
            await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))

    async def _receive(self, ws) -> None:
        """Read until the connection must be replaced: returns for an immediate reconnect, raises on failure."""
        opened = time.monotonic()
        watchdog = asyncio.get_running_loop().create_task(self._watchdog(ws, opened))
        try:
            async for raw in ws:
                now = time.monotonic()
                self.counters.count(now)
                try:
                    event = parse_message(raw)
                except MalformedMessage as exc:
                    self.counters.malformed += 1
                    log.debug("skipped malformed message: %s", exc)
                    continue
                self.counters.parsed += 1
                if type(event) is ControlReply:
                    future = self._pending.pop(event.id, None)
                    if future is not None and not future.done():
                        future.set_result(event)
                elif type(event) is ServerShutdown:
                    log.info("serverShutdown received: reconnecting now")
                    return
                else:
                    self._enqueue(event)
                if now - opened > MAX_CONNECTION_AGE_S:
                    return
        finally:
            watchdog.cancel()
        if watchdog.done() and not watchdog.cancelled():
            return  # the watchdog closed a silent connection
        raise ConnectionError(f"server closed the connection (code {ws.close_code}, {ws.close_reason or 'no reason'})")

    async def _watchdog(self, ws, opened: float) -> None:
        """Close ``ws`` when no message arrived for ``watchdog_timeout`` seconds."""
        while True:
            await asyncio.sleep(self.watchdog_timeout / 4)
            quiet = time.monotonic() - max(opened, self.counters.last_message_at or opened)
            if quiet > self.watchdog_timeout:
                log.warning("no message for %.1f s: reconnecting", quiet)
                await ws.close(1000, "watchdog: no message")
                return

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
    async def _control(self, method: str, params: list | None = None, timeout: float = 10.0):
        ws = self._ws
        if ws is None:
            return None
        request_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {"method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        await self._rate.wait()
        await ws.send(orjson.dumps(message).decode())
        reply: ControlReply = await asyncio.wait_for(future, timeout)
        if reply.error:
            raise BinanceError(f"{method} {params or ''} refused: {reply.error.get('msg')} "
                               f"(code {reply.error.get('code')})")
        return reply.result

    async def subscribe(self, streams) -> None:
        """Add streams (applied now if connected, and on every reconnect); ``BinanceError`` if refused."""
        new = [s for s in dict.fromkeys(streams) if s not in self.streams]
        if new:
            await self._control("SUBSCRIBE", new)
            self.streams.extend(new)

    async def unsubscribe(self, streams) -> None:
        """Remove streams; ``BinanceError`` if refused."""
        gone = [s for s in dict.fromkeys(streams) if s in self.streams]
        if gone:
            await self._control("UNSUBSCRIBE", gone)
            self.streams = [s for s in self.streams if s not in gone]

    async def list_subscriptions(self) -> list[str]:
        """The server's list of this connection's streams (``LIST_SUBSCRIPTIONS``); [] when disconnected."""
        return list(await self._control("LIST_SUBSCRIPTIONS") or [])
