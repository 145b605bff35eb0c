"""The event broadcast: the stream graph's events as JSON text frames to external websocket clients.

Endpoint: ``ws://<host>:<port>/events`` (``Broadcaster.url`` once started). Any other path is refused
with HTTP 404 before the websocket handshake. Clients send nothing; websockets' default pings keep the
connection alive. Every event is one text frame holding one JSON object with a ``"type"``; times are
int milliseconds since the Unix epoch (UTC), prices float in the quote currency, volumes float in the
base asset, NaN is sent as ``null``:

``candle_closed``  a closed candle (forming updates are never sent)::

    {"type": "candle_closed", "symbol": "BTCUSDT", "interval": "1m", "open_time": 1679529600000,
     "close_time": 1679529659999, "open": 28100.5, "high": 28120.0, "low": 28090.1, "close": 28111.2,
     "volume": 35.2}

``signal``  a ``Signal`` fired by a rule on a closed candle (``strength`` in [0, 1])::

    {"type": "signal", "open_time": ..., "symbol": ..., "interval": ..., "rule": "EMA(9)×EMA(21)",
     "side": "BUY" | "SELL", "price": ..., "strength": 0.42, "provisional": false}

``alert``  an ``Alert``: all its fields plus its one-line ``message``::

    {"type": "alert", "id": 7, "kind": "signal" | "price", "symbol": ..., "interval": ..., "rule": ...,
     "side": ..., "price": ..., "strength": ..., "open_time": ..., "created": ..., "provisional": false,
     "state": "ACTIVE" | "DISMISSED" | "EXPIRED", "ended": null | int, "message": "BUY BTCUSDT 1m · ..."}

``status``  the feed hub's connection status (``status_event``): ``status`` is one of starting,
connecting, connected, reconnecting, disconnected, error; ``time`` is when the event was made. The
latest one is also sent first to every client that connects::

    {"type": "status", "status": "connected", "source": "live: wss://...", "replay": "", "error": "",
     "time": 1679529600000}

Dropping: each client has a bounded queue (``max_queue`` frames). ``publish`` never waits: when a
client's queue is full, its oldest frame is dropped to make room and counted in ``stats()["dropped"]``,
so a slow or stalled client loses events but never slows the stream graph or the other clients.
Never sent at all: forming candle updates, indicator values, ``Recomputed`` markers, other records.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import socket
import time
from http import HTTPStatus
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from .market.messages import Analysis
from .market.candles import CandleUpdate
from .signals.alerts import Alert
from .signals.rules import Signal

log = logging.getLogger(__name__)

PATH = "/events"
#: Seconds a client has to complete the closing handshake on ``stop()`` before its connection is cut.
CLOSE_TIMEOUT = 1.0
_CANDLE_FIELDS = ("symbol", "interval", "open_time", "close_time", "open", "high", "low", "close", "volume")


def encode(event) -> dict | None:
    """The JSON object of one graph event (shapes in the module doc), or None if it is not broadcast.

    ``CandleUpdate`` (or an ``Analysis`` row, by its candle) → ``candle_closed`` if closed, None while
    forming; ``Signal`` → ``signal``; ``Alert`` → ``alert``; a dict with a ``"type"`` (``status_event``)
    is passed as is; anything else (``Recomputed`` markers, other records) → None.
    """
    kind = type(event)
    if kind is Analysis:
        event, kind = event.candle, CandleUpdate
    if kind is CandleUpdate:
        if not event.closed:
            return None
        k = event.kline
        return {"type": "candle_closed", **{name: getattr(k, name) for name in _CANDLE_FIELDS}}
    if kind is Signal:
        return {"type": "signal", **_fields(event)}
    if kind is Alert:
        return {"type": "alert", **_fields(event), "message": event.message}
    if kind is dict and "type" in event:
        return event
    return None


def _fields(record) -> dict:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def status_event(hub) -> dict:
    """A ``status`` event from a ``FeedHub``: its ``status``, ``source_label`` (as ``source``),
    ``replay_badge`` (as ``replay``), ``error``, and ``time`` (now, int ms UTC)."""
    return {"type": "status", "status": hub.status, "source": hub.source_label, "replay": hub.replay_badge,
            "error": hub.error, "time": time.time_ns() // 1_000_000}


class _Client:
    """One connected client: its bounded frame queue, a wake-up event and its counters."""

    def __init__(self, connection: ServerConnection, max_queue: int):
        self.connection = connection
        self.queue: collections.deque[bytes] = collections.deque(maxlen=max_queue)
        self.ready = asyncio.Event()
        self.sent = self.dropped = 0

    def put(self, frame: bytes) -> None:
        if len(self.queue) == self.queue.maxlen:
            self.dropped += 1  # the deque discards the oldest frame
        self.queue.append(frame)
        self.ready.set()

    async def send_forever(self) -> None:
        try:
            while True:
                await self.ready.wait()
                self.ready.clear()
                while self.queue:
                    frame = self.queue.popleft()
                    self.sent += 1  # handed to the socket; the send waits while its buffer is full
                    await self.connection.send(frame, text=True)
        except ConnectionClosed:
            pass


class Broadcaster:
    """Websocket server publishing the graph's events to every client on ``/events`` (see the module doc).

    ``await start()``, then ``publish(event)`` from the event loop's thread (the stream graph's sinks run
    there), ``await stop()`` to close every client with code 1001. Wiring, one line each:
    ``follow(market)`` for a ``MarketGraph``'s candles and signals, ``watch_status(hub)`` for the feed hub's
    status, ``hub.services.alerts.subscribe(broadcaster.publish)`` for alerts (new ones and state changes).

    ``host`` defaults to 127.0.0.1 (this machine only); ``port=0`` picks a free port. ``max_queue``: frames
    queued per client before its oldest are dropped. ``send_buffer``: the OS send buffer (``SO_SNDBUF``, bytes)
    of each client's socket; None keeps the OS's autotuning, which may hold megabytes for a stalled client before
    its queue starts dropping.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_queue: int = 1000,
                 send_buffer: int | None = None):
        self.host, self.port, self.max_queue, self.send_buffer = host, port, max_queue, send_buffer
        self.published = 0
        self._clients: set[_Client] = set()
        self._gone = {"sent": 0, "dropped": 0}  # counters of clients that left
        self._last_status: bytes | None = None
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """``ws://host:port/events``; ``RuntimeError`` before ``start()``."""
        if self._server is None:
            raise RuntimeError("the broadcaster is not started")
        return f"ws://{self.host}:{self.port}{PATH}"

    async def start(self) -> None:
        """Listen on (host, port); with ``port=0`` the port picked is stored in ``port``."""
        self._server = await serve(self._serve_client, self.host, self.port, process_request=self._check_path)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("broadcasting events on %s", self.url)

    async def stop(self) -> None:
        """Close every client (code 1001, going away) and stop listening. A client that has not completed
        the close within ``CLOSE_TIMEOUT`` s (a stalled one cannot even read the close frame) is cut off."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close(close_connections=True)
        try:
            await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT)
        except TimeoutError:
            for client in list(self._clients):
                client.connection.transport.abort()
            await server.wait_closed()

    def publish(self, event) -> None:
        """Queue ``event`` (encoded by ``encode``; None → ignored) for every client. Never blocks or raises:
        a full client queue drops its oldest frame (counted)."""
        try:
            message = encode(event)
            if message is None:
                return
            frame = orjson.dumps(message)
            self.published += 1
            if message["type"] == "status":
                self._last_status = frame
            for client in self._clients:
                client.put(frame)
        except Exception:
            log.exception("cannot broadcast %r; skipped", event)

    def follow(self, market) -> list:
        """Publish a ``MarketGraph``'s closed candles and its hub branch's signals, in graph order
        (a candle, then the signals it fired). Returns the sinks; ``destroy()`` them to stop."""
        return [market.branch.signals.sink(self.publish)]

    def watch_status(self, hub):
        """Publish ``status_event(hub)`` now and whenever the hub's status, source or error changes.
        Returns the param watcher (``hub.param.unwatch(watcher)`` to stop)."""
        self.publish(status_event(hub))
        return hub.param.watch(lambda *_: self.publish(status_event(hub)),
                               ["status", "source_label", "replay_badge", "error"])

    def stats(self) -> dict:
        """``clients`` connected; ``published`` events; frames ``sent``, ``dropped`` (oldest, from full
        queues) and still ``queued``, summed over clients, those gone included."""
        return {"clients": len(self._clients), "published": self.published,
                "sent": self._gone["sent"] + sum(c.sent for c in self._clients),
                "dropped": self._gone["dropped"] + sum(c.dropped for c in self._clients),
                "queued": sum(len(c.queue) for c in self._clients)}

    def _check_path(self, connection: ServerConnection, request):
        if urlsplit(request.path).path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"only {PATH} is served here\n")
        return None

    async def _serve_client(self, connection: ServerConnection) -> None:
        if self.send_buffer is not None:
            connection.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                                     self.send_buffer)
        client = _Client(connection, self.max_queue)
        if self._last_status is not None:
            client.put(self._last_status)
        self._clients.add(client)
        sender = asyncio.create_task(client.send_forever())
        try:
            await connection.wait_closed()
        finally:
            sender.cancel()
            self._clients.discard(client)
            self._gone["sent"] += client.sent
            self._gone["dropped"] += client.dropped
