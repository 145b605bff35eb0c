"""The event broadcast: real websockets clients on 127.0.0.1 receive the pipeline's events as JSON."""

import asyncio
import dataclasses
import socket
import time

import orjson
import pytest
from recorded import klines_of
from streamz import Stream
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

from thebot_panel.broadcast import CLOSE_TIMEOUT, Broadcaster, encode, status_event
from thebot_panel.market.graph import MarketGraph
from thebot_panel.hub import FeedHub
from thebot_panel.market.candles import CandleUpdate
from thebot_panel.market.messages import Analysis, Recomputed
from thebot_panel.presets import default_indicators, default_rules
from thebot_panel.signals.alerts import EXPIRED, Alert, AlertManager
from thebot_panel.signals.rules import Signal

SIGNAL = Signal(1679529600000, "BTCUSDT", "1m", "EMA(9)×EMA(21)", "BUY", 28111.25, 0.42)


@pytest.fixture
async def broadcaster():
    b = Broadcaster()
    await b.start()
    yield b
    await b.stop()


async def wait_for(predicate, timeout=3.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def receive(client, n, timeout=5.0) -> list[dict]:
    """The next ``n`` frames of ``client``, each checked to be a text frame, decoded."""
    frames = []
    async with asyncio.timeout(timeout):
        for _ in range(n):
            frame = await client.recv()
            assert isinstance(frame, str)
            frames.append(orjson.loads(frame))
    return frames


async def assert_nothing_more(client):
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.recv(), 0.1)


def candle_json(k) -> dict:
    return {"type": "candle_closed", "symbol": k.symbol, "interval": k.interval, "open_time": k.open_time,
            "close_time": k.close_time, "open": k.open, "high": k.high, "low": k.low, "close": k.close,
            "volume": k.volume}


def market_graph() -> tuple[Stream, MarketGraph]:
    source = Stream(asynchronous=True)
    indicators = default_indicators()
    return source, MarketGraph(source, "BTCUSDT", "1m", indicators, default_rules(indicators), AlertManager())


async def feed(source, klines):
    """Each candle as a forming update then the closed kline, yielding to the loop like the hub does."""
    for i, k in enumerate(klines, 1):
        source.emit(dataclasses.replace(k, closed=False, close=k.open, volume=0.0))
        source.emit(k)
        if i % 100 == 0:
            await asyncio.sleep(0)


async def test_follower_receives_closed_candles_then_their_signals_in_order(broadcaster, halt_recording):
    source, market = market_graph()
    rows = market.branch.signals.sink_to_list()
    sinks = broadcaster.follow(market)
    klines = klines_of(halt_recording)[:600]
    async with connect(broadcaster.url) as client:
        await wait_for(lambda: broadcaster.stats()["clients"] == 1)
        await feed(source, klines)
        expected = [candle_json(r.candle.kline) if type(r) is Analysis else {"type": "signal", **dataclasses.asdict(r)}
                    for r in rows if type(r) is Signal or (type(r) is Analysis and r.candle.closed)]
        got = await receive(client, len(expected))
        assert got == expected
        assert [f for f in got if f["type"] == "candle_closed"] == [candle_json(k) for k in klines]
        signals = [f for f in got if f["type"] == "signal"]
        assert len(signals) == len(market.branch.signals.history) >= 5
        # each signal comes right after the candle that fired it
        for i, frame in enumerate(got):
            if frame["type"] == "signal":
                candle = next(f for f in reversed(got[:i]) if f["type"] == "candle_closed")
                assert frame["open_time"] == candle["open_time"] and frame["price"] == candle["close"]
        assert broadcaster.stats() == {"clients": 1, "published": len(expected), "sent": len(expected),
                                       "dropped": 0, "queued": 0}
        for sink in sinks:
            sink.destroy()
        await feed(source, klines_of(halt_recording)[600:610])
        await assert_nothing_more(client)
        assert broadcaster.stats()["published"] == len(expected)


async def test_two_clients_receive_the_same_events(broadcaster):
    async with connect(broadcaster.url) as first, connect(broadcaster.url) as second:
        await wait_for(lambda: broadcaster.stats()["clients"] == 2)
        events = [dataclasses.replace(SIGNAL, open_time=SIGNAL.open_time + i * 60_000) for i in range(50)]
        for event in events:
            broadcaster.publish(event)
        expected = [{"type": "signal", **dataclasses.asdict(e)} for e in events]
        assert await receive(first, 50) == expected
        assert await receive(second, 50) == expected
        assert broadcaster.stats() == {"clients": 2, "published": 50, "sent": 100, "dropped": 0, "queued": 0}


async def test_stalled_client_loses_oldest_events_and_never_slows_publish():
    broadcaster = Broadcaster(max_queue=1000, send_buffer=16_384)
    await broadcaster.start()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", broadcaster.port))
    stalled = await connect(broadcaster.url, sock=sock, max_queue=1, compression=None)  # never reads
    try:
        async with connect(broadcaster.url) as reader:
            await wait_for(lambda: broadcaster.stats()["clients"] == 2)
            received = asyncio.create_task(receive(reader, 10_000))
            spent = 0.0
            for i in range(10_000):
                started = time.perf_counter()
                broadcaster.publish(dataclasses.replace(SIGNAL, open_time=i))
                spent += time.perf_counter() - started
                if i % 100 == 99:
                    await asyncio.sleep(0)  # the hub yields every 200 events
            assert spent < 1.0
            assert [f["open_time"] for f in await received] == list(range(10_000))  # the reader lost none
            stats = broadcaster.stats()
            assert stats["published"] == 10_000 and stats["queued"] == 1000  # the stalled client's full queue
            assert stats["dropped"] > 5000
            assert stats["sent"] + stats["dropped"] + stats["queued"] == 2 * 10_000
            started = time.perf_counter()
            await broadcaster.stop()  # the stalled client cannot take part in the close: it is cut off
            assert time.perf_counter() - started < CLOSE_TIMEOUT + 0.5
            assert broadcaster.stats()["clients"] == 0
    finally:
        stalled.transport.abort()
        await broadcaster.stop()


