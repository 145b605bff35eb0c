"""Where the market data comes from: ``resolve_source`` turns the user's choice into a ``Source``.

``auto`` (Binance if its REST endpoint answers within ``probe_timeout`` s, else the bundled replay, said in the
label, the badge and the log), ``binance`` (live only; ``ConnectionError`` saying what to do if unreachable),
``replay`` (the embedded replay server on 127.0.0.1, or the one already running at ``replay_url``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from .binance.client import BINANCE_WS_URL
from .binance.rest import BINANCE_REST_URL, RestClient

log = logging.getLogger(__name__)

SOURCES = ("auto", "binance", "replay")


@dataclass
class Source:
    """A resolved source. ``rest``: a ``RestClient`` on ``rest_url``; ``label``: ``"live: <ws url>"`` or ``"replay:
    <ws url>"``; ``badge``: non-empty in replay (the recording's dates and speed, or the external replay's URL);
    ``replay``: the embedded ``ReplayServer`` (None otherwise); ``clock``: the exchange's time now, ms since the
    epoch (UTC) — Binance's (the local clock corrected by ``/api/v3/time``) or the embedded replay's — or None when
    unknown (an external replay runs at a speed we do not know)."""

    ws_url: str
    rest_url: str
    rest: RestClient
    label: str
    badge: str = ""
    replay: object = None
    clock: Callable[[], int] | None = None

    @property
    def live(self) -> bool:
        return self.label.startswith("live")

    def quote_streams(self, symbol: str) -> list[str]:
        """``ticker`` (24 h figures) and ``bookTicker`` (best bid/ask) for the metrics strip: both from Binance; from
        a replay, ``ticker`` always and ``bookTicker`` where the embedded replay's recording has ticks."""
        if self.live:
            return ["ticker", "bookTicker"]
        ticks = self.replay.recording.ticks.get(symbol) if self.replay is not None else None
        return ["ticker", "bookTicker"] if ticks is not None and len(ticks.streams["bookTicker"]) else ["ticker"]


async def resolve_source(kind: str, *, ws_url: str | None = None, rest_url: str | None = None,
                         replay_url: str | None = None, replay_data=None, replay_start=None, speed: float = 10.0,
                         paused: bool = False, probe_timeout: float = 3.0, rest_timeout: float = 10.0) -> Source:
    """The source for ``kind`` (one of ``SOURCES``; see module docstring). ``ws_url``/``rest_url`` override Binance's
    endpoints; ``replay_data`` (paths), ``replay_start``, ``speed`` and ``paused`` configure the embedded replay.
    Raises ``ConnectionError`` for ``binance`` when unreachable, ``ValueError``/``FileNotFoundError`` for bad replay
    data, ``OSError`` if the replay cannot listen."""
    if kind not in SOURCES:
        raise ValueError(f"unknown source {kind!r}: expected one of {', '.join(SOURCES)}")
    if kind in ("auto", "binance") and replay_url is None:
        rest_url = rest_url or BINANCE_REST_URL
        rest = RestClient(rest_url, rest_timeout)
        try:
            offset = await asyncio.wait_for(rest.server_time(), probe_timeout) - time.time_ns() // 10**6
        except Exception as exc:
            await rest.close()
            if kind == "binance":
                raise ConnectionError(f"Binance is unreachable at {rest_url} ({type(exc).__name__}: "
                                      f"{exc or 'timed out'}); use --source replay to run offline") from exc
            log.warning("Binance unreachable at %s (%s); falling back to the bundled replay", rest_url,
                        type(exc).__name__)
        else:
            ws_url = ws_url or BINANCE_WS_URL
            source = Source(ws_url, rest_url, rest, f"live: {ws_url}",
                            clock=lambda: time.time_ns() // 1_000_000 + offset)
            log.info("source: %s", source.label)
            return source
    if replay_url is not None:
        ws_url, rest_url = replay_url.replace("http://", "ws://"), replay_url.replace("ws://", "http://")
        source = Source(ws_url, rest_url, RestClient(rest_url, rest_timeout), f"replay: {ws_url}",
                        f"replay at {rest_url}")
    else:
        from .replay import Recording, ReplayServer

        recording = Recording.from_paths(replay_data) if replay_data else Recording.bundled()
        replay = ReplayServer(recording, start=replay_start, speed=speed)
        if paused:
            replay.pause()
        await replay.start()
        source = Source(replay.ws_url, replay.rest_url, RestClient(replay.rest_url, rest_timeout),
                        f"replay: {replay.ws_url}", replay.describe(), replay, replay.now_ms)
    log.info("source: %s (%s)", source.label, source.badge)
    return source
