"""Binance spot REST market data: klines for warm-up and gap backfill, exchangeInfo for validation.

Endpoints (Binance spot REST docs): ``GET /api/v3/time``, ``GET /api/v3/exchangeInfo``,
``GET /api/v3/klines`` (max 1000 rows per call; each row ``[t, o, h, l, c, v, T, q, n, V, Q, ignore]``).
"""

from __future__ import annotations

import httpx

from .events import Kline, kline_from_rest
from .streams import interval_ms, normalize_symbol

#: Binance's market-data-only REST endpoint.
BINANCE_REST_URL = "https://data-api.binance.vision"
KLINES_PER_CALL = 1000


class BinanceAPIError(RuntimeError):
    """A REST error answer (``{"code": …, "msg": …}``) or an unexpected HTTP status."""


class RestClient:
    """Async client for the few REST endpoints we use (``httpx.AsyncClient`` underneath)."""

    def __init__(self, base_url: str = BINANCE_REST_URL, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, path: str, **params):
        response = await self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        if response.status_code != 200:
            try:
                body = response.json()
                detail = f"{body.get('msg')} (code {body.get('code')})"
            except ValueError:
                detail = response.text[:200]
            raise BinanceAPIError(f"GET {self.base_url}{path} {params}: HTTP {response.status_code}: {detail}")
        return response.json()

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
        Raises ``BinanceAPIError`` on an error answer (e.g. unknown symbol or interval).
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
        return [kline_from_rest(symbol, interval, row, i < last or int(row[6]) < now, now)
                for i, row in enumerate(rows)]
