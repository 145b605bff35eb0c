"""The real socket client against the real replay server (and tiny real servers) on 127.0.0.1."""

import asyncio
import contextlib
import time

import numpy as np
import orjson
import pytest
from websockets.asyncio.server import serve

from thebot_panel.binance import client
from thebot_panel.binance.client import BinanceError, ConnectionBudget, Connected, MarketSocket, Status
from thebot_panel.binance.events import Kline
from thebot_panel.binance.rest import BinanceAPIError, RestClient
from thebot_panel.replay import MinuteCandles, Recording, ReplayServer


@pytest.fixture
async def replay():
    async with ReplayServer(Recording.bundled(), speed=600) as server:
        yield server


@contextlib.asynccontextmanager
async def running(socket: MarketSocket):
    """``socket`` started, and stopped on the way out."""
    socket.start()
    try:
        yield socket
    finally:
        await socket.stop()


@contextlib.asynccontextmanager
async def sending(frames):
    """A WebSocket server on 127.0.0.1 that sends ``frames`` to each client, then waits; yields its URL."""
    async def handler(ws):
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def next_klines(socket: MarketSocket, n: int, timeout: float = 10.0) -> list[Kline]:
    found = []
    async with asyncio.timeout(timeout):
        while len(found) < n:
            item = await socket.get()
            if type(item) is Kline:
                found.append(item)
    return found


async def test_subscribe_receive_and_unsubscribe(replay):
    async with running(MarketSocket(replay.ws_url, ["btcusdt@kline_1m"])) as socket:
        assert type(await socket.get()) is Connected
        assert {k.symbol for k in await next_klines(socket, 5)} == {"BTCUSDT"}
        await socket.subscribe(["ethusdt@kline_1m"])
        assert sorted(await socket.list_subscriptions()) == ["btcusdt@kline_1m", "ethusdt@kline_1m"]
        assert {k.symbol for k in await next_klines(socket, 40)} == {"BTCUSDT", "ETHUSDT"}
        await socket.unsubscribe(["btcusdt@kline_1m"])
        while not socket.queue.empty():
            socket.queue.get_nowait()
        assert {k.symbol for k in await next_klines(socket, 20)} == {"ETHUSDT"}
        assert await socket.list_subscriptions() == ["ethusdt@kline_1m"]
        with pytest.raises(BinanceError, match="refused"):
            await socket.subscribe(["foobarusdt@kline_1m"])
        assert socket.streams == ["ethusdt@kline_1m"]
        assert socket.status is Status.CONNECTED and socket.counters.reconnects == 0


async def test_control_messages_stay_under_binance_limit(replay):
    """The replay server, like Binance, disconnects a client that sends more than 5 messages a second."""
    async with running(MarketSocket(replay.ws_url)) as socket:
        await socket.get()
        started = time.monotonic()
        for _ in range(6):
            await socket.subscribe(["btcusdt@kline_1m", "ethusdt@kline_5m"])
            await socket.unsubscribe(["btcusdt@kline_1m", "ethusdt@kline_5m"])
        assert time.monotonic() - started >= 2.0  # 12 control frames at ≤ 4 per rolling second
        names = [f"{s}@kline_{i}" for s in ("btcusdt", "ethusdt") for i in ("1m", "3m", "5m", "15m", "30m")]
        for _ in range(2):  # concurrent calls: one sender paces them, concurrent SUBSCRIBEs go out as one frame
            await asyncio.gather(*(socket.subscribe([name]) for name in names),
                                 *(socket.list_subscriptions() for _ in range(8)))
            assert sorted(await socket.list_subscriptions()) == sorted(names)
            await asyncio.gather(*(socket.unsubscribe([name]) for name in names))
        assert socket.counters.reconnects == 0 and replay.connections_opened == 1


async def test_drop_reconnects_with_backoff_and_marks_resync(replay):
    async with running(MarketSocket(replay.ws_url, ["btcusdt@kline_1m"], backoff_initial=0.2)) as socket:
        first = await socket.get()
        assert type(first) is Connected and first.resync is False
        await next_klines(socket, 3)
        await replay.drop_connections()
        async with asyncio.timeout(10):
            while (item := await socket.get()) is not None and type(item) is not Connected:
                pass
        assert item.resync is True and socket.counters.reconnects == 1 and replay.connections_opened == 2
        assert socket.status is Status.CONNECTED
        await next_klines(socket, 3)


async def test_server_shutdown_reconnects_a_stable_connection_after_a_short_jittered_delay(replay):
    async with running(MarketSocket(replay.ws_url, ["btcusdt@kline_1m"], backoff_initial=30,
                                    stable_after=0.5)) as socket:
        await next_klines(socket, 2)
        await asyncio.sleep(0.6)  # data for longer than stable_after: the backoff is not used
        started = time.monotonic()
        await replay.send_server_shutdown()
        async with asyncio.timeout(5):
            while type(await socket.get()) is not Connected:
                pass
        assert 0.5 <= time.monotonic() - started < 2 and socket.counters.reconnects == 1


