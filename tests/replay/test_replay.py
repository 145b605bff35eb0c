"""The replay server: a real server on 127.0.0.1 (port 0), a real websockets client and httpx.

Specs: REST klines are the recording (1m) or its exchange-style aggregation (pandas resample,
left-labelled, empty buckets dropped), never ahead of the replay clock, forming candle last; gaps
stay gaps; WebSocket kline streams play each 1m candle as x:false updates then x:true with the
recorded values; control messages, the 5 messages/s limit, drops and serverShutdown behave as Binance; set_speed,
pause and resume steer a running replay without a jump of the clock or a lost or repeated event.
Tick recordings: trade/bookTicker streams replay the recorded events unchanged, in replay-time order
with the klines, whose 1m candles are the trades aggregated by pandas. ``@ticker``: the 24 h window of
1m candles ending at ``E`` (pandas), its forming candle as the 1m kline stream shows it at that ``E``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import websockets
import websockets.sync.client
from websockets.exceptions import ConnectionClosed, ConnectionClosedError, InvalidStatus

from recorded import FIXTURES, HALT_RECORDING
from thebot_panel.binance.events import BookTicker, Kline, ServerShutdown, Ticker24h, Trade, parse_message
from thebot_panel.replay import Recording, ReplayServer, partial_candle
from thebot_panel.replay.__main__ import _parser

TICK_FILE = FIXTURES / "ticks" / "btcusdt_20240808_2354-2357.hftbacktest.gz"
MIN = 60_000
KLINE_FIELDS = ["t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"]
TICKER_FIELDS = list("eEspPwxcQbBaAohlvqOCFLn")  # Binance's order
DAY = 1_440 * MIN


def ms(iso: str) -> int:
    return pd.Timestamp(iso, tz="UTC").value // 1_000_000


@pytest.fixture(scope="module")
def bundled() -> Recording:
    return Recording.bundled()


@pytest.fixture(scope="module")
def btc(bundled) -> pd.DataFrame:
    return bundled["BTCUSDT"].frame()


def resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The oracle for exchange aggregation: UTC buckets labelled by their open, empty buckets dropped."""
    agg = frame.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return agg.dropna(subset=["open"])


def rows_frame(rows: list[list]) -> pd.DataFrame:
    """REST kline rows -> frame indexed like the recording, checking the row layout on the way."""
    for r in rows:
        assert len(r) == 12 and isinstance(r[0], int) and isinstance(r[6], int)
        assert all(isinstance(x, str) for x in r[1:6]) and r[7:] == ["0", 0, "0", "0", "0"]
    t = [r[0] for r in rows]
    index = pd.DatetimeIndex(pd.to_datetime(t, unit="ms", utc=True), name="open_time")
    return pd.DataFrame([[float(x) for x in r[1:6]] for r in rows], index=index,
                        columns=["open", "high", "low", "close", "volume"])


def assert_same_candles(got: pd.DataFrame, want: pd.DataFrame) -> None:
    """Same open times and prices exactly; volumes equal up to float summation order."""
    assert list(got.index) == list(want.index)
    np.testing.assert_array_equal(got[["open", "high", "low", "close"]].to_numpy(),
                                  want[["open", "high", "low", "close"]].to_numpy())
    np.testing.assert_allclose(got["volume"].to_numpy(), want["volume"].to_numpy(), rtol=1e-12)


