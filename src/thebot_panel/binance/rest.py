"""Binance spot REST market data: klines for warm-up and gap backfill, exchangeInfo for validation.

Endpoints (Binance spot REST docs): ``GET /api/v3/time``, ``GET /api/v3/exchangeInfo``,
``GET /api/v3/klines`` (max 1000 rows per call; each row ``[t, o, h, l, c, v, T, q, n, V, Q, ignore]``).
Rate limits: an HTTP 429 (too many requests) or 418 (IP banned after ignoring 429s) carries
``Retry-After`` seconds; until then the client sends nothing at all (every call waits), as Binance asks.
"""

from __future__ import annotations

import asyncio
import math
import time

import httpx

from .events import Kline, kline_from_rest, kline_problem
from .streams import interval_ms, normalize_symbol

#: Binance's market-data-only REST endpoint.
BINANCE_REST_URL = "https://data-api.binance.vision"
KLINES_PER_CALL = 1000


#: Pause when a 418/429 answer has no usable ``Retry-After`` (seconds).
DEFAULT_RETRY_AFTER_S = 60.0
#: The longest pause a ``Retry-After`` can ask for: Binance's longest IP ban, 3 days (seconds).
MAX_RETRY_AFTER_S = 3 * 86_400.0


class BinanceAPIError(RuntimeError):
    """A REST call failed: an error answer (``{"code": …, "msg": …}``), an unexpected HTTP status, no answer
    (``status`` 0: refused, timed out, cut off) or an unreadable body. ``transient`` is True when the same call
    may succeed later (no answer, 5xx, 418/429, a malformed body); ``retry_after`` (s) is set for 418/429."""

    def __init__(self, message: str, status: int = 0, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after

    @property
    def transient(self) -> bool:
        return not 400 <= self.status < 500 or self.status in (418, 429)


def _retry_after(response: httpx.Response) -> float:
    try:
        seconds = float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return DEFAULT_RETRY_AFTER_S
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds)) if math.isfinite(seconds) else DEFAULT_RETRY_AFTER_S


class RestClient:
    """Async client for the few REST endpoints we use (``httpx.AsyncClient`` underneath; ``timeout`` in s).

    ``paused_for()`` says how long every call still waits after a 418/429 (see module docstring).
    """

    def __init__(self, base_url: str = BINANCE_REST_URL, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self._paused_until = 0.0

    async def close(self) -> None:
        await self._http.aclose()

    def paused_for(self) -> float:
        """Seconds left of a pause that a 418/429 answer asked for (0 when none)."""
        return max(0.0, self._paused_until - time.monotonic())

    async def _get(self, path: str, **params):
        while self.paused_for() > 0:
            await asyncio.sleep(self.paused_for())
        where = f"GET {self.base_url}{path} {params}"
        try:
            response = await self._http.get(path, params={k: v for k, v in params.items() if v is not None})
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError as exc:
            raise BinanceAPIError(f"{where}: {type(exc).__name__}: {exc or 'no answer'}") from exc
        except ValueError as exc:
            raise BinanceAPIError(f"{where}: unreadable answer ({exc})", 200) from exc
        try:
            body = response.json()
            detail = f"{body.get('msg')} (code {body.get('code')})"
        except (ValueError, AttributeError):
            detail = response.text[:200]
        retry_after = None
        if response.status_code in (418, 429):
            retry_after = _retry_after(response)
            self._paused_until = max(self._paused_until, time.monotonic() + retry_after)
            detail += f"; no REST call for {retry_after:g} s (Retry-After)"
        raise BinanceAPIError(f"{where}: HTTP {response.status_code}: {detail}", response.status_code, retry_after)

    async def server_time(self) -> int:
        """The server's clock, ms since the epoch (UTC)."""
        return int((await self._get("/api/v3/time"))["serverTime"])

    async def symbols(self) -> dict[str, str]:
        """All listed symbols and their status (``{"BTCUSDT": "TRADING", ...}``) from exchangeInfo."""
        info = await self._get("/api/v3/exchangeInfo")
        return {s["symbol"]: s.get("status", "TRADING") for s in info["symbols"]}

    async def validate_symbols(self, symbols) -> list[str]:
        """Upper-cased ``symbols`` if all are listed and TRADING; ``ValueError`` naming the bad ones otherwise."""
        wanted = [normalize_symbol(s) for s in symbols]
        listed = await self.symbols()
        unknown = [s for s in wanted if s not in listed]
        if unknown:
            examples = ", ".join(sorted(listed)[:8])
            raise ValueError(f"unknown symbol{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
                             f"not listed by {self.base_url}/api/v3/exchangeInfo (it lists e.g. {examples})")
        halted = [f"{s} ({listed[s]})" for s in wanted if listed[s] != "TRADING"]
        if halted:
            raise ValueError(f"symbol not trading: {', '.join(halted)}")
        return wanted

    async def klines(self, symbol: str, interval: str, start: int | None = None, end: int | None = None,
                     limit: int = KLINES_PER_CALL) -> list[Kline]:
        """Klines with open time in [start, end] (ms, UTC), oldest first, paged by 1000.

        With ``start`` None, the last ``limit`` klines up to ``end`` (or now). Every row but the newest is
        closed (a newer one exists); the newest is closed only if it had closed before the request, by the
        server's clock read first — otherwise it is the forming kline, at a partial state (``closed=False``).
        Raises ``BinanceAPIError`` on an error answer (e.g. unknown symbol or interval) and on a row that is not a
        valid kline (``events.kline_problem``; status 200, transient).
        """
        symbol, step = normalize_symbol(symbol), interval_ms(interval)
        now = await self.server_time()
        if start is None:
            end_ = now if end is None else end
            start = end_ - (limit - 1) * step - end_ % step
        rows: list[list] = []
        while end is None or start <= end:
            page = await self._get("/api/v3/klines", symbol=symbol, interval=interval, startTime=start,
                                   endTime=end, limit=min(limit - len(rows), KLINES_PER_CALL))
            rows.extend(page)
            if len(page) < KLINES_PER_CALL or len(rows) >= limit:
                break
            start = int(page[-1][0]) + step
        last = len(rows) - 1
        klines = []
        for i, row in enumerate(rows):
            try:
                kline = kline_from_rest(symbol, interval, row, i < last or int(row[6]) < now, now)
                problem = kline_problem(kline)
            except (TypeError, ValueError, IndexError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem is not None:
                raise BinanceAPIError(f"GET {self.base_url}/api/v3/klines {symbol} {interval}: bad row {row!r:.200}: "
                                      f"{problem}", 200)
            klines.append(kline)
        return klines