async def test_stop_closes_clients_with_going_away(broadcaster):
    async with connect(broadcaster.url) as first, connect(broadcaster.url) as second:
        await wait_for(lambda: broadcaster.stats()["clients"] == 2)
        await broadcaster.stop()
        for client in (first, second):
            with pytest.raises(ConnectionClosedOK) as closed:
                await client.recv()
            assert closed.value.rcvd.code == 1001
        assert broadcaster.stats()["clients"] == 0
        with pytest.raises(OSError):
            await connect(f"ws://127.0.0.1:{broadcaster.port}/events", open_timeout=1)


async def test_listens_on_127_0_0_1_only_by_default(broadcaster):
    assert {sock.getsockname()[0] for sock in broadcaster._server.sockets} == {"127.0.0.1"}
    assert broadcaster.url == f"ws://127.0.0.1:{broadcaster.port}/events"


async def test_wrong_path_is_refused_with_404(broadcaster):
    for path in ("/", "/event", "/events/x"):
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://127.0.0.1:{broadcaster.port}{path}")
        assert refused.value.response.status_code == 404
        assert b"only /events is served" in refused.value.response.body
    assert broadcaster.url == f"ws://127.0.0.1:{broadcaster.port}/events"
    assert broadcaster.stats()["clients"] == 0


async def test_forming_updates_and_markers_are_not_sent(broadcaster, halt_recording):
    kline = klines_of(halt_recording)[0]
    forming = CandleUpdate("BTCUSDT", "1m", "forming", dataclasses.replace(kline, closed=False))
    closed = CandleUpdate("BTCUSDT", "1m", "closed", kline)
    assert encode(forming) is None and encode(Analysis(forming, {"rsi": 50.0})) is None
    async with connect(broadcaster.url) as client:
        await wait_for(lambda: broadcaster.stats()["clients"] == 1)
        for event in (forming, Analysis(forming, {}), Recomputed(None), "text", None, closed):
            broadcaster.publish(event)
        assert await receive(client, 1) == [candle_json(kline)]
        await assert_nothing_more(client)
        assert broadcaster.stats()["published"] == 1


async def test_json_fields_equal_the_source_objects(broadcaster, halt_recording, tmp_path):
    kline = klines_of(halt_recording)[100]
    alerts = [Alert(7, "signal", "BTCUSDT", "1m", SIGNAL.rule, "SELL", 28111.25, 0.5, SIGNAL.open_time,
                    1679529661234),
              Alert(8, "price", "ETHUSDT", "5m", "crosses 1,800", "BUY", 1800.0, 1.0, 1679529600000,
                    1679529605000, state=EXPIRED, ended=1679533205000)]
    hub = FeedHub(source="replay", db_path=str(tmp_path / "alerts.db"))
    async with connect(broadcaster.url) as client:
        await wait_for(lambda: broadcaster.stats()["clients"] == 1)
        for event in (CandleUpdate("BTCUSDT", "1m", "closed", kline), SIGNAL, *alerts):
            broadcaster.publish(event)
        candle, signal, *got_alerts = await receive(client, 4)
        assert candle == {"type": "candle_closed", **{f: getattr(kline, f) for f in candle if f != "type"}}
        assert list(candle) == ["type", "symbol", "interval", "open_time", "close_time", "open", "high", "low",
                                "close", "volume"]
        assert type(candle["open_time"]) is int and type(candle["volume"]) is float
        assert signal == {"type": "signal", "open_time": 1679529600000, "symbol": "BTCUSDT", "interval": "1m",
                          "rule": "EMA(9)×EMA(21)", "side": "BUY", "price": 28111.25, "strength": 0.42,
                          "provisional": False}
        for alert, frame in zip(alerts, got_alerts):
            assert frame == {"type": "alert", **dataclasses.asdict(alert), "message": alert.message}
        assert got_alerts[1]["ended"] == 1679533205000 and got_alerts[0]["ended"] is None
        assert got_alerts[0]["message"] == "SELL BTCUSDT 1m · EMA(9)×EMA(21) at 28,111.25 (strength 0.50)"

        watcher = broadcaster.watch_status(hub)
        hub.status, hub.source_label = "connected", "replay: ws://127.0.0.1:9/ws"
        first, second, third = await receive(client, 3)  # now, then one per parameter changed
        assert first["status"] == "starting" and first["source"] == ""
        assert second["status"] == "connected" and second["source"] == ""
        assert third == {"type": "status", "status": "connected", "source": "replay: ws://127.0.0.1:9/ws",
                         "replay": "", "error": "", "time": third["time"]}
        assert abs(third["time"] - time.time() * 1000) < 5000
    async with connect(broadcaster.url) as late:  # a new client hears the current status first
        assert (await receive(late, 1))[0] == {**status_event(hub), "time": third["time"]}
    hub.param.unwatch(watcher)