async def get_klines(client: httpx.AsyncClient, server: ReplayServer, **params) -> list[list]:
    r = await client.get(f"{server.rest_url}/api/v3/klines", params=params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


async def reply(ws, request_id):
    """The next control reply with ``id == request_id`` (stream events in between are skipped)."""
    while True:
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        if "id" in msg and msg["id"] == request_id:
            return msg


def check_tickers(messages: list[dict], frame: pd.DataFrame) -> list[dict]:
    """Check the combined ``messages`` of ``<symbol>@kline_1m`` and ``<symbol>@ticker`` (subscribed in that
    order); returns the tickers. Replay-time order; one ticker per x:false 1m update, right after it, with
    its ``E`` and close; the window's values are pandas' over ``frame``'s 1m candles opened in
    (E - 24 h, E], the forming one as that kline shows it."""
    assert [m["data"]["E"] for m in messages] == sorted(m["data"]["E"] for m in messages)
    tickers = [(m["data"], messages[j - 1]["data"]) for j, m in enumerate(messages) if m["stream"].endswith("@ticker")]
    updates = [m["data"] for m in messages if m["stream"].endswith("@kline_1m") and not m["data"]["k"]["x"]]
    assert [kline for _, kline in tickers] == updates
    for d, kline in tickers:
        assert list(d) == TICKER_FIELDS and d["e"] == "24hrTicker" and d["s"] == kline["s"] and d["E"] == kline["E"]
        k, e = kline["k"], pd.Timestamp(d["E"], unit="ms", tz="UTC")
        forming = pd.DataFrame([{name: float(k[name[0]]) for name in ("open", "high", "low", "close", "volume")}],
                               index=[pd.Timestamp(k["t"], unit="ms", tz="UTC")])
        closed = frame[(frame.index > e - pd.Timedelta("24h")) & (frame.index < forming.index[0])]
        window = pd.concat([closed, forming])
        o, c, before = window["open"].iloc[0], float(k["c"]), frame.loc[:e - pd.Timedelta("24h"), "close"]
        assert (float(d["o"]), float(d["h"]), float(d["l"]), d["c"]) == (
            o, window["high"].max(), window["low"].min(), k["c"])
        assert float(d["v"]) == pytest.approx(window["volume"].sum(), rel=1e-12)
        assert re.fullmatch(r"-?\d+\.\d{3}", d["P"]) and abs(float(d["P"]) - (c / o - 1) * 100) < 0.0005 + 1e-9
        assert float(d["p"]) == pytest.approx(c - o, abs=1e-9)
        assert float(d["x"]) == (before.iloc[-1] if len(before) else 0.0)
        assert window["low"].min() <= float(d["w"]) <= window["high"].max()
        assert float(d["q"]) == pytest.approx(float(d["w"]) * float(d["v"]), rel=1e-6)
        assert (d["O"], d["C"], d["Q"], d["F"], d["L"], d["n"]) == (d["E"] - DAY, d["E"], "0", -1, -1, 0)
    return [d for d, _ in tickers]


def clock_reading(server: ReplayServer) -> tuple[int, float, float]:
    """``(now_ms, lo, hi)``: the replay clock, read between the loop times ``lo`` and ``hi`` (s)."""
    loop = asyncio.get_running_loop()
    lo = loop.time()
    now = server.now_ms()
    return now, lo, loop.time()


async def assert_rate(server: ReplayServer, speed: float, seconds: float = 0.3) -> None:
    """Over ``seconds`` of wall time the clock advances ``speed`` ms per ms (bounds from the loop times
    bracketing both readings, ±1 ms of rounding: exact, whatever the machine's load)."""
    ms0, lo0, hi0 = clock_reading(server)
    await asyncio.sleep(seconds)
    ms1, lo1, hi1 = clock_reading(server)
    assert (ms1 - ms0 - 1) / ((hi1 - lo0) * 1000) <= speed <= (ms1 - ms0 + 1) / ((lo1 - hi0) * 1000)


# -- REST --------------------------------------------------------------------------------------------


async def test_rest_1m_klines_are_the_recording_up_to_the_clock_with_the_forming_candle_last(bundled, btc):
    async with ReplayServer(bundled, start="2025-07-28T12:34:30Z", speed=1.0) as server, httpx.AsyncClient() as client:
        rows = await get_klines(client, server, symbol="BTCUSDT", interval="1m")
        now = server.now_ms()
        assert len(rows) == 500  # Binance's default limit
        assert rows[-1][0] == ms("2025-07-28 12:34") and rows[-1][6] == ms("2025-07-28 12:34") + MIN - 1
        got = rows_frame(rows)
        closed = btc.loc[:pd.Timestamp("2025-07-28 12:33", tz="UTC")].iloc[-499:]
        assert_same_candles(got.iloc[:-1], closed)
        # the forming candle: recorded open, part of the way along its minute, never beyond the record
        rec, forming = btc.loc[pd.Timestamp("2025-07-28 12:34", tz="UTC")], got.iloc[-1]
        assert forming["open"] == rec["open"]
        assert rec["low"] <= forming["low"] <= forming["close"] <= forming["high"] <= rec["high"]
        assert 0 < forming["volume"] < rec["volume"]
        assert all(r[0] <= now for r in rows)

        # paging forward with startTime reproduces the recording, then stops at the clock
        start, pages = ms("2025-07-27 00:00"), []
        while True:
            page = await get_klines(client, server, symbol="BTCUSDT", interval="1m", startTime=start, limit=1000)
            pages += page
            if len(page) < 1000:
                break
            start = page[-1][0] + MIN
        assert pages[0][0] == ms("2025-07-27 00:00") and pages[-1][0] == ms("2025-07-28 12:34")
        assert_same_candles(rows_frame(pages[:-1]), btc.loc["2025-07-27 00:00":"2025-07-28 12:33"])

        # endTime alone: the `limit` candles up to it (open time <= endTime)
        tail = await get_klines(client, server, symbol="BTCUSDT", interval="1m",
                                endTime=ms("2025-07-27 10:00:30"), limit=5)
        assert [r[0] for r in tail] == [ms("2025-07-27 10:00") - k * MIN for k in range(4, -1, -1)]
        assert_same_candles(rows_frame(tail), btc.loc["2025-07-27 09:56":"2025-07-27 10:00"])

        # nothing from the replay's future, whatever is asked
        future = await get_klines(client, server, symbol="BTCUSDT", interval="1m", startTime=ms("2025-07-29 00:00"))
        assert future == []


@pytest.mark.parametrize("interval, rule", [("5m", "5min"), ("1h", "1h")])
async def test_rest_higher_intervals_equal_a_pandas_resample(bundled, btc, interval, rule):
    async with ReplayServer(bundled, start="2025-07-28T12:34:30Z", speed=1.0) as server, httpx.AsyncClient() as client:
        until = btc.loc[:pd.Timestamp("2025-07-28 12:34", tz="UTC")]
        want = resample(until, rule)
        rows = await get_klines(client, server, symbol="BTCUSDT", interval=interval,
                                startTime=ms("2025-07-26 00:00"), limit=1000)
        length = pd.Timedelta(rule).value // 1_000_000
        assert all(r[6] == r[0] + length - 1 for r in rows)
        got = rows_frame(rows)
        assert got.index[-1] == want.index[-1]  # the forming candle is last
        assert_same_candles(got.iloc[:-1], want.loc["2025-07-26":].iloc[:-1])
        assert got.iloc[-1]["open"] == want.iloc[-1]["open"]

        # a startTime inside a bucket starts at the next bucket (open time >= startTime)
        rows = await get_klines(client, server, symbol="BTCUSDT", interval=interval,
                                startTime=ms("2025-07-27 10:00") + 1, limit=3)
        assert rows[0][0] == ms("2025-07-27 10:00") + length

        # endTime + limit pages backwards
        rows = await get_klines(client, server, symbol="BTCUSDT", interval=interval,
                                endTime=ms("2025-07-27 10:00"), limit=7)
        assert_same_candles(rows_frame(rows), want.loc[:"2025-07-27 10:00"].iloc[-7:])


async def test_rest_errors_and_exchange_info(bundled):
    async with ReplayServer(bundled, speed=1.0) as server, httpx.AsyncClient(base_url=server.rest_url) as client:
        assert (await client.get("/api/v3/ping")).json() == {}
        assert abs((await client.get("/api/v3/time")).json()["serverTime"] - server.now_ms()) < 1000
        info = (await client.get("/api/v3/exchangeInfo")).json()
        assert info["timezone"] == "UTC"
        assert [(s["symbol"], s["status"], s["baseAsset"], s["quoteAsset"]) for s in info["symbols"]] == [
            ("BTCUSDT", "TRADING", "BTC", "USDT"), ("ETHUSDT", "TRADING", "ETH", "USDT")]
        one = (await client.get("/api/v3/exchangeInfo", params={"symbols": '["ETHUSDT"]'})).json()
        assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
        for path, params, code in [
            ("/api/v3/exchangeInfo", {"symbol": "XRPUSDT"}, -1121),
            ("/api/v3/klines", {"symbol": "XRPUSDT", "interval": "1m"}, -1121),
            ("/api/v3/klines", {"interval": "1m"}, -1102),
            ("/api/v3/klines", {"symbol": "BTCUSDT"}, -1102),
            ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "7m"}, -1120),
            ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1s"}, -1120),
            ("/api/v3/klines", {"symbol": "BTCUSDT", "interval": "1m", "startTime": "2", "endTime": "1"}, -1023),
        ]:
            r = await client.get(path, params=params)
            assert r.status_code == 400 and r.json()["code"] == code, (params, r.text)
            assert r.json()["msg"]


