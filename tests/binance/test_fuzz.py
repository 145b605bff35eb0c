"""Parser fuzz: 100,000 mutations of real messages through ``events.parse_message``.

Real messages: frames the replay server sends (bundled candles: klines of several intervals and 24hr tickers,
raw and combined; the tick recording: trades, bookTickers and klines derived from trades; control replies and a
serverShutdown) and the recorded frames of tests/fixtures/ws (aggTrade, the 24hr ticker doc example). Frames and
mutations are the same on every run, so a failure reproduces. Every frame must either parse or raise
``MalformedMessage``, and every kline that parses must pass ``kline_violations``, a validity check written here
independently of ``events.kline_problem``.
"""

from __future__ import annotations

import asyncio
import math
import random
import traceback
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import connect

from mutations import INTERVAL_MS, mutated
from recorded import FIXTURES
from thebot_panel.binance.events import Kline, MalformedMessage, parse_message
from thebot_panel.replay import Recording, ReplayServer

TICK_FILE = FIXTURES / "ticks" / "btcusdt_20240808_2354-2357.hftbacktest.gz"
MUTATIONS = 100_000
SEED = 20250818
DAY_MS = 86_400_000


# -- real messages ---------------------------------------------------------------------------------

async def replay_frames(recording: Recording, path: str, count: int, updates_per_candle: int) -> list[bytes]:
    """The first ``count`` event frames on WebSocket ``path`` of a fresh replay at "max" speed (the same on every
    run), then a LIST_SUBSCRIPTIONS reply, an error reply and a serverShutdown."""
    async with (ReplayServer(recording, speed="max", updates_per_candle=updates_per_candle) as server,
                asyncio.timeout(10)):
        async with connect(server.ws_url + path, max_size=None, max_queue=None) as ws:  # never stops reading
            await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":1}')
            await ws.send('{"method":"SUBSCRIBE","params":["foousdt@kline_1m"],"id":2}')
            events, replies = [], []
            while len(events) < count or len(replies) < 2:
                frame = await ws.recv(decode=False)
                (replies if frame.startswith((b'{"result"', b'{"error"')) else events).append(frame)
            shutdown = asyncio.create_task(server.send_server_shutdown())  # may wait for us to read
            while b'"serverShutdown"' not in (frame := await ws.recv(decode=False)):  # behind the frames sent
                pass
            await shutdown
            server.pause()  # no more frames: our close frame is answered at once
    return events[:count] + replies + [frame]


@pytest.fixture(scope="module")
def real_frames() -> list[bytes]:
    """A few hundred real frames, every one of which parses."""
    async def collect() -> list[bytes]:
        candles, ticks = Recording.bundled(), Recording.from_paths(TICK_FILE)
        return [
            *await replay_frames(candles, "/stream?streams=btcusdt@kline_1m/ethusdt@kline_5m/btcusdt@kline_1h/"
                                          "ethusdt@kline_1d/btcusdt@ticker", 300, updates_per_candle=3),
            *await replay_frames(candles, "/ws/ethusdt@kline_15m", 40, updates_per_candle=3),
            *await replay_frames(candles, "/ws/ethusdt@ticker", 20, updates_per_candle=3),
            *await replay_frames(ticks, "/stream?streams=btcusdt@trade/btcusdt@bookTicker", 150, updates_per_candle=6),
            *await replay_frames(ticks, "/stream?streams=btcusdt@kline_1m/btcusdt@kline_3m", 20, updates_per_candle=6),
            *await replay_frames(ticks, "/ws/btcusdt@bookTicker", 20, updates_per_candle=6),
        ]
    recorded = [line.encode() for line in (FIXTURES / "ws" / "cryptofeed_2021-10-12_kline_aggTrade.jsonl")
                .read_text().splitlines() if line]
    recorded += [p.read_bytes() for p in sorted((FIXTURES / "ws").glob("*.json"))]
    return asyncio.run(collect()) + recorded


# -- the check -------------------------------------------------------------------------------------

