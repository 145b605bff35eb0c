"""A real hub on the replay of the 13 recorded USDT pairs, for the views that show every market (screener,
compare)."""

import asyncio
import contextlib

from recorded import SCREENER, SCREENER_SYMBOLS
from thebot_panel.hub import FeedHub
from thebot_panel.replay import Recording, ReplayServer

WARMUP = 300


async def wait_for(predicate, timeout=15.0):
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


def books(hub):
    return {s: hub.get(s, hub.interval).book for s in SCREENER_SYMBOLS}


async def wait_for_candles(hub, more: int) -> None:
    """Until every book holds ``more`` closed candles beyond what it holds now."""
    target = {s: len(b) + more for s, b in books(hub).items()}
    await wait_for(lambda: all(len(b) >= target[s] for s, b in books(hub).items()))


@contextlib.asynccontextmanager
async def running_hub(tmp_path):
    """A started hub of the 13 pairs at 1m on a replay from 2023-04-11 00:00 at ×600, after a few live candles."""
    recording = Recording.from_paths(SCREENER)
    assert sorted(recording) == sorted(SCREENER_SYMBOLS)
    async with ReplayServer(recording, start="2023-04-11T00:00", speed=600) as server:
        hub = FeedHub(source="replay", symbols=SCREENER_SYMBOLS, warmup=WARMUP, replay_url=server.rest_url,
                      db_path=str(tmp_path / "alerts.sqlite"))
        await hub.start()
        try:
            assert hub.error == ""
            await wait_for(lambda: all(len(b) >= WARMUP + 3 for b in books(hub).values()))
            yield hub
        finally:
            await hub.stop()