async def test_watchdog_reconnects_a_silent_connection(replay, caplog):
    async with running(MarketSocket(replay.ws_url, [], watchdog_timeout=0.3, backoff_initial=0.05)) as socket:
        async with asyncio.timeout(5):
            while socket.counters.reconnects < 2:
                await asyncio.sleep(0.05)
        assert replay.connections_opened >= 2
        messages = [r.getMessage() for r in caplog.records]
        assert any(m.startswith("watchdog: no message for") for m in messages)
        assert not any("server closed the connection" in m for m in messages)  # our close, not the server's


async def test_malformed_and_unknown_messages_are_counted_and_skipped():
    kline = {"e": "kline", "E": 2, "s": "BTCUSDT", "k": {"t": 0, "T": 59999, "s": "BTCUSDT", "i": "1m", "o": "1",
                                                         "c": "2", "h": "2", "l": "1", "v": "3", "x": True}}
    frames = ['{"result":null,"id":[1]}', "not json", '{"stream":"btcusdt@depth","data":{"e":"depthUpdate"}}', "[]",
              orjson.dumps({"stream": "btcusdt@kline_1m", "data": kline}).decode(), '{"e":"kline"}']

    async with sending(frames) as url, running(MarketSocket(url, ["btcusdt@kline_1m"])) as socket:
        [received] = await next_klines(socket, 1)
        async with asyncio.timeout(5):
            while socket.counters.received < len(frames):
                await asyncio.sleep(0.01)
        assert received.close == 2.0 and received.closed
        assert socket.counters.malformed == 5 and socket.counters.parsed == 1
        assert socket.status is Status.CONNECTED


async def test_queue_overflow_drops_newest_then_asks_for_a_resync(replay):
    async with running(MarketSocket(replay.ws_url, ["btcusdt@kline_1m", "ethusdt@kline_1m"], queue_size=5)) as socket:
        async with asyncio.timeout(10):
            while socket.counters.dropped == 0:
                await asyncio.sleep(0.05)
        items = [socket.queue.get_nowait() for _ in range(socket.queue.qsize())]
        assert len(items) == 5 and items[0] == Connected(resync=False, at=items[0].at)
        resync = await asyncio.wait_for(socket.get(), 5)
        assert type(resync) is Connected and resync.resync is True


async def test_unreachable_endpoint_gives_up_after_max_attempts_with_the_reason():
    statuses = []
    socket = MarketSocket("ws://127.0.0.1:9", backoff_initial=0.05, max_attempts=3, on_status=statuses.append)
    socket.start()
    async with asyncio.timeout(10):
        while socket.status is not Status.ERROR:
            await asyncio.sleep(0.02)
    assert "ConnectionRefusedError" in socket.error and "127.0.0.1" in socket.error
    assert statuses == [Status.CONNECTING, Status.ERROR]
    assert socket.counters.reconnects == 0  # never connected, so nothing to re-connect
    await socket.stop()


async def test_rest_klines_are_closed_except_the_forming_newest(replay):
    rest = RestClient(replay.rest_url)
    try:
        klines = await rest.klines("BTCUSDT", "1m", limit=2500)   # three pages
        assert len(klines) == 2500
        assert all(k.closed for k in klines[:-1]) and not klines[-1].closed
        times = [k.open_time for k in klines]
        assert times == sorted(times) and all(b - a == 60_000 for a, b in zip(times, times[1:]))
        recorded = replay.recording["BTCUSDT"]
        i = int(np.searchsorted(recorded.open_time, times[0]))
        assert [k.close for k in klines[:-1]] == recorded.ohlcv["close"][i:i + 2499].tolist()
        with pytest.raises(BinanceAPIError, match="Invalid symbol"):
            await rest.klines("FOOBAR", "1m")
        with pytest.raises(ValueError, match="unknown symbol FOOBAR"):
            await rest.validate_symbols(["btcusdt", "foobar"])
    finally:
        await rest.close()


async def test_events_far_from_the_exchange_clock_are_malformed():
    def kline(open_time, event_time):
        return orjson.dumps({"stream": "btcusdt@kline_1m", "data": {
            "e": "kline", "E": event_time, "s": "BTCUSDT", "k": {"t": open_time, "T": open_time + 59_999,
            "s": "BTCUSDT", "i": "1m", "o": "1", "c": "2", "h": "2", "l": "1", "v": "3", "x": True}}}).decode()

    now = 1_753_660_860_000
    frames = [kline(4_102_444_800_000, 4_102_444_860_000),  # 2100: would make the book refuse every real candle
              kline(now - 86_400_000, now - 86_400_000 + 60_000),  # a day old
              kline(now - 60_000, now)]

    async with sending(frames) as url, \
            running(MarketSocket(url, ["btcusdt@kline_1m"], clock=lambda: now + 5)) as socket:
        [received] = await next_klines(socket, 1)
        assert received.open_time == now - 60_000 and socket.counters.malformed == 2