async def test_rest_replays_the_2023_halt_as_a_gap():
    recording = Recording.from_paths(HALT_RECORDING)
    frame = recording["BTCUSDT"].frame()
    async with ReplayServer(recording, start="2023-03-24T16:00Z", speed=1.0) as server, httpx.AsyncClient() as client:
        rows = await get_klines(client, server, symbol="BTCUSDT", interval="1m",
                                startTime=ms("2023-03-24 12:00"), endTime=ms("2023-03-24 14:30"), limit=1000)
        want = frame.loc["2023-03-24 12:00":"2023-03-24 14:30"]
        assert len(rows) == 151 - 80 == len(want)
        assert_same_candles(rows_frame(rows), want)
        assert not any(ms("2023-03-24 12:40") <= r[0] < ms("2023-03-24 14:00") for r in rows)
        assert sum(float(r[5]) == 0 for r in rows) >= 30  # halted minutes: zero-volume candles are kept

        hourly = await get_klines(client, server, symbol="BTCUSDT", interval="1h",
                                  startTime=ms("2023-03-24 10:00"), endTime=ms("2023-03-24 15:00"))
        assert [r[0] for r in hourly] == [ms(f"2023-03-24 {h}:00") for h in (10, 11, 12, 14, 15)]
        assert_same_candles(rows_frame(hourly), resample(frame, "1h").loc["2023-03-24 10:00":"2023-03-24 15:00"])


# -- WebSocket ----------------------------------------------------------------------------------------


async def test_ws_1m_candle_plays_as_updates_then_the_recorded_close(bundled, btc):
    async with ReplayServer(bundled, speed=600, updates_per_candle=4) as server:
        async with websockets.connect(f"{server.ws_url}/stream?streams=btcusdt@kline_1m") as ws:
            events = []
            while sum(m["data"]["k"]["x"] for m in events) < 2:
                events.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
    assert {m["stream"] for m in events} == {"btcusdt@kline_1m"}
    first_close = next(i for i, m in enumerate(events) if m["data"]["k"]["x"])
    candle = [m["data"] for m in events[first_close + 1:]]  # one whole candle, seen from its open
    close = candle[-1]
    t = close["k"]["t"]
    assert [e["k"]["x"] for e in candle] == [False] * 4 + [True]
    assert [e["E"] for e in candle] == [t, t + 15_000, t + 30_000, t + 45_000, t + MIN]
    assert all(list(e["k"]) == KLINE_FIELDS and e["e"] == "kline" and e["s"] == "BTCUSDT" for e in candle)
    assert all(e["k"]["t"] == t and e["k"]["T"] == t + MIN - 1 and e["k"]["i"] == "1m" for e in candle)
    assert all((e["k"]["f"], e["k"]["L"], e["k"]["n"], e["k"]["q"]) == (-1, -1, 0, "0") for e in candle)

    rec = btc.loc[pd.Timestamp(t, unit="ms", tz="UTC")]
    values = [{f: float(e["k"][f]) for f in "ohlcv"} for e in candle]
    recorded = {"o": rec["open"], "h": rec["high"], "l": rec["low"], "c": rec["close"], "v": rec["volume"]}
    assert values[-1] == recorded and values[-2] == recorded  # the last x:false already is the record
    assert all(v["o"] == rec["open"] for v in values)
    assert all(a["h"] <= b["h"] and a["l"] >= b["l"] and a["v"] <= b["v"] for a, b in zip(values, values[1:]))
    # the project's own parser reads these events
    kline = parse_message(orjson.dumps(events[-1]))
    assert isinstance(kline, Kline) and kline.closed and kline.close == rec["close"]


async def test_ws_5m_close_is_the_aggregate_of_its_five_1m_candles(bundled, btc):
    async with ReplayServer(bundled, speed=600, updates_per_candle=2) as server:
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@kline_5m") as ws:
            events = []
            while not (events and events[-1]["k"]["x"]):
                events.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        close = events[-1]
        t = close["k"]["t"]
        async with httpx.AsyncClient() as client:  # REST backfill gives the very same candle
            (row,) = await get_klines(client, server, symbol="BTCUSDT", interval="5m", startTime=t, limit=1)
        assert row[1:6] == [close["k"][f] for f in "ohlcv"]
    assert t % (5 * MIN) == 0 and close["k"]["T"] == t + 5 * MIN - 1 and close["E"] == t + 5 * MIN
    five = btc.loc[pd.Timestamp(t, unit="ms", tz="UTC"):pd.Timestamp(t + 4 * MIN, unit="ms", tz="UTC")]
    assert len(five) == 5
    k = close["k"]
    assert (float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"])) == (
        five["open"].iloc[0], five["high"].max(), five["low"].min(), five["close"].iloc[-1])
    assert float(k["v"]) == pytest.approx(five["volume"].sum(), rel=1e-12)
    if len(events) > 1:  # the last x:false equals the x:true values
        assert {f: events[-2]["k"][f] for f in "ohlcv"} == {f: k[f] for f in "ohlcv"}


