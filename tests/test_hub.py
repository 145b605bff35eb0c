"""The feed hub end to end on the replay server: warm-up, live candles, reconnect + backfill, bad input."""

import asyncio

import numpy as np
import orjson
import pandas as pd
import pytest
import talib
import websockets

from recorders import HttpRecorder
from thebot_panel.hub import FeedHub
from thebot_panel.metrics import last_price
from thebot_panel.replay import Recording, ReplayServer
from thebot_panel.signals.rules import Signal

RECORDING = Recording.bundled()


async def wait_for(predicate, timeout=15.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@pytest.fixture
async def replay():
    async with ReplayServer(RECORDING, speed=600) as server:
        yield server


def recorded_rows(symbol, open_time):
    """The recording's 1m rows with open times from open_time[0] to open_time[-1] (what the exchange sent)."""
    candles = RECORDING[symbol]
    keep = (candles.open_time >= open_time[0]) & (candles.open_time <= open_time[-1])
    return {"open_time": candles.open_time[keep], **{k: v[keep] for k, v in candles.ohlcv.items()}}


async def test_reconnect_backfills_missing_klines(replay):
    hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], warmup=200, replay_url=replay.rest_url)
    await hub.start()
    try:
        book = hub.open("BTCUSDT", "1m").book
        await wait_for(lambda: len(book) >= 220)
        for drop in (1, 2):
            await replay.drop_connections()
            before = len(book)
            await wait_for(lambda: hub.socket.counters.reconnects == drop and len(book) > before + 15)
        assert hub.socket.counters.reconnects == 2 and hub.backfill.counters.klines > 0
        for symbol in ("BTCUSDT", "ETHUSDT"):
            b = hub.open(symbol, "1m").book
            expected = recorded_rows(symbol, b.candles.open_time)
            np.testing.assert_array_equal(b.candles.open_time, expected["open_time"])  # none lost or doubled
            for column in ("open", "high", "low", "close", "volume"):
                np.testing.assert_array_equal(b.candles.column(column), expected[column])
            assert b.gaps() == [] and len(b) >= 230
        branch = hub.open("BTCUSDT", "1m").branch
        closes = book.candles.column("close")
        np.testing.assert_allclose(branch.column("ema_fast"), talib.EMA(closes, 9), rtol=1e-9, equal_nan=True)
        np.testing.assert_allclose(branch.column("rsi"), talib.RSI(closes, 14), rtol=1e-9, equal_nan=True)
    finally:
        await hub.stop()


async def test_unknown_symbol_is_refused_before_any_socket_opens(replay):
    hub = FeedHub(source="replay", symbols=["FOOBAR"], replay_url=replay.rest_url)
    await hub.start()
    assert hub.status == "error" and "FOOBAR" in hub.error and "BTCUSDT" in hub.error
    assert hub.socket is None and replay.connections_opened == 0
    await hub.stop()


def test_get_reads_a_market_without_creating_it_and_open_creates_it(tmp_path):
    hub = FeedHub(symbols=["BTCUSDT"], db_path=str(tmp_path / "alerts.db"))
    with pytest.raises(KeyError, match="no market ETHUSDT 1m on the hub"):
        hub.get("ETHUSDT", "1m")
    assert list(hub.graphs) == [("BTCUSDT", "1m")]
    market = hub.open("ethusdt", "1m")
    assert hub.get("ETHUSDT", "1m") is market and hub.open("ETHUSDT", "1m") is market
    assert list(hub.graphs) == [("BTCUSDT", "1m"), ("ETHUSDT", "1m")]
    with pytest.raises(ValueError, match="unknown interval '7m'"):
        hub.open("ETHUSDT", "7m")


def test_bad_interval_and_symbol_syntax_are_refused_at_construction():
    with pytest.raises(ValueError, match="unknown interval '7m': valid intervals are 1s 1m"):
        FeedHub(interval="7m")
    with pytest.raises(ValueError, match="invalid symbol 'BTC/USDT'"):
        FeedHub(symbols=["BTC/USDT"])


async def test_binance_source_unreachable_says_so():
    hub = FeedHub(source="binance", rest_url="http://127.0.0.1:9", probe_timeout=2)
    await hub.start()
    assert hub.status == "error" and "unreachable" in hub.error and "--source replay" in hub.error
    assert hub.socket is None
    await hub.stop()


