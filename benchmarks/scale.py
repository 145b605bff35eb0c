"""Scale: the real app path with 50, 200 and 500 symbols, at Binance-like rates and over an accelerated 24 h.

One process holds what the app holds: a ``FeedHub(source="replay", replay_url=…)`` with one 1m market per symbol
(the default indicators and rules, alerts in a throw-away SQLite file, the metrics sink) and the hub's own
``MarketSocket``. The replay server runs in a child process of it (``/proc`` gives the hub's CPU alone). Every
(symbol count, phase) gets a fresh hub process and a fresh replay, so RSS starts clean.

**Symbols** ``SYM001USDT``, ``SYM002USDT``… play the 1m candles of recorded pairs in turn: BTCUSDT and ETHUSDT of
``Recording.bundled()`` (2025-07/08), then the 13 USDT pairs of 2023-04 in ``../shared/data`` (from 2023-04-02,
after the 2023-03-24 halt): SYM001 ← BTCUSDT 2025, SYM002 ← ETHUSDT 2025, SYM003 ← ADAUSDT 2023, … SYM016 ←
BTCUSDT 2025 again, 12 h further into the recording, and so on, so no two symbols play the same candles at once.
Their trades and bookTickers are the real BTCUSDT ``@trade``/``@bookTicker`` recording (2024-08-08/09, 650 s),
thinned to the rates below, each symbol starting at another point of it (and wrapping), with symbol, times and
ids rewritten and prices scaled to the pair's price. The replay lists every symbol in exchangeInfo, so the hub
validates them as it would on Binance.

**Rates per symbol** (messages/s): ``kline_1m`` 0.5 (Binance sends a kline update every 2 s), ``ticker`` 0.5 (the
hub's own quote stream; the replay sends one per kline update, Binance one a second), ``bookTicker`` 3 and
``trade`` 2 (Binance's majors send tens to hundreds a second, most small caps less than one: this is a mid-cap),
6 in all. The tick recording used has raw trades only (the replay serves ``aggTrade`` from a recording that
has them, e.g. one made with ``thebot-record``; aggregate ids cannot be made up from trades), so ``trade`` stands
in for it: the hub parses both alike (``Trade`` / ``AggTrade`` records, the same checks) and no
node consumes either. The hub subscribes ``kline_1m`` and ``ticker`` itself; ``trade`` and ``bookTicker`` are
added on its socket with ``hub.socket.subscribe`` (with an external replay ``Source.quote_streams`` has no
bookTicker). Tick times sit on a 100 ms grid: the replay schedules each distinct event time in O(streams), and
with free times it sends 270 of the 3,000 messages/s of 500 symbols.

**Phases**, per symbol count:

1. *steady*: the replay at ×1 with 30 kline updates per candle (Binance's cadence) and all four streams. After
   the warm-up and 5 s, a 60 s window gives the messages/s received, the CPU (cores = the hub process's CPU
   seconds / wall seconds) and the RSS at its end.
2. *24 h*: a fresh replay at ×288 (24 h of exchange time in 5 minutes; beyond 200 symbols ×60,000/symbols, e.g.
   ×120 in 12 minutes for 500, so that the hub keeps up), with ``kline_1m`` and ``ticker`` only (the tick
   recording lasts minutes) and one update and one close per candle (``updates_per_candle=1``: Binance's 2 s
   cadence at ×288 would be 72,000 messages/s for 500 symbols). RSS is read every exchange hour; the growth is
   the last reading minus the first. The hub keeps only the warm-up's candles here (``history=warmup``): every
   market's book is full from the start and drops its oldest candle as a new one closes, so any growth is a leak.
   (The steady phase keeps the app's default history, 5,000 candles per market; its report adds what the books
   would take once full.)

The warm-up is the app's: 1000 candles per market over REST, every market at once (``RestClient`` sends a few
calls at a time, within Binance's request weight). If that does not complete in 180 s, the output says so and the
phase is run again with the hub started on 100 markets and the others added 100 at a time with ``hub.open`` once
the previous ones are warm (``--batch``, which also measures that path on purpose).

    .venv/bin/python benchmarks/scale.py            # 50, 200, 500 symbols, both phases (about 40 minutes)
    .venv/bin/python benchmarks/scale.py --quick    # 200 symbols, warm-up 300, 5 s window, 1 h at ×240 (40-70 s)
    .venv/bin/python benchmarks/scale.py --symbols 50,100 --seconds 30 --day-minutes 2

The last line: ``scale: symbols=200 msgs_per_s=… cpu_cores=… rss_mb=… rss_growth_mb=…`` (the steady phase's
messages/s, cores and RSS; the RSS growth over the 24 h phase, or the 1 h of ``--quick``). The line before it
checks the goals: 200 symbols on at most 1 core and 400 MB, RSS flat (within 5 %) over 24 h.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from thebot_panel.binance.rest import RestClient
from thebot_panel.binance.streams import stream_name
from thebot_panel.hub import FeedHub
from thebot_panel.replay import MinuteCandles, Recording, ReplayServer
from thebot_panel.replay.recording import Ticks, TickStream

from procs import free_port

SHARED = Path(__file__).resolve().parents[2] / "shared/data"  # the recordings beside the repo (DESIGN.md §5); optional
TICK_FIXTURE = Path(__file__).parent.parent / "tests/fixtures/ticks/btcusdt_20240808_2354-2357.hftbacktest.gz"
MINUTE, HOUR = 60_000, 3_600_000
#: The replay clock when a run starts (any time: the symbols live on their own timeline).
START = pd.Timestamp("2026-01-05", tz="UTC").value // 1_000_000
#: The first 2023 candle used: after the 2023-03-24 halt, where every 2023 pair has data.
PAIRS_FROM = pd.Timestamp("2023-04-02", tz="UTC").value // 1_000_000
#: How much further into its recording each round of pairs starts (less if the recordings are too short).
ROUND_SHIFT = 12 * HOUR
GRID_MS = 100
#: Tick slots within each second (ms), shifted by a phase per symbol: 3 bookTickers and 2 trades per second.
SLOTS = {"bookTicker": (0, 300, 600), "trade": (0, 500)}
#: Messages per second per symbol, by stream kind (steady phase).
RATES = {"kline_1m": 0.5, "ticker": 0.5, "bookTicker": 3.0, "trade": 2.0}
#: Markets added at a time when the app's all-at-once warm-up fails.
BATCH = 100


@dataclass(frozen=True)
class Settings:
    warmup: int = 1000
    settle: float = 5.0          # s between the last subscription and the window
    seconds: float = 60.0        # steady window, s
    tick_seconds: int = 420      # ticks cover the warm-up, the settling and the window
    speed: float = 288.0         # 24 h phase
    hours: int = 24
    timeout: float = 1800.0      # per phase, s
    warm_limit: float = 180.0    # s for the warm-up of every market
    batch: int | None = None     # start with this many markets and add the others this many at a time
    short_ticks: bool = False    # the 3-minute tick fixture of the tests (loads in 0.3 s instead of 3 s)
    ticks: bool = True           # trade and bookTicker streams in the steady phase (screener.py serves none)


def symbols(n: int) -> list[str]:
    return [f"SYM{i:03d}USDT" for i in range(1, n + 1)]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def cpu_s() -> float:
    """User + system CPU seconds of this process, all threads."""
    t = os.times()
    return t.user + t.system


# ---- the synthetic market (server side) ------------------------------------------------------------------------

def recorded_pairs(data: Path | None) -> list[tuple[str, MinuteCandles]]:
    """(label, candles) of every recorded pair used, in the order symbols are given them."""
    bundled = Recording.bundled()
    pairs = [(f"{s} {bundled.dates[:7]}", bundled[s]) for s in bundled.symbols]
    files = sorted((data / "binance/klines/spot_ohlcv").glob("*USDT-1m-2023-0*.csv.gz")) if data else []
    for symbol, c in Recording.from_paths(files).items() if files else ():
        keep = c.open_time >= PAIRS_FROM
        pairs.append((f"{symbol} 2023-04", MinuteCandles(symbol, c.open_time[keep],
                                                         {k: v[keep] for k, v in c.ohlcv.items()})))
    return pairs


def mapping(n: int, pairs, before: int, after: int) -> list[tuple[str, str, MinuteCandles, int]]:
    """(symbol, pair label, pair candles, the pair's time shown at ``START``) per synthetic symbol: pairs in turn,
    each round ``ROUND_SHIFT`` further on (less when a recording is too short for ``n`` symbols)."""
    rounds = -(-n // len(pairs))
    out = []
    for i, name in enumerate(symbols(n)):
        label, c = pairs[i % len(pairs)]
        first = int(c.open_time[0]) + before
        room = int(c.open_time[-1]) - after - first
        if room < 0:
            raise ValueError(f"{label} is too short for {before // MINUTE} + {after // MINUTE} minutes")
        shift = min(ROUND_SHIFT, room // max(1, rounds - 1) // MINUTE * MINUTE)
        out.append((name, label, c, first + i // len(pairs) * shift))
    return out


def shifted(name: str, c: MinuteCandles, at: int, before: int, after: int) -> MinuteCandles:
    """``c``'s candles from ``at - before`` to ``at + after`` as ``name``'s, ``at`` moved to ``START``."""
    keep = (c.open_time >= at - before) & (c.open_time < at + after)
    return MinuteCandles(name, c.open_time[keep] - at + START, {k: v[keep] for k, v in c.ohlcv.items()})


def thinned(kind: str, source: TickStream, decoded: list[dict], i: int, name: str, seconds: int, scale: float,
            decimals: int) -> tuple[TickStream, np.ndarray, np.ndarray]:
    """``kind`` events of symbol ``i`` for ``seconds`` from ``START``, one per ``SLOTS[kind]`` slot (plus the
    symbol's phase), each the recorded event at the same point of the recording (which starts at another point for
    each symbol, and wraps): symbol, times and ids rewritten, prices times ``scale`` (``decimals`` places).
    Returns the stream and, for trades, their prices and quantities."""
    phase = i * GRID_MS % 1000
    offsets = np.sort((np.array(SLOTS[kind]) + phase) % 1000)
    times = (START + np.arange(seconds)[:, None] * 1000 + offsets).ravel()
    span = int(source.time[-1] - source.time[0])
    at = source.time[0] + (times - START + i * 7_919 * GRID_MS) % span
    picks = np.minimum(np.searchsorted(source.time, at), len(source) - 1)
    ids = 1_000_000 * (i + 1) + np.arange(len(times), dtype="int64")

    def price(text: str) -> str:
        return f"{round(float(text) * scale, decimals):.8f}"

    payloads, prices, quantities = [], [], []
    for t, k, id_ in zip(times.tolist(), picks.tolist(), ids.tolist()):
        e = dict(decoded[k])
        e["s"] = name
        if kind == "trade":
            e["E"] = e["T"] = t
            e["t"], e["p"] = id_, price(e["p"])
            prices.append(float(e["p"]))
            quantities.append(float(e["q"]))
        else:
            e["u"], e["b"], e["a"] = id_, price(e["b"]), price(e["a"])
        payloads.append(orjson.dumps(e))
    return TickStream(times, ids, payloads), np.array(prices), np.array(quantities)


def recorded_ticks(data: Path | None, short: bool) -> Ticks | None:
    """BTCUSDT's recorded trades and bookTickers: the 650 s of the shared data, or (``short``, or without it) the
    first 3 minutes of them kept as a test fixture; None if neither is there."""
    files = sorted((data / "binance/ws/spot_recorded").glob("btcusdt_*.hftbacktest.gz")) if data and not short else []
    files = files or ([TICK_FIXTURE] if TICK_FIXTURE.exists() else [])
    return Recording.from_paths(files).ticks["BTCUSDT"] if files else None


def synthetic(n: int, phase: str, s: Settings, data: Path | None) -> tuple[Recording, list[str]]:
    """The replayed market of ``n`` symbols for ``phase`` and the mapping, in words."""
    before = (s.warmup + 60) * MINUTE
    after = (s.hours + 3) * HOUR if phase == "day" else (s.tick_seconds * 1000 + 10 * MINUTE)
    plan = mapping(n, recorded_pairs(data), before, after)
    candles = [shifted(name, c, at, before, after) for name, _, c, at in plan]
    ticks = []
    source = recorded_ticks(data, s.short_ticks) if phase == "steady" and s.ticks else None
    if source is not None:
        decoded = {kind: [orjson.loads(p) for p in source.streams[kind].payload] for kind in SLOTS}
        level = float(np.median(source.price))
        for i, ((name, _, c, at), mine) in enumerate(zip(plan, candles)):
            scale = float(mine.ohlcv["close"][np.searchsorted(mine.open_time, START)]) / level
            streams, prices, quantities = {}, None, None
            for kind in SLOTS:
                streams[kind], p, q = thinned(kind, source.streams[kind], decoded[kind], i, name, s.tick_seconds,
                                              scale, c.price_decimals)
                if kind == "trade":
                    prices, quantities = p, q
            ticks.append(Ticks(name, streams, prices, quantities))
    words = [f"{name} <- {label} from {pd.Timestamp(at, unit='ms'):%Y-%m-%d %H:%M}" for name, label, _, at in plan]
    return Recording(candles, ticks), words


def serve(n: int, phase: str, s: Settings, data: Path | None, port: int, conn) -> None:
    """Child process: the replay of ``synthetic(n, phase)`` on ``port``; sends the mapping once listening, then
    obeys ``("speed", x)`` and ``("now", None)`` (replying with the replay clock) until ``("stop", None)`` or EOF."""
    recording, words = synthetic(n, phase, s, data)

    async def run():
        if phase == "steady":
            server = ReplayServer(recording, port=port, start=START, speed=1.0, updates_per_candle=30)
        else:  # ×10 while the hub warms up (a message at least every 6 s: the watchdog stays quiet)
            server = ReplayServer(recording, port=port, start=START, speed=10.0, updates_per_candle=1)
        async with server:
            conn.send((words, len(recording.ticks)))
            loop = asyncio.get_running_loop()
            while True:
                try:
                    command, value = await loop.run_in_executor(None, conn.recv)
                except EOFError:  # the hub process is gone
                    return
                if command == "stop":
                    return
                if command == "speed":
                    server.set_speed(value)
                conn.send(server.now_ms())
    asyncio.run(run())


# ---- the hub (measured process) ------------------------------------------------------------------------------

def history(hub) -> tuple[int, int, int]:
    """(closed candles in the books, bytes they and their indicator values take, bytes allocated for them: the
    arrays' capacity, read from ``Columns._open_time``), over every market of ``hub``."""
    candles = kept = allocated = 0
    for graph in hub.graphs.values():
        candles += len(graph.book)
        for columns in (graph.book.candles, *(c.history for c in graph.indicators.computations.values())):
            width = 8 * (1 + len(columns.names))  # float64 values and the int64 open time
            kept += len(columns) * width
            allocated += len(columns._open_time) * width
    return candles, kept, allocated


async def ask(server, command: str, value=None) -> int:
    server.send((command, value))
    return await asyncio.to_thread(server.recv)


async def drained(hub, limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    while hub.socket.queue.qsize() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


class WarmUpFailed(RuntimeError):
    """The markets' REST warm-up did not complete in time (the figures are in ``args[1]``)."""


async def warmed(hub, since: float, limit_s: float) -> None:
    """Return once no market's history is incomplete (the backfill retries failed warm-ups in the background);
    ``WarmUpFailed`` after ``limit_s`` s from ``since`` (``time.perf_counter()``)."""
    while hub.backfill.problems:
        if time.perf_counter() - since > limit_s:
            incomplete = len(hub.backfill.problems)
            raise WarmUpFailed(f"{incomplete} of {len(hub.graphs)} markets still without their history after "
                               f"{limit_s:.0f} s ({hub.stats()['rest_retries']:,} REST calls retried)",
                               {"incomplete": incomplete, "retries": hub.stats()["rest_retries"]})
        await asyncio.sleep(0.25)


async def exercise(n: int, phase: str, s: Settings, url: str, server) -> dict:
    """Build the hub (while the replay child builds its market), start it, run ``phase``; the figures.

    With ``s.batch``, the hub starts with the first ``batch`` symbols and the others are added ``batch`` at a time
    with ``hub.open`` once the previous ones are warm (``open`` subscribes their kline and ticker streams)."""
    names = symbols(n)
    first = names[:s.batch] if s.batch else names
    out: dict = {"rss_base": rss_mb()}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # the day phase keeps only the warm-up's candles: the books are full from the start, so growth is a leak
        keep = s.warmup if phase == "day" else FeedHub.history
        hub = FeedHub(source="replay", symbols=first, interval="1m", warmup=s.warmup, history=keep,
                      replay_url=url, db_path=f"{tmp}/alerts.sqlite", news_urls=[])
        out["build_s"], out["built"] = time.perf_counter() - wall, len(first)
        out.update(zip(("mapping", "ticked"), await asyncio.to_thread(server.recv)))  # the replay is listening
        rest = RestClient(url)
        t = time.perf_counter()
        await rest.validate_symbols(names)  # the hub's exchangeInfo check, timed on its own
        out["info_s"] = time.perf_counter() - t
        await rest.close()
        try:
            t, c = time.perf_counter(), cpu_s()
            await start(hub, names, first, s, t)
            out["start_s"], out["start_cpu"] = time.perf_counter() - t, cpu_s() - c
            out["rss_warm"] = rss_mb()
            out["streams_hub"] = len(hub.socket.streams)
            if phase == "steady":
                await steady(hub, names, s, out, server)
                candles, kept, _ = history(hub)
                row_bytes = kept / candles  # a candle and its indicator values
                out.update(history=hub.history, row_bytes=row_bytes,  # what the books add until they are full:
                           full_mb=(hub.history - hub.warmup) * row_bytes * len(hub.graphs) / 2**20)
            else:
                await day(hub, s, out, server)
            stats = hub.stats()
            out.update({k: stats[k] for k in ("dropped", "malformed", "reconnects", "rest_retries", "gaps_filled")})
            out["connections"] = len(hub.socket.connections)
            out["alerts"] = hub.services.alerts.counters["raised"]
            out["graph_errors"] = hub.graph_errors
        except WarmUpFailed as exc:
            out.update(error=exc.args[0], warmup_failed=True, start_s=time.perf_counter() - t,
                       start_cpu=cpu_s() - c, **exc.args[1])
        finally:
            try:
                await asyncio.wait_for(hub.stop(), 15)
            except TimeoutError:
                out["note"] = "hub.stop() took over 15 s"
    return out


async def start(hub, names: list[str], first: list[str], s: Settings, since: float) -> None:
    """``hub.start()`` and its warm-up; then, batched, the markets of ``names`` beyond ``first``."""
    await hub.start()
    if hub.status == "error":
        raise RuntimeError(f"the hub did not start: {hub.error}")
    await warmed(hub, since, s.warm_limit)
    for i in range(len(first), len(names), s.batch or len(names)):
        batch = names[i:i + s.batch]
        for name in batch:
            hub.open(name, "1m")  # created, subscribed (kline, ticker) and warmed up
        await asyncio.gather(*(hub.backfill.warmed_up((name, "1m")) for name in batch))
        await warmed(hub, since, s.warm_limit)


async def steady(hub, names, s: Settings, out: dict, server) -> None:
    t = time.perf_counter()
    await hub.socket.subscribe([stream_name(x, kind) for x in names for kind in ("trade", "bookTicker")])
    out["subscribe_s"] = time.perf_counter() - t
    out["connections_after"] = len(hub.socket.connections)
    await asyncio.sleep(s.settle)
    counters, queue = hub.socket.counters, hub.socket.queue
    received, wall, cpu, rss0 = counters.received, time.perf_counter(), cpu_s(), rss_mb()
    deepest = 0
    while (elapsed := time.perf_counter() - wall) < s.seconds:
        await asyncio.sleep(0.1)
        deepest = max(deepest, queue.qsize())
    out.update(wall=elapsed, messages=counters.received - received, cpu=cpu_s() - cpu, rss=rss_mb(),
               rss_window=rss_mb() - rss0, queue_max=deepest)
    out["replay_s"] = (await ask(server, "now") - START) / 1000


async def day(hub, s: Settings, out: dict, server) -> None:
    await asyncio.sleep(s.settle)
    await drained(hub)
    before, closed = history(hub), min(g.book.last_closed_open_time for g in hub.graphs.values())
    signals = sum(len(g.signals) for g in hub.graphs.values())
    counters, queue = hub.socket.counters, hub.socket.queue
    samples = [rss_mb()]
    received, cpu = counters.received, cpu_s()
    go = await ask(server, "speed", s.speed)
    wall = time.perf_counter()
    deepest = 0
    while len(samples) <= s.hours:  # one sample per exchange hour
        await asyncio.sleep(0.1)
        deepest = max(deepest, queue.qsize())
        if (time.perf_counter() - wall) * 1000 * s.speed >= len(samples) * HOUR:
            samples.append(rss_mb())
    await ask(server, "speed", 1.0)  # slow down, then let the hub take in what was sent
    await drained(hub)
    elapsed, cpu = time.perf_counter() - wall, cpu_s() - cpu
    late = await ask(server, "now")
    samples[-1] = rss_mb()
    _, kept, allocated = (b - a for a, b in zip(before, history(hub)))
    newest = min(g.book.last_closed_open_time for g in hub.graphs.values())
    out.update(wall=elapsed, messages=counters.received - received, cpu=cpu, rss=samples[-1], samples=samples,
               queue_max=deepest, exchange_h=(late - go) / HOUR, candles=(newest - closed) / MINUTE,
               kept_mb=kept / 2**20, allocated_mb=allocated / 2**20, lag_min=(late - newest) / MINUTE - 1,
               signals=sum(len(g.signals) for g in hub.graphs.values()) - signals)


def measure(n: int, phase: str, s: Settings, data: Path | None, conn) -> None:
    """Child process (measured): starts the replay child, runs the phase, sends the figures (or the error)."""
    port = free_port()  # for the replay, so the hub can be built while the replay child builds its market
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    server = context.Process(target=serve, args=(n, phase, s, data, port, theirs), daemon=True)
    server.start()
    try:
        result = asyncio.run(exercise(n, phase, s, f"http://127.0.0.1:{port}", mine))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()}
    finally:
        try:
            mine.send(("stop", None))
        except OSError:
            pass
        server.join(10)
        if server.is_alive():
            server.kill()
    conn.send(result)


def run(n: int, phase: str, s: Settings, data: Path | None) -> dict:
    """One phase in a fresh measured process; ``{"error": …}`` if it failed or took over ``s.timeout``."""
    context = multiprocessing.get_context("spawn")
    mine, theirs = context.Pipe()
    hub = context.Process(target=measure, args=(n, phase, s, data, theirs))
    hub.start()
    if not mine.poll(s.timeout):
        hub.kill()
        hub.join()
        return {"error": f"no result within {s.timeout:.0f} s"}
    result = mine.recv()
    hub.join()
    return result


# ---- report ------------------------------------------------------------------------------------------------------

def day_speed(n: int, day_minutes: float | None) -> float:
    """The 24 h phase's replay speed: 24 h in ``day_minutes``, else in 5 minutes (×288) up to 200 symbols and
    slower beyond (×60,000 / n: the hub then takes ~0.4 core, so other work on 2 cores cannot push it behind)."""
    return 1440 / day_minutes if day_minutes else min(288.0, 60_000 / n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 symbols, warm-up 300, a 5 s steady window, 1 h at ×240 (40-70 s)")
    parser.add_argument("--symbols", help="comma-separated symbol counts (default 50,200,500; 200 with --quick)")
    parser.add_argument("--seconds", type=float, help="steady window, s (default 60; 5 with --quick)")
    parser.add_argument("--hours", type=int, help="exchange hours of the accelerated phase (default 24; 1 --quick)")
    parser.add_argument("--day-minutes", type=float, help="wall minutes per 24 exchange hours (default 5, i.e. "
                                                          "×288, up to 200 symbols, ×60,000/symbols beyond; "
                                                          "--quick: ×240)")
    parser.add_argument("--warmup", type=int, help="closed candles per market over REST (default 1000, the app's; "
                                                   "300 with --quick)")
    parser.add_argument("--batch", type=int, help="start with this many markets, add the others this many at a "
                                                  "time once warm (default: all at once, as the app; if that "
                                                  f"warm-up fails, {BATCH})")
    parser.add_argument("--data", type=Path, default=SHARED if SHARED.exists() else None,
                        help=f"shared data folder (default {SHARED} if present; else the bundled pairs only)")
    args = parser.parse_args()
    counts = [int(x) for x in args.symbols.split(",")] if args.symbols else [200] if args.quick else [50, 200, 500]
    seconds = args.seconds or (5.0 if args.quick else 60.0)
    warmup = args.warmup or (300 if args.quick else 1000)
    hours = args.hours or (1 if args.quick else 24)
    minutes = args.day_minutes or (6.0 if args.quick else None)
    rate = sum(RATES.values())
    print(f"FeedHub (source=replay, 1m, warm-up {warmup}, default indicators + rules, alerts, metrics) in one "
          f"process; replay server in a child process; {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print("rates per symbol: " + ", ".join(f"{k} {v:g}/s" for k, v in RATES.items())
          + f" = {rate:g}/s (trade stands in for aggTrade)")

    results: dict[int, dict] = {}
    for n in counts:
        s = Settings(warmup=warmup, settle=2.0 if args.quick else 5.0, seconds=seconds, hours=hours,
                     speed=day_speed(n, minutes), tick_seconds=int(seconds + (60 if args.quick else 360)),
                     short_ticks=args.quick, batch=args.batch)
        steady_, s, failed = attempt(n, "steady", s, args.data)
        day_, s, failed_day = attempt(n, "day", s, args.data)
        results[n] = {"steady": steady_, "day": day_}
        if n == counts[0] and "mapping" in steady_:
            m = steady_["mapping"]
            print(f"mapping (recorded time shown at the replay's start): {m[0]}, {m[1]}, {m[2]}, … {m[-1]}"
                  f"{'' if steady_['ticked'] else ' (no tick recording found: no trade/bookTicker)'}")
        report(n, steady_, day_, rate, s, failed or failed_day)

    n = 200 if 200 in results else counts[-1]
    a, b = results[n]["steady"], results[n]["day"]
    if "error" in a or "error" in b:
        print(f"scale: symbols={n} failed: {a.get('error') or b.get('error')}")
        sys.exit(1)
    cores, rss, growth = a["cpu"] / a["wall"], a["rss"], b["samples"][-1] - b["samples"][0]
    flat = growth <= max(10.0, 0.05 * b["samples"][0])
    print(f"\ngoal ({n} symbols): ≤ 1 core: {'yes' if cores <= 1 else 'no'} ({cores:.2f}); ≤ 400 MB: "
          f"{'yes' if rss <= 400 else 'no'} ({rss:.0f} MB; about {rss + a['full_mb']:.0f} MB once every market's "
          f"{a['history']:,}-candle history is full); flat RSS (within 5 %): {'yes' if flat else 'no'} "
          f"({growth:+.0f} MB over {b['exchange_h']:.0f} exchange h; the history the hub keeps grew by "
          f"{b['kept_mb']:.0f} MB of rows, its arrays by {b['allocated_mb']:.0f} MB)")
    print(f"scale: symbols={n} msgs_per_s={a['messages'] / a['wall']:.0f} cpu_cores={cores:.2f} "
          f"rss_mb={rss:.0f} rss_growth_mb={growth:.0f}")


def attempt(n: int, phase: str, s: Settings, data: Path | None) -> tuple[dict, Settings, dict | None]:
    """``run``; if the app's all-at-once warm-up fails, again with markets added ``BATCH`` at a time. Returns the
    figures, the settings they were measured with, and the failed attempt's (None if none)."""
    result = run(n, phase, s, data)
    if result.get("warmup_failed") and not s.batch:
        batched = replace(s, batch=BATCH, warm_limit=600.0)
        return run(n, phase, batched, data), batched, result
    return result, s, None


def report(n: int, a: dict, b: dict, rate: float, s: Settings, failed: dict | None) -> None:
    print(f"\n{n} symbols")
    if failed is not None:
        print(f"  all markets at once (FeedHub(symbols=[{n} symbols]).start(), the app's path): the warm-up failed: "
              f"{failed['error']}; the hub's CPU {failed['start_cpu']:.0f} s in {failed['start_s']:.0f} s. "
              f"So below the hub starts with {s.batch} and adds {s.batch} at a time (hub.open) once warm.")
    if "error" in a:
        print(f"  steady: could not run: {a['error']}")
    else:
        wall = a["wall"]
        built = a["built"]
        print(f"  start: FeedHub() {a['build_s']:.1f} s for {built} markets ({a['build_s'] / built * 1000:.0f} ms per "
              f"market); exchangeInfo check {a['info_s'] * 1000:.0f} ms; start + warm-up {a['start_s']:.1f} s "
              f"({a['start_cpu']:.1f} s CPU, {a['start_cpu'] / n * 1000:.0f} ms per market); then {a['streams_hub']} "
              f"streams + {2 * n} (trade, bookTicker) subscribed in {a['subscribe_s']:.1f} s, "
              f"on {a['connections_after']} connection(s)")
        print(f"  RSS: {a['rss_base']:.0f} MB after imports, {a['rss_warm']:.0f} MB warmed up "
              f"({(a['rss_warm'] - a['rss_base']) / n:.2f} MB per market)")
        print(f"  steady, {wall:.0f} s at ×1: {a['messages'] / wall:,.0f} msg/s received (expected {n * rate:,.0f}), "
              f"CPU {a['cpu'] / wall:.2f} cores ({a['cpu'] / max(1, a['messages']) * 1e6:.0f} µs/msg), "
              f"RSS {a['rss']:.0f} MB ({a['rss_window']:+.1f} MB over the window), queue max {a['queue_max']}, "
              f"dropped {a['dropped']}, malformed {a['malformed']}, reconnects {a['reconnects']}")
        print(f"  with every market's history full ({a['history']:,} candles, {a['row_bytes']:.0f} bytes each with "
              f"its indicator values) the books would take {a['full_mb']:.0f} MB more: RSS about "
              f"{a['rss'] + a['full_mb']:.0f} MB")
        if a["replay_s"] > s.tick_seconds:
            print(f"  note: the ticks ended {a['replay_s'] - s.tick_seconds:.0f} s before the window did")
    if "error" in b:
        print(f"  {s.hours} h: could not run: {b['error']}")
        return
    wall, samples = b["wall"], b["samples"]
    marks = sorted({0, min(1, s.hours), s.hours // 4, s.hours // 2, 3 * s.hours // 4, s.hours})
    print(f"  {b['exchange_h']:.1f} exchange h at ×{s.speed:g} in {wall:.0f} s (kline_1m + ticker, 1 update + close "
          f"per candle): {b['messages'] / wall:,.0f} msg/s, CPU {b['cpu'] / wall:.2f} cores "
          f"({b['cpu'] / max(1, b['messages']) * 1e6:.0f} µs/msg), queue max {b['queue_max']}, dropped "
          f"{b['dropped']}, {b['candles']:.0f} closed candles per market, {b['lag_min']:.1f} min behind at the end, "
          f"{b['alerts']} alerts, {b['signals']:+} signals kept")
    print("  RSS by exchange hour: " + ", ".join(f"{h} h {samples[h]:.0f}" for h in marks)
          + f" MB: growth {samples[-1] - samples[0]:+.0f} MB; the candle + indicator history the hub keeps grew by "
            f"{b['kept_mb']:.1f} MB of rows (its arrays by {b['allocated_mb']:.0f} MB, resident as written)")
    if b["dropped"]:
        print(f"  note: the hub fell behind (queue full, {b['dropped']} events dropped, then backfilled over REST)")


if __name__ == "__main__":
    main()
