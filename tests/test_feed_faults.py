"""The fault matrix: the real hub (socket client, REST, backfill, graphs) behind a fault-injecting proxy in front of
the real replay server, all on 127.0.0.1. After each fault every closed candle of BTCUSDT and ETHUSDT, 1m and 5m,
is compared with the recording: none lost, none doubled, none wrong; no traceback; Binance's limits kept.

With ``THEBOT_FAULT_REPORT=<file>`` each case appends a row (fault, lost/doubled/wrong, recovery time, connection
attempts per 5 min, most control messages in a rolling second) to that file.
"""

import asyncio
import dataclasses
import logging
import os
import random
import time

import numpy as np
import orjson
import pytest

from recorded import HALT_RECORDING
from faultproxy import FaultProxy, max_per_rolling_second
from mutations import mutated
from thebot_panel.binance.client import Status
from thebot_panel.binance.events import MalformedMessage, parse_message
from thebot_panel.binance.streams import interval_ms
from thebot_panel import hub as hub_module
from thebot_panel.hub import FeedHub
from thebot_panel.market.candles import OHLCV, aggregate
from thebot_panel.replay import Recording, ReplayServer

RECORDING = Recording.bundled()
MARKETS = [(symbol, interval) for symbol in ("BTCUSDT", "ETHUSDT") for interval in ("1m", "5m")]
SPEED = 600  # one 1m candle every 0.1 s
SOCKET = {"backoff_initial": 0.1, "backoff_max": 3.0, "stable_after": 1.0, "watchdog_timeout": 3.0}


def recorded(symbol: str, interval: str) -> tuple[np.ndarray, dict]:
    candles = RECORDING[symbol]
    if interval == "1m":
        return candles.open_time, candles.ohlcv
    return aggregate(candles.open_time, candles.ohlcv, interval)


def compare(book) -> dict:
    """Lost, doubled and wrong closed candles of ``book`` against the recording, over the book's time span."""
    t, columns = recorded(book.symbol, book.interval)
    got = book.candles.open_time
    keep = (t >= got[0]) & (t <= got[-1])
    expected = t[keep]
    common, mine, theirs = np.intersect1d(got, expected, return_indices=True)
    wrong = len(np.setdiff1d(got, expected))  # a candle the exchange never sent
    for name in OHLCV:
        ours, recorded_ = book.candles.column(name)[mine], columns[name][keep][theirs]
        wrong += int(np.sum(~np.isclose(ours, recorded_, rtol=1e-12 if name != "volume" else 1e-9, atol=0)))
    return {"lost": len(np.setdiff1d(expected, got)), "doubled": len(got) - len(np.unique(got)), "wrong": wrong}


def forming_now(replay: ReplayServer, interval: str) -> int:
    """Open time of the candle of ``interval`` forming now on the replay's clock."""
    step = interval_ms(interval)
    return replay.now_ms() // step * step


def report(row: dict) -> None:
    path = os.environ.get("THEBOT_FAULT_REPORT")
    if path:
        with open(path, "a") as out:
            out.write(orjson.dumps(row).decode() + "\n")


@dataclasses.dataclass
class Feed:
    replay: ReplayServer
    proxy: FaultProxy
    hub: FeedHub

    async def connected(self) -> None:
        async with asyncio.timeout(30):
            while self.hub.socket.status is not Status.CONNECTED:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)  # the proxy links the connection once the handshake is done

    def books(self):
        return [self.hub.open(*key).book for key in MARKETS]

    def whole_and_current(self, since: dict) -> bool:
        return not self.hub.backfill.problems and all(
            book.gaps() == [] and (book.last_closed_open_time or 0) >= since[book.interval] for book in self.books())

    async def recover(self, name: str, timeout: float = 60.0) -> dict:
        """Wait until every market is warmed up, has no hole and holds the candle forming now, closed; then compare
        and report."""
        started = time.monotonic()
        since = {interval: forming_now(self.replay, interval) for interval in ("1m", "5m")}
        async with asyncio.timeout(timeout):
            while not self.whole_and_current(since):
                await asyncio.sleep(0.05)
        recovery = time.monotonic() - started
        outcome = {"lost": 0, "doubled": 0, "wrong": 0}
        for book in self.books():
            for key, n in compare(book).items():
                outcome[key] += n
        row = {"fault": name, **outcome, "recovery_s": round(recovery, 2),
               "attempts_per_5min": self.proxy.attempts_within(300),
               "max_control_per_s": max_per_rolling_second(self.proxy.client_messages),
               **{k: v for k, v in self.hub.stats().items() if k in ("gaps_seen", "gaps_filled", "exchange_gaps",
                                                                     "rest_retries", "malformed", "reconnects",
                                                                     "connection_attempts")}}
        report(row)
        assert outcome == {"lost": 0, "doubled": 0, "wrong": 0}, row
        assert self.hub.graph_errors == 0 and row["max_control_per_s"] <= 5, row
        async with asyncio.timeout(5):  # the status strip's error clears by itself once data flows again
            while self.hub.error:
                await asyncio.sleep(0.1)
        return row


