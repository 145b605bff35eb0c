"""A fault-injecting proxy for tests: between our clients and the replay server, it breaks the network on demand."""

from __future__ import annotations

import asyncio
import http
import time
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

REST_FAULTS = ("500", "429", "418", "hang", "truncated")
#: Binance-style error bodies (``{"code", "msg"}``, Binance's error codes) of the status faults.
_ERROR_BODIES = {
    "500": {"code": -1000, "msg": "An unknown error occurred while processing the request."},
    "429": {"code": -1003, "msg": "Too many requests; current limit is 6000 request weight per 1 MINUTE."},
    "418": {"code": -1003, "msg": "Way too many requests; IP banned. Please use the websocket for live updates."},
}


def max_per_rolling_second(times: Iterable[float]) -> int:
    """The most of ``times`` (seconds, any order) that fall within one window ``[t, t + 1)``; 0 for none."""
    times = sorted(times)
    first = best = 0
    for last, t in enumerate(times):
        while t - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream twin; server→client messages are discarded until ``stall_until``."""

    client: ServerConnection
    upstream: ClientConnection
    stall_until: float
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class _RestFault:
    """``kind`` for the next ``count`` requests to ``path``."""

    kind: str
    count: int
    path: str
    retry_after: float | None


class FaultProxy:
    """A WebSocket + REST proxy on one port of 127.0.0.1 (like the replay server) that injects network faults.

    ``async with FaultProxy(replay.ws_url, replay.rest_url) as proxy``: ``proxy.ws_url`` / ``proxy.rest_url``
    (``ws://127.0.0.1:P`` / ``http://127.0.0.1:P``). A WebSocket connection to ``/ws…`` or ``/stream…`` opens one
    upstream to the same path and query (an upstream refusal, e.g. HTTP 400, is passed on as is) and forwards every
    message both ways; an upstream close is passed on with its code. ``GET /api/…`` is forwarded with httpx.

    Faults, at any time (times are seconds):

    - ``await drop()``: abort every client TCP connection, no close frame (upstreams are closed).
    - ``await close_all(code, reason="")``: close every client connection with ``code`` (1006: abort, as ``drop``).
    - ``stall(seconds, every_connection=False)``: discard server→client messages (a blackhole, nothing is buffered)
      for ``seconds`` on the open connections; with ``every_connection``, instead on each new connection for its
      first ``seconds`` (``stall(0, every_connection=True)`` ends that).
    - ``await inject(frame)``: send a raw frame (str: text, bytes: binary) to every client.
    - ``shutdown_on_connect``: send ``{"e":"serverShutdown","E":<wall ms>}`` first on each new connection.
    - ``close_on_connect``: accept each new handshake, then close at once (1001), without an upstream.
    - ``await refuse(seconds)``: returns once the port refuses connections (WebSocket and REST alike; open
      connections go on), and listens on the same port again ``seconds`` later. One at a time.
    - ``rest_fault(kind, count=1, path="/api/v3/klines", retry_after=None)``: the next ``count`` requests to
      ``path`` get ``kind``: ``"500"``, ``"429"``, ``"418"`` (a Binance error body, ``Retry-After`` when
      ``retry_after`` is given), ``"hang"`` (no answer until the proxy closes) or ``"truncated"`` (the upstream's
      200 with the JSON body cut in half and a matching ``Content-Length``).

    REST like a distant Binance: ``rest_delay`` (s) holds every REST answer that long; ``rest_used_weight`` (None:
    no header) is sent as ``X-MBX-USED-WEIGHT-1M`` on every REST answer.

    Records (``time.monotonic()`` seconds): ``connection_attempts`` (each WebSocket handshake that reached the
    proxy, accepted or not), ``client_messages`` (each data frame a client sent), ``rest_requests``
    (``(time, path, query, status)``, ``status`` the upstream's int or the fault kind), ``rest_in_flight_max``
    (the most REST requests the proxy held at once: arrived, not yet answered).
    """

    def __init__(self, upstream_ws_url: str, upstream_rest_url: str, host: str = "127.0.0.1"):
        self.upstream_ws_url, self.upstream_rest_url = upstream_ws_url.rstrip("/"), upstream_rest_url.rstrip("/")
        self.host, self.port = host, 0
        self.ws_url = self.rest_url = ""
        self.shutdown_on_connect = self.close_on_connect = False
        self.connection_attempts: list[float] = []
        self.client_messages: list[float] = []
        self.rest_requests: list[tuple[float, str, str, int | str]] = []
        self.rest_delay = 0.0
        self.rest_used_weight: int | None = None
        self.rest_in_flight = self.rest_in_flight_max = 0
        self._servers: list[Server] = []  # the listening one last; earlier ones keep their connections
        self._upstreams: dict[ServerConnection, ClientConnection | None] = {}  # handshaking, None: close on connect
        self._links: set[_Link] = set()
        self._stall_new = 0.0
        self._rest_faults: list[_RestFault] = []
        self._relisten: asyncio.Task | None = None
        self._closing = asyncio.Event()
        self._http = httpx.AsyncClient()

    async def __aenter__(self) -> FaultProxy:
        await self._listen()
        self.port = self._servers[0].sockets[0].getsockname()[1]
        self.ws_url, self.rest_url = f"ws://{self.host}:{self.port}", f"http://{self.host}:{self.port}"
        return self

    async def __aexit__(self, *exc) -> None:
        self._closing.set()
        if self._relisten is not None:
            self._relisten.cancel()
        self._servers[-1].close()
        await self.close_all(CloseCode.GOING_AWAY, "fault proxy closing")
        await asyncio.gather(*(server.wait_closed() for server in self._servers))
        await asyncio.gather(*(upstream.close() for upstream in self._upstreams.values() if upstream))
        await self._http.aclose()

    async def _listen(self) -> None:
        self._servers.append(await serve(self._handle, self.host, self.port, process_request=self._process_request,
                                         compression=None, max_size=None, open_timeout=None))

    # -- faults ------------------------------------------------------------------------------------

    async def drop(self) -> None:
        await self.close_all(CloseCode.ABNORMAL_CLOSURE)

    async def close_all(self, code: int, reason: str = "") -> None:
        """Close every client connection with ``code`` (1006: abort the TCP connection); returns when they are gone."""
        links = list(self._links)
        if code == CloseCode.ABNORMAL_CLOSURE:
            for link in links:
                link.client.transport.abort()
        else:
            await asyncio.gather(*(link.client.close(code, reason) for link in links))
        await asyncio.gather(*(link.done.wait() for link in links))

    def stall(self, seconds: float, every_connection: bool = False) -> None:
        if every_connection:
            self._stall_new = seconds
        else:
            until = time.monotonic() + seconds
            for link in self._links:
                link.stall_until = until

    async def inject(self, frame: str | bytes) -> None:
        async def send(link: _Link) -> None:
            with suppress(ConnectionClosed):
                await link.client.send(frame)
        await asyncio.gather(*(send(link) for link in list(self._links)))

    async def refuse(self, seconds: float) -> None:
        server = self._servers[-1]
        server.close(close_connections=False)
        while server.is_serving():
            await asyncio.sleep(0)

        async def relisten() -> None:
            await asyncio.sleep(seconds)
            await self._listen()
        self._relisten = asyncio.create_task(relisten())

    def rest_fault(self, kind: str, count: int = 1, path: str = "/api/v3/klines",
                   retry_after: float | None = None) -> None:
        if kind not in REST_FAULTS:
            raise ValueError(f"unknown REST fault {kind!r}: expected one of {', '.join(REST_FAULTS)}")
        self._rest_faults.append(_RestFault(kind, count, path, retry_after))

    def attempts_within(self, seconds: float) -> int:
        """WebSocket handshake attempts in the last ``seconds``."""
        since = time.monotonic() - seconds
        return sum(t >= since for t in self.connection_attempts)

    # -- forwarding --------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path.startswith("/api/"):
            return await self._rest(connection, url.path, url.query)
        self.connection_attempts.append(time.monotonic())
        if self.close_on_connect:
            self._upstreams[connection] = None
            return None
        try:
            self._upstreams[connection] = await connect(self.upstream_ws_url + request.path, compression=None,
                                                        max_size=None)
        except InvalidStatus as exc:
            return exc.response
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            return connection.respond(http.HTTPStatus.BAD_GATEWAY, f"upstream {self.upstream_ws_url}: {exc}\n")
        return None

    async def _handle(self, client: ServerConnection) -> None:
        upstream = self._upstreams.pop(client)
        if upstream is None:
            await client.close(CloseCode.GOING_AWAY, "fault: close on connect")
            return
        link = _Link(client, upstream, time.monotonic() + self._stall_new)
        self._links.add(link)
        to_client = asyncio.create_task(self._to_client(link))
        try:
            async for message in client:
                self.client_messages.append(time.monotonic())
                await upstream.send(message)
        except ConnectionClosed:
            pass
        finally:
            await upstream.close()
            await to_client
            self._links.discard(link)
            link.done.set()

    async def _to_client(self, link: _Link) -> None:
        """Forward upstream messages (the serverShutdown first, if asked) until either side closes; then pass
        the upstream's close code on (abort if it had none)."""
        try:
            if self.shutdown_on_connect:
                await link.client.send(orjson.dumps({"e": "serverShutdown", "E": time.time_ns() // 1_000_000}).decode())
            async for message in link.upstream:
                if time.monotonic() >= link.stall_until:
                    await link.client.send(message)
        except ConnectionClosed:
            pass
        code = link.upstream.close_code
        if code in (None, CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE):
            link.client.transport.abort()
        else:
            await link.client.close(code, link.upstream.close_reason or "")

    async def _rest(self, connection: ServerConnection, path: str, query: str) -> Response:
        arrived = time.monotonic()
        self.rest_in_flight += 1
        self.rest_in_flight_max = max(self.rest_in_flight_max, self.rest_in_flight)
        try:
            if self.rest_delay:
                await asyncio.sleep(self.rest_delay)
            return await self._answer_rest(connection, path, query, arrived)
        finally:
            self.rest_in_flight -= 1

    async def _answer_rest(self, connection: ServerConnection, path: str, query: str, arrived: float) -> Response:
        fault = next((f for f in self._rest_faults if f.path == path), None)
        if fault is not None:
            fault.count -= 1
            if fault.count <= 0:
                self._rest_faults.remove(fault)
        extra = []
        if fault is not None and fault.kind == "hang":
            self.rest_requests.append((arrived, path, query, fault.kind))
            await self._closing.wait()
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "fault proxy closing\n")
        if fault is None or fault.kind == "truncated":
            upstream = await self._http.get(f"{self.upstream_rest_url}{path}{'?' if query else ''}{query}")
            status, body = upstream.status_code, upstream.content
            if fault is not None:
                body = body[:len(body) // 2]
        else:
            status, body = int(fault.kind), orjson.dumps(_ERROR_BODIES[fault.kind])
            if fault.retry_after is not None:
                extra.append(("Retry-After", f"{fault.retry_after:g}"))
        if self.rest_used_weight is not None:
            extra.append(("X-MBX-USED-WEIGHT-1M", str(self.rest_used_weight)))
        self.rest_requests.append((arrived, path, query, fault.kind if fault else status))
        headers = Headers([("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(body))),
                           ("Connection", "close"), *extra])
        return Response(status, http.HTTPStatus(status).phrase, headers, body)