async def test_ws_plays_through_the_halt_without_inventing_candles():
    recording = Recording.from_paths(HALT_RECORDING)
    frame = recording["BTCUSDT"].frame()
    async with ReplayServer(recording, start="2023-03-24T12:37:30Z", speed="max") as server:
        # max_queue=None: the client keeps reading while it closes (a client that stops reading a
        # "max" replay never sees the server's close frame behind the data and waits close_timeout)
        async with websockets.connect(f"{server.ws_url}/stream?streams=btcusdt@kline_1m/btcusdt@kline_1h",
                                      max_queue=None) as ws:
            events = []
            while not (events and events[-1]["k"]["x"] and events[-1]["k"]["t"] == ms("2023-03-24 14:01")
                       and events[-1]["k"]["i"] == "1m"):
                events.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5))["data"])
    closes_1m = [e["k"]["t"] for e in events if e["k"]["i"] == "1m" and e["k"]["x"]]
    assert closes_1m == [ms(f"2023-03-24 {m}") for m in ("12:37", "12:38", "12:39", "14:00", "14:01")]
    hourly = [e for e in events if e["k"]["i"] == "1h"]
    assert {e["k"]["t"] for e in hourly} == {ms("2023-03-24 12:00"), ms("2023-03-24 14:00")}
    (close_12,) = [e for e in hourly if e["k"]["x"]]
    assert close_12["E"] == ms("2023-03-24 13:00")  # closes when the clock passes the bucket end
    want = resample(frame, "1h").loc[pd.Timestamp("2023-03-24 12:00", tz="UTC")]
    assert [float(close_12["k"][f]) for f in "ohlc"] == list(want[["open", "high", "low", "close"]])
    assert server.now_ms() >= ms("2023-03-24 14:02")  # at "max" the clock followed the stream


@pytest.mark.parametrize("speed, start, per_candle", [(100, None, 3), ("max", "2025-07-21T00:05:30Z", 1)])
async def test_ws_ticker_is_the_24h_window_at_each_1m_update(bundled, btc, speed, start, per_candle):
    async with ReplayServer(bundled, start=start, speed=speed) as server:  # default updates_per_candle
        assert server.updates_per_candle == per_candle
        async with websockets.connect(f"{server.ws_url}/stream?streams=btcusdt@kline_1m/btcusdt@ticker",
                                      max_queue=None) as ws:
            messages = []
            while sum(m["data"].get("k", {}).get("x", False) for m in messages) < 3:
                messages.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
    tickers = check_tickers(messages, btc)
    assert {m["stream"] for m in messages} == {"btcusdt@kline_1m", "btcusdt@ticker"}
    # the rate: per_candle tickers per 1m candle, at its x:false update instants
    closes = [m["data"]["E"] for m in messages if m["data"].get("k", {}).get("x")]
    for t0, t1 in zip(closes, closes[1:]):
        assert [d["E"] for d in tickers if t0 <= d["E"] < t1] == [t0 + k * MIN // per_candle for k in range(per_candle)]
    if start is not None:  # less than 24 h recorded before E: the window starts at the recording
        assert all(d["o"] == str(btc["open"].iloc[0]) and d["x"] == "0" for d in tickers)


async def test_ws_ticker_by_subscribe_parses_into_ticker24h(bundled):
    async with ReplayServer(bundled, speed=600) as server:
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@kline_1m") as ws:
            subscribe = {"method": "SUBSCRIBE", "params": ["ethusdt@ticker", "btcusdt@ticker"], "id": 1}
            await ws.send(orjson.dumps(subscribe))
            assert await reply(ws, 1) == {"result": None, "id": 1}
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            assert (await reply(ws, 2))["result"] == ["btcusdt@kline_1m", "ethusdt@ticker", "btcusdt@ticker"]
            frames = []
            while sum(b'"24hrTicker"' in f for f in frames) < 4:
                frames.append(await asyncio.wait_for(ws.recv(decode=False), 5))
    events = [orjson.loads(f) for f in frames]
    assert [e["E"] for e in events] == sorted(e["E"] for e in events)  # interleaved in replay-time order
    closes = {e["E"]: e["k"]["c"] for e in events if e["e"] == "kline" and not e["k"]["x"]}
    tickers = [(orjson.loads(f), parse_message(f)) for f in frames if b'"24hrTicker"' in f]
    assert {d["s"] for d, _ in tickers} == {"BTCUSDT", "ETHUSDT"}
    assert all(d["c"] == closes[d["E"]] for d, _ in tickers if d["s"] == "BTCUSDT")
    for d, ticker in tickers:
        assert isinstance(ticker, Ticker24h) and (ticker.symbol, ticker.event_time) == (d["s"], d["E"])
        assert (ticker.price_change_percent, ticker.volume, ticker.last_price, ticker.open_price) == (
            float(d["P"]), float(d["v"]), float(d["c"]), float(d["o"]))
        assert ticker.trades == 0 and ticker.bid_price == ticker.ask_price == 0.0 and ticker.volume > 0


async def test_ws_control_messages_as_binance(bundled):
    async with ReplayServer(bundled, speed=1.0) as server:
        async with websockets.connect(f"{server.ws_url}/ws") as ws:
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1m", "ethusdt@kline_1h"],
                                        "id": 1}))
            assert await reply(ws, 1) == {"result": None, "id": 1}
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            assert await reply(ws, 2) == {"result": ["btcusdt@kline_1m", "ethusdt@kline_1h"], "id": 2}
            await ws.send(orjson.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@kline_1m"], "id": 3}))
            assert await reply(ws, 3) == {"result": None, "id": 3}
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 4}))
            assert await reply(ws, 4) == {"result": ["ethusdt@kline_1h"], "id": 4}
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["xrpusdt@kline_1m"], "id": 5}))
            error = await reply(ws, 5)
            assert error["error"]["code"] == 2 and "XRPUSDT" in error["error"]["msg"]
        async with websockets.connect(f"{server.ws_url}/stream") as ws:
            for request_id, bad, needle in [(6, {"method": "SUBSCRIBE", "params": ["btcusdt@kline_1s"], "id": 6}, "1s"),
                                            (7, {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 7}, "kline"),
                                            (8, {"method": "FETCH", "id": 8}, "unknown method")]:
                await ws.send(orjson.dumps(bad))
                error = await reply(ws, request_id)
                assert error["error"]["code"] == 2 and needle in error["error"]["msg"]
            await ws.send("{not json")
            error = await reply(ws, None)
            assert error["error"]["code"] == 3
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(f"{server.ws_url}/ws/dogeusdt@kline_1m"):
                pass
        assert refused.value.response.status_code == 400