@pytest.fixture
async def feed(request, caplog):
    """A running hub on the proxy; ``@pytest.mark.parametrize("feed", [{...}], indirect=True)`` passes
    ``socket`` options, ``rest_timeout``, and ``before`` (a callable given the proxy before the hub starts)."""
    options = getattr(request, "param", {})
    async with ReplayServer(RECORDING, speed=SPEED) as replay, \
            FaultProxy(replay.ws_url, replay.rest_url) as proxy:
        if "before" in options:
            options["before"](proxy)
        hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], warmup=100, replay_url=proxy.rest_url,
                      socket_options={**SOCKET, **options.get("socket", {})},
                      rest_timeout=options.get("rest_timeout", 1.0))
        for symbol, interval in MARKETS:
            hub.open(symbol, interval)
        await hub.start()
        feed = Feed(replay, proxy, hub)
        try:
            await feed.recover("start")
            yield feed
        finally:
            await hub.stop()
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.ERROR]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]


async def test_tcp_drop_five_times(feed):
    for _ in range(5):
        await feed.connected()
        await feed.proxy.drop()
    row = await feed.recover("TCP drop ×5")
    assert row["reconnects"] == 5


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1008, 1011])
async def test_close_codes(feed, code):
    await feed.proxy.close_all(code, "fault")
    await asyncio.sleep(0.5)
    row = await feed.recover(f"close {code}")
    assert row["reconnects"] == 1


async def test_stall_under_the_watchdog_is_filled_without_a_reconnect(feed, monkeypatch):
    monkeypatch.setattr(hub_module, "SILENT_AFTER_S", 1.0)
    feed.proxy.stall(2.0)  # 20 1m candles missed, the socket stays up (watchdog: 3 s)
    await asyncio.sleep(1.8)
    assert any(p.startswith("no btcusdt@kline_1m data for ") for p in feed.hub.problems())  # said in the UI
    await asyncio.sleep(0.7)
    row = await feed.recover("stall 2 s (< watchdog)")
    assert row["reconnects"] == 0 and row["gaps_filled"] >= 4


async def test_stall_over_the_watchdog_reconnects(feed):
    feed.proxy.stall(6.0)
    await asyncio.sleep(6.5)
    row = await feed.recover("stall 6 s (> watchdog)")
    assert row["reconnects"] >= 1


@pytest.mark.parametrize("feed", [{"before": lambda proxy: proxy.stall(2.0, every_connection=True)}], indirect=True)
async def test_stall_on_the_first_connection(feed):
    """The fixture's start already waited for the gap after the warm-up to be filled."""
    feed.proxy.stall(0, every_connection=True)
    row = await feed.recover("stall 2 s, first connection")
    assert row["gaps_filled"] >= 2 and row["reconnects"] == 0


async def test_stall_over_the_watchdog_on_every_connection(feed):
    feed.proxy.stall(4.0, every_connection=True)
    await feed.proxy.drop()
    await asyncio.sleep(12)
    feed.proxy.stall(0, every_connection=True)
    row = await feed.recover("stall 4 s, every connection")
    assert row["attempts_per_5min"] <= 8  # backoff kept: no connection was stable


