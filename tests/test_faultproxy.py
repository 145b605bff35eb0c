"""The fault proxy really injects its faults, between the real clients and the real replay server on 127.0.0.1."""

import asyncio
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from faultproxy import FaultProxy, max_per_rolling_second
from thebot_panel.binance.client import Connected, MarketSocket
from thebot_panel.binance.events import Kline, ServerShutdown, parse_message
from thebot_panel.binance.rest import BinanceAPIError, RestClient
from thebot_panel.replay import Recording, ReplayServer

KLINES = "/ws/btcusdt@kline_1m"  # at ×600: one 1m candle per 0.1 s, two messages each
KLINES_QUERY = "/api/v3/klines?symbol=BTCUSDT&interval=1m&limit=3"


@pytest.fixture
async def replay():
    async with ReplayServer(Recording.bundled(), speed=600) as server:
        yield server


@pytest.fixture
async def proxy(replay):
    async with FaultProxy(replay.ws_url, replay.rest_url) as proxy:
        yield proxy


async def wait_until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def next_connected(socket: MarketSocket, timeout: float = 5.0) -> Connected:
    async with asyncio.timeout(timeout):
        while type(item := await socket.get()) is not Connected:
            pass
    return item


async def until_closed(ws) -> None:
    """Read ``ws`` (whatever was still buffered) until it is closed."""
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(5):
            while True:
                await ws.recv()


async def klines_within(ws, seconds: float) -> list[Kline]:
    """The klines ``ws`` receives in the next ``seconds``."""
    klines = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            async for raw in ws:
                klines.append(parse_message(raw))
    return klines


async def test_streams_control_messages_and_rest_pass_through(replay, proxy):
    socket = MarketSocket(proxy.ws_url, ["btcusdt@kline_1m"])
    rest = RestClient(proxy.rest_url)
    socket.start()
    try:
        assert type(await socket.get()) is Connected
        for stream in ("ethusdt@kline_1m", "ethusdt@kline_5m", "btcusdt@ticker"):
            await socket.subscribe([stream])
        assert len(await socket.list_subscriptions()) == 4
        assert len(proxy.client_messages) == 4 and max_per_rolling_second(proxy.client_messages) <= 4
        assert len(await rest.klines("BTCUSDT", "1m", limit=1500)) == 1500  # server time, then two pages
        assert [(path, status) for _, path, _, status in proxy.rest_requests] == [
            ("/api/v3/time", 200), ("/api/v3/klines", 200), ("/api/v3/klines", 200)]
        with pytest.raises(BinanceAPIError, match="Invalid symbol"):
            await rest.klines("FOOBAR", "1m")
        _, path, query, status = proxy.rest_requests[-1]
        assert (path, status) == ("/api/v3/klines", 400) and query.startswith("symbol=FOOBAR&interval=1m&")
        with pytest.raises(InvalidStatus, match="400"):  # the replay's refusal of an unknown stream, passed on
            await connect(f"{proxy.ws_url}/ws/foobarusdt@kline_1m")
        assert len(proxy.connection_attempts) == 2 and replay.connections_opened == 1
    finally:
        await socket.stop()
        await rest.close()


def test_max_per_rolling_second_counts_the_busiest_one_second_window():
    assert max_per_rolling_second([]) == 0
    assert max_per_rolling_second([3.0, 0.0, 0.5, 0.99, 1.0, 1.2, 1.4]) == 5  # 0.5 0.99 1.0 1.2 1.4
    assert max_per_rolling_second([0.0, 1.0, 2.0]) == 1


async def test_drop_aborts_the_client_the_upstream_follows_and_the_socket_reconnects(replay, proxy):
    socket = MarketSocket(proxy.ws_url, ["btcusdt@kline_1m"], backoff_initial=0.1)
    socket.start()
    try:
        await next_connected(socket)
        async with connect(proxy.ws_url + KLINES) as ws:
            await ws.recv()
            await proxy.drop()
            await until_closed(ws)
            assert ws.close_code == 1006 and ws.protocol.close_rcvd is None  # no close frame: a network drop
        assert (await next_connected(socket)).resync is True
        assert len(proxy.connection_attempts) == 3 and proxy.attempts_within(1.0) >= 1
        await wait_until(lambda: replay.connections_open == 1)
    finally:
        await socket.stop()


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 1006])
async def test_close_all_closes_with_the_code(proxy, code):
    async with connect(proxy.ws_url + KLINES) as ws:
        await ws.recv()
        await proxy.close_all(code, "test")
        await until_closed(ws)
        assert ws.close_code == code
        assert ws.close_reason == "test" if code != 1006 else ws.protocol.close_rcvd is None