async def test_a_server_that_accepts_then_closes_gets_a_growing_backoff_within_the_connection_budget():
    async def handler(ws):
        await ws.close(1011, "going away at once")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with running(MarketSocket(f"ws://127.0.0.1:{port}", ["btcusdt@kline_1m"], backoff_initial=0.05,
                                        backoff_max=0.4, budget=ConnectionBudget(limit=8, window_s=300))) as socket:
            await asyncio.sleep(3)
            attempts = list(socket.budget.attempts)
            assert len(attempts) == 8 and socket.budget.wait_s() > 290  # the budget holds the 9th
            gaps = np.diff(attempts)
            assert gaps[-1] > 0.19 and gaps[-1] > 2 * gaps[0]  # the backoff grew: no connection was stable
            assert "connection budget used: 8 attempts in 300 s" in socket.error
            assert socket.status is Status.RECONNECTING


async def test_more_streams_than_one_connection_carries_open_more_connections(replay, monkeypatch):
    monkeypatch.setattr(client, "MAX_STREAMS", 4)  # Binance: 1024; the replay knows only a few dozen stream names
    names = [f"{s}@kline_{i}" for s in ("btcusdt", "ethusdt") for i in ("1m", "3m", "5m", "15m", "30m")]
    async with running(MarketSocket(replay.ws_url, names[:6])) as socket:
        await socket.subscribe(names[6:])
        assert [len(c.streams) for c in socket.connections] == [4, 4, 2]
        async with asyncio.timeout(10):
            while socket.status is not Status.CONNECTED:
                await asyncio.sleep(0.02)
        assert sorted(await socket.list_subscriptions()) == sorted(names) and replay.connections_opened == 3
        seen = {(k.symbol, k.interval) for k in await next_klines(socket, 200)}
        assert seen == {(s.upper(), i) for s in ("btcusdt", "ethusdt") for i in ("1m", "3m", "5m", "15m", "30m")}
        await socket.unsubscribe(names[8:])
        assert [len(c.streams) for c in socket.connections] == [4, 4]  # the emptied connection is closed


async def test_a_subscribe_cut_off_by_a_disconnect_is_applied_by_the_next_connection(replay):
    async with running(MarketSocket(replay.ws_url, ["btcusdt@kline_1m"], backoff_initial=0.1)) as socket:
        await next_klines(socket, 1)
        await asyncio.gather(socket.subscribe(["ethusdt@kline_5m"]), replay.drop_connections())  # no CancelledError
        async with asyncio.timeout(10):
            while socket.counters.reconnects < 1 or socket.status is not Status.CONNECTED:
                await asyncio.sleep(0.02)
        assert sorted(await socket.list_subscriptions()) == ["btcusdt@kline_1m", "ethusdt@kline_5m"]
        assert "ETHUSDT" in {k.symbol for k in await next_klines(socket, 50)}


def many_symbols(n: int, days: int = 2) -> Recording:
    """``n`` symbols SYM001USDT… playing the first ``days`` of the bundled BTCUSDT 1m candles."""
    btc = Recording.bundled()["BTCUSDT"]
    keep = slice(0, days * 1_440)
    return Recording(MinuteCandles(f"SYM{i:03d}USDT", btc.open_time[keep], {k: v[keep] for k, v in btc.ohlcv.items()})
                     for i in range(1, n + 1))


async def test_many_streams_spread_over_connections_whose_urls_stay_under_the_bound():
    """600 streams (11 KB of names) are over the request line the replay's websockets accepts (8 KB: HTTP 414)."""
    names = [f"sym{i:03d}usdt@{kind}" for i in range(1, 301) for kind in ("kline_1m", "ticker")]
    async with ReplayServer(many_symbols(300), speed=60, updates_per_candle=1) as replay, \
            running(MarketSocket(replay.ws_url, names[:300])) as socket:
        await socket.subscribe(names[300:])  # beyond the first connections' room: new connections
        async with asyncio.timeout(15):
            while socket.status is not Status.CONNECTED or any(c.last_message_at is None for c in socket.connections):
                await asyncio.sleep(0.05)
            symbols = {k.symbol for k in await next_klines(socket, 2_000)}
        assert len("/".join(names)) > 8_192 and len(socket.connections) == 3 == replay.connections_opened
        assert sorted(socket.streams) == sorted(names) and sorted(await socket.list_subscriptions()) == sorted(names)
        base = len(f"{replay.ws_url}/stream?streams=")
        assert all(len(c.url()) - base <= client.MAX_URL_STREAMS_CHARS for c in socket.connections)
        assert symbols == {f"SYM{i:03d}USDT" for i in range(1, 301)} and socket.counters.reconnects == 0
