"""Compare markets: several symbols' closes on one chart as % change from a common start, and a table of
the same indicators' last values side by side.

Both read the hub's markets (its symbols at its interval) on a periodic callback (``period_ms``): the chart
streams new rows and patches the last one when only the tail changed; the table's indicators are a branch of each
market (``MarketGraph.add_branch``), computed by the market's shared indicator node once per closed candle.
"""

from __future__ import annotations

import html
import logging

import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool, Span
from bokeh.models.widgets.tables import NumberFormatter
from bokeh.plotting import figure

from .. import indicators as ind
from ..hub import FeedHub
from ..market.candles import candle_frame
from ..market.graph import Branch
from . import LiveSource, LiveView, on_session_end
from .screener import patch_table
from .theme import GUIDE, LINE_COLORS

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
#: Start choices: label -> value; the value names how far before the newest candle the start is.
STARTS = {"start of loaded history": "history", "24 h ago": "24h", "4 h ago": "4h", "1 h ago": "1h"}
START_OFFSETS_MS = {"history": None, "24h": 24 * HOUR_MS, "4h": 4 * HOUR_MS, "1h": HOUR_MS}
DEFAULT_INDICATORS = ["RSI", "MACD", "NATR", "ADX"]


def closes_since(book, start_ms: int | None) -> pd.Series:
    """Closes (quote currency) of the candles opened at or after ``start_ms`` (all if None), the forming
    candle last; index ``open_time`` (UTC)."""
    open_time, close = book.candles.open_time, book.candles.column("close")
    first = 0 if start_ms is None else int(np.searchsorted(open_time, start_ms))
    open_time, close = open_time[first:], close[first:]
    if book.forming is not None and (start_ms is None or book.forming.open_time >= start_ms):
        open_time, close = np.r_[open_time, book.forming.open_time], np.r_[close, book.forming.close]
    return candle_frame(open_time, {"close": close})["close"]


def _source_data(frame: pd.DataFrame) -> dict:
    return {"open_time": frame.index.tz_localize(None).to_numpy(),
            **{c: frame[c].to_numpy(dtype="float64", copy=True) for c in frame.columns}}