async def test_stall_discards_server_messages_for_its_duration(proxy):
    async with connect(proxy.ws_url + KLINES) as ws:
        before = parse_message(await ws.recv())
        proxy.stall(1.0)
        started = time.monotonic()
        in_flight = await klines_within(ws, 0.1)  # sent before the stall
        assert await klines_within(ws, 0.75) == []
        after = parse_message(await asyncio.wait_for(ws.recv(), 1.0))
        assert 0.9 < time.monotonic() - started < 1.5
        # nothing was buffered: at ×600 the second of silence skipped ~10 candles
        assert after.open_time - max(k.open_time for k in [before, *in_flight]) >= 5 * 60_000
    proxy.stall(0.8, every_connection=True)
    async with connect(proxy.ws_url + KLINES) as ws:
        assert await klines_within(ws, 0.6) == []
        await asyncio.wait_for(ws.recv(), 1.0)
    proxy.stall(0, every_connection=True)
    async with connect(proxy.ws_url + KLINES) as ws:
        await asyncio.wait_for(ws.recv(), 0.5)


async def test_injected_frames_reach_the_client(proxy):
    socket = MarketSocket(proxy.ws_url, ["btcusdt@kline_1m"], backoff_initial=0.1, backoff_max=0.2)
    socket.start()
    try:
        await next_connected(socket)
        await proxy.inject("not json")
        await proxy.inject(b"\xff\x00")
        await wait_until(lambda: socket.counters.malformed == 2)
        await proxy.inject('{"e":"serverShutdown","E":1}')
        assert (await next_connected(socket)).resync is True and len(proxy.connection_attempts) == 2
    finally:
        await socket.stop()


async def test_shutdown_on_connect_greets_every_connection_with_server_shutdown(proxy):
    proxy.shutdown_on_connect = True
    async with connect(proxy.ws_url + KLINES) as ws:
        assert type(parse_message(await ws.recv())) is ServerShutdown
        assert type(parse_message(await ws.recv())) is Kline  # the stream goes on
    socket = MarketSocket(proxy.ws_url, ["btcusdt@kline_1m"], backoff_initial=0.1, backoff_max=0.2)
    socket.start()
    try:  # the socket reconnects 0.5-1.5 s after each serverShutdown
        await wait_until(lambda: socket.counters.reconnects >= 2)
    finally:
        await socket.stop()


async def test_close_on_connect_accepts_then_closes_without_an_upstream(replay, proxy):
    proxy.close_on_connect = True
    async with connect(proxy.ws_url + KLINES) as ws:
        await until_closed(ws)
        assert ws.close_code == 1001
    assert len(proxy.connection_attempts) == 1 and replay.connections_opened == 0


async def test_refuse_closes_the_port_then_listens_on_it_again(proxy):
    async with connect(proxy.ws_url + KLINES) as ws:
        await proxy.refuse(1.0)
        with pytest.raises(ConnectionRefusedError):
            await connect(proxy.ws_url + KLINES)
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient() as http:
                await http.get(proxy.rest_url + KLINES_QUERY)
        await asyncio.wait_for(ws.recv(), 0.5)  # an open connection goes on
    await asyncio.sleep(1.0)
    async with connect(proxy.ws_url + KLINES) as ws:
        await asyncio.wait_for(ws.recv(), 0.5)
    async with httpx.AsyncClient() as http:
        assert (await http.get(proxy.rest_url + KLINES_QUERY)).status_code == 200


async def test_rest_faults_answer_the_next_matching_requests(proxy):
    proxy.rest_fault("429", retry_after=2)
    proxy.rest_fault("500", count=2, path="/api/v3/time")
    async with httpx.AsyncClient(base_url=proxy.rest_url) as http:
        limited = await http.get(KLINES_QUERY)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
        assert limited.json()["code"] == -1003
        assert (await http.get(KLINES_QUERY)).status_code == 200
        assert [(await http.get("/api/v3/time")).status_code for _ in range(3)] == [500, 500, 200]
        proxy.rest_fault("418")
        banned = await http.get(KLINES_QUERY)
        assert banned.status_code == 418 and "Retry-After" not in banned.headers
        proxy.rest_fault("truncated")
        truncated = await http.get(KLINES_QUERY)
        assert truncated.status_code == 200 and int(truncated.headers["Content-Length"]) == len(truncated.content)
        with pytest.raises(ValueError):
            truncated.json()
        proxy.rest_fault("hang")
        hung = asyncio.create_task(http.get(KLINES_QUERY, timeout=1.0))
        await asyncio.sleep(0.1)
        assert (await http.get(KLINES_QUERY)).status_code == 200  # a hung request blocks no other
        with pytest.raises(httpx.ReadTimeout):
            await hung
    assert [status for *_, status in proxy.rest_requests] == [
        "429", 200, "500", "500", 200, "418", "truncated", "hang", 200]
    rest = RestClient(proxy.rest_url)
    try:
        proxy.rest_fault("500", path="/api/v3/time")
        with pytest.raises(BinanceAPIError, match=r"HTTP 500.*code -1000"):
            await rest.server_time()
    finally:
        await rest.close()