async def test_auto_source_falls_back_to_the_bundled_replay_and_says_so():
    hub = FeedHub(source="auto", rest_url="http://127.0.0.1:9", probe_timeout=2, speed=600, warmup=100)
    await hub.start()
    try:
        assert hub.replay is not None and hub.source_label.startswith("replay: ws://127.0.0.1:")
        assert "2025-07-21" in hub.replay_badge and "600" in hub.replay_badge
        book = hub.open("BTCUSDT", "1m").book
        await wait_for(lambda: len(book) > 100)
        assert hub.replay.connections_opened == 1 and hub.stats()["received"] > 0
    finally:
        await hub.stop()


async def test_broadcast_endpoint_streams_closed_candles_signals_and_alerts_during_a_replay(replay):
    hub = FeedHub(source="replay", symbols=["BTCUSDT"], warmup=200, replay_url=replay.rest_url, broadcast_port=0)
    await hub.start()
    try:
        events = []
        async with websockets.connect(hub.services.broadcaster.url) as client:
            async with asyncio.timeout(60):
                while not ({"signal", "alert"} <= {e["type"] for e in events}
                           and sum(e["type"] == "candle_closed" for e in events) >= 5):
                    events.append(orjson.loads(await client.recv()))
        assert events[0]["type"] == "status" and events[0]["status"] == "connected"
        candles = [e for e in events if e["type"] == "candle_closed"]
        book = hub.open("BTCUSDT", "1m").book.frame()
        for event in candles:   # each one is a closed candle of the book, with the recorded values
            row = book.loc[pd.Timestamp(event["open_time"], unit="ms", tz="UTC")]
            assert (event["symbol"], event["close"], event["volume"]) == ("BTCUSDT", row["close"], row["volume"])
        assert [e["open_time"] for e in candles] == sorted({e["open_time"] for e in candles})
        signals = [e for e in events if e["type"] == "signal"]
        history = {(s.open_time, s.rule, s.side) for s in hub.open("BTCUSDT", "1m").branch.signals.history}
        assert all((s["open_time"], s["rule"], s["side"]) in history for s in signals)
        alert = next(e for e in events if e["type"] == "alert")
        assert alert["state"] == "ACTIVE" and alert["message"].startswith(alert["side"])
    finally:
        await hub.stop()


async def test_live_signals_alert_a_local_webhook_and_the_history_survives_a_restart(replay, tmp_path):
    receiver = await HttpRecorder().start()
    config = tmp_path / "notify.toml"
    config.write_text(f'[webhook]\nurl = "{receiver.url}/hook"\n')
    db = str(tmp_path / "alerts.sqlite")
    hub = FeedHub(source="replay", symbols=["BTCUSDT"], warmup=200, replay_url=replay.rest_url, db_path=db,
                  notify_config=str(config))
    live = hub.open("BTCUSDT", "1m").branch.signals.sink_to_list()
    await hub.start()
    try:
        await wait_for(lambda: len(receiver.requests) >= 3, timeout=60)
    finally:
        await hub.stop()
        await receiver.close()
    raised = list(hub.services.alerts)
    posted = [r.body for r in receiver.requests]
    assert [r.path for r in receiver.requests] == ["/hook"] * len(posted)
    assert [(p["id"], p["rule"], p["side"], p["price"], p["message"]) for p in posted] == \
        [(a.id, a.rule, a.side, a.price, a.message) for a in raised[:len(posted)]]
    # the live signals are those the rules give in batch over the same candles (streaming == batch)
    branch = hub.open("BTCUSDT", "1m").branch
    streamed = [s for s in live if type(s) is Signal and not s.provisional]
    first = streamed[0].open_time
    frame = branch.frame()
    batch = sorted((s for rule in branch.signals.rules for s in rule.batch(frame, "BTCUSDT", "1m")
                    if s.open_time >= first), key=lambda s: s.open_time)
    assert streamed == batch[:len(streamed)] and len(streamed) >= 3

    restarted = FeedHub(source="replay", symbols=["BTCUSDT"], replay_url=replay.rest_url, db_path=db)
    assert [(a.id, a.rule, a.open_time, a.state) for a in restarted.services.alerts] == \
        [(a.id, a.rule, a.open_time, a.state) for a in raised]
    assert {(s.open_time, s.rule) for s in restarted.services.alerts.store.signals()} >= {(s.open_time, s.rule) for s in streamed}


