"""Binance spot REST market data: klines for warm-up and gap backfill, exchangeInfo for validation.

Endpoints (Binance spot REST docs): ``GET /api/v3/time``, ``GET /api/v3/exchangeInfo``,
``GET /api/v3/klines`` (max 1000 rows per call; each row ``[t, o, h, l, c, v, T, q, n, V, Q, ignore]``).
Limits (Binance spot REST docs, "LIMITS" and each endpoint's "Weight"; the 6,000 per minute since 2023-08-25):

- **Request weight**: each call costs its endpoint's weight (``WEIGHTS``: klines 2, exchangeInfo 20, time 1),
  counted per IP over a minute against ``REQUEST_WEIGHT`` in exchangeInfo's ``rateLimits`` (6,000 per minute on
  spot); every answer carries the IP's weight used so far in ``X-MBX-USED-WEIGHT-1M``. A ``WeightBudget`` paces the
  calls: a call that would spend more than the budget waits (it does not fail) until enough weight has aged out.
- **429 / 418**: an HTTP 429 (too many requests) or 418 (IP banned after ignoring 429s) carries ``Retry-After``
  seconds; until then the client sends nothing at all (every call waits), as Binance asks.
- **Calls in flight** (ours, not Binance's): at most ``max_in_flight`` at a time, on as many pooled connections;
  the others wait their turn in order. Waiting for a turn, for the budget or for a pause is not part of the
  ``timeout``, so a long queue (e.g. 500 markets warming up at once) never turns into timeouts and retries.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time

import httpx

from .events import Kline, kline_from_rest, kline_problem
from .streams import interval_ms, normalize_symbol

log = logging.getLogger(__name__)

#: Binance's market-data-only REST endpoint.
BINANCE_REST_URL = "https://data-api.binance.vision"
KLINES_PER_CALL = 1000
#: Request weight of each endpoint we call (Binance spot REST docs; klines is 2 whatever the ``limit``).
WEIGHTS = {"/api/v3/ping": 1, "/api/v3/time": 1, "/api/v3/exchangeInfo": 20, "/api/v3/klines": 2}
#: Binance's spot ``REQUEST_WEIGHT`` limit per IP: weight per minute (exchangeInfo ``rateLimits``).
REQUEST_WEIGHT_PER_MINUTE = 6_000
#: The share of that limit our calls may use: the rest covers calls the server has counted before its header tells
#: us (calls in flight) and other clients on the same IP between two answers.
WEIGHT_SHARE = 0.9
#: REST calls in flight at a time, per ``RestClient`` (a browser opens 6 connections per host).
MAX_IN_FLIGHT = 10

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


class WeightBudget:
    """Binance's request-weight limit, kept from our side: ``await spend(weight)`` before each call.

    ``limit``: the weight the IP may spend per ``window_s`` seconds (Binance: ``REQUEST_WEIGHT`` 6,000 per minute);
    ``share``: the fraction of it we spend (``WEIGHT_SHARE``), so the budget is ``share * limit``. The weight used
    is the larger of two counts: ours (the weight we spent within the last ``window_s`` s) and the server's (the
    last ``X-MBX-USED-WEIGHT-1M`` it answered, given to ``report``, plus what we spent since; it counts for
    ``window_s`` s after it came). A call that would go over the budget waits, first come first served, until
    enough weight has aged out; it never fails for it. A call heavier than the whole budget waits for an empty
    window.
    """

    def __init__(self, limit: int = REQUEST_WEIGHT_PER_MINUTE, window_s: float = 60.0, share: float = WEIGHT_SHARE):
        if limit < 1 or window_s <= 0 or not 0 < share <= 1:
            raise ValueError(f"a weight budget needs limit ≥ 1, window_s > 0 and 0 < share ≤ 1, got {limit}, "
                             f"{window_s}, {share}")
        self.limit, self.window_s, self.share = limit, window_s, share
        self._spent: collections.deque[tuple[float, int]] = collections.deque()  # (time.monotonic(), weight)
        self._own = 0  # weight in _spent
        self._reported: tuple[float, int] | None = None  # (time.monotonic(), X-MBX-USED-WEIGHT-1M)
        self._since_report = 0  # weight we spent after the report
        self._turn = asyncio.Lock()
        self.waits = 0  # calls that had to wait

    @property
    def budget(self) -> int:
        """The weight we may spend per window: ``share * limit``, at least 1."""
        return max(1, int(self.limit * self.share))

    def used(self, now: float | None = None) -> int:
        """The weight used within the window, as far as we know (see the class docstring)."""
        now = time.monotonic() if now is None else now
        while self._spent and self._spent[0][0] <= now - self.window_s:
            self._own -= self._spent.popleft()[1]
        if self._reported is not None and self._reported[0] <= now - self.window_s:
            self._reported = None
        reported = 0 if self._reported is None else self._reported[1] + self._since_report
        return max(self._own, reported)

    def wait_s(self, weight: int, now: float | None = None) -> float:
        """Seconds until ``weight`` fits in the budget (0: now), or until enough ages out to look again."""
        now = time.monotonic() if now is None else now
        over = self.used(now) + min(weight, self.budget) - self.budget
        if over <= 0:
            return 0.0
        reported = 0 if self._reported is None else self._reported[1] + self._since_report
        if reported > self._own:  # the server's count binds: it ages out as a whole
            return self._reported[0] + self.window_s - now
        freed = 0
        for at, spent in self._spent:
            freed += spent
            if freed >= over:
                return at + self.window_s - now
        return self.window_s  # not reached: our own count binds, so it holds at least ``over``

    async def spend(self, weight: int) -> None:
        """Wait until ``weight`` fits in the budget, then count it as spent now."""
        async with self._turn:
            waited = False
            while (wait := self.wait_s(weight)) > 0:
                if not waited:
                    self.waits += 1
                    log.info("REST weight budget used (%d of %d per %g s): waiting %.1f s", self.used(), self.budget,
                             self.window_s, wait)
                waited = True
                await asyncio.sleep(wait)
            self._spent.append((time.monotonic(), weight))
            self._own += weight
            self._since_report += weight

    def report(self, used: str | int | None) -> None:
        """The server's ``X-MBX-USED-WEIGHT-1M``: the IP's weight used in its window, all clients included (ignored
        when missing or unreadable)."""
        try:
            value = int(used)
        except (TypeError, ValueError):
            return
        if value >= 0:
            self._reported, self._since_report = (time.monotonic(), value), 0

    def adopt(self, rate_limits: list) -> None:
        """Take the limit from exchangeInfo's ``rateLimits`` (``{"rateLimitType": "REQUEST_WEIGHT", "interval":
        "MINUTE", "intervalNum": 1, "limit": 6000}``) when it lists one for our window; otherwise keep ours."""
        seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3_600, "DAY": 86_400}
        for entry in rate_limits if isinstance(rate_limits, list) else ():
            try:
                if (entry["rateLimitType"] == "REQUEST_WEIGHT"
                        and seconds[entry["interval"]] * int(entry["intervalNum"]) == self.window_s
                        and int(entry["limit"]) >= 1):
                    self.limit = int(entry["limit"])
            except (KeyError, TypeError, ValueError):
                continue


class RestClient:
    """Async client for the few REST endpoints we use (``httpx.AsyncClient`` underneath; ``timeout`` in s, per call
    once it is sent).

    ``max_in_flight``: calls sent at a time (``MAX_IN_FLIGHT``); ``budget``: the ``WeightBudget`` every call spends
    its endpoint's weight from (default: Binance's 6,000 per minute; exchangeInfo's ``rateLimits`` replace the limit
    when read). ``paused_for()`` says how long every call still waits after a 418/429 (see module docstring).
    """

    def __init__(self, base_url: str = BINANCE_REST_URL, timeout: float = 10.0, *, max_in_flight: int = MAX_IN_FLIGHT,
                 budget: WeightBudget | None = None):
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.base_url = base_url.rstrip("/")
        self.budget = budget or WeightBudget()
        self.max_in_flight = max_in_flight
        # as many connections as calls in flight, so a call never queues in httpx's pool (pool timeout: none)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=httpx.Timeout(timeout, pool=None),
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight))
        self._turns = asyncio.Semaphore(max_in_flight)
        self._paused_until = 0.0

    async def close(self) -> None:
        await self._http.aclose()

    def paused_for(self) -> float:
        """Seconds left of a pause that a 418/429 answer asked for (0 when none)."""
        return max(0.0, self._paused_until - time.monotonic())

    async def _paused(self) -> None:
        while (pause := self.paused_for()) > 0:
            await asyncio.sleep(pause)

    async def _get(self, path: str, **params):
        """One call: its turn (``max_in_flight``), the end of any 418/429 pause, its weight from the budget; then the
        answer's JSON, or ``BinanceAPIError``."""
        where = f"GET {self.base_url}{path} {params}"
        async with self._turns:
            await self._paused()
            await self.budget.spend(WEIGHTS.get(path, 1))
            await self._paused()  # a 418/429 may have come while waiting for the budget
            try:
                response = await self._http.get(path, params={k: v for k, v in params.items() if v is not None})
                self.budget.report(response.headers.get("X-MBX-USED-WEIGHT-1M"))
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
        """All listed symbols and their status (``{"BTCUSDT": "TRADING", ...}``) from exchangeInfo (whose
        ``rateLimits`` set the budget's limit, see ``WeightBudget.adopt``)."""
        info = await self._get("/api/v3/exchangeInfo")
        self.budget.adopt(info.get("rateLimits"))
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
