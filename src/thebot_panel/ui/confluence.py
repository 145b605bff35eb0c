"""Confluence gauges: each market's signal confluence, from SELL (-100) through NEUTRAL to BUY (+100)."""

from __future__ import annotations

import html
import math

import panel as pn

from ..hub import FeedHub
from . import LiveView
from .theme import DOWN, NEUTRAL, UP


def gauge_title(confluence) -> str:
    """``"BUY 72% · higher trend confirms"`` for a ``Confluence`` (``"waiting for a closed candle"`` for None)."""
    if confluence is None:
        return "waiting for a closed candle"
    text = f"{confluence.direction} {confluence.confidence:.0%}"
    if confluence.confirmed is not None:
        text += " · higher trend " + ("confirms" if confluence.confirmed else "disagrees")
    return text


def signed_confidence(confluence) -> int:
    """The gauge's value: confidence × 100 signed by the score (SELL < 0 < BUY), 0 for None."""
    return 0 if confluence is None else round(math.copysign(confluence.confidence, confluence.score) * 100)


def gauge_html(market: str, confluence) -> str:
    """One market's linear gauge: a bar from the centre towards SELL (left) or BUY (right), green for a BUY
    direction, red for SELL, grey while NEUTRAL (below the threshold), its value and caption (CSS hooks
    ``.gauge-<market>`` with ``data-value``)."""
    value = signed_confidence(confluence)
    direction = None if confluence is None else confluence.direction
    color = {"BUY": UP, "SELL": DOWN}.get(direction, NEUTRAL)
    left, width = (50, value / 2) if value >= 0 else (50 + value / 2, -value / 2)
    return (f'<div class="gauge gauge-{html.escape(market.split()[0])}" data-value="{value}" '
            f'style="display:flex;align-items:center;gap:8px;margin:2px 0">'
            f'<b style="width:120px">{html.escape(market)}</b>'
            f'<span style="position:relative;width:160px;height:10px;border-radius:5px;'
            f'background:rgba(128,128,128,.25)">'
            f'<span style="position:absolute;left:{left}%;width:{width}%;height:100%;border-radius:5px;'
            f'background:{color}"></span><span style="position:absolute;left:50%;width:1px;height:100%;'
            f'background:#888"></span></span>'
            f'<b style="width:44px;text-align:right;color:{color}">{value:+d}</b>'
            f'<small>{html.escape(gauge_title(confluence))}</small></div>')


class ConfluenceGauges(LiveView):
    """One linear gauge per market of the hub (its symbols at its interval): the confluence confidence × 100
    of the hub's signal rules over the last candles, signed by the score (SELL < 0 < BUY; see
    ``signals.aggregator``), all in one pane redrawn every ``period_ms``."""

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self.pane = pn.pane.HTML("", sizing_mode="stretch_width", name="confluence", margin=(0, 10))
        self.refresh()

    def refresh(self) -> None:
        self.pane.object = "".join(
            gauge_html(f"{symbol} {self.hub.interval}", self.hub.get(symbol, self.hub.interval).latest_confluence)
            for symbol in self.hub.symbols)

    def __panel__(self):
        return self.live(pn.Column("#### Signal confluence (SELL −100 … +100 BUY)", self.pane,
                                   sizing_mode="stretch_width"))