async def test_server_shutdown(feed):
    await asyncio.sleep(1.5)  # the connection is stable
    await feed.proxy.inject(orjson.dumps({"e": "serverShutdown", "E": feed.replay.now_ms()}).decode())
    row = await feed.recover("serverShutdown")
    assert row["reconnects"] == 1


async def test_garbage_and_oversized_frames(feed):
    for frame in ("garbage", b"\x00\xff\xfe", "{}", '{"stream":"btcusdt@kline_1m","data":[]}', "[" * 10_000):
        await feed.proxy.inject(frame)
    await feed.proxy.inject("x" * (5 << 20))  # over the client's 4 MiB frame limit: the connection closes (1009)
    row = await feed.recover("garbage and oversized frames")
    assert row["malformed"] >= 5 and row["reconnects"] == 1


REST_FAULTS = [("500", None), ("429", 1.0), ("418", 1.0), ("hang", None), ("truncated", None)]


@pytest.mark.parametrize("feed", [{"before": lambda proxy, kind=kind, after=after: proxy.rest_fault(kind, 3, retry_after=after)}
                                  for kind, after in REST_FAULTS], indirect=True, ids=[k for k, _ in REST_FAULTS])
async def test_rest_fault_during_warm_up(feed, request):
    row = await feed.recover(f"REST {request.node.callspec.id} during warm-up")
    assert row["rest_retries"] >= 3 and all(len(book) >= 100 for book in feed.books())
    assert feed.hub.problems() == []


@pytest.mark.parametrize("kind, retry_after", REST_FAULTS, ids=[k for k, _ in REST_FAULTS])
async def test_rest_fault_during_backfill(feed, kind, retry_after):
    feed.proxy.rest_fault(kind, 3, retry_after=retry_after)
    feed.proxy.stall(1.0)  # ten 1m candles and two 5m candles lost before the drop
    await asyncio.sleep(1.0)
    await feed.proxy.drop()
    row = await feed.recover(f"REST {kind} during backfill")
    assert row["rest_retries"] >= 3 and feed.hub.problems() == []


@pytest.mark.parametrize("feed", [{"socket": {"queue_size": 20}}], indirect=True)
async def test_slow_consumer_with_a_small_queue(feed):
    slow = feed.hub.source_stream.sink(lambda event: time.sleep(0.02))
    await asyncio.sleep(3)
    slow.destroy()
    row = await feed.recover("slow consumer, queue of 20")
    assert feed.hub.socket.counters.dropped > 0, row


async def test_port_closed_for_a_minute(feed):
    await feed.proxy.refuse(60)
    await feed.proxy.drop()
    await asyncio.sleep(61)
    row = await feed.recover("port closed for 60 s", timeout=90)
    # refused attempts never reach the proxy: the socket counts them; the backoff (≤ 3 s here), not only the
    # budget (60), keeps them down
    assert 10 <= row["connection_attempts"] <= 40, row


@pytest.mark.parametrize("mode", ["close_on_connect", "shutdown_on_connect"])
async def test_a_server_that_closes_every_connection_is_not_hammered(feed, mode):
    setattr(feed.proxy, mode, True)
    await feed.proxy.drop()
    await asyncio.sleep(15)
    within = feed.proxy.attempts_within(15)
    last = np.diff(feed.proxy.connection_attempts[-4:])
    setattr(feed.proxy, mode, False)
    row = await feed.recover(f"{mode} for 15 s")
    assert within <= 12 and min(last) >= 1.4, (row, last)  # the backoff was kept, at its maximum (3 s, jittered)


async def test_twenty_concurrent_subscribes(feed):
    added = [(symbol, interval) for symbol in ("BTCUSDT", "ETHUSDT")
             for interval in ("3m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")]
    for key in added:
        feed.hub.open(*key)  # each subscribes at once, all concurrently
    await asyncio.sleep(3)
    row = await feed.recover("20 concurrent subscribes")
    subscribed = set(await feed.hub.socket.list_subscriptions())
    assert {f"{s.lower()}@kline_{i}" for s, i in added} <= subscribed
    assert all(len(feed.hub.open(*key).book) > 0 for key in added) and row["reconnects"] == 0


