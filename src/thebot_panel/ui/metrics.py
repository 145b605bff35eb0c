"""The metrics strip: per symbol, the last price coloured by tick direction, 24 h change and volume, best bid/ask
and spread, signals today, last update age, messages/s and the end-to-end latency (exchange event -> browser)."""

from __future__ import annotations

import math
import time

import panel as pn
import param
from panel.reactive import ReactiveHTML

from ..hub import FeedHub
from . import when_served
from .chart import DOWN, UP


def _num(value: float, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def metrics_html(m: dict) -> str:
    """One symbol's line for ``MarketMetrics.snapshot(...)`` (CSS hooks ``.metric-<name>``)."""
    color = {1: UP, -1: DOWN}.get(m["direction"], "inherit")
    arrow = {1: "▲", -1: "▼"}.get(m["direction"], "")
    change_color = UP if m["change_24h_pct"] >= 0 else DOWN if not math.isnan(m["change_24h_pct"]) else "inherit"
    age = "—" if m["age_s"] is None else f"{m['age_s']:.1f} s ago"
    parts = [
        f'<b>{m["symbol"]}</b> <span class="metric-price" style="color:{color};font-weight:600">'
        f'{_num(m["price"], ",.2f")} {arrow}</span>',
        f'24h <span class="metric-change" style="color:{change_color}">{_num(m["change_24h_pct"], "+.2f")} %</span>'
        f' · vol <span class="metric-volume">{_num(m["volume_24h"], ",.2f")}</span>'
        f'{" (candles)" if m["source_24h"] == "candles" else ""}',
        f'bid <span class="metric-bid">{_num(m["bid"], ",.2f")}</span> / ask <span class="metric-ask">'
        f'{_num(m["ask"], ",.2f")}</span> · spread <span class="metric-spread">{_num(m["spread"], ",.2f")}</span>',
        f'<span class="metric-signals">{m["signals_today"]}</span> signals today',
        f'updated <span class="metric-age">{age}</span>',
    ]
    return " &nbsp;·&nbsp; ".join(parts)


class LatencyProbe(ReactiveHTML):
    """End-to-end latency shown in the browser: the feed's latency (exchange event time -> hub, ms) plus the
    time from the server sending this update (``sent_ms``, wall clock) to the browser showing it."""

    feed_ms = param.Number(default=float("nan"), doc="Exchange event time -> hub, ms (NaN unknown)")
    sent_ms = param.Integer(default=0, doc="Server wall-clock ms when the update was sent")

    _template = '<span id="latency" class="metric-latency">—</span>'
    _scripts = {
        "render": "self.show()",
        "sent_ms": "self.show()",
        "show": """
            if (!data.sent_ms) return;
            const browser = Math.max(0, Date.now() - data.sent_ms);
            latency.textContent = Number.isFinite(data.feed_ms)
              ? `${Math.round(data.feed_ms + browser)} ms (feed ${Math.round(data.feed_ms)} + browser ${browser})`
              : `browser ${browser} ms (feed unknown)`;
            latency.dataset.total = Number.isFinite(data.feed_ms) ? Math.round(data.feed_ms + browser) : "";
        """,
    }


class MetricsStrip(pn.viewable.Viewer):
    """One line per hub symbol (at the hub's interval), refreshed every ``period_ms``; then the feed's msg/s and
    the end-to-end latency of the last update."""

    def __init__(self, hub: FeedHub, period_ms: int = 1000, **params):
        super().__init__(**params)
        self.hub = hub
        self.lines = {s: pn.pane.HTML("", sizing_mode="stretch_width", css_classes=[f"metrics-{s}"], margin=(0, 10))
                      for s in hub.symbols}
        self.rate = pn.pane.HTML("", margin=(0, 10))
        self.latency = LatencyProbe()
        self._period_ms, self._callback = period_ms, None
        self.refresh()

    def refresh(self) -> None:
        newest = float("nan")
        for symbol, pane in self.lines.items():
            market = self.hub.market(symbol, self.hub.interval)
            snapshot = self.hub.metrics.snapshot(symbol, market.book, market.branch.signals.history)
            pane.object = metrics_html(snapshot)
            newest = snapshot["latency_ms"] if math.isnan(newest) else newest
        self.rate.object = f'<span class="metric-rate">{self.hub.stats()["messages_per_second"]:.1f}</span> msg/s · latency'
        self.latency.param.update(feed_ms=newest, sent_ms=time.time_ns() // 1_000_000)

    def _start(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.refresh, period=self._period_ms)

    def __panel__(self):
        when_served(self._start)
        return pn.Column(*self.lines.values(), pn.Row(self.rate, self.latency), sizing_mode="stretch_width",
                         name="metrics")
