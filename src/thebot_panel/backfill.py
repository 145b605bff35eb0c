"""Backfill: one durable job per market that keeps its candle book whole over REST.

A job first loads the warm-up history, then fills every gap its book reports (``CandleBook.gaps()``:
between closed candles, and before the forming one), whatever made it: a disconnect, a stall shorter
than the watchdog, an event dropped on overflow. The book wakes the job when a kline reveals a new gap,
so a reconnect that missed nothing costs no REST call. A failed call (or any other failure of the job) is
retried, for as long as it takes, after an exponential backoff with jitter (``backoff_initial`` doubling to
``backoff_max`` s), or after the ``Retry-After`` of a 418/429 (during which ``RestClient`` pauses every call);
markets are independent, so one failing market never holds up another. A call that is refused for good
(e.g. an unknown symbol) is not retried until the market is woken again. All jobs start at once and share one
``RestClient``: its calls wait their turn (a bound on calls in flight) and Binance's request-weight budget there,
and waiting is not a failure, so hundreds of markets warming up together take turns instead of timing out.

A gap for which REST returns no closed kline, while it does return the kline after the gap, is an exchange
gap (e.g. the 2023-03-24 trading halt, 80 missing minutes): recorded in ``exchange_gaps`` and not asked for
again; when REST has nothing after the gap either, it may only lag behind the stream, and the job retries.
Klines that fill the tail (newer than the newest closed candle) go through the market's graph like live ones,
so signals and alerts see them; klines that fill an older gap are merged into the book and every branch
recomputes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from .binance.client import jittered_backoff
from .binance.rest import BinanceAPIError, RestClient

log = logging.getLogger(__name__)

#: Events (stream or backfill) emitted into the graph between two yields to the event loop: keeps the UI responsive.
YIELD_EVERY = 200


@dataclass
class BackfillCounters:
    """Holes seen and filled, exchange gaps recorded, REST calls retried, klines fetched (all markets)."""

    gaps_seen: int = 0
    gaps_filled: int = 0
    exchange_gaps: int = 0
    rest_retries: int = 0
    klines: int = 0


class Backfill:
    """Warm-up and gap filling for the markets it ``follow``s (see module docstring).

    ``rest``: the source's ``RestClient``; ``warmup``: closed candles loaded per market. ``problems`` maps a
    market (symbol, interval) to why its book is not whole right now, in words (empty when all are whole);
    ``exchange_gaps`` maps a market to its ``[(first_missing, next_present), ...]`` open times (ms) that the
    exchange has no klines for.
    """

    def __init__(self, rest: RestClient, warmup: int, backoff_initial: float = 0.5, backoff_max: float = 30.0):
        self.rest, self.warmup = rest, warmup
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.counters = BackfillCounters()
        self.problems: dict[tuple[str, str], str] = {}
        self.exchange_gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._wake: dict[tuple[str, str], asyncio.Event] = {}
        self._warmed: dict[tuple[str, str], asyncio.Event] = {}
        self._tasks: list[asyncio.Task] = []

    def follow(self, graph) -> None:
        """Start the job of ``graph`` (a ``MarketGraph``): warm-up now, then every gap its book reports."""
        key = (graph.symbol, graph.interval)
        self._wake[key], self._warmed[key] = asyncio.Event(), asyncio.Event()
        self.exchange_gaps[key] = []
        graph.book.on_gap = self._wake[key].set
        self._tasks.append(asyncio.get_running_loop().create_task(self._run(graph, key), name=f"backfill {key}"))

    async def warmed_up(self, key: tuple[str, str]) -> None:
        """Return once the market's warm-up has been tried (it is retried in the background if it failed)."""
        await self._warmed[key].wait()

    def look_for_gaps(self) -> None:
        """Wake every job to look for gaps (after a reconnect or a queue overflow)."""
        for wake in self._wake.values():
            wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, graph, key) -> None:
        failures, warmed, seen = 0, False, set()
        wake = self._wake[key]
        while True:
            wake.clear()
            try:
                if not warmed:
                    graph.load(await self.rest.klines(*key, limit=self.warmup + 1))  # + the forming one
                    warmed = True
                    log.info("warm-up %s %s: %d candles", *key, len(graph.book))
                gaps = [g for g in graph.book.gaps() if g not in self.exchange_gaps[key]]
                for gap in gaps:
                    if gap[0] not in seen:
                        seen.add(gap[0])
                        self.counters.gaps_seen += 1
                    await self._fill(graph, key, gap)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # REST failing, or anything else: the job goes on
                self._warmed[key].set()
                if isinstance(exc, BinanceAPIError) and not exc.transient:
                    self.problems[key] = f"{key[0]} {key[1]}: {exc}"
                    log.error("backfill %s", self.problems[key])
                    await wake.wait()
                    continue
                failures += 1
                self.counters.rest_retries += 1
                delay = jittered_backoff(failures, self.backoff_initial, self.backoff_max)
                delay = max(getattr(exc, "retry_after", None) or 0.0, delay)
                self.problems[key] = f"{key[0]} {key[1]} history incomplete: {exc}; retry {failures} in {delay:.1f} s"
                log.warning("backfill %s", self.problems[key], exc_info=not isinstance(exc, BinanceAPIError))
                await asyncio.sleep(delay)
                continue
            self._warmed[key].set()
            self.problems.pop(key, None)
            failures = 0
            if not gaps:
                await wake.wait()

    async def _fill(self, graph, key, gap: tuple[int, int]) -> None:
        start, end = gap
        book = graph.book
        rows = await self.rest.klines(*key, start=start, end=end, limit=100_000)  # through the kline after the gap
        klines = [k for k in rows if k.closed and start <= k.open_time < end]
        if not klines:
            if not any(k.open_time >= end for k in rows):
                raise BinanceAPIError(f"REST has no {key[0]} {key[1]} kline from {start} to {end} yet")
            self.exchange_gaps[key].append(gap)
            self.counters.exchange_gaps += 1
            log.warning("exchange gap %s %s: no klines from %d to %d", *key, start, end)
            return
        for i in range(0, len(klines), YIELD_EVERY):
            chunk = klines[i:i + YIELD_EVERY]
            if chunk[0].open_time <= book.last_closed_open_time:  # a gap in the middle (or one live candle came)
                graph.load(klines[i:])
                break
            for kline in chunk:  # the tail: through the market's graph, like live klines
                graph.klines.emit(kline)
            await asyncio.sleep(0)
        self.counters.klines += len(klines)
        if not any(start <= g[0] < end for g in book.gaps()):
            self.counters.gaps_filled += 1
        log.info("backfilled %s %s: %d klines from %d", *key, len(klines), start)
