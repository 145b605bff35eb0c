"""The metrics strip: per symbol, the last price coloured by tick direction, 24 h change and volume, best bid/ask
and spread, signals today, last update age, messages/s and the end-to-end latency (exchange event -> browser)."""

from __future__ import annotations

import html
import math
import time

import panel as pn
import param
from panel.reactive import ReactiveHTML

from ..hub import FeedHub
from . import LiveView
from .theme import DOWN, UP


def _num(value: float, fmt: str) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


COLUMNS = ("symbol", "last price", "24 h change", "24 h volume", "bid", "ask", "spread", "signals today", "updated")


def metrics_row(m: dict, focus: bool = False) -> str:
    """One symbol's table row for ``MarketMetrics.snapshot(...)`` (CSS hooks ``tr.metrics-<symbol>`` and
    ``.metric-<name>`` cells), highlighted when ``focus`` (the charted symbol); the 24 h figures are marked
    ``(candles)`` when they come from the candles. The symbol is HTML-escaped."""
    symbol = html.escape(m["symbol"])
    color = {1: UP, -1: DOWN}.get(m["direction"], "inherit")
    arrow = {1: "▲", -1: "▼"}.get(m["direction"], "")
    change = m["change_24h_pct"]
    change_color = "inherit" if math.isnan(change) else UP if change >= 0 else DOWN
    age = "—" if m["age_s"] is None else f"{m['age_s']:.1f} s ago"
    from_candles = (' <small title="no @ticker: from the candles">(candles)</small>'
                    if m["source_24h"] == "candles" else "")
    cells = [
        f'<b>{symbol}</b>',
        f'<span class="metric-price" style="color:{color};font-weight:600">{_num(m["price"], ",.8g")} {arrow}</span>',
        f'<span class="metric-change" style="color:{change_color}">{_num(change, "+.2f")} %</span>{from_candles}',
        f'<span class="metric-volume">{_num(m["volume_24h"], ",.2f")}</span>',
        f'<span class="metric-bid">{_num(m["bid"], ",.8g")}</span>',
        f'<span class="metric-ask">{_num(m["ask"], ",.8g")}</span>',
        f'<span class="metric-spread">{_num(m["spread"], ",.8g")}</span>',
        f'<span class="metric-signals">{m["signals_today"]}</span>',
        f'<span class="metric-age">{age}</span>',
    ]
    style = ' style="background:rgba(126,87,194,.18)"' if focus else ""
    return f'<tr class="metrics-{symbol}"{style}>' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def metrics_html(snapshots: list[dict], focus: str | None = None) -> str:
    """The strip: a compact table, one ``metrics_row`` per snapshot, the ``focus`` symbol's highlighted."""
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    return (f'<table class="metrics-table" style="width:100%;border-collapse:collapse;font-size:90%;'
            f'text-align:right;white-space:nowrap"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(metrics_row(m, m["symbol"] == focus) for m in snapshots)}</tbody></table>')


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


class MetricsStrip(LiveView):
    """A table row per hub symbol (at the hub's interval; ``focus``, the charted symbol, highlighted), redrawn
    every ``period_ms``; then the feed's msg/s and the end-to-end latency of the last update."""

    focus = param.String(default=None, allow_None=True, doc="The symbol whose row is highlighted")

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self.table = pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 10), name="metrics")
        self.rate = pn.pane.HTML("", margin=(0, 10))
        self.latency = LatencyProbe()
        self.refresh()

    def snapshots(self) -> list[dict]:
        """``MarketMetrics.snapshot`` of each hub symbol at the hub's interval, in the hub's order."""
        return [self.hub.get(symbol, self.hub.interval).metrics() for symbol in self.hub.symbols]

    def refresh(self) -> None:
        snapshots = self.snapshots()
        self.table.object = metrics_html(snapshots, self.focus)
        seen = [m for m in snapshots if m["age_s"] is not None and not math.isnan(m["latency_ms"])]
        newest = min(seen, key=lambda m: m["age_s"])["latency_ms"] if seen else float("nan")
        rate = self.hub.stats()["messages_per_second"]
        self.rate.object = f'<span class="metric-rate">{rate:.1f}</span> msg/s · latency'
        self.latency.param.update(feed_ms=newest,
                                  sent_ms=time.time_ns() // 1_000_000)

    def __panel__(self):
        return self.live(pn.Column(self.table, pn.Row(self.rate, self.latency), sizing_mode="stretch_width"))