def stream_of(raw: bytes | str) -> str | None:
    """The combined-stream name a frame carries, if it is an envelope (``None`` for a raw payload)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value.get("stream") if isinstance(value, dict) and "data" in value else None


def shown(value) -> str:
    """A short repr; only the type of a list or object (which may be nested too deep for ``repr``)."""
    return f"{value!r:.40}" if isinstance(value, (str, int, float, type(None))) else type(value).__name__


def kline_violations(k: Kline, stream: str | None) -> list[str]:
    """What makes ``k`` no Binance kline (on ``stream``, if the frame named one), each as "what: details"."""
    wrong = []
    if type(k.symbol) is not str or not k.symbol:
        wrong.append(f"symbol: {shown(k.symbol)}")
    if type(k.interval) is not str or k.interval not in INTERVAL_MS:
        return wrong + [f"interval: {shown(k.interval)}"]
    if stream is not None and stream != f"{str(k.symbol).lower()}@kline_{k.interval}":
        wrong.append(f"stream: a {shown(k.symbol)} {k.interval} kline on {shown(stream)}")
    if not all(type(t) is int for t in (k.open_time, k.close_time, k.event_time)):
        return wrong + [f"times: {shown(k.open_time)} {shown(k.close_time)} {shown(k.event_time)}"]
    length = INTERVAL_MS[k.interval]
    if k.open_time < 0 or k.close_time <= k.open_time:
        wrong.append(f"open/close time: {k.open_time} {k.close_time}")
    if length is not None and length <= DAY_MS and k.open_time % length:
        wrong.append(f"grid: {k.open_time} is not on the {k.interval} grid")
    if k.event_time < 0 or (k.event_time and k.open_time > k.event_time):  # 0: no event time given
        wrong.append(f"event time: opens at {k.open_time}, event time {k.event_time}")
    prices = (k.open, k.high, k.low, k.close)
    if not all(type(p) is float and math.isfinite(p) and p > 0 for p in prices):
        wrong.append(f"prices: {prices}")
    elif not (k.low <= k.open <= k.high and k.low <= k.close <= k.high):
        wrong.append(f"low..high: {prices}")
    if not (type(k.volume) is float and math.isfinite(k.volume) and k.volume >= 0):
        wrong.append(f"volume: {shown(k.volume)}")
    if not all(type(v) is float and (math.isnan(v) or math.isfinite(v) and v >= 0)
               for v in (k.quote_volume, k.taker_buy_volume, k.taker_buy_quote_volume)):
        wrong.append(f"volumes: {shown(k.quote_volume)} {shown(k.taker_buy_volume)} {shown(k.taker_buy_quote_volume)}")
    if type(k.closed) is not bool:
        wrong.append(f"closed: {shown(k.closed)}")
    return wrong


def problems(frames) -> tuple[dict[str, tuple[int, bytes | str]], int]:
    """Per distinct problem (an exception other than ``MalformedMessage`` with where it was raised, or a kline
    violation): how often, and the first frame that showed it; and how many klines were accepted (and checked)."""
    found: dict[str, tuple[int, bytes | str]] = {}
    klines = 0

    def note(problem: str, raw) -> None:
        count, first = found.get(problem, (0, raw))
        found[problem] = (count + 1, first)

    for raw in frames:
        try:
            event = parse_message(raw)
        except MalformedMessage:
            continue
        except Exception as exc:  # noqa: BLE001 - anything else is what we look for
            where = traceback.extract_tb(exc.__traceback__)[-1]
            note(f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno} ({where.line})", raw)
            continue
        if type(event) is Kline:
            klines += 1
            for violation in kline_violations(event, stream_of(raw)):
                note(f"accepted an invalid kline ({violation.split(':')[0]})", raw)
    return found, klines


def report(found: dict[str, tuple[int, bytes | str]]) -> str:
    return "\n".join(f"{count}× {problem}\n    e.g. {first[:300]!r}" for problem, (count, first) in found.items())


# -- tests -----------------------------------------------------------------------------------------

def test_every_real_frame_parses_and_every_real_kline_is_valid(real_frames):
    events = [parse_message(raw) for raw in real_frames]
    kinds = {type(e).__name__ for e in events}
    assert kinds == {"Kline", "Ticker24h", "Trade", "AggTrade", "BookTicker", "ControlReply", "ServerShutdown"}
    klines = [(e, stream_of(raw)) for e, raw in zip(events, real_frames) if type(e) is Kline]
    assert len(klines) > 200 and {k.interval for k, _ in klines} >= {"1m", "3m", "5m", "15m", "1h", "1d"}
    assert all(kline_violations(k, stream) == [] for k, stream in klines)


def test_mutated_frames_raise_only_malformed_message_and_accepted_klines_are_valid(real_frames):
    rng = random.Random(SEED)
    frames = [mutated(rng, rng.choice(real_frames)) for _ in range(MUTATIONS)]
    found, klines = problems(frames)
    assert klines > MUTATIONS // 20  # the mutations leave enough klines acceptable to check
    assert not found, f"parse_message on {MUTATIONS} mutated frames (seed {SEED}):\n{report(found)}"