async def test_duplicate_old_and_late_klines_change_nothing(feed):
    book = feed.hub.open("BTCUSDT", "1m").book
    t = int(book.last_closed_open_time)
    for open_time, closed in ((t, True), (t - 600_000, True), (t, False), (t - 60_000, False)):
        kline = {"t": open_time, "T": open_time + 59_999, "s": "BTCUSDT", "i": "1m", "o": "1", "c": "1",
                 "h": "1", "l": "1", "v": "0", "x": closed}  # wrong values: accepted, they would show
        await feed.proxy.inject(orjson.dumps({"stream": "btcusdt@kline_1m", "data": {
            "e": "kline", "E": t + 60_000, "s": "BTCUSDT", "k": kline}}).decode())
    await asyncio.sleep(0.5)
    await feed.recover("duplicate, old and late klines")


async def test_a_trading_halt_is_recorded_as_an_exchange_gap_and_not_asked_for_again(halt_recording):
    halt = Recording.from_paths(HALT_RECORDING)
    missing = (1679661600000, 1679666400000)  # 2023-03-24 12:40 to 14:00 UTC: no kline exists
    async with ReplayServer(halt, start=missing[0] - 10 * 60_000, speed=SPEED) as replay, \
            FaultProxy(replay.ws_url, replay.rest_url) as proxy:
        hub = FeedHub(source="replay", symbols=["BTCUSDT"], warmup=100, replay_url=proxy.rest_url,
                      socket_options=SOCKET, rest_timeout=1.0)
        await hub.start()
        try:
            book = hub.open("BTCUSDT", "1m").book
            async with asyncio.timeout(30):
                while (book.last_closed_open_time or 0) < missing[1] + 30 * 60_000:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(1)
            assert book.gaps() == [missing] and hub.backfill.exchange_gaps[("BTCUSDT", "1m")] == [missing]
            asked = [r for r in proxy.rest_requests if r[1] == "/api/v3/klines" and f"startTime={missing[0]}" in r[2]]
            assert len(asked) == 1 and hub.stats()["exchange_gaps"] == 1 and hub.problems() == []
            t = book.candles.open_time
            expected = halt_recording.open_time.to_numpy()
            np.testing.assert_array_equal(t, expected[(expected >= t[0]) & (expected <= t[-1])])
        finally:
            await hub.stop()


async def test_five_thousand_mutated_frames_through_the_socket_change_no_candle(feed):
    """Mutations of the frames the feed is receiving, injected into its connection: the ones the parser refuses
    are each counted as malformed, and every book still equals the recording."""
    rng = random.Random(20251202)
    t = feed.hub.open("BTCUSDT", "1m").book.last_closed_open_time
    real = [orjson.dumps({"stream": f"{s.lower()}@kline_{i}", "data": {"e": "kline", "E": t + 30_000, "s": s, "k": {
        "t": t, "T": t + interval_ms(i) - 1, "s": s, "i": i, "o": "100.5", "c": "101.25", "h": "102", "l": "99.75",
        "v": "12.5", "x": closed}}}) for s in ("BTCUSDT", "ETHUSDT") for i in ("1m", "5m") for closed in (True, False)]
    frames = []
    while len(frames) < 5000:
        frame = mutated(rng, rng.choice(real))
        if isinstance(frame, str):  # sent as a binary frame: a text frame must be valid UTF-8 (else close 1007)
            frame = frame.encode("utf-8", "surrogateescape")
        try:
            parse_message(frame)
        except MalformedMessage:
            frames.append(frame)  # a mutation the parser accepts is a real kline with other numbers: not sent
    before = feed.hub.socket.counters.malformed
    for i in range(0, len(frames), 100):
        for frame in frames[i:i + 100]:
            await feed.proxy.inject(frame)
        await asyncio.sleep(0)
    async with asyncio.timeout(10):
        while feed.hub.socket.counters.malformed - before < len(frames):
            await asyncio.sleep(0.05)
    row = await feed.recover("5,000 mutated frames through the socket")
    assert row["malformed"] - before == len(frames) and row["reconnects"] == 0, row