async def test_ws_more_than_5_messages_per_second_closes_with_1008(bundled):
    async with ReplayServer(bundled, speed=1.0) as server:
        async with websockets.connect(f"{server.ws_url}/ws") as ws:
            for burst in range(2):  # 5 per second is allowed...
                for i in range(5):
                    await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 10 * burst + i}))
                for i in range(5):
                    assert (await reply(ws, 10 * burst + i))["result"] == []
                if burst == 0:
                    await asyncio.sleep(1.05)
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 99}))  # ...the 6th within 1 s is not
            with pytest.raises(ConnectionClosed):
                await reply(ws, 99)
            assert ws.close_code == 1008 and "5" in ws.close_reason


async def test_drop_connections_and_server_shutdown(bundled):
    async with ReplayServer(bundled, speed=60) as server:
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@kline_1m") as ws:
            assert server.connections_open == 1
            before = server.now_ms()
            await server.drop_connections()
            with pytest.raises(ConnectionClosedError):
                while True:
                    await asyncio.wait_for(ws.recv(), 5)
            assert server.connections_open == 0 and server.now_ms() > before

        async with websockets.connect(f"{server.ws_url}/ws") as raw, \
                websockets.connect(f"{server.ws_url}/stream?streams=ethusdt@kline_1m") as combined:
            await asyncio.sleep(0.05)
            await server.send_server_shutdown()
            assert orjson.loads(await asyncio.wait_for(raw.recv(), 5))["e"] == "serverShutdown"
            while (msg := orjson.loads(await asyncio.wait_for(combined.recv(), 5)))["data"]["e"] == "kline":
                pass
            assert isinstance(parse_message(orjson.dumps(msg)), ServerShutdown)
        assert server.connections_opened == 3


# -- steering: set_speed, pause, resume -------------------------------------------------------------


async def test_set_speed_keeps_the_clock_continuous_and_changes_its_rate(bundled):
    async with ReplayServer(bundled, speed=1.0) as server:
        await assert_rate(server, 1.0)
        for speed, fastest in [(1000.0, 1000.0), ("max", 1000.0), (2.0, 2.0)]:
            before, lo, _ = clock_reading(server)
            server.set_speed(speed)
            after, _, hi = clock_reading(server)
            assert before <= after <= before + (hi - lo) * 1000 * fastest + 1  # no jump
            assert server.speed == speed
            if speed == "max":  # no connection pulls the virtual clock: it stands still
                await asyncio.sleep(0.1)
                assert server.now_ms() == after and "at max speed" in server.describe()
            else:
                await assert_rate(server, speed)
        assert server.describe().endswith("at ×2")


async def test_speeding_up_wakes_a_connection_waiting_for_its_next_event(bundled):
    async with ReplayServer(bundled, start="2025-07-28T12:34:05Z", speed=1.0, updates_per_candle=1) as server:
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@kline_1m") as ws:
            with pytest.raises(TimeoutError):  # at real time the 12:34 candle closes in ~55 s
                await asyncio.wait_for(ws.recv(), 0.5)
            server.set_speed(600)  # now ~0.1 s away
            close = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
    assert close["k"]["x"] and close["k"]["t"] == ms("2025-07-28 12:34") and close["E"] == ms("2025-07-28 12:35")


async def test_pause_stops_the_streams_and_resume_goes_on_where_they_stopped(bundled):
    async with ReplayServer(bundled, speed=60, updates_per_candle=5) as server:  # an event every 0.2 s
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@kline_1m") as ws:
            async def read(n: int) -> list[dict]:
                return [orjson.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(n)]

            before = await read(8)
            server.pause()
            server.pause()  # a no-op
            at, during = server.now_ms(), []
            assert server.paused and server.describe().endswith("at ×60, paused")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.5):
                    while True:
                        during.append(orjson.loads(await ws.recv()))
            assert server.now_ms() == at
            assert all(e["E"] <= at for e in during)  # at most what was due before the pause, still in flight
            lo = asyncio.get_running_loop().time()
            server.resume()
            server.resume()  # a no-op
            resumed, _, hi = clock_reading(server)
            assert not server.paused and at <= resumed <= at + (hi - lo) * 60_000 + 1
            after = await read(8)
    assert after[-1]["E"] > at
    # one gapless sequence: per minute t, x:false at t + 12 s * k (k = 0..4), then x:true at t + 60 s
    got = [(e["k"]["t"], e["E"], e["k"]["x"]) for e in before + during + after]
    first = got[0][0]
    schedule = [(t, e, x) for t in range(first, first + 10 * MIN, MIN)
                for e, x in [*((t + k * 12_000, False) for k in range(5)), (t + MIN, True)]]
    assert got == schedule[schedule.index(got[0]):][:len(got)]


async def test_a_replay_paused_before_start_starts_paused(bundled):
    server = ReplayServer(bundled, speed=60)
    server.pause()
    async with server:
        await asyncio.sleep(0.1)
        assert server.now_ms() == server.start_ms
        server.resume()
        await assert_rate(server, 60.0)


async def test_bad_speeds_are_refused_naming_the_value(bundled):
    async with ReplayServer(bundled, speed=2.0) as server:
        for bad in (0, -2.0, float("nan"), float("inf"), True, "fast", None):
            message = re.escape(f"speed must be a positive number or 'max', got {bad!r}")
            with pytest.raises(ValueError, match=message):
                ReplayServer(bundled, speed=bad)
            with pytest.raises(ValueError, match=message):
                server.set_speed(bad)
        assert server.speed == 2.0
        await assert_rate(server, 2.0)


def test_partial_candle_walks_the_path_and_ends_at_the_record():
    bullish = (100.0, 110.0, 95.0, 105.0, 8.0)  # open, high, low, close, volume: path 100→95→110→105, 25 units
    assert partial_candle(*bullish, 0.2, 2, 4) == (95.0, 100.0, 95.0, 1.6)  # 5 units: down at the low
    assert partial_candle(*bullish, 0.5, 2, 4) == (102.5, 102.5, 95.0, 4.0)  # 12.5 units: climbing, a new high
    assert partial_candle(*bullish, 1.0, 2, 4) == (105.0, 110.0, 95.0, 8.0)  # the record, exactly
    bearish = (100.0, 110.0, 95.0, 97.0, 8.0)  # path 100→110→95→97
    assert partial_candle(*bearish, 0.25, 2, 4)[:3] == (106.75, 106.75, 100.0)
    assert partial_candle(*bearish, 0.999, 2, 4)[:3] == (96.97, 110.0, 95.0)


