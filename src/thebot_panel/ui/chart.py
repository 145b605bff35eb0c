"""The live candlestick chart: price with overlays, volume pane and one pane per oscillator, one time axis.

The chart is a sink of its own indicator/signal branch of the hub's graph. Sinks only buffer; a
periodic callback (``period_ms``: 50 ms served, 250 ms in a notebook; a tick with nothing buffered does
nothing) applies the buffer to the Bokeh sources — at most one ``stream`` (new candles, ``rollover``
kept) and one ``patch`` (the forming candle) per source per tick — from inside Bokeh's document lock,
so updates never race the asyncio feed. The period is the latency floor: served, an update waits 25 ms
for its flush on average (``benchmarks/latency.py``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.core.properties import value
from bokeh.models import CustomJS, HoverTool, NumeralTickFormatter, Range1d, Span
from bokeh.plotting import figure

from ..market.graph import output_keys
from ..hub import FeedHub
from ..indicators import Indicator
from ..market.messages import Analysis, Recomputed
from ..presets import default_indicators, default_rules
from ..signals.rules import Signal
from . import LiveSource, LiveView, served
from .theme import DOWN, GUIDE, LINE_COLORS, UP

log = logging.getLogger(__name__)

PRICE_FORMAT = "0,0.[000000]"  # hover numbers: thousands separated, up to 6 decimals (cheap coins keep their ticks)
CANDLE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "color", "alpha")
SIGNAL_DTYPES = {"time": str, "symbol": str, "interval": str, "rule": str, "side": str, "price": "float64",
                 "strength": "float64"}
SIGNAL_COLUMNS = list(SIGNAL_DTYPES)
# Fit the price axis to the candles in view, as trading charts do (Bokeh's auto-range spans all loaded data).
FIT_PRICE_JS = """
const t = source.data.open_time, lo = source.data.low, hi = source.data.high;
let min = Infinity, max = -Infinity;
for (let i = 0; i < t.length; i++) {
  if (t[i] >= xr.start && t[i] <= xr.end) { min = Math.min(min, lo[i]); max = Math.max(max, hi[i]); }
}
if (isFinite(min)) { const pad = (max - min) * 0.06 || max * 0.001; yr.start = min - pad; yr.end = max + pad; }
"""


def _candle_row(kline, values: dict, labels: dict) -> dict:
    """A source row: the candle, its colour and alpha (forming candles faded), and the indicator values by key
    (``values`` by column name, ``labels`` key → column name; NaN for a column not there)."""
    closed = kline.closed
    return {
        "open_time": float(kline.open_time), "open": kline.open, "high": kline.high, "low": kline.low,
        "close": kline.close, "volume": kline.volume, "color": UP if kline.close >= kline.open else DOWN,
        "alpha": 1.0 if closed else 0.45, **{k: values.get(col, np.nan) for k, col in labels.items()},
    }


def signals_frame(signals) -> pd.DataFrame:
    """Signals as a table: time (candle open, UTC, ISO text), symbol, interval, rule, side, price (quote currency), strength 0–1."""
    rows = [{"time": f"{pd.Timestamp(s.open_time, unit='ms'):%Y-%m-%d %H:%M} UTC", "symbol": s.symbol, "interval": s.interval,
             "rule": s.rule, "side": s.side, "price": s.price, "strength": round(s.strength, 3)} for s in signals]
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS).astype(SIGNAL_DTYPES)


#: The chart's tick (ms) in a served page and in a notebook (``period_ms`` None).
SERVED_PERIOD_MS, NOTEBOOK_PERIOD_MS = 50, 250


class CandleChart(LiveView):
    """Live candles of one market with its indicator overlays/panes and signal markers.

    ``indicators``: key → ``Indicator`` (default: ``presets.default_indicators()``); each is drawn
    where it declares (``pane``: over the price or in its own pane with its ``levels``; ``styles``:
    line, histogram or dots per output). Changing a parameter recomputes that indicator over the
    loaded history and the chart reloads; ``add_indicator``/``remove_indicator`` change the set on
    the running chart. The Bokeh source of candles is named ``"candles"`` (one column per value
    key, e.g. ``ema_fast``, ``macd.hist``), of signals ``"signals"``.
    """

    symbol = param.Selector(default=None, objects=[], doc="The market's symbol (one of the hub's)")
    interval = param.Selector(default=None, objects=["1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "1d"])
    rollover = param.Integer(default=500, bounds=(50, 20_000), doc="Candles kept in the browser")
    period_ms = param.Integer(default=None, allow_None=True, bounds=(50, 5_000), doc=(
        "UI refresh period in ms (only ticks with buffered updates redraw); None: 50 in a served page, 250 in a "
        "notebook, where each push travels through the kernel's comm"))
    follow = param.Boolean(default=True, doc="Keep the newest candle in view (off: pan and zoom freely)")

    def __init__(self, hub: FeedHub, indicators: dict | None = None, rules=None, **params):
        symbol, interval = params.pop("symbol", hub.symbols[0]), params.pop("interval", hub.interval)
        super().__init__(**params)
        self.param.symbol.objects = list(dict.fromkeys([*hub.symbols, symbol]))
        if interval not in self.param.interval.objects:
            self.param.interval.objects = [*self.param.interval.objects, interval]
        with param.discard_events(self):
            self.symbol, self.interval = symbol, interval
        self.hub = hub
        self.indicators = indicators if indicators is not None else default_indicators()
        self.rules = rules if rules is not None else default_rules(self.indicators)
        self.branch = None
        self._sinks = []
        self._pending: dict[int, Analysis] = {}  # the newest update per open time, made a row at the flush
        self._new_signals: list[Signal] = []
        self._reload = True
        self._restructure = False
        self.table = pn.widgets.Tabulator(signals_frame([]), show_index=False, height=260, sizing_mode="stretch_width",
                                          disabled=True, sorters=[{"field": "time", "dir": "desc"}], name="signal table")
        self.layout = pn.Column(sizing_mode="stretch_width")
        self.signal_source = LiveSource(_marker_columns([]), name="signals")
        self._attach()
        # one column per value key; more as indicators are added
        self.source = LiveSource({c: [] for c in [*CANDLE_COLUMNS, *self.branch.keys]}, name="candles")
        self._restructured()  # filled with the loaded history before it is first shown (exports show candles)

    # ---- graph ---------------------------------------------------------------------------------
    def _attach(self) -> None:
        self.graph = self.hub.open(self.symbol, self.interval)
        self.branch = self.graph.add_branch(self.indicators, self.rules)
        self._sinks = [self.branch.signals.sink(self._on_event)]
        self._reload = True

    def detach(self) -> None:
        """Remove this chart's nodes from the hub's graph (done when the session ends)."""
        if self.branch is None:
            return
        for sink in self._sinks:
            sink.destroy()
        self.branch.destroy()
        self._sinks, self.branch = [], None
        log.info("chart detached from %s %s: branches left on it: %d", self.graph.symbol, self.graph.interval,
                 len(self.graph.branches))
        super().detach()

    @property
    def keys(self) -> list[str]:
        return self.branch.keys

    def add_indicator(self, indicator: Indicator, key: str | None = None) -> str:
        """Add ``indicator`` to the running chart (computed over the loaded history at once); returns its key.

        The key defaults to the lower-case class name, numbered if taken (``"ema"``, ``"ema_2"``).
        """
        base = key or type(indicator).__name__.lower()
        key, n = base, 1
        while key in self.indicators:
            n += 1
            key = f"{base}_{n}"
        self.indicators[key] = indicator
        self.branch.add(key, indicator)
        self._rebuild()
        return key

    def remove_indicator(self, key: str) -> None:
        """Take the indicator ``key`` off the running chart; ``KeyError`` if there is none."""
        self.branch.remove(key)
        del self.indicators[key]
        self._rebuild()

    def _rebuild(self) -> None:
        """New figures for a changed set of indicators: at the next ``flush`` when served (a widget's callback
        may not hold the document lock that Bokeh model changes need), at once in a notebook or script."""
        self._restructure = True
        if self._callback is None:
            self.flush()

    def _restructured(self) -> None:
        self._restructure = self._reload = False
        self._build_figures()
        self._reload_sources()  # the new glyphs' columns, before they are shown
        self._show()

    @param.depends("follow", watch=True)
    def _follow(self) -> None:
        self.price_figure.x_range.follow = "end" if self.follow else None

    @param.depends("rollover", watch=True)
    def _rollover(self) -> None:
        self._reload = True

    @param.depends("symbol", "interval", watch=True)
    def _switch_market(self) -> None:
        self.detach()
        self._attach()
        self._start()

    def _on_event(self, x) -> None:
        kind = type(x)
        if kind is Analysis:
            self._pending[x.candle.kline.open_time] = x
        elif kind is Signal:
            self._new_signals.append(x)
        elif kind is Recomputed:
            self._labels = self.branch.labels()  # a parameter change renames columns (ema_9 → ema_12)
            self._reload = True

    # ---- Bokeh -----------------------------------------------------------------------------------
    def _build_figures(self) -> None:
        self._keys = self.branch.keys
        self._labels = self.branch.labels()
        tools = "xpan,xwheel_zoom,box_zoom,reset,crosshair,save"
        price = figure(x_axis_type="datetime", height=380, sizing_mode="stretch_width", tools=tools,
                       active_scroll="xwheel_zoom", name="price", title=self._title(), y_range=Range1d(0, 1))
        price.segment("open_time", "high", "open_time", "low", color="color", alpha="alpha", source=self.source)
        self._bodies = price.vbar("open_time", self._width(), "open", "close", fill_color="color",
                                  line_color="color", fill_alpha="alpha", line_alpha="alpha", source=self.source)
        price.scatter("open_time", "price", marker="marker", color="color", size="size", source=self.signal_source,
                      legend_label="signals")
        hover_fields = [(k, f"@{k}{{{PRICE_FORMAT}}}") for k in ("open", "high", "low", "close")] + [
            ("volume", "@volume{0,0.000}")]
        self._renderers = {}
        self._widths = [self._bodies]
        panes = []
        colors = iter(LINE_COLORS * 8)
        for key, ind in self.branch.indicators.items():
            target = price
            if ind.pane != "price":
                target = figure(x_axis_type="datetime", height=150, sizing_mode="stretch_width", tools=tools,
                                active_scroll="xwheel_zoom", x_range=price.x_range, name=f"pane_{key}")
                for level in ind.levels:
                    target.add_layout(Span(location=level, dimension="width", line_dash="dashed",
                                           line_color=GUIDE))
                panes.append(target)
            for out, col in zip(ind.outputs, output_keys(key, ind)):
                hover_fields.append((col, f"@{{{col}}}{{{PRICE_FORMAT}}}"))
                style = ind.styles.get(out, "line")
                if style != "hidden":
                    self._renderers[col] = self._draw(target, style, col, next(colors), _legend(ind, out))
            target.legend.location = "top_left"
            target.legend.orientation = "horizontal"   # one row over the plot, not a box over the candles
            target.legend.label_text_font_size = "8pt"
            target.legend.background_fill_alpha = 0.6
            target.legend.click_policy = "hide"
        price.add_tools(HoverTool(renderers=[self._bodies], tooltips=[("time", "@open_time{%F %H:%M}"), *hover_fields],
                                  formatters={"@open_time": "datetime"}, mode="vline"))  # anywhere over the candle
        volume = figure(x_axis_type="datetime", height=110, sizing_mode="stretch_width", tools=tools,
                        active_scroll="xwheel_zoom", x_range=price.x_range, name="volume")
        self._widths.append(volume.vbar("open_time", self._width(), "volume", 0, fill_color="color",
                                        line_color="color", fill_alpha="alpha", source=self.source))
        volume.yaxis.axis_label = "volume"
        price.yaxis.formatter = NumeralTickFormatter(format="0,0.[00]")
        fit = CustomJS(args={"source": self.source, "xr": price.x_range, "yr": price.y_range}, code=FIT_PRICE_JS)
        price.x_range.js_on_change("start", fit)
        price.x_range.js_on_change("end", fit)
        price.x_range.follow = "end" if self.follow else None
        price.x_range.range_padding = 0.02
        self.figures = [price, volume, *panes]
        for fig in self.figures[:-1]:
            fig.xaxis.visible = False
        self.price_figure = price

    def _show(self) -> None:
        self.layout.objects = [pn.pane.Bokeh(f, sizing_mode="stretch_width") for f in self.figures]

    def _draw(self, target, style: str, col: str, color: str, legend: str):
        """One output's glyph: a line, a histogram (bars from 0) or dots, named ``line_<key>``."""
        if style == "histogram":
            bars = target.vbar("open_time", self._width(), col, 0, fill_color=color, line_color=color, fill_alpha=0.6,
                               source=self.source, legend_label=legend, name=f"line_{col}")
            self._widths.append(bars)
            return bars
        if style == "dots":
            return target.scatter("open_time", col, size=3, color=color, source=self.source, legend_label=legend,
                                  name=f"line_{col}")
        return target.line("open_time", col, color=color, line_width=1.6, source=self.source, legend_label=legend,
                           name=f"line_{col}")

    def _title(self) -> str:
        return f"{self.symbol} · {self.interval}"

    def _width(self) -> float:
        return self.graph.book.step * 0.7

    def _reload_sources(self) -> None:
        branch = self.branch
        book = branch.book.candles
        n = min(len(book), self.rollover - 1)
        start = len(book) - n
        data = {"open_time": book.open_time[start:].astype(float)}
        for c in ("open", "high", "low", "close", "volume"):
            data[c] = book.column(c)[start:]
        data["color"] = np.where(data["close"] >= data["open"], UP, DOWN)
        data["alpha"] = np.ones(n)
        for k in self._keys:
            data[k] = branch.column(k)[start:]
        data = {k: list(v) for k, v in data.items()}
        forming = branch.book.forming
        if forming is not None:
            for k, v in _candle_row(forming, branch.forming(), self._labels).items():
                data[k].append(v)
        self._pending.clear()
        self.source.data = data
        self._new_signals.clear()
        self.signal_source.data = _marker_columns(branch.signals.history)
        self.table.value = self.signals()
        indicators = branch.indicators
        for col, renderer in self._renderers.items():
            key, _, out = col.partition(".")
            ind = indicators[key]
            for item in self._legend_items(renderer):
                item.label = value(_legend(ind, out or ind.outputs[0]))
        width = self._width()
        for renderer in self._widths:
            renderer.glyph.width = width
        self.price_figure.title.text = self._title()
        self.price_figure.x_range.follow_interval = width / 0.7 * 150

    def _legend_items(self, renderer):
        for fig in self.figures:
            for legend in fig.legend:
                for item in legend.items:
                    if renderer in item.renderers:
                        yield item

    def flush(self) -> None:
        """Apply buffered updates to the Bokeh sources (called periodically inside the document lock)."""
        if self.branch is None:
            return
        if self._restructure:
            self._restructured()
            return
        if self._reload:
            self._reload = False
            self._reload_sources()
            return
        if self._pending:
            rows = [_candle_row(a.candle.kline, a.values, self._labels) for _, a in sorted(self._pending.items())]
            self._pending.clear()
            times = self.source.data["open_time"]
            last = times[-1] if len(times) else None
            if last is not None and rows[0]["open_time"] < last:  # a backfilled candle before the forming one
                self._reload_sources()
                return
            if last is not None and rows[0]["open_time"] == last:
                self.source.patch({k: [(len(times) - 1, v)] for k, v in rows.pop(0).items()})
            rows = [r for r in rows if last is None or r["open_time"] > last]
            if rows:
                self.source.stream({k: [r[k] for r in rows] for k in rows[0]}, rollover=self.rollover)
        if self._new_signals:
            new, self._new_signals = self._new_signals, []
            self.signal_source.stream(_marker_columns(new), rollover=self.rollover)
            self.table.value = self.signals()

    def due(self) -> bool:
        return bool(self._pending or self._new_signals or self._reload or self._restructure)

    def _start(self) -> None:
        if self.period_ms is None:  # at 50 ms, Panel 1.9's notebook comm applied updates out of order in the page
            self.period_ms = SERVED_PERIOD_MS if served() else NOTEBOOK_PERIOD_MS
        super()._start()

    def refresh(self) -> None:
        self.flush()

    def frame(self) -> pd.DataFrame:
        """The live DataFrame: closed candles + this chart's indicator columns (see ``Branch.frame``)."""
        return self.branch.frame()

    def signals(self) -> pd.DataFrame:
        """This chart's signals as its table shows them, newest first (columns in ``signals_frame``)."""
        return signals_frame(reversed(self.branch.signals.history))

    def __panel__(self):
        return self.live(self.layout)


def _legend(indicator, output: str) -> str:
    return indicator.label if len(indicator.outputs) == 1 else f"{indicator.label} {output}"


def _marker_columns(signals) -> dict:
    buy = [s.side == "BUY" for s in signals]
    return {
        "open_time": [float(s.open_time) for s in signals],
        "price": [s.price for s in signals],
        "marker": ["triangle" if b else "inverted_triangle" for b in buy],
        "color": [UP if b else DOWN for b in buy],
        "size": [8 + 10 * s.strength for s in signals],
        "rule": [s.rule for s in signals],
        "side": [s.side for s in signals],
    }
