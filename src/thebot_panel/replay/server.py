"""The replay server: recorded 1m candles and ticks served over Binance's spot WebSocket and REST protocol.

One port serves both the WebSocket streams and the REST API, so the same client code talks to it
and to Binance. Every timestamp is int ms since the Unix epoch, UTC. What each stream plays, and
when, is ``replay.synthesis``; the clock it plays by is ``replay.clock``.

**Replay clock** (shared by all connections and REST): ``set_speed`` changes the speed and
``pause``/``resume`` stop and restart the clock while running, without a jump; waiting streams
re-time at once. With ``speed="max"`` the clock is virtual: it stands still until a connection's sender reaches its
next due update, then jumps to that update's time; sends wait for the socket's write buffer to drain
(websockets' ``write_limit``), so the replay runs as fast as the client reads; a sender yields to
the event loop at least every millisecond. With several connections the clock follows the one
furthest ahead; the others send what is due without pause. (A client that stops reading a "max"
replay and then closes waits for its close timeout: the server's close frame queues behind data.)
A new connection starts at the current clock: events due at or after it are pushed, nothing from
before. After the recording ends the streams fall silent; REST keeps answering.

**Updates per 1m candle**: default ``U = clamp(300 // speed, 1, 30)`` (1 for ``"max"``): Binance's
cadence at real time, and at most ~5 updates per second per stream in wall time while U > 1 (at the
speed given to the constructor: ``set_speed`` keeps U).

**WebSocket**: ``/ws``, ``/ws/<stream>[/<stream>…]`` (raw payloads), ``/stream``,
``/stream?streams=a/b/c`` (``{"stream": name, "data": event}``). Control messages as Binance:
SUBSCRIBE / UNSUBSCRIBE → ``{"result": null, "id": N}``, LIST_SUBSCRIPTIONS → ``{"result": [names],
"id": N}``; errors → ``{"error": {"code": C, "msg": "…"}, "id": N}`` with Binance's codes: 3 for
invalid JSON, 2 for an invalid request (unknown method, bad params, unknown stream or symbol, more
than 1024 streams). More than 5 incoming messages within one second closes the connection with
code 1008 (WebSocket pings/pongs are answered by the library and not counted). The server pings
every 20 s. An unknown stream in the URL is refused with HTTP 400.

**REST**: ``GET /api/v3/ping``, ``/api/v3/time``, ``/api/v3/exchangeInfo[?symbol=|symbols=]``,
``/api/v3/klines?symbol&interval[&startTime][&endTime][&limit]`` (see ``ReplayServer``); errors are
HTTP 400 ``{"code": C, "msg": "…"}`` with Binance's codes.
"""

from __future__ import annotations

import asyncio
import http
import math
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from urllib.parse import parse_qs, urlsplit

import numpy as np
import orjson
import pandas as pd
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from ..binance.streams import INTERVALS, MINUTE_MS
from .clock import ReplayClock
from .recording import Recording
from .synthesis import SERVED_INTERVALS, MarketSynthesizer, Stream

MAX_STREAMS = 1024
MAX_MESSAGES_PER_SECOND = 5
_WARM_UP_MS = 7 * 1_440 * MINUTE_MS