# -- CLI ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def replay_cli(*args):
    """``python -m thebot_panel.replay --port P *args`` until it printed its URLs; yields (port, printed text).
    On exit: terminated, and it must have ended cleanly (exit 0, no traceback)."""
    port = free_port()
    with subprocess.Popen([sys.executable, "-m", "thebot_panel.replay", "--port", str(port), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            lines = []
            while not any("rest:" in line for line in lines):
                line = proc.stdout.readline()
                assert line, f"CLI exited early: {proc.stderr.read()}"
                lines.append(line)
            yield port, "".join(lines)
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in stderr and "destroyed" not in stderr


async def test_the_server_listens_on_127_0_0_1_only_by_default(bundled):
    async with ReplayServer(bundled) as server:
        assert {sock.getsockname()[0] for sock in server._server.sockets} == {"127.0.0.1"}
        assert server.ws_url.startswith("ws://127.0.0.1:") and server.rest_url.startswith("http://127.0.0.1:")


def test_cli_listens_on_127_0_0_1_unless_told_otherwise():
    assert _parser().parse_args([]).host == "127.0.0.1"
    assert _parser().parse_args(["--host", "0.0.0.0"]).host == "0.0.0.0"


def test_cli_serves_and_answers_ping():
    with replay_cli("--speed", "60") as (port, text):
        assert f"ws://127.0.0.1:{port}" in text and f"http://127.0.0.1:{port}" in text
        assert "replay of BTCUSDT, ETHUSDT" in text and "×60" in text
        assert httpx.get(f"http://127.0.0.1:{port}/api/v3/ping", timeout=5).json() == {}


@pytest.mark.parametrize("args, needle", [(["--speed", "fast"], "--speed"), (["--speed", "-2"], "--speed"),
                                          (["--start", "yesterday-ish"], "start")])
def test_cli_bad_arguments_exit_2_with_one_clear_line(args, needle):
    proc = subprocess.run([sys.executable, "-m", "thebot_panel.replay", *args],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert needle in proc.stderr and "Traceback" not in proc.stderr


# -- tick recordings ---------------------------------------------------------------------------------


def recorded_lines(path: Path = TICK_FILE) -> list[tuple[int, dict, bytes]]:
    """``(receive time ns, message, raw data JSON)`` per line, read independently of the loader."""
    out = []
    with gzip.open(path, "rb") as f:
        for line in f:
            stamp, _, text = line.rstrip(b"\n").partition(b" ")
            msg = json.loads(text)
            raw = text[text.index(b'"data":') + len(b'"data":'):-1] if "stream" in msg else b""
            out.append((int(stamp), msg, raw))
    return out


@pytest.fixture(scope="module")
def lines() -> list[tuple[int, dict, bytes]]:
    return recorded_lines()


@pytest.fixture(scope="module")
def ticks() -> Recording:
    return Recording.from_paths(TICK_FILE)


def trade_frame(lines) -> pd.DataFrame:
    rows = [(m["data"]["T"], float(m["data"]["p"]), float(m["data"]["q"])) for _, m, _ in lines
            if m.get("stream") == "btcusdt@trade"]
    frame = pd.DataFrame(rows, columns=["T", "price", "qty"])
    return frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame["T"], unit="ms", utc=True), name="open_time"))


def pandas_1m(trades: pd.DataFrame) -> pd.DataFrame:
    """The oracle: trades -> 1m OHLCV, minutes without a trade dropped."""
    agg = trades.resample("1min", label="left", closed="left").agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("qty", "sum"))
    return agg.dropna(subset=["open"])


def book_offset(lines) -> int:
    """The recorder's clock offset: median of E - receive time (ms) over the event-timed messages."""
    return int(np.median([m["data"]["E"] - ns // 1_000_000 for ns, m, _ in lines
                          if "stream" in m and "E" in m["data"]]))


