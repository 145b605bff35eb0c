"""Confidence gauges: each market's signal confluence, from SELL (-100) through NEUTRAL to BUY (+100)."""

from __future__ import annotations

import math

import panel as pn

from ..hub import FeedHub
from . import when_served
from .chart import DOWN, UP


def gauge_title(confluence) -> str:
    """``"BTCUSDT 1m · BUY 72 % · 15m confirms"`` for a ``Confluence`` (``"… · waiting"`` for None)."""
    if confluence is None:
        return "waiting for a closed candle"
    text = f"{confluence.direction} {confluence.confidence:.0%}"
    if confluence.confirmed is not None:
        text += " · higher trend " + ("confirms" if confluence.confirmed else "disagrees")
    return text


class ConfluenceGauges(pn.viewable.Viewer):
    """One gauge per market of the hub (its symbols at its interval): the confluence confidence × 100 of the
    hub's signal rules over the last candles, signed by its direction (SELL < 0 < BUY; see
    ``signals.aggregator``), refreshed every ``period_ms``."""

    def __init__(self, hub: FeedHub, period_ms: int = 1000, **params):
        super().__init__(**params)
        self.hub = hub
        self.gauges = {}
        for symbol in hub.symbols:
            self.gauges[symbol] = pn.indicators.Gauge(  # unnamed: the caption under it names the market
                name="", value=0, bounds=(-100, 100), format="{value}", width=180, height=160,
                colors=[(0.4, DOWN), (0.6, "#9e9e9e"), (1, UP)], css_classes=[f"gauge-{symbol}"])
        self.captions = {symbol: pn.pane.Markdown("", margin=(0, 10)) for symbol in hub.symbols}
        self._period_ms, self._callback = period_ms, None
        self.refresh()

    def refresh(self) -> None:
        for symbol, gauge in self.gauges.items():
            latest = self.hub.market(symbol, self.hub.interval).confluence.latest
            gauge.value = 0 if latest is None else round(math.copysign(latest.confidence, latest.score) * 100)
            self.captions[symbol].object = f"**{symbol} {self.hub.interval}** · {gauge_title(latest)}"

    def _start(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.refresh, period=self._period_ms)

    def __panel__(self):
        when_served(self._start)
        return pn.Row(*(pn.Column(self.gauges[s], self.captions[s]) for s in self.gauges), name="confluence")