async def test_a_symbol_added_while_running_is_subscribed_and_warmed_up_and_an_unknown_one_is_refused(replay):
    hub = FeedHub(source="replay", symbols=["BTCUSDT"], warmup=200, replay_url=replay.rest_url)
    with pytest.raises(ValueError, match="still starting"):
        await hub.add_symbol("ethusdt")
    await hub.start()
    try:
        with pytest.raises(ValueError, match=r"unknown symbol NOPEUSDT: not listed by .*exchangeInfo"):
            await hub.add_symbol("nopeusdt")
        with pytest.raises(ValueError, match="invalid symbol 'ETH/USDT'"):
            await hub.add_symbol("ETH/USDT")
        assert set(hub.graphs) == {("BTCUSDT", "1m")}   # nothing was added by the refused ones
        assert await hub.add_symbol("ethusdt") == "ETHUSDT"
        book = hub.graphs[("ETHUSDT", "1m")].book
        await wait_for(lambda: len(book) >= 200 and book.forming is not None)
        rows = recorded_rows("ETHUSDT", book.candles.open_time)
        np.testing.assert_array_equal(book.candles.column("close"), rows["close"])
        last = book.last_closed_open_time
        await wait_for(lambda: book.last_closed_open_time > last)   # and it goes on live
        assert "ethusdt@ticker" in hub.socket.streams   # with its 24 h figures, as the symbols given at start
        await wait_for(lambda: hub.get("ETHUSDT", "1m").day()[2] == "@ticker")
        assert hub.symbols == ["BTCUSDT", "ETHUSDT"]      # the views list it
        eth = hub.get("ETHUSDT", "1m")                    # the paper portfolio follows its prices
        await wait_for(lambda: hub.services.portfolio.last_price("ETHUSDT") == eth.price)
    finally:
        await hub.stop()


async def test_speed_and_pause_steer_the_bundled_replay():
    hub = FeedHub(source="replay", symbols=["BTCUSDT"], speed=60, warmup=100, paused=True)
    await hub.start()
    try:
        assert hub.replay.paused and hub.replay_badge.endswith("at ×60, paused")
        start = hub.replay.now_ms()
        await asyncio.sleep(0.5)
        assert hub.replay.now_ms() == start
        hub.param.update(speed=600, paused=False)
        assert not hub.replay.paused and hub.replay.speed == 600 and hub.replay_badge.endswith("at ×600")
        book = hub.open("BTCUSDT", "1m").book
        last = book.last_closed_open_time
        await wait_for(lambda: book.last_closed_open_time >= last + 3 * 60_000)   # ×600: a candle per 0.1 s
        # the replay's @ticker feeds the metrics strip's 24 h figures, as Binance's would
        day = hub.metrics.snapshot("BTCUSDT", book, [])
        candles = RECORDING["BTCUSDT"]   # the book holds 100 candles only: the day comes from the recording
        newest = book.forming.open_time if book.forming is not None else book.last_closed_open_time
        before = candles.ohlcv["close"][np.searchsorted(candles.open_time, newest - 86_400_000, side="right") - 1]
        assert day["source_24h"] == "@ticker"
        assert day["change_24h_pct"] == pytest.approx((last_price(book) / before - 1) * 100, abs=0.2)  # ±a candle
    finally:
        await hub.stop()


async def test_stream_frame_emits_each_closed_candle_with_the_batch_indicator_values():
    from thebot_panel.indicators import EMA, with_indicators

    hub = FeedHub(source="replay", symbols=["BTCUSDT"], speed=600, warmup=300)
    await hub.start()
    try:
        ema = EMA(period=50)
        sdf = hub.stream_frame("BTCUSDT", "1m", "RSI", ema, "MACD")
        ema.period = 20  # the frame's copy keeps its own parameters
        assert list(sdf.example.columns) == ["open", "high", "low", "close", "volume", "rsi_14", "ema_50",
                                             "macd_12_26_9", "signal_12_26_9", "hist_12_26_9"]
        rows, means = [], []
        sdf.stream.sink(rows.append)
        sdf.close.rolling(3).mean().stream.sink(means.append)
        while len(rows) < 20:
            await asyncio.sleep(0.1)
        streamed = pd.concat(rows)
        book = hub.open("BTCUSDT", "1m").book.frame()
        # exactly the closed candles of the book, in order, once each
        assert streamed.index.is_unique and streamed.index.is_monotonic_increasing
        assert set(streamed.index) <= set(book.index) and streamed.index[-1] <= book.index[-1]
        expected = with_indicators(book, "RSI", EMA(period=50), "MACD").loc[streamed.index, streamed.columns]
        pd.testing.assert_frame_equal(streamed, expected, check_freq=False, rtol=1e-12)
        assert len(means) == len(rows)
        with pytest.raises(ValueError, match="unknown indicator"):
            hub.stream_frame("BTCUSDT", "1m", "NOPE")
        sdf.branch.destroy()
    finally:
        await hub.stop()