class Compare(LiveView):
    """Selected markets of the hub side by side, refreshed every ``period_ms``.

    ``normalised()``: % change of each close from ``start``; ``table()``: the ``indicators``' last values per
    symbol. Widgets: a MultiChoice of ``symbols`` (default all of the hub's), a Select of ``start``, a
    MultiChoice of ``indicators``. The chart (``plot``) draws the Bokeh source named ``"compare"`` (``open_time``,
    naive UTC, and one column per symbol); the table is the Tabulator ``values``.
    """

    tables = ("values",)

    symbols = param.ListSelector(default=[], objects=[], doc="Symbols compared (the hub's, at its interval)")
    start = param.Selector(default="history", objects=STARTS,
                           doc="Start of the comparison: each symbol's first loaded candle, or 24/4/1 h before "
                               "the newest candle of the selected symbols")
    indicators = param.ListSelector(default=DEFAULT_INDICATORS, objects=ind.available(),
                                    doc="Indicators of the table, with their default parameters")

    def __init__(self, hub: FeedHub, **params):
        symbols = params.pop("symbols", hub.symbols)
        super().__init__(**params)
        self.param.symbols.objects = list(hub.symbols)
        with param.discard_events(self):
            self.symbols = list(symbols)
        self.hub = hub
        self._shown: pd.DataFrame | None = None
        self._branches: dict[str, tuple[tuple, Branch]] = {}  # symbol -> (indicator names, its branch)
        on_session_end(self.close)
        self.plot = pn.pane.Bokeh(self._figure(), sizing_mode="stretch_width")
        self.values = pn.widgets.Tabulator(None, disabled=True, sizing_mode="stretch_width")
        self.refresh()

    def _branch(self, symbol: str) -> Branch:
        """The branch of ``symbol``'s market holding ``indicators`` (default parameters, keyed by name), made anew
        when the names change."""
        names = tuple(self.indicators)
        held = self._branches.get(symbol)
        if held is None or held[0] != names:
            if held is not None:
                held[1].destroy()
            market = self.hub.get(symbol, self.hub.interval)
            held = self._branches[symbol] = (names, market.add_branch({n: ind.create(n) for n in names}, []))
        return held[1]

    def close(self) -> None:
        """Take the table's branches off their markets (the session ended)."""
        for _, branch in self._branches.values():
            branch.destroy()
            log.info("compare table detached from %s %s: branches left on it: %d", branch.market.symbol,
                     branch.market.interval, len(branch.market.branches))
        self._branches.clear()

    def _book(self, symbol: str):
        return self.hub.get(symbol, self.hub.interval).book

    def start_ms(self) -> int | None:
        """The start open time (int ms UTC): ``start``'s offset before the newest candle (forming included) of the
        selected symbols; None for the start of the loaded history or before any candle."""
        offset = START_OFFSETS_MS[self.start]
        newest = [b.forming.open_time if b.forming is not None else b.last_closed_open_time
                  for b in map(self._book, self.symbols)]
        newest = [t for t in newest if t is not None]
        return None if offset is None or not newest else max(newest) - offset

    def normalised(self) -> pd.DataFrame:
        """% change of each selected symbol's close from its first candle opened at or after ``start_ms()``:
        ``(close / close_at_start - 1) * 100``, the forming candle included.

        Index ``open_time`` (UTC, the union of the symbols' candles; NaN where a symbol has none); one float64
        column per selected symbol, in ``symbols`` order.
        """
        start = self.start_ms()
        series = {}
        for symbol in self.symbols:
            close = closes_since(self._book(symbol), start)
            series[symbol] = (close / close.iloc[0] - 1) * 100 if len(close) else close
        if not series:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="open_time"), dtype="float64")
        frame = pd.concat(series, axis=1).sort_index()
        frame.index.name = "open_time"
        return frame

    def table(self) -> pd.DataFrame:
        """Last committed value of each of ``indicators`` (default parameters) per selected symbol: the values at
        its last closed candle (NaN before any).

        Index ``symbol``; one float64 column per indicator output, named as ``indicators.compute`` names it
        (units are the indicator's: RSI/ADX 0–100, NATR %, MACD quote currency).
        """
        columns = [c for name in self.indicators for c in ind.create(name).columns]
        rows = {}
        for symbol in self.symbols:
            _, found = self._branch(symbol).arrays(set(columns), last=1)
            rows[symbol] = {c: found[c][-1] if len(found[c]) else np.nan for c in columns}
        for symbol in set(self._branches) - set(self.symbols):  # no longer compared
            self._branches.pop(symbol)[1].destroy()
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype="float64")
        return frame.reindex(pd.Index(self.symbols, name="symbol"))

    # ---- views ---------------------------------------------------------------------------------
    def _figure(self):
        """A figure with one line per selected symbol over a fresh source (named ``"compare"``); the symbol is
        HTML-escaped in the hover, whose template Bokeh renders as HTML."""
        self.source = LiveSource({"open_time": [], **{s: [] for s in self.symbols}}, name="compare")
        self._shown = None
        fig = figure(x_axis_type="datetime", height=380, sizing_mode="stretch_width", name="compare chart",
                     tools="xpan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom",
                     title=f"% change from the start · {self.hub.interval}")
        fig.add_layout(Span(location=0, dimension="width", line_dash="dashed", line_color=GUIDE))
        for symbol, color in zip(self.symbols, LINE_COLORS * 8):
            line = fig.line("open_time", symbol, source=self.source, color=color, line_width=1.6,
                            legend_label=symbol)
            tooltips = [("", html.escape(symbol)), ("time", "@open_time{%F %H:%M}"),
                        ("change", f"@{symbol}{{+0.00}} %")]
            fig.add_tools(HoverTool(renderers=[line], tooltips=tooltips, formatters={"@open_time": "datetime"}))
        fig.yaxis.axis_label = "% change"
        if self.symbols:
            fig.legend.click_policy = "hide"
            fig.legend.location = "top_left"
        return fig

    @param.depends("symbols", watch=True)
    def _symbols_changed(self) -> None:
        self.plot.object = self._figure()
        self.refresh()

    @param.depends("start", "indicators", watch=True)
    def refresh(self) -> None:
        """Update the chart (stream new rows and patch the last one when only the tail changed, else resend) and
        patch the table."""
        new, old = self.normalised(), self._shown
        n = 0 if old is None else len(old)
        if (n and new.columns.equals(old.columns) and len(new) >= n and new.index[:n].equals(old.index)
                and np.array_equal(new.iloc[:n - 1].to_numpy(), old.iloc[:n - 1].to_numpy(), equal_nan=True)):
            self.source.patch({c: [(n - 1, v)] for c, v in new.iloc[n - 1].items()})
            if len(new) > n:
                self.source.stream(_source_data(new.iloc[n:]))
        else:
            self.source.data = _source_data(new)
        self._shown = new
        table = self.table()
        if self.values.value is None or not table.columns.equals(self.values.value.columns):
            self.values.formatters = {c: NumberFormatter(format="0,0.[0000]") for c in table.columns}
        patch_table(self.values, table)

    def __panel__(self):
        return self.live(pn.Column(
            pn.Row(pn.widgets.MultiChoice.from_param(self.param.symbols, name="Symbols", sizing_mode="stretch_width"),
                   pn.widgets.Select.from_param(self.param.start, name="Start", width=200),
                   sizing_mode="stretch_width"),
            self.plot,
            pn.widgets.MultiChoice.from_param(self.param.indicators, name="Indicators (default parameters)",
                                              sizing_mode="stretch_width"),
            self.values, sizing_mode="stretch_width", name="comparison"))
