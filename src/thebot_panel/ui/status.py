"""The status strip: source, connection status, last message age, messages/s, counters (socket, backfill, connection
budget), the replay badge, and what is wrong now."""

from __future__ import annotations

import html

import panel as pn

from ..hub import FeedHub
from . import LiveView
from .theme import ACCENT, DOWN, NEUTRAL, UP, WARN

_COLORS = {"connected": UP, "connecting": WARN, "reconnecting": WARN, "starting": WARN, "disconnected": NEUTRAL,
           "error": DOWN}


def status_html(stats: dict) -> str:
    """The strip's HTML for ``FeedHub.stats()``; the error (if any) is spelled out in full."""
    color = _COLORS.get(stats["status"], NEUTRAL)
    age = stats["last_message_age"]
    parts = [
        f'<span class="status" style="color:{color}">● {html.escape(stats["status"])}</span>',
        f'<span class="source">{html.escape(stats["source"] or "resolving source…")}</span>',
        f'<span class="age">last message {"—" if age is None else f"{age:.1f} s"} ago</span>',
        f'<span class="rate">{stats["messages_per_second"]:.1f} msg/s</span>',
        f'<span class="counts">{stats["received"]:,} received · {stats["malformed"]} malformed · '
        f'{stats["dropped"]} dropped · {stats["reconnects"]} reconnects</span>',
        f'<span class="backfill">{stats["gaps_filled"]}/{stats["gaps_seen"]} gaps filled · '
        f'{stats["exchange_gaps"]} exchange gaps · {stats["rest_retries"]} REST retries</span>',
        f'<span class="budget">{stats["connection_attempts"]}/{stats["connection_budget"]} connections '
        f'per 5 min</span>',
    ]
    if stats["replay"]:
        parts.insert(0, f'<span class="replay-badge" style="background:{ACCENT};color:white;padding:2px 8px;'
                        f'border-radius:10px;font-weight:600">REPLAY · '
                        f'{html.escape(stats["replay"].removeprefix("replay of "))}</span>')
    strip = " &nbsp;·&nbsp; ".join(parts)
    if stats["error"]:
        strip += f'<div class="feed-error" style="color:{DOWN};font-weight:600">{html.escape(stats["error"])}</div>'
    return strip


class StatusStrip(LiveView):
    """A one-line feed status redrawn every ``period_ms``."""

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self.pane = pn.pane.HTML(status_html(hub.stats()), sizing_mode="stretch_width", name="status")

    def refresh(self) -> None:
        self.pane.object = status_html(self.hub.stats())

    def __panel__(self):
        return self.live(self.pane)
