"""A local fake of Binance spot market data: recorded 1m candles and ticks replayed over Binance's protocol.

One port serves both the WebSocket streams and the REST API, so the same client code talks to it
and to Binance. Every timestamp is int ms since the Unix epoch, UTC.

**Replay clock** (shared by all connections and REST): ``now_ms() = start + elapsed_wall_ms * speed``.
``set_speed`` changes the speed and ``pause``/``resume`` stop and restart the clock while running: the
clock goes on from its reading at that moment (no jump), and waiting streams re-time at once.
With ``speed="max"`` the clock is virtual: it stands still until a connection's sender reaches its
next due update, then jumps to that update's time; sends wait for the socket's write buffer to drain
(websockets' ``write_limit``), so the replay runs as fast as the client reads; a sender yields to
the event loop at least every millisecond. With several connections the clock follows the one
furthest ahead; the others send what is due without pause. (A client that stops reading a "max"
replay and then closes waits for its close timeout: the server's close frame queues behind data.)
A new connection starts at the current clock: events due at or after it are pushed, nothing from
before. After the recording ends the streams fall silent; REST keeps answering.

**How a 1m candle plays** (``U = updates_per_candle``): ``U`` x:false updates at replay times
``t + k * 60000 // U`` (k = 0..U-1; with U=30 that is Binance's 2 s cadence), then one x:true at
``t + 60000`` (its ``E``). Update k shows the candle at fraction ``(k+1)/U`` of a deterministic path
open→low→high→close (close ≥ open) or open→high→low→close (close < open), walked at constant price
speed; high/low are the extremes visited so far, volume grows pro rata; intermediate prices and
volumes are rounded to the decimals of the recording. The last x:false carries exactly the recorded
OHLCV, and so does the x:true. Default ``U = clamp(300 // speed, 1, 30)`` (1 for ``"max"``): Binance's
cadence at real time, and at most ~5 updates per second per stream in wall time while U > 1 (at the
speed given to the constructor: ``set_speed`` keeps U).

**Higher intervals** (3m … 1d) are aggregated from the 1m candles as the exchange does
(``pipeline.candles.aggregate`` semantics, which REST uses directly: UTC-aligned buckets, open of
the first, max high, min low, close of the last, summed volume rounded to the recording's decimals,
i.e. the exact decimal sum). On the streams the forming candle is the bucket's closed 1m candles
(precomputed per 1m candle with numpy/pandas) plus the current partial 1m state, updated whenever
the 1m candle is; it closes (x:true, ``E`` = bucket end) when the replay clock reaches the bucket
end, which is when its last 1m candle closes, or, if the bucket's last minutes are missing, when
the clock passes the end. Missing minutes are never filled in: a bucket without any 1m candle
yields no candle. Stream and REST values of a candle are identical.

Kline fields the OHLCV recording lacks are sent as ``q``/``V``/``Q`` = ``"0"``, ``n`` = 0,
``f``/``L`` = -1 (see ``replay.recording``).

**Ticks**: for a symbol with a tick recording, ``<symbol>@trade`` and ``<symbol>@bookTicker`` play
the recorded events, byte for byte as recorded (``E`` included), each at its time on the replay clock
(trade: ``T``; bookTicker: receive time moved onto the exchange clock, see ``replay.recording``),
interleaved with the other subscribed streams in replay-time order (events due at the same ms go out
in subscription order). Its 1m candles, where derived from the trades, play their real forming
state: an x:false update at replay time ``t`` shows the minute's trades with ``T <= t`` (at least
the first one), the x:true all of them, and REST shows the trades up to the clock; the recording's
last, partial minute shows its trades up to the last tick and is never closed (no kline event of
that symbol after its last tick). ``@aggTrade`` is not served (it is not recorded, and aggregate
ids cannot be recovered from trades); other kinds neither.

**24hr ticker** (``<symbol>@ticker``, every symbol, event ``24hrTicker`` with all of Binance's fields
in its order): rolling statistics over the 1m candles opened in ``(E - 24h, E]``, the last one the
forming candle at its partial state, exactly as the kline streams show it at ``E``. Binance pushes
every 1000 ms of wall time; the replay sends one at each x:false update instant of a playing 1m
candle (``U`` per candle, e.g. every 2 s at U=30 and ×1, every 12 s of replay time at ×60), so its
rate scales with the kline streams' and ``c`` is the 1m kline close at the same ``E``; like them it
falls silent in gaps and after a partial last minute's last tick. Fields: ``o`` the window's first
open, ``h``/``l`` its extremes, ``v`` the volume sum (rounded to the recording's decimals), ``c``,
``p = c - o``, ``P`` = ``100 * p / o`` with 3 decimals as the live stream sends (the doc example shows
``"250.00"``, live payloads e.g. ``"-3.488"``), ``x`` the close of the last candle before the window
(``"0"`` if none), ``O = E - 24h``, ``C = E``. Not recorded, hence estimated: ``q`` = sum of volume *
typical price ``(h + l + c) / 3`` per 1m candle, so ``w = q / v`` (``"0"`` for no volume). Not
recorded, hence sent as "none": ``Q`` = ``"0"``, ``F``/``L`` = -1, ``n`` = 0 (as Binance for a window
without trades and as the klines here); ``b``/``B``/``a``/``A`` are the latest recorded bookTicker at
or before ``E`` while ``E`` is within the symbol's tick recording, else ``"0"``.

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
from bisect import bisect_right
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

from ..binance.streams import INTERVALS, MINUTE_MS, interval_ms, parse_stream_name, stream_name
from ..pipeline.candles import OHLCV, aggregate
from .recording import TICK_KINDS, MinuteCandles, Recording, TickStream

#: Kline intervals the replay serves: those that can be built from 1m candles by UTC-aligned buckets.
SERVED_INTERVALS = tuple(i for i, ms in INTERVALS.items() if ms and MINUTE_MS <= ms <= 1_440 * MINUTE_MS)
MAX_STREAMS = 1024
MAX_MESSAGES_PER_SECOND = 5
_DAY_MS = 1_440 * MINUTE_MS
_WARM_UP_MS = 7 * _DAY_MS
#: Quote assets recognised when splitting a symbol for exchangeInfo, longest first.
_QUOTES = sorted(("USDT", "FDUSD", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL"),
                 key=len, reverse=True)


def _num(x: float) -> str:
    """A float as Binance writes numbers: a decimal string (shortest round-trip, never an exponent)."""
    s = repr(x)
    return s if "e" not in s else np.format_float_positional(x, trim="0")


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


def partial_candle(o: float, h: float, low: float, c: float, v: float, fraction: float,
                   price_decimals: int = 8, volume_decimals: int = 8) -> tuple[float, float, float, float]:
    """``(close, high, low, volume)`` of a 1m candle ``fraction`` (0..1] of the way through its minute.

    The price walks open→low→high→close (``c >= o``) or open→high→low→close at constant speed;
    high/low are the extremes visited so far; volume is ``v * fraction``. At ``fraction >= 1`` the
    result is exactly ``(c, h, low, v)``.
    """
    if fraction >= 1:
        return c, h, low, v
    points = (o, low, h, c) if c >= o else (o, h, low, c)
    legs = [abs(b - a) for a, b in zip(points, points[1:])]
    todo = fraction * sum(legs)
    price = hi = lo = o
    for a, b, leg in zip(points, points[1:], legs):
        if todo <= leg:
            price = a + (b - a) * (todo / leg) if leg else a
            break
        todo -= leg
        price = b
        hi, lo = max(hi, b), min(lo, b)
    price = min(max(round(price, price_decimals), low), h)
    return price, max(hi, price), min(lo, price), round(v * fraction, volume_decimals)


class _Clock:
    """The replay clock (ms): real time scaled by ``speed``, or virtual (``speed=None``, "max"); it
    stands still while ``paused``. ``retime`` changes both, going on from the current reading."""

    def __init__(self, start_ms: int, speed: float | None, paused: bool):
        self.speed, self.paused = speed, paused
        self._start = start_ms  # the reading at loop time _t0; the whole reading at "max" or paused
        self._t0 = self._next_yield = asyncio.get_running_loop().time()
        self._waits: set[asyncio.Timeout] = set()

    def now(self) -> int:
        if self.speed is None or self.paused:
            return self._start
        return self._start + int((asyncio.get_running_loop().time() - self._t0) * 1000 * self.speed)

    def retime(self, speed: float | None, paused: bool) -> None:
        """Go on from the current reading at ``speed``, standing still if ``paused``; wakes every
        pending ``wait_until`` to re-time its wait."""
        self._start, self._t0 = self.now(), asyncio.get_running_loop().time()
        self.speed, self.paused = speed, paused
        for timeout in self._waits:
            if not timeout.expired():
                timeout.reschedule(self._t0)

    async def wait_until(self, ms: int, interrupt: asyncio.Event) -> bool:
        """Wait until the clock reaches ``ms``; False if ``interrupt`` was set first."""
        while self.paused or (self.speed is not None and self.now() < ms):
            delay = None if self.paused else (ms - self.now()) / (1000 * self.speed)
            try:
                async with asyncio.timeout(delay) as timeout:
                    self._waits.add(timeout)
                    try:
                        await interrupt.wait()
                    finally:
                        self._waits.discard(timeout)
                return False
            except TimeoutError:
                pass  # due, or retimed: check again
        if self.speed is None:
            self._start = max(self._start, ms)
            loop = asyncio.get_running_loop()
            if loop.time() >= self._next_yield:  # let the other tasks run at least every millisecond
                await asyncio.sleep(0)
                self._next_yield = loop.time() + 0.001
            return not interrupt.is_set()
        return True


@dataclass(frozen=True)
class _Stream:
    """A subscribable stream: a kline stream (``interval``, ``length`` in ms), a tick stream (``ticks``),
    or a 24hr ticker (neither; ``length`` 1m: it plays at the 1m candle's update instants)."""

    name: str
    symbol: str
    interval: str | None
    length: int
    ticks: TickStream | None = None


@dataclass(eq=False)
class _Session:
    """One client connection: mode, subscriptions and incoming-message times (for the rate limit)."""

    ws: ServerConnection
    combined: bool
    streams: dict[str, _Stream]
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
        if not isinstance(updates_per_candle, int) or not 1 <= updates_per_candle <= MINUTE_MS:
            raise ValueError(f"updates_per_candle must be an integer from 1 to {MINUTE_MS}, got {updates_per_candle!r}")
        self.updates_per_candle = updates_per_candle
        self._offsets = [k * MINUTE_MS // updates_per_candle for k in range(updates_per_candle)]
        self._offset_set = frozenset(self._offsets)
        self._clock: _Clock | None = None
        self._server = None
        self._sessions: set[_Session] = set()
        self._so_far: dict[tuple[str, int], dict[str, np.ndarray]] = {}
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
        self._clock = _Clock(self.start_ms, None if self.speed == "max" else self.speed, self._paused)
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

    # -- streams ---------------------------------------------------------------------------------

    def _stream(self, name: str) -> _Stream:
        """Validate a stream name; ``ValueError`` with a clear message if the replay cannot serve it."""
        symbol, kind, interval = parse_stream_name(name)
        with_ticks = ", ".join(self.recording.ticks) or "none"
        if kind not in ("kline", "ticker", *TICK_KINDS):
            raise ValueError(f"stream {name!r} is not served: the replay serves <symbol>@kline_<interval> and "
                             "<symbol>@ticker streams, and <symbol>@trade / <symbol>@bookTicker for symbols "
                             f"with ticks ({with_ticks})")
        if symbol not in self.recording:
            raise ValueError(f"unknown symbol {symbol} in {name!r}: "
                             f"the recording holds {', '.join(self.recording.symbols)}")
        canonical = stream_name(symbol, kind, interval)
        if name != canonical:
            raise ValueError(f"stream names are lowercase: use {canonical!r}, not {name!r}")
        if kind in TICK_KINDS:
            ticks = self.recording.ticks.get(symbol)
            if ticks is None or not len(ticks.streams[kind]):
                raise ValueError(f"stream {name!r} is not served: {symbol} has no recorded {kind} events "
                                 f"(its <symbol>@kline_<interval> streams are); symbols with ticks: {with_ticks}")
            return _Stream(name, symbol, None, 0, ticks.streams[kind])
        if kind == "ticker":
            return _Stream(name, symbol, None, MINUTE_MS)
        if interval not in SERVED_INTERVALS:
            raise ValueError(f"interval {interval} cannot be made from 1m candles: "
                             f"the replay serves {' '.join(SERVED_INTERVALS)}")
        return _Stream(name, symbol, interval, interval_ms(interval))

    def _partial(self, c: MinuteCandles, i: int, since_open: int) -> tuple[float, float, float, float]:
        """``(close, high, low, volume)`` of 1m candle ``i`` as shown ``since_open`` ms after its open:
        for a candle derived from trades, its trades so far (at least the first); else the latest x:false
        update due by then (from ``60000 * (U-1) // U`` on, the recorded candle)."""
        if c.derived is not None and c.derived[i]:
            t = int(c.open_time[i])
            close, high, low, volume = self.recording.ticks[c.symbol].candle_at(t, t + since_open)
            return close, high, low, round(volume, c.volume_decimals)
        fraction = bisect_right(self._offsets, since_open) / self.updates_per_candle
        o, h, low, close, v = (c.ohlcv[name][i].item() for name in OHLCV)
        return partial_candle(o, h, low, close, v, fraction, c.price_decimals, c.volume_decimals)

    def _candles(self, c: MinuteCandles, interval: str, lo_ms: int, now: int) -> tuple[np.ndarray, dict]:
        """``interval`` candles of the 1m candles with ``lo_ms <= open_time <= now``, as shown at ``now``.

        A 1m candle still open at ``now`` is at its latest x:false state. Aggregation is
        ``pipeline.candles.aggregate``. Returns ``(open_time, {"open", "high", "low", "close", "volume"})``.
        """
        lo = int(np.searchsorted(c.open_time, lo_ms, "left"))
        hi = int(np.searchsorted(c.open_time, now, "right"))
        t = c.open_time[lo:hi]
        cols = {name: c.ohlcv[name][lo:hi] for name in OHLCV}
        if hi > lo and t[-1] + MINUTE_MS > now:
            cols = {name: col.copy() for name, col in cols.items()}
            partial = self._partial(c, hi - 1, now - int(t[-1]))
            cols["close"][-1], cols["high"][-1], cols["low"][-1], cols["volume"][-1] = partial
        return aggregate(t, cols, interval)

    def _bucket_so_far(self, symbol: str, length: int) -> dict[str, np.ndarray]:
        """Per 1m candle i of ``symbol``: the open of its ``length`` bucket and the high/low/volume of the
        bucket's candles before i (-inf/inf/0 for the bucket's first): the closed part of a forming
        candle. Computed once per (symbol, interval) with numpy/pandas, then O(1) per update."""
        key = (symbol, length)
        if key not in self._so_far:
            c = self.recording[symbol]
            bucket = c.open_time - c.open_time % length
            first = np.r_[True, bucket[1:] != bucket[:-1]]
            group = np.cumsum(first) - 1
            running = pd.DataFrame({name: c.ohlcv[name] for name in ("high", "low", "volume")}).groupby(group)

            def before(values: pd.Series, neutral: float) -> np.ndarray:
                values = values.to_numpy()
                return np.where(first, neutral, np.r_[neutral, values[:-1]])
            self._so_far[key] = {"open": c.ohlcv["open"][first][group],
                                 "high": before(running["high"].cummax(), -np.inf),
                                 "low": before(running["low"].cummin(), np.inf),
                                 "volume": before(running["volume"].cumsum(), 0.0)}
        return self._so_far[key]

    def _kline_event(self, st: _Stream, i: int, since_open: int, event_time: int, closed: bool) -> dict:
        """The kline event of ``st``'s candle holding 1m candle ``i``, that one ``since_open`` ms into its minute.

        Same values as ``aggregate`` over the bucket's 1m candles so far (volume sums are rounded to
        the recording's decimals, i.e. the exact decimal sum, in both REST and here).
        """
        c = self.recording[st.symbol]
        so_far = self._bucket_so_far(st.symbol, st.length)
        close, high, low, volume = self._partial(c, i, since_open)
        t = int(c.open_time[i])
        bucket = t - t % st.length
        return {"e": "kline", "E": event_time, "s": st.symbol, "k": {
            "t": bucket, "T": bucket + st.length - 1, "s": st.symbol, "i": st.interval, "f": -1, "L": -1,
            "o": _num(so_far["open"][i].item()), "c": _num(close), "h": _num(max(so_far["high"][i].item(), high)),
            "l": _num(min(so_far["low"][i].item(), low)),
            "v": _num(round(so_far["volume"][i].item() + volume, c.volume_decimals)),
            "n": 0, "x": closed, "q": "0", "V": "0", "Q": "0", "B": "0"}}

    def _ticker_event(self, symbol: str, i: int, since_open: int, event_time: int) -> dict:
        """The 24hrTicker event of ``symbol`` at ``event_time``, ``since_open`` ms into its 1m candle ``i``
        (see the module doc)."""
        c = self.recording[symbol]
        close, high, low, volume = self._partial(c, i, since_open)
        lo = int(np.searchsorted(c.open_time, event_time - _DAY_MS, "right"))
        hs, ls, cs, vs = (c.ohlcv[name][lo:i] for name in ("high", "low", "close", "volume"))
        o = c.ohlcv["open"][lo].item()
        v = round(float(vs.sum()) + volume, c.volume_decimals)
        q = round(float(vs @ ((hs + ls + cs) / 3)) + volume * (high + low + close) / 3, 8)
        return {"e": "24hrTicker", "E": event_time, "s": symbol, "p": _num(round(close - o, c.price_decimals)),
                "P": f"{round(100 * (close - o) / o, 3) + 0.0:.3f}",
                "w": _num(round(q / v, c.price_decimals)) if v else "0",
                "x": _num(c.ohlcv["close"][lo - 1].item()) if lo else "0", "c": _num(close), "Q": "0",
                **self._book_at(symbol, event_time), "o": _num(o), "h": _num(float(hs.max(initial=high))),
                "l": _num(float(ls.min(initial=low))), "v": _num(v), "q": _num(q),
                "O": event_time - _DAY_MS, "C": event_time, "F": -1, "L": -1, "n": 0}

    def _book_at(self, symbol: str, at: int) -> dict[str, str]:
        """``b``/``B``/``a``/``A`` of ``symbol``'s latest recorded bookTicker at or before ``at`` while ``at``
        is within its tick recording; ``"0"`` each otherwise."""
        ticks = self.recording.ticks.get(symbol)
        if ticks is not None and ticks.start <= at < ticks.end:
            book = ticks.streams["bookTicker"]
            k = int(np.searchsorted(book.time, at, "right")) - 1
            if k >= 0:
                recorded = orjson.loads(book.payload[k])
                return {f: recorded[f] for f in "bBaA"}
        return dict.fromkeys("bBaA", "0")

    def _events_at(self, st: _Stream, tick: int) -> list[dict]:
        """The events of kline or ticker stream ``st`` due at replay time ``tick``: a kline close, then an
        update (kline x:false or ticker), each if any."""
        t = self.recording[st.symbol].open_time
        events = []
        i = int(np.searchsorted(t, tick, "right")) - 1  # the last candle opened at or before tick
        minute = tick - tick % MINUTE_MS
        playing = i >= 0 and t[i] == minute
        if st.interval is not None and tick % st.length == 0:  # a bucket ends: close it if it holds a candle
            last = i - 1 if playing else i
            if last >= 0 and t[last] >= tick - st.length:
                events.append(self._kline_event(st, last, MINUTE_MS - 1, tick, True))
        if playing and tick - minute in self._offset_set:
            events.append(self._kline_event(st, i, tick - minute, tick, False) if st.interval is not None
                          else self._ticker_event(st.symbol, i, tick - minute, tick))
        return events

    def _next_tick(self, symbol: str, after: int, lengths: set[int]) -> int | None:
        """The earliest replay time > ``after`` when ``symbol`` has an event for kline streams of these
        lengths (a ticker's is 1m); None if there is none (or only after the last tick of a partial last candle)."""
        c = self.recording[symbol]
        t = c.open_time
        minute = after - after % MINUTE_MS
        j = int(np.searchsorted(t, minute))
        if j < len(t) and t[j] == minute:  # a 1m candle is playing: its next update, else its close
            k = bisect_right(self._offsets, after - minute)
            tick = minute + (self._offsets[k] if k < len(self._offsets) else MINUTE_MS)
        else:
            ticks = [int(t[j])] if j < len(t) else []  # the next candle's first update
            for length in lengths:  # a bucket whose last minutes are missing closes at its end
                end = after - after % length + length
                if j > 0 and t[j - 1] >= end - length:
                    ticks.append(end)
            tick = min(ticks, default=None)
        return None if tick is None or (c.until is not None and tick > c.until) else tick

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
                    due = [t for s, ls in by_symbol.items() if (t := self._next_tick(s, cursor, ls)) is not None]
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
                            for event in self._events_at(st, tick):
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

    # -- WebSocket connections ----------------------------------------------------------------------

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
                streams = [self._stream(name) for name in params]
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
            streams = [self._stream(name) for name in names if name]
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

    def _symbol_info(self, symbol: str) -> dict:
        c = self.recording[symbol]
        quote = next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), "")
        return {"symbol": symbol, "status": "TRADING", "baseAsset": symbol[:len(symbol) - len(quote)],
                "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": f"{10.0 ** -c.price_decimals:.8f}"},
                            {"filterType": "LOT_SIZE", "stepSize": f"{10.0 ** -c.volume_decimals:.8f}"}],
                "permissions": ["SPOT"]}

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
                "symbols": [self._symbol_info(s) for s in wanted]}

    def _klines(self, q: dict[str, str]) -> list[list]:
        """Rows ``[t, o, h, l, c, v, T, q, n, V, Q, "0"]`` of candles opened at or before the replay clock.

        The forming candle is the last row, at its current partial state. ``startTime``/``endTime``
        bound the open time (inclusive); ``limit`` (default 500, at most 1000) takes the first rows
        from ``startTime`` if given, else the last rows up to ``endTime``/now.
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
        length = interval_ms(interval)
        now = self.now_ms()
        upto = now if end is None else min(now, end - end % length + length - 1)
        c = self.recording[symbol]
        opens, agg = self._candles(c, interval, 0 if start is None else start - start % length, upto)
        keep = np.ones(len(opens), dtype=bool)
        if start is not None:
            keep &= opens >= start
        if end is not None:
            keep &= opens <= end
        rows = np.flatnonzero(keep)
        rows = rows[:limit] if start is not None else rows[-limit:]
        o, h, low, close, volume = (agg[name][rows].tolist() for name in OHLCV)
        return [[t0, _num(o[i]), _num(h[i]), _num(low[i]), _num(close[i]), _num(round(volume[i], c.volume_decimals)),
                 t0 + length - 1, "0", 0, "0", "0", "0"] for i, t0 in enumerate(opens[rows].tolist())]