def test_tick_recording_keeps_trades_and_book_tickers_on_the_exchange_clock(ticks, lines):
    streams = [m.get("stream") for _, m, _ in lines]
    assert {"btcusdt@depth@100ms", None} < set(streams)  # depth and the REST snapshot are in the file...
    t = ticks.ticks["BTCUSDT"]
    assert set(t.streams) == {"trade", "aggTrade", "bookTicker"} and not len(t.streams["aggTrade"])  # ...and dropped
    trades = [(m["data"], raw) for _, m, raw in lines if m.get("stream") == "btcusdt@trade"]
    books = [(ns, m["data"], raw) for ns, m, raw in lines if m.get("stream") == "btcusdt@bookTicker"]
    assert t.streams["trade"].payload == [raw for _, raw in trades]  # byte for byte, recorded order
    assert t.streams["trade"].time.tolist() == [d["T"] for d, _ in trades]
    assert t.streams["trade"].ids.tolist() == [d["t"] for d, _ in trades]
    assert t.streams["bookTicker"].payload == [raw for _, _, raw in books]
    offset = book_offset(lines)
    assert 1_250 < offset < 1_300  # this recorder's clock ran ~1.27 s behind Binance's
    assert t.streams["bookTicker"].time.tolist() == [ns // 1_000_000 + offset for ns, _, _ in books]
    assert ticks.ticks_only and ticks.start == min(trades[0][0]["T"], books[0][0] // 1_000_000 + offset)
    assert ticks.end == max(trades[-1][0]["T"], books[-1][0] // 1_000_000 + offset) + 1


def test_tick_files_are_merged_and_deduplicated(ticks, lines, tmp_path):
    with gzip.open(TICK_FILE, "rb") as f:
        raw_lines = f.readlines()
    (tmp_path / "a.hftbacktest.gz").write_bytes(gzip.compress(b"".join(raw_lines[:9_000])))
    (tmp_path / "b.txt").write_bytes(b"".join(raw_lines[6_000:]))  # plain text, recognised by content
    merged = Recording.from_paths([tmp_path / "b.txt", tmp_path / "a.hftbacktest.gz"])
    whole = ticks.ticks["BTCUSDT"]
    for kind in ("trade", "bookTicker"):
        got = merged.ticks["BTCUSDT"].streams[kind]
        assert got.ids.tolist() == whole.streams[kind].ids.tolist() and got.payload == whole.streams[kind].payload
    assert merged.ticks["BTCUSDT"].streams["trade"].time.tolist() == whole.streams["trade"].time.tolist()
    assert_same_candles(merged["BTCUSDT"].frame(), ticks["BTCUSDT"].frame())
    twice = Recording.from_paths([TICK_FILE, TICK_FILE])
    assert len(twice.ticks["BTCUSDT"].streams["bookTicker"]) == len(whole.streams["bookTicker"])
    shutil.copy(TICK_FILE, tmp_path / "c.hftbacktest.gz")  # a directory contributes *.hftbacktest.gz
    assert len(Recording.from_paths(tmp_path).ticks["BTCUSDT"].streams["trade"]) == len(whole.streams["trade"])
    (tmp_path / "bad.txt").write_text("hello\n")
    with pytest.raises(ValueError, match="tick recording"):
        Recording.from_paths(tmp_path / "bad.txt")


async def test_rest_klines_of_a_tick_recording_are_the_trades_aggregated(ticks, lines):
    want = pandas_1m(trade_frame(lines))
    assert want.index[0] == pd.Timestamp("2024-08-08 23:54", tz="UTC") and len(want) == 4
    want = want.iloc[1:]  # 23:54 is partial (the recording starts at 23:54:15): dropped; 23:57 stays, partial
    assert_same_candles(ticks["BTCUSDT"].frame(), want)
    async with ReplayServer(ticks, start=ticks.end, speed=1.0) as server, httpx.AsyncClient() as client:
        assert_same_candles(rows_frame(await get_klines(client, server, symbol="BTCUSDT", interval="1m")), want)
        rows = await get_klines(client, server, symbol="BTCUSDT", interval="5m")
        assert_same_candles(rows_frame(rows), resample(want, "5min"))
    # mid-minute, REST shows the forming candle's trades up to the clock
    at = ms("2024-08-08 23:56:30")
    async with ReplayServer(ticks, start=at, speed="max") as server, httpx.AsyncClient() as client:
        rows = await get_klines(client, server, symbol="BTCUSDT", interval="1m")  # "max": the clock stands still
        assert server.now_ms() == at
        so_far = pandas_1m(trade_frame(lines).query("T <= @at")).iloc[1:]
    assert rows[-1][0] == ms("2024-08-08 23:56") and rows[-1][6] == ms("2024-08-08 23:56") + MIN - 1
    assert_same_candles(rows_frame(rows).iloc[-1:], so_far.iloc[-1:])


async def test_ws_trade_and_book_ticker_interleave_with_klines_in_replay_time_order(ticks, lines):
    server = ReplayServer(ticks, speed="max", updates_per_candle=6)
    assert server.start_ms == ticks.start  # a tick-only recording starts at its first tick
    async with server:
        async with websockets.connect(f"{server.ws_url}/stream?streams=btcusdt@kline_1m/btcusdt@trade/"
                                      "btcusdt@bookTicker", max_queue=None) as ws:
            frames = []
            with pytest.raises(TimeoutError):  # the streams fall silent after the last tick
                while True:
                    frames.append(await asyncio.wait_for(ws.recv(), 1))
    messages = [orjson.loads(f) for f in frames]
    by_stream = {name: [m["data"] for m in messages if m["stream"] == name]
                 for name in ("btcusdt@kline_1m", "btcusdt@trade", "btcusdt@bookTicker")}
    assert len(messages) == sum(map(len, by_stream.values()))
    # every recorded trade and bookTicker, in recorded order, with the recorded values (E included)
    for name in ("btcusdt@trade", "btcusdt@bookTicker"):
        assert by_stream[name] == [m["data"] for _, m, _ in lines if m.get("stream") == name]
    parsed = [parse_message(f) for f in frames]
    first_trade = next(p for p in parsed if isinstance(p, Trade))
    d = by_stream["btcusdt@trade"][0]
    assert first_trade == Trade("BTCUSDT", d["E"], d["t"], float(d["p"]), float(d["q"]), d["T"], d["m"])
    assert parsed[0] == first_trade  # the first tick is due at the start: it is sent
    book = next(p for p in parsed if isinstance(p, BookTicker))
    d = by_stream["btcusdt@bookTicker"][0]
    assert book == BookTicker("BTCUSDT", d["u"], float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]))
    assert sum(isinstance(p, Trade) for p in parsed) == len(by_stream["btcusdt@trade"])
    assert sum(isinstance(p, BookTicker) for p in parsed) == len(by_stream["btcusdt@bookTicker"])

    # replay times never go back: trade T, kline E, bookTicker receive time + the recorder's offset
    offset = book_offset(lines)
    book_time = {m["data"]["u"]: ns // 1_000_000 + offset for ns, m, _ in lines
                 if m.get("stream") == "btcusdt@bookTicker"}
    times = [m["data"]["T"] if m["stream"] == "btcusdt@trade" else
             m["data"]["E"] if m["stream"] == "btcusdt@kline_1m" else book_time[m["data"]["u"]] for m in messages]
    assert times == sorted(times)
    kinds = [m["stream"] for m in messages]
    assert all(any(k != kinds[i] for k in kinds[i:i + 500]) for i in range(0, len(kinds), 500))  # interleaved

    # klines: updates every 10 s show the minute's trades so far; closes are the pandas aggregation
    trades, want = trade_frame(lines), pandas_1m(trade_frame(lines)).iloc[1:]
    klines = by_stream["btcusdt@kline_1m"]
    closed = [k for k in klines if k["k"]["x"]]
    assert [k["k"]["t"] for k in closed] == [ms("2024-08-08 23:55"), ms("2024-08-08 23:56")]
    got = pd.DataFrame([[float(k["k"][f]) for f in "ohlcv"] for k in closed], columns=list(want.columns),
                       index=pd.DatetimeIndex(pd.to_datetime([k["k"]["t"] for k in closed], unit="ms", utc=True)))
    assert_same_candles(got, want.iloc[:2])
    for k in klines:
        if not k["k"]["x"]:
            t, e = k["k"]["t"], k["E"]
            assert (e - t) % 10_000 == 0 and e >= ticks.start
            minute = trades[(trades["T"] >= t) & (trades["T"] < t + MIN)]
            seen = minute[minute["T"] <= e] if (minute["T"] <= e).any() else minute.iloc[:1]
            assert [float(k["k"][f]) for f in "ohlc"] == [seen["price"].iloc[0], seen["price"].max(),
                                                           seen["price"].min(), seen["price"].iloc[-1]]
            assert float(k["k"]["v"]) == pytest.approx(seen["qty"].sum(), rel=1e-12)
    # the last minute is partial: it plays until the last tick and is never closed
    assert klines[-1]["k"]["t"] == ms("2024-08-08 23:57") and not klines[-1]["k"]["x"]
    assert klines[-1]["E"] == ms("2024-08-08 23:57")


async def test_ws_raw_trade_stream_sends_the_recorded_bytes_and_live_subscribe_works(ticks, lines):
    recorded = [raw for _, m, raw in lines if m.get("stream") == "btcusdt@trade"]
    async with ReplayServer(ticks, speed=20) as server:  # ~170 s of recording: 8.5 s
        async with websockets.connect(f"{server.ws_url}/ws/btcusdt@trade") as ws:
            got = [await asyncio.wait_for(ws.recv(decode=False), 5) for _ in range(100)]
            first = recorded.index(got[0])  # the clock ran on while connecting
            assert first < 100 and got == recorded[first:first + 100]
            before = server.now_ms()
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@bookTicker"], "id": 1}))
            await reply(ws, 1)
            await ws.send(orjson.dumps({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 2}))
            await reply(ws, 2)
            await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
            assert (await reply(ws, 3))["result"] == ["btcusdt@bookTicker"]
            events = [parse_message(await asyncio.wait_for(ws.recv(), 5)) for _ in range(50)]
    assert isinstance(events[-1], BookTicker)  # in-flight trades may still arrive, then only bookTickers
    book = ticks.ticks["BTCUSDT"].streams["bookTicker"]
    first = next(e for e in events if isinstance(e, BookTicker))
    assert book.time[book.ids.tolist().index(first.update_id)] >= before  # it starts at the clock


async def test_tick_stream_errors_name_what_is_served(bundled, ticks):
    mixed = Recording([bundled["ETHUSDT"]], ticks.ticks.values())
    assert not mixed.ticks_only and mixed.symbols == ("BTCUSDT", "ETHUSDT")
    assert ReplayServer(mixed).start_ms > mixed.start + 1_440 * MIN  # candle files: the usual 7 days in
    for recording, stream, needles in [
        (mixed, "ethusdt@trade", ["ETHUSDT", "symbols with ticks: BTCUSDT"]),
        (bundled, "btcusdt@bookTicker", ["BTCUSDT", "kline", "symbols with ticks: none"]),
        (ticks, "btcusdt@aggTrade", ["not served", "@trade", "BTCUSDT"]),
        (ticks, "ethusdt@trade", ["unknown symbol ETHUSDT"]),
        (bundled, "xrpusdt@ticker", ["unknown symbol XRPUSDT"]),
        (bundled, "BTCUSDT@ticker", ["lowercase"]),
        (ticks, "btcusdt@depth", ["unknown stream"]),
        (ticks, "BTCUSDT@trade", ["lowercase"]),
    ]:
        async with ReplayServer(recording, speed=1.0) as server:
            async with websockets.connect(f"{server.ws_url}/ws") as ws:
                await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": [stream], "id": 1}))
                error = await reply(ws, 1)
            assert error["error"]["code"] == 2 and all(n in error["error"]["msg"] for n in needles), error
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(f"{server.ws_url}/ws/{stream}"):
                    pass
            assert refused.value.response.status_code == 400


def test_cli_serves_a_tick_recording_from_its_first_tick():
    with replay_cli("--data", str(TICK_FILE), "--speed", "10") as (port, text):
        assert "replay of BTCUSDT recorded 2024-08-08 → 2024-08-08, from 2024-08-08 23:54 UTC at ×10" in text
        assert "streams=btcusdt@kline_1m/btcusdt@trade/btcusdt@bookTicker" in text
        # max_queue=None: a client whose queue is full stops reading and misses the close frame
        with websockets.sync.client.connect(f"ws://127.0.0.1:{port}/ws/btcusdt@trade", max_queue=None) as ws:
            assert isinstance(parse_message(ws.recv(timeout=5)), Trade)


async def test_ws_ticker_of_a_tick_recording_carries_the_recorded_best_bid_and_ask(ticks):
    async with ReplayServer(ticks, speed="max", updates_per_candle=6) as server:
        async with websockets.connect(f"{server.ws_url}/stream?streams=btcusdt@bookTicker/btcusdt@kline_1m/"
                                      "btcusdt@ticker", max_queue=None) as ws:
            messages = []
            with pytest.raises(TimeoutError):  # silent after the last tick
                while True:
                    messages.append(orjson.loads(await asyncio.wait_for(ws.recv(), 1)))
    candles = [m for m in messages if m["stream"] != "btcusdt@bookTicker"]
    tickers = check_tickers(candles, ticks["BTCUSDT"].frame())
    assert len(tickers) > 10
    book = {f: "0" for f in "bBaA"}  # before the first bookTicker
    for m in messages:  # a bookTicker due at a ticker's E goes first (subscription order)
        if m["stream"] == "btcusdt@bookTicker":
            book = {f: m["data"][f] for f in "bBaA"}
        elif m["stream"] == "btcusdt@ticker":
            assert {f: m["data"][f] for f in "bBaA"} == book
    assert tickers[-1]["b"] != "0" and float(tickers[-1]["b"]) < float(tickers[-1]["a"])
