"""Live/backtest parity: a backtest over the candles the hub saw gives the very signals the hub streamed live."""

import asyncio

import pytest

from thebot_panel.backtest import Backtest, evaluate
from thebot_panel.hub import FeedHub
from thebot_panel.presets import default_indicators, default_rules
from thebot_panel.replay import Recording, ReplayServer
from thebot_panel.signals.rules import Signal


async def wait_for(predicate, timeout=60.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_a_backtest_over_a_replayed_window_gives_the_signals_the_hub_streamed_live():
    async with ReplayServer(Recording.bundled(), speed=1200) as replay:
        hub = FeedHub(source="replay", symbols=["BTCUSDT"], warmup=300, replay_url=replay.rest_url)
        graph = hub.open("BTCUSDT", "1m")
        streamed = graph.branch.signals.sink_to_list()
        await hub.start()
        try:
            first_live = graph.book.last_closed_open_time + 60_000
            await wait_for(lambda: len(graph.book) >= 300 + 250)
            stats = hub.stats()
        finally:
            await hub.stop()
    # every live candle came through the stream (none dropped and backfilled, which recomputes instead of streaming)
    assert (stats["dropped"], stats["gaps_seen"]) == (0, 0)
    live = [s for s in streamed if type(s) is Signal and not s.provisional]
    frame = graph.book.frame()                            # every closed candle the hub had: warm-up + live
    indicators = default_indicators()
    found = evaluate(frame, indicators, default_rules(indicators), "BTCUSDT", "1m")
    backtest = [s for s in found.signals if s.open_time >= first_live]
    assert len(live) >= 10 and live == backtest          # same candles, rules, sides, prices, strengths
    # and the backtest trades on exactly those signals (entries at the next open)
    result = Backtest().run(frame)
    assert result.signals == found.signals
    buys = {s.open_time + 60_000 for s in found.signals if s.side == "BUY"}
    assert {t.value // 1_000_000 for t in result.trades.entry_time} <= buys


@pytest.fixture(autouse=True)
def no_shared_hub():
    yield
    FeedHub._shared = None
