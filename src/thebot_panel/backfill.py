"""Backfill: one durable job per market that keeps its candle book whole over REST.

A job first loads the warm-up history, then fills every hole its book reports (``CandleBook.holes()``:
between closed candles, and before the forming one), whatever made it: a disconnect, a stall shorter
than the watchdog, an event dropped on overflow. The book wakes the job when a kline reveals a new hole,
so a reconnect that missed nothing costs no REST call. A failed call is retried, for as long as it takes,
after an exponential backoff with jitter (``backoff_initial`` doubling to ``backoff_max`` s), or after the
``Retry-After`` of a 418/429 (during which ``RestClient`` pauses every call); markets are independent, so
one failing market never holds up another. A call that is refused for good (e.g. an unknown symbol) is
not retried until the market is woken again.

A hole for which REST returns no closed kline is an exchange gap (e.g. the 2023-03-24 trading halt, 80
missing minutes): recorded in ``exchange_gaps`` and not asked for again. Klines that fill the tail (newer
than the newest closed candle) go through the stream graph like live ones, so signals and alerts see them;
klines that fill an older hole are merged into the book and every branch recomputes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

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
    """Warm-up and hole filling for the markets it ``follow``s (see module docstring).

    ``rest``: the source's ``RestClient``; ``source``: the streamz node live klines are emitted into;
    ``warmup``: closed candles loaded per market. ``problems`` maps a market (symbol, interval) to why its
    book is not whole right now, in words (empty when all are whole); ``exchange_gaps`` maps a market to its
    ``[(first_missing, next_present), ...]`` open times (ms) that the exchange has no klines for.
    """

    def __init__(self, rest: RestClient, source, warmup: int, backoff_initial: float = 0.5,
                 backoff_max: float = 30.0):
        self.rest, self.source, self.warmup = rest, source, warmup
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.counters = BackfillCounters()
        self.problems: dict[tuple[str, str], str] = {}
        self.exchange_gaps: dict[tuple[str, str], list[tuple[int, int]]] = {}
        self._wake: dict[tuple[str, str], asyncio.Event] = {}
        self._warmed: dict[tuple[str, str], asyncio.Event] = {}
        self._tasks: list[asyncio.Task] = []

    def follow(self, graph) -> None:
        """Start the job of ``graph`` (a ``MarketGraph``): warm-up now, then every hole its book reports."""
        key = (graph.symbol, graph.interval)
        self._wake[key], self._warmed[key] = asyncio.Event(), asyncio.Event()
        self.exchange_gaps[key] = []
        graph.book.on_hole = self._wake[key].set
        self._tasks.append(asyncio.get_running_loop().create_task(self._run(graph, key), name=f"backfill {key}"))

    async def warmed_up(self, key: tuple[str, str]) -> None:
        """Return once the market's warm-up has been tried (it is retried in the background if it failed)."""
        await self._warmed[key].wait()

    def check(self) -> None:
        """Wake every job to look for holes (after a reconnect or a queue overflow)."""
        for wake in self._wake.values():
            wake.set()

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

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
                holes = [h for h in graph.book.holes() if h not in self.exchange_gaps[key]]
                for hole in holes:
                    if hole[0] not in seen:
                        seen.add(hole[0])
                        self.counters.gaps_seen += 1
                    await self._fill(graph, key, hole)
            except BinanceAPIError as exc:
                self._warmed[key].set()
                if not exc.transient:
                    self.problems[key] = f"{key[0]} {key[1]}: {exc}"
                    log.error("backfill %s", self.problems[key])
                    await wake.wait()
                    continue
                failures += 1
                self.counters.rest_retries += 1
                delay = min(self.backoff_max, self.backoff_initial * 2 ** (failures - 1))
                delay = max(exc.retry_after or 0.0, delay / 2 + random.uniform(0, delay / 2))
                self.problems[key] = f"{key[0]} {key[1]} history incomplete: {exc}; retry {failures} in {delay:.1f} s"
                log.warning("backfill %s", self.problems[key])
                await asyncio.sleep(delay)
                continue
            self._warmed[key].set()
            self.problems.pop(key, None)
            failures = 0
            if not holes:
                await wake.wait()

    async def _fill(self, graph, key, hole: tuple[int, int]) -> None:
        start, end = hole
        klines = [k for k in await self.rest.klines(*key, start=start, end=end - graph.book.step, limit=100_000)
                  if k.closed]
        if not klines:
            self.exchange_gaps[key].append(hole)
            self.counters.exchange_gaps += 1
            log.warning("exchange gap %s %s: no klines from %d to %d", *key, start, end)
            return
        if klines[0].open_time > graph.book.last_closed_open_time:  # the tail: through the graph, like live klines
            for i, kline in enumerate(klines, 1):
                self.source.emit(kline)
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        else:
            graph.load(klines)
        self.counters.klines += len(klines)
        if not any(start <= h[0] < end for h in graph.book.holes()):
            self.counters.gaps_filled += 1
        log.info("backfilled %s %s: %d klines from %d", *key, len(klines), start)