def _to_ms(value: int | str | datetime) -> int:
    """Ms since the epoch from an int, a string of digits, or an ISO-8601 time (naive = UTC)."""
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"start must be ms since the epoch or an ISO-8601 time, got {value!r}") from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return (ts - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms")



@dataclass(eq=False)
class _Session:
    """One client connection: mode, subscriptions and incoming-message times (for the rate limit)."""

    ws: ServerConnection
    combined: bool
    streams: dict[str, Stream]
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    recent: deque = field(default_factory=deque)

    def too_fast(self, now: float) -> bool:
        """Record an incoming message at ``now`` (s); True if that makes more than 5 within 1 s."""
        self.recent.append(now)
        while self.recent[0] <= now - 1.0:
            self.recent.popleft()
        return len(self.recent) > MAX_MESSAGES_PER_SECOND

    def wrap(self, name: str, event: dict) -> bytes:
        return orjson.dumps({"stream": name, "data": event} if self.combined else event)

    def wrap_raw(self, name: str, payload: bytes) -> bytes:
        """Like ``wrap`` for an event already encoded as JSON."""
        return b'{"stream":"%s","data":%s}' % (name.encode(), payload) if self.combined else payload


class _RestError(Exception):
    def __init__(self, code: int, msg: str):
        super().__init__(msg)
        self.code, self.msg = code, msg


def _http_json(status: int, payload: object) -> Response:
    body = orjson.dumps(payload)
    headers = Headers([("Date", formatdate(usegmt=True)), ("Connection", "close"),
                       ("Content-Type", "application/json;charset=UTF-8"), ("Content-Length", str(len(body)))])
    return Response(status, http.HTTPStatus(status).phrase, headers, body)


class ReplayServer:
    """Replays a ``Recording`` as Binance spot kline, ticker (and tick) streams and REST, on one port of ``host``
    (default 127.0.0.1: this machine only).

    ``recording``: defaults to the bundled sample. ``port=0`` picks a free port. ``start``: replay
    clock at start-up, ms / ISO-8601 (naive = UTC) / datetime; default the recording start + 7 days
    (history before it is there for warm-up; at most half the recording), or, when every candle is
    derived from ticks (``Recording.ticks_only``), the first tick; clamped into the recording.
    ``speed``: positive float (1.0 real time, 60.0 = one 1m candle per second) or ``"max"``.
    ``updates_per_candle``: x:false updates per 1m candle (1..60000), default ``clamp(300 // speed, 1, 30)``.
    Raises ``ValueError`` for a bad ``start``/``speed``/``updates_per_candle``.

    After ``await start()`` (or in ``async with``): ``ws_url`` (``"ws://host:port"``) and
    ``rest_url`` (``"http://host:port"``). ``connections_opened`` counts accepted WebSocket
    connections, ``connections_open`` the current ones. ``set_speed``, ``pause`` and ``resume``
    steer the running replay (``speed`` and ``paused`` tell the current state); like ``now_ms``,
    call them on the server's event loop.
    """

    def __init__(self, recording: Recording | None = None, host: str = "127.0.0.1", port: int = 0,
                 start: int | str | datetime | None = None, speed: float | str = 1.0,
                 updates_per_candle: int | None = None):
        self.recording = recording if recording is not None else Recording.bundled()
        self.host, self.port = host, port
        self.speed = self._checked_speed(speed)
        self._paused = False
        first, end = self.recording.start, self.recording.end
        if start is None and self.recording.ticks_only:
            wanted = first
        elif start is None:
            wanted = first + min(_WARM_UP_MS, (end - first) // 2 // MINUTE_MS * MINUTE_MS)
        else:
            wanted = _to_ms(start)
        self.start_ms = min(max(wanted, first), end)
        if updates_per_candle is None:
            updates_per_candle = 1 if speed == "max" else max(1, min(30, int(300 // self.speed)))
        self._synthesizer = MarketSynthesizer(self.recording, updates_per_candle)
        self._clock: ReplayClock | None = None
        self._server = None
        self._sessions: set[_Session] = set()
        self.connections_opened = 0
        self.ws_url = self.rest_url = ""

    @staticmethod
    def _checked_speed(speed: float | str) -> float | str:
        """``speed`` as a float, or ``"max"``; ``ValueError`` naming it unless positive and finite."""
        if speed != "max" and not (isinstance(speed, (int, float)) and not isinstance(speed, bool)
                                   and 0 < speed < math.inf):
            raise ValueError(f"speed must be a positive number or 'max', got {speed!r}")
        return speed if speed == "max" else float(speed)

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the clock (stopped if ``pause()`` came first) and listen; ``OSError`` if the port is taken."""
        self._clock = ReplayClock(self.start_ms, None if self.speed == "max" else self.speed, self._paused)
        self._server = await serve(self._handle, self.host, self.port,
                                   process_request=self._process_request, compression=None)
        port = self._server.sockets[0].getsockname()[1]
        self.ws_url, self.rest_url = f"ws://{self.host}:{port}", f"http://{self.host}:{port}"

    async def stop(self) -> None:
        """Close every connection (code 1001) and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> ReplayServer:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def now_ms(self) -> int:
        """The replay clock (ms since the epoch, UTC); ``RuntimeError`` before ``start()``."""
        if self._clock is None:
            raise RuntimeError("the replay server is not started")
        return self._clock.now()

    def describe(self) -> str:
        """For the UI badge, e.g.
        ``"replay of BTCUSDT, ETHUSDT recorded 2025-07-21 → 2025-08-18, from 2025-07-28 00:00 UTC at ×10"``
        (the current speed; ``", paused"`` appended while paused)."""
        pace = "max speed" if self.speed == "max" else f"×{self.speed:g}"
        start = pd.Timestamp(self.start_ms, unit="ms")
        return (f"replay of {', '.join(self.recording.symbols)} recorded {self.recording.dates}, "
                f"from {start:%Y-%m-%d %H:%M} UTC at {pace}{', paused' if self._paused else ''}")

    # -- steering --------------------------------------------------------------------------------

    def set_speed(self, speed: float | str) -> None:
        """Change the replay speed: a positive float (1.0 real time) or ``"max"``, as in the constructor.

        Running, the clock goes on from its current reading (``now_ms()`` does not jump) at the new
        rate, and every connection waiting for its next event re-times at once; a paused replay stays
        paused. ``updates_per_candle`` stays as it is. Before ``start()`` it sets the starting speed.
        ``ValueError`` naming ``speed`` unless positive and finite, or ``"max"``.
        """
        self.speed = self._checked_speed(speed)
        self._retime()

    def pause(self) -> None:
        """Stop the replay clock: ``now_ms()`` stands still and no stream sends an event due after it
        (REST answers as of it) until ``resume()``. A no-op when paused; before ``start()`` the
        replay starts paused."""
        if not self._paused:
            self._paused = True
            self._retime()

    def resume(self) -> None:
        """Run the clock on from the replay time ``pause()`` stopped it at: the streams go on with the
        next event due, none skipped or sent twice. A no-op when not paused."""
        if self._paused:
            self._paused = False
            self._retime()

    @property
    def paused(self) -> bool:
        """True between ``pause()`` and ``resume()``."""
        return self._paused

    def _retime(self) -> None:
        if self._clock is not None:
            self._clock.retime(None if self.speed == "max" else self.speed, self._paused)

    @property
    def updates_per_candle(self) -> int:
        """x:false updates per 1m candle (see ``replay.synthesis``)."""
        return self._synthesizer.updates_per_candle

    @property
    def connections_open(self) -> int:
        return len(self._sessions)

    async def drop_connections(self) -> None:
        """Abort every client connection's TCP socket (no close frame: a network drop); the clock runs on."""
        sessions = list(self._sessions)
        for s in sessions:
            s.ws.transport.abort()
        await asyncio.gather(*(s.done.wait() for s in sessions))

    async def send_server_shutdown(self) -> None:
        """Send ``{"e": "serverShutdown", "E": now}`` to every client (enveloped on combined connections)."""
        event = {"e": "serverShutdown", "E": self.now_ms()}

        async def send(s: _Session):
            with suppress(ConnectionClosed):
                await s.ws.send(s.wrap("serverShutdown", event), text=True)
        await asyncio.gather(*(send(s) for s in list(self._sessions)))

    # -- WebSocket connections ----------------------------------------------------------------------

    async def _pump(self, session: _Session) -> None:
        """Send ``session``'s events in replay-time order, from the clock at connection time on
        (events due at that very ms included); a stream subscribed later starts at the clock then
        (at "max", at the connection's own position). Tick streams send their precomputed payloads."""
        cursor = self._clock.now() - 1
        try:
            while True:
                session.changed.clear()
                streams = list(session.streams.values())
                by_symbol: dict[str, set[int]] = {}
                for st in streams:
                    if st.ticks is None:
                        by_symbol.setdefault(st.symbol, set()).add(st.length)
                tick_times = [st.ticks.time for st in streams if st.ticks is not None]
                while not session.changed.is_set():
                    due = [t for s, ls in by_symbol.items()
                           if (t := self._synthesizer.next_tick(s, cursor, ls)) is not None]
                    for time in tick_times:
                        if (k := int(np.searchsorted(time, cursor, "right"))) < len(time):
                            due.append(int(time[k]))
                    if not due:  # nothing subscribed, or the recording is over
                        await session.changed.wait()
                        cursor = max(cursor, self._clock.now() - 1)
                        break
                    tick = min(due)
                    if not await self._clock.wait_until(tick, session.changed):
                        if self._clock.speed is not None:  # nothing was due before the clock
                            cursor = max(cursor, min(self._clock.now(), tick) - 1)
                        break
                    for st in streams:
                        if st.ticks is None:
                            for event in self._synthesizer.events_at(st, tick):
                                await session.ws.send(session.wrap(st.name, event), text=True)
                            continue
                        lo, hi = np.searchsorted(st.ticks.time, (cursor, tick), "right").tolist()
                        for payload in st.ticks.payload[lo:hi]:
                            await session.ws.send(session.wrap_raw(st.name, payload), text=True)
                    cursor = tick
        except ConnectionClosed:
            pass
        except Exception:
            await session.ws.close(1011, "replay server error")
            raise

    def _control(self, session: _Session, raw: str | bytes) -> bytes:
        """Handle one control message; returns the reply."""
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return orjson.dumps({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}, "id": None})
        rid = msg.get("id") if isinstance(msg, dict) else None

        def error(text: str) -> bytes:
            return orjson.dumps({"error": {"code": 2, "msg": f"Invalid request: {text}"}, "id": rid})

        if not isinstance(msg, dict):
            return error('expected a JSON object like {"method":"SUBSCRIBE","params":["btcusdt@kline_1m"],"id":1}')
        if not (rid is None or (isinstance(rid, int) and not isinstance(rid, bool) and rid >= 0)
                or (isinstance(rid, str) and len(rid) <= 36)):
            return error("request ID must be an unsigned integer, a string of at most 36 characters or null")
        method = msg.get("method")
        if method == "LIST_SUBSCRIPTIONS":
            return orjson.dumps({"result": list(session.streams), "id": rid})
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return error(f"unknown method {method!r}, expected one of SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS")
        params = msg.get("params")
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return error('"params" must be a list of stream names, e.g. ["btcusdt@kline_1m"]')
        if method == "UNSUBSCRIBE":
            for name in params:
                session.streams.pop(name, None)
        else:
            try:
                streams = [self._synthesizer.stream(name) for name in params]
            except ValueError as exc:
                return error(str(exc))
            if len(session.streams.keys() | {s.name for s in streams}) > MAX_STREAMS:
                return error(f"too many streams: at most {MAX_STREAMS} per connection")
            session.streams.update((s.name, s) for s in streams)
        session.changed.set()
        return orjson.dumps({"result": None, "id": rid})

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer REST requests; validate WebSocket paths (the session is stashed on the connection)."""
        url = urlsplit(request.path)
        if url.path.startswith("/api/"):
            return self._rest(url.path, parse_qs(url.query))
        if url.path == "/ws" or url.path.startswith("/ws/"):
            combined, names = False, url.path[len("/ws/"):].split("/")
        elif url.path == "/stream":
            combined, names = True, parse_qs(url.query).get("streams", [""])[0].split("/")
        else:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no such path {url.path}: "
                                      "use /ws, /ws/<stream>, /stream?streams=a/b or /api/v3/...\n")
        try:
            streams = [self._synthesizer.stream(name) for name in names if name]
        except ValueError as exc:
            return _http_json(400, {"code": 2, "msg": f"Invalid request: {exc}"})
        if len(streams) > MAX_STREAMS:
            return _http_json(400, {"code": 2, "msg": f"Invalid request: at most {MAX_STREAMS} streams per connection"})
        connection.replay_session = _Session(connection, combined, {s.name: s for s in streams})
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        session: _Session = ws.replay_session
        self._sessions.add(session)
        self.connections_opened += 1
        pump = asyncio.create_task(self._pump(session))
        loop = asyncio.get_running_loop()
        try:
            async for raw in ws:
                if session.too_fast(loop.time()):
                    await ws.close(1008, f"too many messages: more than {MAX_MESSAGES_PER_SECOND} "
                                         "incoming messages per second")
                    break
                await ws.send(self._control(session, raw), text=True)
        except ConnectionClosed:
            pass
        finally:
            pump.cancel()
            try:
                with suppress(asyncio.CancelledError):
                    await pump
            finally:
                self._sessions.discard(session)
                session.done.set()

    # -- REST ----------------------------------------------------------------------------------------

    def _rest(self, path: str, query: dict[str, list[str]]) -> Response:
        routes = {"/api/v3/ping": lambda q: {}, "/api/v3/time": lambda q: {"serverTime": self.now_ms()},
                  "/api/v3/exchangeInfo": self._exchange_info, "/api/v3/klines": self._klines}
        if path not in routes:
            return _http_json(404, {"code": -1, "msg": f"unknown endpoint {path}: "
                                                       f"the replay serves {', '.join(routes)}"})
        try:
            return _http_json(200, routes[path]({k: v[-1] for k, v in query.items()}))
        except _RestError as exc:
            return _http_json(400, {"code": exc.code, "msg": exc.msg})

    def _exchange_info(self, q: dict[str, str]) -> dict:
        """``{"timezone", "serverTime", "rateLimits", "exchangeFilters", "symbols": [...]}``."""
        if "symbol" in q and "symbols" in q:
            raise _RestError(-1128, "Combination of optional parameters invalid.")
        if "symbols" in q:
            try:
                wanted = orjson.loads(q["symbols"])
            except orjson.JSONDecodeError:
                raise _RestError(-1100, "Illegal characters found in parameter 'symbols'; "
                                        'expected a JSON list like ["BTCUSDT","ETHUSDT"].') from None
        else:
            wanted = [q["symbol"]] if "symbol" in q else list(self.recording.symbols)
        if not isinstance(wanted, list) or any(s not in self.recording for s in wanted):
            raise _RestError(-1121, "Invalid symbol.")
        return {"timezone": "UTC", "serverTime": self.now_ms(), "rateLimits": [], "exchangeFilters": [],
                "symbols": [self._synthesizer.symbol_info(s) for s in wanted]}

    def _klines(self, q: dict[str, str]) -> list[list]:
        """Rows ``[t, o, h, l, c, v, T, q, n, V, Q, "0"]`` of candles opened at or before the replay clock.

        The forming candle is the last row, at its current partial state. ``startTime``/``endTime``
        bound the open time (inclusive); ``limit`` (default 500, at most 1000) takes the first rows
        from ``startTime`` if given, else the last rows up to ``endTime``/now. The rows are
        ``MarketSynthesizer.kline_rows``; this validates the parameters.
        """
        for name in ("symbol", "interval"):
            if not q.get(name):
                raise _RestError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        symbol, interval = q["symbol"], q["interval"]
        if symbol not in self.recording:
            raise _RestError(-1121, "Invalid symbol.")
        if interval not in INTERVALS:
            raise _RestError(-1120, "Invalid interval.")
        if interval not in SERVED_INTERVALS:
            raise _RestError(-1120, f"Invalid interval: {interval} cannot be made from 1m candles; "
                                    f"the replay serves {' '.join(SERVED_INTERVALS)}.")
        ints = {}
        for name in ("startTime", "endTime", "limit"):
            if name in q:
                if not q[name].isdigit():
                    raise _RestError(-1100, f"Illegal characters found in parameter '{name}'; "
                                            "legal range is '^[0-9]{1,20}$'.")
                ints[name] = int(q[name])
        start, end, limit = ints.get("startTime"), ints.get("endTime"), min(max(ints.get("limit", 500), 1), 1000)
        if start is not None and end is not None and start > end:
            raise _RestError(-1023, "Start time is greater than end time.")
        return self._synthesizer.kline_rows(symbol, interval, start, end, limit, self.now_ms())
