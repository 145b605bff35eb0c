"""Research on history as Panel views: a backtest of a market's signal graph (``BacktestView``) and a parameter sweep
on Dask (``SweepView``), both reading one ``ResearchStore`` (market, date range, data, backtest settings). The
dashboard's Research tab shows both (``Research``); the same objects render in a notebook cell.

Work that takes longer than a redraw runs off the server's event loop: a backtest and the candles in a thread
(``asyncio.to_thread``), a sweep on a Dask cluster started in a thread, its progress read by a periodic callback.
Bad input and failures are shown as one readable line (``message``, starting with ⚠), never as a traceback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import logging
import math
import threading
import time

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (the options of the heatmap are the Bokeh backend's)
import numpy as np
import pandas as pd
import panel as pn
import param
from bokeh.models import ColumnDataSource, HoverTool, Legend, NumeralTickFormatter
from bokeh.models.widgets.tables import NumberFormatter
from bokeh.plotting import figure

from ..backtest import Backtest, BacktestResult
from ..backtest.engine import TRADE_COLUMNS
from ..backtest.history import load_history
from ..backtest.sweep import METRICS, Sweep, SweepResult, build, segments
from ..binance.streams import normalize_symbol
from ..presets import default_indicators, default_rules
from . import on_session_end
from .theme import DOWN, LINE_COLORS, NEUTRAL, UP

log = logging.getLogger(__name__)

#: Intervals a backtest can read (the recordings are 1m; longer ones are aggregated as the exchange does).
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
#: The default rule classes (``presets.default_rules``), the choices of the rules that trade.
RULES = tuple(type(rule).__name__ for rule in default_rules(default_indicators()))
#: The figures of ``backtest.performance`` the views show, in order: (label, unit). Returns, drawdown, win rate
#: and exposure in %, the equity in quote currency; Sharpe and Sortino annualised (365-day year).
FIGURES = {
    "total_return_pct": ("Total return", "%"), "annual_return_pct": ("Annual return", "%"),
    "sharpe": ("Sharpe (annualised)", ""), "sortino": ("Sortino (annualised)", ""),
    "max_drawdown_pct": ("Max drawdown", "%"), "win_rate_pct": ("Win rate", "%"),
    "profit_factor": ("Profit factor", ""), "exposure_pct": ("Exposure", "%"), "trades": ("Trades", ""),
    "buy_hold_return_pct": ("Buy and hold", "%"), "final_equity": ("Final equity", ""),
}
SIGNED = {"total_return_pct", "annual_return_pct", "sharpe", "sortino", "buy_hold_return_pct"}
#: Trades table columns (``BacktestResult.trades`` renamed for the page; times as UTC text, which sorts as time).
TRADE_TITLES = {"entry_time": "entry (UTC)", "exit_time": "exit (UTC)", "side": "side", "entry_price": "entry price",
                "exit_price": "exit price", "units": "units", "fees": "fees", "pnl": "P&L",
                "return_pct": "return %", "candles": "candles", "exit_reason": "exit reason"}
#: Most cells a sweep from the page may have (a grid is the product of its two axes).
MAX_CELLS = 2_500
POLL_MS = 250
#: Quote assets recognised at the end of a symbol (the equity's currency), longest match first.
QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "DAI", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL")


def quote_of(symbol: str) -> str:
    """The quote asset a symbol ends in (``"BTCUSDT"`` → ``"USDT"``), or ``""`` when none of ``QUOTE_ASSETS``."""
    return next((quote for quote in QUOTE_ASSETS if symbol.upper().endswith(quote) and symbol.upper() != quote), "")


def error_text(exc: BaseException) -> str:
    """One line for the page: the message of the errors users cause (bad input, missing file, unreachable
    scheduler), the error's type and message otherwise."""
    if isinstance(exc, (ValueError, FileNotFoundError, OSError, TimeoutError, KeyError)):
        text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def message_html(text: str) -> str:
    """A message line: an error (starting with ⚠) in ``span.research-error``, else ``span.research-note``."""
    if not text:
        return ""
    kind = "research-error" if text.startswith("⚠") else "research-note"
    color = f"color:{DOWN}" if kind == "research-error" else ""
    return f'<span class="{kind}" style="{color}">{html.escape(text)}</span>'


def format_figure(name: str, value: float) -> str:
    """A figure as the page shows it: thousands separated, 2 decimals (an integer count without), the unit; huge
    compounded annual returns in scientific notation; NaN as an em dash, infinity as ∞."""
    unit = FIGURES.get(name, ("", ""))[1]
    if value is None or np.isnan(value):
        return "—"
    if np.isinf(value):
        return "∞" if value > 0 else "−∞"
    sign = "+" if name in SIGNED else ""
    if name == "trades":
        text = f"{value:,.0f}"
    elif abs(value) >= 1e9:
        text = f"{value:{sign}.3g}"
    else:
        text = f"{value:{sign},.2f}"
    return f"{text} {unit}".strip().replace("-", "−")


def metrics_html(metrics: dict[str, float], quote: str = "") -> str:
    """The figures of a backtest as a two-column table (``table.research-metrics``); each row
    ``tr[data-metric=<name>]`` holds its raw value in ``td[data-value]``; returns coloured by sign."""
    rows = []
    for name, (label, _unit) in FIGURES.items():
        value = metrics.get(name, np.nan)
        color = ""
        if name in SIGNED and np.isfinite(value) and value != 0:
            color = f' style="color:{UP if value > 0 else DOWN}"'
        shown = format_figure(name, value) + (f" {quote}" if name == "final_equity" and quote else "")
        rows.append(f'<tr data-metric="{name}"><th>{html.escape(label)}</th>'
                    f'<td data-value="{value!r}"{color}>{html.escape(shown)}</td></tr>')
    style = ("<style>.research-metrics{border-collapse:collapse;font-size:13px;width:100%}"
             ".research-metrics th{text-align:left;font-weight:normal;padding:3px 10px 3px 0;opacity:.8}"
             ".research-metrics td{text-align:right;font-variant-numeric:tabular-nums;font-weight:600;"
             "padding:3px 0}.research-metrics tr{border-bottom:1px solid rgba(128,128,128,.2)}</style>")
    return f'{style}<table class="research-metrics">{"".join(rows)}</table>'


def trades_table(trades: pd.DataFrame) -> pd.DataFrame:
    """``BacktestResult.trades`` for the page: the ``TRADE_TITLES`` columns, times as ``YYYY-MM-DD HH:MM`` UTC
    text, prices in quote currency per base unit, units in the base asset, fees and P&L in quote currency."""
    frame = trades.copy()
    for column in ("entry_time", "exit_time"):
        frame[column] = frame[column].dt.strftime("%Y-%m-%d %H:%M") if len(frame) else frame[column].astype(str)
    return frame[list(TRADE_TITLES)].rename(columns=TRADE_TITLES)


def equity_figure(equity: pd.Series, candles: pd.DataFrame, capital: float, title: str, name: str,
                  height: int = 320, quote: str = ""):
    """A Bokeh figure (named ``name``; its source ``"<name> curve"``) of ``equity`` (quote currency per candle
    close, index ``open_time`` UTC) beside buy and hold of the same capital (bought at the first open, no fees:
    ``capital × close / first open``)."""
    hold = capital * candles["close"].to_numpy() / candles["open"].iloc[0]
    source = ColumnDataSource({"time": equity.index.tz_localize(None).to_numpy(), "equity": equity.to_numpy(),
                               "hold": hold}, name=f"{name} curve")
    fig = figure(name=name, x_axis_type="datetime", height=height, sizing_mode="stretch_width", title=title,
                 tools="xpan,xwheel_zoom,box_zoom,reset,save", active_scroll="xwheel_zoom")
    hold_line = fig.line("time", "hold", source=source, color=NEUTRAL, line_width=1.5, line_dash="dashed")
    strategy = fig.line("time", "equity", source=source, color=LINE_COLORS[2], line_width=2)
    fig.yaxis.formatter = NumeralTickFormatter(format="0,0")
    fig.yaxis.axis_label = f"equity ({quote or 'quote currency'})"
    fig.add_layout(Legend(items=[("strategy", [strategy]), ("buy and hold", [hold_line])], orientation="horizontal",
                          location="center", click_policy="hide", label_text_font_size="9pt", margin=0,
                          padding=4, border_line_alpha=0), "below")
    fig.add_tools(HoverTool(renderers=[strategy], mode="vline", formatters={"@time": "datetime"},
                            tooltips=[("time", "@time{%F %H:%M} UTC"), ("strategy", "@equity{0,0.00}"),
                                      ("buy and hold", "@hold{0,0.00}")]))
    return fig


def heading(text: str) -> pn.pane.Markdown:
    """A small bold section title (as the other tabs' forms have)."""
    return pn.pane.Markdown(f"**{text}**", margin=(10, 5, 0, 5), sizing_mode="stretch_width")


def _when(text: str, what: str, end: bool = False) -> pd.Timestamp | None:
    """``text`` as a UTC time (None if blank); an end given as a date alone means the end of that day.
    ``ValueError`` saying how to write one."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        stamp = pd.Timestamp(text)
    except (ValueError, TypeError):
        raise ValueError(f"{what} {text!r} is not a date: write e.g. 2025-08-01 or 2025-08-01 12:00 (UTC)") from None
    if stamp is pd.NaT:
        raise ValueError(f"{what} {text!r} is not a date: write e.g. 2025-08-01 or 2025-08-01 12:00 (UTC)")
    stamp = stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
    if end and len(text) <= 10:  # 2025-08-01: through 23:59 of that day
        stamp += pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1)
    return stamp


class ResearchStore(pn.viewable.Viewer):
    """What the research views share: the market (``symbol``, ``interval``), an optional date range, where the
    candles come from (``data``) and the backtest's settings (``backtest``, ``rules``). The views read candles with
    ``candles()`` and make their backtest with ``make_backtest()``; each view shows the store's widgets
    (``market_widgets``, ``settings_widgets``), bound to the same parameters, so they agree."""

    symbol = param.String(default="BTCUSDT", doc="Symbol, e.g. BTCUSDT (one the data holds)")
    interval = param.Selector(default="1m", objects=list(INTERVALS), doc="Candle interval (aggregated from 1m)")
    start = param.String(default="", doc="First candle's open time, UTC (e.g. 2025-08-01); empty: the data's first")
    end = param.String(default="", doc="Last candle's open time, UTC (a date alone: through that day); empty: "
                                       "the data's last")
    rules = param.ListSelector(default=list(RULES), objects=list(RULES),
                               doc="Rule classes whose signals trade (trade on signals)")
    data = param.Parameter(default=None, doc=(
        "Where the candles come from: paths (kline CSVs, tick recordings or folders: the app's --replay-data) or a "
        "replay.Recording; None: the hub's embedded replay recording if there is one, else the bundled recording"))
    symbols = param.List(default=["BTCUSDT", "ETHUSDT"], item_type=str, doc="Symbols offered (any may be typed)")
    backtest = param.ClassSelector(class_=Backtest, doc="The backtest's settings (its symbol, interval and rules "
                                                        "are the store's)")

    def __init__(self, hub=None, **params):
        params.setdefault("backtest", Backtest())
        if hub is not None:
            params.setdefault("symbols", list(hub.symbols))
            params.setdefault("symbol", hub.symbols[0])
            if hub.interval in INTERVALS:
                params.setdefault("interval", hub.interval)
        super().__init__(**params)
        self.hub = hub

    def source(self):
        """``data``, else the hub's embedded replay recording (the app's --replay-data), else None (bundled)."""
        if self.data is not None:
            return self.data
        replay = getattr(self.hub, "replay", None)
        return getattr(replay, "recording", None)

    def candles(self) -> pd.DataFrame:
        """The closed candles of the market in the range (``load_history``: index ``open_time`` UTC; float64
        open, high, low, close, volume). ``ValueError`` for a malformed symbol or date, a symbol the data does not
        hold, or a range without candles; ``FileNotFoundError`` for a missing path."""
        start, end = _when(self.start, "start"), _when(self.end, "end", end=True)
        return load_history(normalize_symbol(self.symbol), self.interval, data=self.source(), start=start, end=end)

    def make_backtest(self) -> Backtest:
        """A ``Backtest`` with the store's settings, market and rules; ``ValueError`` when trading on signals of
        no rule."""
        if self.backtest.trade_on == "signals" and not self.rules:
            raise ValueError("choose at least one rule whose signals trade (or trade on the confluence)")
        settings = {k: v for k, v in self.backtest.param.values().items()
                    if k not in ("name", "symbol", "interval", "rules")}
        return Backtest(**settings, symbol=normalize_symbol(self.symbol), interval=self.interval,
                        rules=list(self.rules))

    def describe(self) -> str:
        """``BTCUSDT 1m, 2025-08-01 → the end`` (the range as typed)."""
        return f"{self.symbol.upper()} {self.interval}, {self.start or 'the start'} → {self.end or 'the end'}"

    def market_widgets(self) -> list:
        """Symbol (the offered ones, or any typed), interval and date range."""
        return [
            pn.widgets.AutocompleteInput.from_param(
                self.param.symbol, name="Symbol", options=list(self.symbols), restrict=False, case_sensitive=False,
                min_characters=1, search_strategy="includes", sizing_mode="stretch_width",
                css_classes=["research-symbol"]),
            pn.widgets.Select.from_param(self.param.interval, name="Interval", sizing_mode="stretch_width",
                                         css_classes=["research-interval"]),
            pn.Row(pn.widgets.TextInput.from_param(self.param.start, name="From (UTC)", placeholder="2025-08-01",
                                                   sizing_mode="stretch_width", css_classes=["research-start"]),
                   pn.widgets.TextInput.from_param(self.param.end, name="To (UTC)", placeholder="2025-08-03",
                                                   sizing_mode="stretch_width", css_classes=["research-end"]),
                   sizing_mode="stretch_width"),
        ]

    def settings_widgets(self) -> list:
        """The backtest's parameters (their bounds and docs from ``Backtest``) and the rules that trade."""
        test = self.backtest.param
        half = {"sizing_mode": "stretch_width"}
        return [
            pn.Row(pn.widgets.Select.from_param(test.direction, name="Direction", **half),
                   pn.widgets.Select.from_param(test.trade_on, name="Trade on", **half), sizing_mode="stretch_width"),
            pn.widgets.MultiChoice.from_param(self.param.rules, name="Rules that trade", sizing_mode="stretch_width",
                                              css_classes=["research-rules"]),
            pn.Row(pn.widgets.FloatInput.from_param(test.fee_bps, name="Fee per fill (bps)", step=1, **half),
                   pn.widgets.FloatInput.from_param(test.slippage_bps, name="Slippage (bps)", step=1, **half),
                   sizing_mode="stretch_width"),
            pn.Row(pn.widgets.FloatInput.from_param(test.stop_loss_pct, name="Stop loss (%)", step=0.5,
                                                    placeholder="none", **half),
                   pn.widgets.FloatInput.from_param(test.take_profit_pct, name="Take profit (%)", step=0.5,
                                                    placeholder="none", **half), sizing_mode="stretch_width"),
            pn.widgets.FloatInput.from_param(test.initial_capital, name="Initial capital (quote currency)",
                                             step=1000, sizing_mode="stretch_width"),
        ]

    def __panel__(self):
        return pn.Column(*self.market_widgets(), *self.settings_widgets(), width=300)


class BacktestView(pn.viewable.Viewer):
    """A backtest of the store's market and settings, run with **Run backtest**: its figures
    (``table.research-metrics``), its equity beside buy and hold (Bokeh figure ``"backtest equity"``, source
    ``"backtest equity curve"``) and its trades (sortable Tabulator ``.research-trades``).

    ``run()`` loads the candles and runs the backtest in a thread (the event loop stays free; the results show a
    loading spinner meanwhile); ``result`` is the ``BacktestResult``, ``candles`` what it ran on. A failure (no
    candles in the range, a malformed date, an unknown symbol) is shown in ``message`` (⚠ …) and clears the results.
    """

    store = param.ClassSelector(class_=ResearchStore, doc="The market, range, data and backtest settings")
    message = param.String(default="", doc="Why the last run failed (starts with ⚠), else a note")
    running = param.Boolean(default=False, doc="A run is under way")

    def __init__(self, store: ResearchStore | None = None, **params):
        super().__init__(store=store or ResearchStore(), **params)
        self.result: BacktestResult | None = None
        self.candles: pd.DataFrame | None = None
        self.run_button = pn.widgets.Button(name="Run backtest", button_type="primary", sizing_mode="stretch_width",
                                            css_classes=["research-run"])
        self.run_button.on_click(self._clicked)
        self.message_pane = pn.pane.HTML(pn.bind(message_html, self.param.message), sizing_mode="stretch_width",
                                         css_classes=["research-message", "backtest-message"])
        self.metrics = pn.pane.HTML("<i>Choose a market and settings, then Run backtest.</i>", width=290,
                                    css_classes=["research-metrics-pane"])
        self.equity = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=320, css_classes=["research-equity"])
        formats = {title: NumberFormatter(format=fmt) for title, fmt in (
            ("entry price", "0,0.[00000000]"), ("exit price", "0,0.[00000000]"), ("units", "0,0.[00000000]"),
            ("fees", "0,0.00"), ("P&L", "0,0.00"), ("return %", "0,0.00"))}
        self.trades = pn.widgets.Tabulator(trades_table(pd.DataFrame(columns=list(TRADE_COLUMNS)).astype(
            TRADE_COLUMNS)), show_index=False, disabled=True, height=320, sizing_mode="stretch_width",
            pagination="local", page_size=50, formatters=formats, name="backtest trades",
            css_classes=["research-trades"])
        self.results = pn.Column(self.message_pane, pn.Row(self.metrics, self.equity, sizing_mode="stretch_width"),
                                 heading("Trades"), self.trades, sizing_mode="stretch_width")

    async def _clicked(self, _event) -> None:
        await self.run()

    def compute(self) -> tuple[pd.DataFrame, BacktestResult]:
        """The candles and the backtest of the store's market and settings (blocking; ``run`` calls it in a
        thread)."""
        backtest = self.store.make_backtest()
        candles = self.store.candles()
        return candles, backtest.run(candles)

    async def run(self) -> None:
        """Run the backtest in a thread and show it, or say why it failed."""
        if self.running:
            return
        self.running, self.message = True, ""
        self.run_button.disabled = self.results.loading = True
        try:
            candles, result = await asyncio.to_thread(self.compute)
        except Exception as exc:  # shown, not raised: the page keeps working
            if not isinstance(exc, (ValueError, FileNotFoundError)):
                log.exception("backtest failed")
            self.clear()
            self.message = f"⚠ {error_text(exc)}"
        else:
            self.show(candles, result)
        finally:
            self.running = False
            self.run_button.disabled = self.results.loading = False

    def clear(self) -> None:
        self.result = self.candles = None
        self.metrics.object = ""
        self.equity.object = None
        self.trades.value = self.trades.value.iloc[:0]

    def show(self, candles: pd.DataFrame, result: BacktestResult) -> None:
        """Draw ``result`` (of a backtest over ``candles``)."""
        self.candles, self.result = candles, result
        test = result.parameters["backtest"]
        quote = quote_of(test["symbol"])
        self.metrics.object = metrics_html(result.metrics, quote)
        span = f"{candles.index[0]:%Y-%m-%d %H:%M} → {candles.index[-1]:%Y-%m-%d %H:%M} UTC"
        self.equity.object = equity_figure(result.equity, candles, test["initial_capital"],
                                           f"{test['symbol']} {test['interval']} · {span}", "backtest equity",
                                           quote=quote)
        self.trades.value = trades_table(result.trades)
        self.message = (f"{test['symbol']} {test['interval']}: {len(candles):,} candles, "
                        f"{len(result.trades):,} trades, {len(result.signals):,} signals")

    def __panel__(self):
        controls = pn.Column(heading("Market"), *self.store.market_widgets(), heading("Backtest"),
                             *self.store.settings_widgets(), self.run_button, width=300,
                             css_classes=["research-controls"])
        return pn.Row(controls, self.results, sizing_mode="stretch_width")


def sweep_choices(indicators=default_indicators, rules=default_rules) -> dict[str, tuple[float, float, float]]:
    """The parameters a sweep may vary, named as ``Sweep`` reads them (``"ema_fast.period"``,
    ``"LevelCross.lower"``): every numeric parameter of the default indicators and rules, each with a default
    (start, stop, step) around its default value (two steps either side, a step about a quarter of the value,
    whole numbers for integer parameters; within the parameter's bounds)."""
    made = indicators()
    owners = [(key, ind) for key, ind in made.items()] + [(type(r).__name__, r) for r in rules(made)]
    found = {}
    for key, obj in owners:
        for name, parameter in obj.param.objects().items():
            if not isinstance(parameter, param.Number):
                continue
            value = getattr(obj, name)
            if value is None:
                continue
            integer = isinstance(parameter, param.Integer)
            step = max(1, round(abs(value) / 4)) if integer else (abs(value) / 4 or 0.5)
            lo, hi = parameter.bounds or (None, None)
            start, stop = value - 2 * step, value + 2 * step
            start = start if lo is None else max(lo, start)
            stop = stop if hi is None else min(hi, stop)
            found[f"{key}.{name}"] = (start, stop, step)
    return found


CHOICES = sweep_choices()


def axis_values(name: str, start: float, stop: float, step: float) -> list:
    """``start``, ``start + step``, … up to ``stop`` inclusive (whole numbers for an integer parameter).
    ``ValueError`` for a step ≤ 0 or a stop before the start."""
    if start is None or stop is None or step is None:
        raise ValueError(f"{name}: give a start, a stop and a step")
    if step <= 0:
        raise ValueError(f"{name}: the step must be more than 0, not {step:g}")
    if stop < start:
        raise ValueError(f"{name}: the stop ({stop:g}) is before the start ({start:g})")
    n = math.floor((stop - start) / step + 1e-9) + 1
    values = [start + i * step for i in range(n)]
    if _is_integer(name):
        return list(dict.fromkeys(int(round(v)) for v in values))
    return [round(v, 10) for v in values]


def _is_integer(name: str) -> bool:
    key, _, parameter = name.partition(".")
    made = default_indicators()
    owner = made.get(key) or {type(r).__name__: r for r in default_rules(made)}.get(key)
    return owner is not None and isinstance(owner.param[parameter], param.Integer)


def walk_forward_table(result: SweepResult, candles: pd.DataFrame, folds: int) -> pd.DataFrame:
    """Per fold: the in-sample best cell (its parameters), its in-sample and out-of-sample figures, then the
    blocks' dates (UTC) (``SweepResult.best`` with the dates)."""
    spans = {(segment, fold): rows for segment, fold, rows in segments(len(candles), folds)}

    def dates(rows: slice) -> str:
        return f"{candles.index[rows.start]:%Y-%m-%d %H:%M} → {candles.index[rows.stop - 1]:%Y-%m-%d %H:%M}"

    metric = result.metric
    frame = result.best.rename(columns={f"in_{metric}": f"in-sample {metric}",
                                        f"out_{metric}": f"out-of-sample {metric}"})
    return frame.assign(**{"in-sample": [dates(spans[("in", f)]) for f in frame.fold],
                           "out-of-sample": [dates(spans[("out", f)]) for f in frame.fold]})


def heatmap(table: pd.DataFrame, x: str, y: str, metric: str, title: str = ""):
    """A HoloViews ``HeatMap`` of the cells of ``table`` over parameters ``x`` and ``y`` coloured by ``metric``
    (red bad, green good; the drawdown reversed), with each cell's value written on it (up to 144 cells)."""
    frame = pd.DataFrame({"x": table[x].astype(float), "y": table[y].astype(float),
                          "value": table[metric].astype(float).replace([np.inf, -np.inf], np.nan)})
    frame = frame.groupby(["x", "y"], as_index=False)["value"].mean()
    label = FIGURES.get(metric, (metric, ""))[0]
    dims = [hv.Dimension("x", label=x), hv.Dimension("y", label=y)]
    cells = hv.HeatMap(frame, kdims=dims, vdims=[hv.Dimension("value", label=label)]).opts(
        cmap="RdYlGn_r" if metric == "max_drawdown_pct" else "RdYlGn", colorbar=True, tools=["hover", "tap"],
        xlabel=x, ylabel=y, clabel="", line_color="white", line_width=1, nonselection_alpha=1,
        selection_alpha=1)
    plot = cells
    if len(frame) <= 144:
        text = frame.assign(text=[format_figure(metric, v).replace(" %", "") for v in frame.value])
        plot = cells * hv.Labels(text, kdims=dims, vdims=["text"]).opts(text_font_size="9pt", text_color="black")
    return cells, plot.opts(title=title or label, responsive=True, height=360,
                            toolbar="above", default_tools=["save", "reset"])


class SweepView(pn.viewable.Viewer):
    """A parameter sweep of the store's backtest over two parameters (``x`` and ``y``, each from start to stop by
    step), ranked by ``metric``, optionally walk-forward (``folds``) or a random sample of the grid (``samples``).

    **Run sweep** starts it on Dask (in a thread: an embedded ``LocalCluster`` takes seconds to start): on
    ``client`` if given, else on the ``scheduler`` address, else on a ``LocalCluster`` of this machine (listening
    on 127.0.0.1 only). A periodic callback reads its progress (``Progress`` ``.sweep-progress``); when it is done,
    the ranked cells fill a sortable table (``.sweep-table``) and a heatmap of ``metric`` over the two parameters
    (``.sweep-heatmap``); clicking a cell (or a table row) shows that cell's equity beside buy and hold (Bokeh
    figure ``"cell equity"``, source ``"cell equity curve"``), backtested here on the sweep's candles. With folds,
    the walk-forward table (``.sweep-walk-forward``) gives each fold's in-sample best and its out-of-sample figure.
    **Cancel** stops it. The cluster is released when the sweep ends, is cancelled, or the session ends.
    """

    store = param.ClassSelector(class_=ResearchStore, doc="The market, range, data and backtest settings")
    x = param.Selector(default="ema_fast.period", objects=list(CHOICES), doc="First parameter (heatmap x)")
    x_start = param.Number(default=CHOICES["ema_fast.period"][0], doc="First value of x")
    x_stop = param.Number(default=CHOICES["ema_fast.period"][1], doc="Last value of x (inclusive)")
    x_step = param.Number(default=CHOICES["ema_fast.period"][2], doc="Step between values of x (> 0)")
    y = param.Selector(default="ema_slow.period", objects=list(CHOICES), doc="Second parameter (heatmap y)")
    y_start = param.Number(default=CHOICES["ema_slow.period"][0], doc="First value of y")
    y_stop = param.Number(default=CHOICES["ema_slow.period"][1], doc="Last value of y (inclusive)")
    y_step = param.Number(default=CHOICES["ema_slow.period"][2], doc="Step between values of y (> 0)")
    metric = param.Selector(default="sharpe", objects=list(METRICS), doc="Figure the cells are ranked and coloured by")
    folds = param.Integer(default=0, bounds=(0, 5), doc="Walk-forward folds (0: none)")
    samples = param.Integer(default=None, allow_None=True, bounds=(1, None),
                            doc="Cells drawn at random from the grid (empty: the whole grid)")
    scheduler = param.String(default="", doc="Dask scheduler address (tcp://host:8786); empty: a local cluster")
    client = param.Parameter(default=None, doc="A dask.distributed Client to run on (overrides the scheduler)")
    message = param.String(default="", doc="Why the last sweep failed or stopped (⚠ …), else a note")
    running = param.Boolean(default=False, doc="A sweep is starting or running")

    def __init__(self, store: ResearchStore | None = None, **params):
        super().__init__(store=store or ResearchStore(), **params)
        self.sweep: Sweep | None = None
        self.result: SweepResult | None = None
        self.candles: pd.DataFrame | None = None
        self.backtest: Backtest | None = None
        self.cell: dict | None = None
        self.cell_result: BacktestResult | None = None
        self._callback = None       # the periodic progress poll
        self._cancelled = False
        self._started_at = 0.0
        self._tap = None
        self.run_button = pn.widgets.Button(name="Run sweep", button_type="primary", sizing_mode="stretch_width",
                                            css_classes=["sweep-run"])
        self.cancel_button = pn.widgets.Button(name="Cancel", button_type="warning", disabled=True,
                                               sizing_mode="stretch_width", css_classes=["sweep-cancel"])
        self.run_button.on_click(self._run_clicked)
        self.cancel_button.on_click(self._cancel_clicked)
        self.progress = pn.indicators.Progress(name="sweep progress", value=0, max=1, bar_color="primary",
                                               sizing_mode="stretch_width", height=18, css_classes=["sweep-progress"])
        self.progress_text = pn.pane.HTML("", css_classes=["sweep-progress-text"], width=220)
        self.message_pane = pn.pane.HTML(pn.bind(message_html, self.param.message), sizing_mode="stretch_width",
                                         css_classes=["research-message", "sweep-message"])
        self.heatmap = pn.pane.HoloViews(None, sizing_mode="stretch_width", min_height=360, linked_axes=False,
                                         css_classes=["sweep-heatmap"])
        self.cell_caption = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["sweep-cell-caption"])
        self.cell_equity = pn.pane.Bokeh(None, sizing_mode="stretch_width", min_height=330,
                                         css_classes=["sweep-cell-equity"])
        self.table = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, selectable=1, height=300,
                                          sizing_mode="stretch_width", pagination="local", page_size=100,
                                          name="sweep table", visible=False, css_classes=["sweep-table"])
        self.table.param.watch(self._row_selected, "selection")
        self.walk_forward = pn.widgets.Tabulator(pd.DataFrame(), show_index=False, disabled=True, height=200,
                                                 sizing_mode="stretch_width", name="walk-forward", visible=False,
                                                 css_classes=["sweep-walk-forward"])
        self.table_title = heading("Cells, best first (click a row for its equity)")
        self.walk_title = heading("Walk-forward: each fold's in-sample best cell, then on the next block")
        self.table_title.visible = self.walk_title.visible = False
        self.results = pn.Column(
            self.message_pane, pn.Row(self.progress, self.progress_text, sizing_mode="stretch_width"),
            pn.Row(self.heatmap, pn.Column(self.cell_caption, self.cell_equity, sizing_mode="stretch_width"),
                   sizing_mode="stretch_width"),
            self.table_title, self.table, self.walk_title, self.walk_forward, sizing_mode="stretch_width")

    # ---- the grid --------------------------------------------------------------------------------
    @param.depends("x", watch=True)
    def _x_chosen(self) -> None:
        self.x_start, self.x_stop, self.x_step = CHOICES[self.x]

    @param.depends("y", watch=True)
    def _y_chosen(self) -> None:
        self.y_start, self.y_stop, self.y_step = CHOICES[self.y]

    def space(self) -> dict[str, list]:
        """The grid: ``{x: values, y: values}``. ``ValueError`` for one parameter twice, a bad range, or more than
        ``MAX_CELLS`` cells."""
        if self.x == self.y:
            raise ValueError(f"choose two different parameters (both are {self.x})")
        space = {self.x: axis_values(self.x, self.x_start, self.x_stop, self.x_step),
                 self.y: axis_values(self.y, self.y_start, self.y_stop, self.y_step)}
        cells = len(space[self.x]) * len(space[self.y])
        if min(cells, self.samples or cells) > MAX_CELLS:
            raise ValueError(f"{cells:,} cells is more than {MAX_CELLS:,}: widen the steps or draw samples")
        return space

    # ---- running ---------------------------------------------------------------------------------
    async def _run_clicked(self, _event) -> None:
        await self.run()

    async def _cancel_clicked(self, _event) -> None:
        await self.cancel()

    def _begin(self, candles: pd.DataFrame, space: dict, backtest: Backtest) -> Sweep:
        """Start the sweep (blocking: connecting, or starting a local cluster, takes seconds)."""
        client, scheduler = self.client, self.scheduler.strip() or None
        return Sweep(candles, space, backtest, samples=self.samples, metric=self.metric, folds=self.folds,
                     client=client, scheduler=scheduler)

    async def run(self) -> None:
        """Load the candles and start the sweep (in threads), then poll its progress every ``POLL_MS``."""
        if self.running:
            return
        try:
            space = self.space()
            backtest = self.store.make_backtest()
        except ValueError as exc:
            self.message = f"⚠ {exc}"
            return
        self.running, self._cancelled, self.message = True, False, ""
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self._clear()
        self.progress.value, self.progress.max = -1, 1  # indeterminate while the cluster starts
        self.progress_text.object = "loading candles, starting the cluster…"
        self._started_at = time.monotonic()
        try:
            candles = await asyncio.to_thread(self.store.candles)
            if self._cancelled:
                raise concurrent.futures.CancelledError
            sweep = await asyncio.to_thread(self._begin, candles, space, backtest)
        except concurrent.futures.CancelledError:
            await self._release(None)
            self._ended("Cancelled before it started.")
            return
        except Exception as exc:
            if not isinstance(exc, (ValueError, OSError, TimeoutError)):
                log.exception("sweep did not start")
            await self._release(None)
            self._ended(f"⚠ the sweep did not start: {error_text(exc)}")
            return
        self.sweep, self.candles, self.backtest = sweep, candles, backtest
        if self._cancelled:  # Cancel was pressed while it started
            await self.cancel()
            return
        self.progress.value, self.progress.max = 0, sweep.total
        self._show_progress(0, sweep.total)
        self._callback = pn.state.add_periodic_callback(self.poll, period=POLL_MS)

    def _show_progress(self, done: int, total: int) -> None:
        self.progress_text.object = (f'<span class="sweep-count">{done:,} / {total:,} cells</span> · '
                                     f"{time.monotonic() - self._started_at:.1f} s")

    def poll(self) -> None:
        """Show the cells done; when all are (or one failed), collect the result."""
        sweep = self.sweep
        if sweep is None:
            self._stop_polling()
            return
        done = sweep.done
        self.progress.value = done
        self._show_progress(done, sweep.total)
        failed = any(future.status == "error" for future in sweep.futures)
        if done >= sweep.total or failed:
            self._stop_polling()
            pn.state.execute(self.finish)

    async def finish(self) -> None:
        """Gather the ranked result and show it, then release the cluster."""
        sweep, self.sweep = self.sweep, None
        if sweep is None:
            return
        try:
            result = await asyncio.to_thread(sweep.result)
            took = time.monotonic() - self._started_at
            self.show(result)
        except Exception as exc:  # a cell that failed on a worker, a lost scheduler: said, not raised
            log.warning("sweep failed: %s", error_text(exc), exc_info=not isinstance(exc, (ValueError, OSError)))
            message = f"⚠ the sweep failed: {error_text(exc)}"
        else:
            message = (f"{len(result.table):,} cells of {self.store.describe()} ranked by {result.metric} in "
                       f"{took:.1f} s; click a heatmap cell or a row for its equity")
        await self._release(sweep)
        self._ended(message)

    async def cancel(self) -> None:
        """Stop the sweep: cells not yet run never start; the cluster is released."""
        if not self.running:
            return
        self._cancelled = True
        sweep, self.sweep = self.sweep, None
        if sweep is None:  # still starting: run() stops once the start returns
            self.progress_text.object = "cancelling…"
            return
        self._stop_polling()
        done, total = sweep.done, sweep.total
        await asyncio.to_thread(sweep.cancel)
        await self._release(sweep)
        self._ended(f"Cancelled after {done:,} of {total:,} cells.")

    def _ended(self, message: str) -> None:
        self.message = message
        self.running = False
        self.run_button.disabled, self.cancel_button.disabled = False, True
        if self.progress.value == -1:
            self.progress.value = 0

    def _stop_polling(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    async def _release(self, sweep: Sweep | None) -> None:
        await asyncio.to_thread(self._shutdown, sweep)

    @staticmethod
    def _shutdown(sweep: Sweep | None) -> None:
        """Close ``sweep`` (its own client and embedded cluster, if any; blocking). A failure to close is logged:
        the page goes on."""
        if sweep is None:
            return
        try:
            sweep.close()
        except Exception:
            log.warning("closing the sweep's cluster failed", exc_info=True)

    def close(self) -> None:
        """Cancel a running sweep and release every cluster it holds (blocking; the session's end calls it)."""
        self._stop_polling()
        sweep, self.sweep = self.sweep, None
        self._cancelled = True
        if sweep is not None:
            try:
                sweep.cancel()
            except Exception:  # a scheduler already gone
                log.debug("cancel on close failed", exc_info=True)
        self._shutdown(sweep)

    # ---- results ---------------------------------------------------------------------------------
    def _clear(self) -> None:
        self.result = self.cell = self.cell_result = None
        self.heatmap.object = None
        self.cell_equity.object = None
        self.cell_caption.object = ""
        self.table.value = pd.DataFrame()
        self.walk_forward.value = pd.DataFrame()
        self.table.visible = self.table_title.visible = False
        self.walk_forward.visible = self.walk_title.visible = False

    def show(self, result: SweepResult) -> None:
        """Fill the table, the heatmap and (with folds) the walk-forward table from ``result``."""
        self.result = result
        x, y = result.parameters
        figures = [c for c in result.table.columns if c not in (x, y)]
        self.table.formatters = {c: NumberFormatter(format="0,0" if c == "trades" else "0,0.00") for c in figures}
        self.table.titles = {c: column_title(c) for c in figures}
        self.table.value = result.table[[x, y, result.metric, *(c for c in figures if c != result.metric)]]
        self.table.selection = []
        self.table.visible = self.table_title.visible = True
        self.cell_caption.object = "<i>Click a heatmap cell (or a row) for its equity.</i>"
        cells, plot = heatmap(result.table, x, y, result.metric)
        self._tap = hv.streams.Tap(source=cells, x=None, y=None)
        self._tap.add_subscriber(self.tapped)
        self.heatmap.object = plot
        if result.best is not None:
            walk = walk_forward_table(result, self.candles, self.folds)
            self.walk_forward.formatters = {c: NumberFormatter(format="0,0.00") for c in walk.columns
                                            if c.startswith(("in-sample ", "out-of-sample "))}
            self.walk_forward.titles = {c: c.replace(f" {result.metric}", f" {column_title(result.metric)}")
                                        for c in walk.columns if c.startswith(("in-sample ", "out-of-sample "))}
            self.walk_forward.value = walk
            self.walk_forward.visible = self.walk_title.visible = True

    def tapped(self, x=None, y=None) -> None:
        """The heatmap's tap handler: show the equity of the cell nearest to (``x``, ``y``) (data coordinates)."""
        if x is None or y is None or self.result is None:
            return
        table = self.result.table
        px, py = self.result.parameters
        xs, ys = np.unique(table[px].astype(float)), np.unique(table[py].astype(float))
        cx, cy = xs[np.abs(xs - x).argmin()], ys[np.abs(ys - y).argmin()]
        row = table[(table[px].astype(float) == cx) & (table[py].astype(float) == cy)]
        if row.empty:
            self.message = f"No cell at {px}={cx:g}, {py}={cy:g} (the random sample left it out)."
            return
        self.show_cell(row.iloc[0])

    def _row_selected(self, event) -> None:
        if event.new and self.result is not None and len(self.table.value):
            self.show_cell(self.table.value.iloc[event.new[0]])

    def show_cell(self, row) -> None:
        """Backtest one cell (a row of the result table, or a dict of its parameters) on the sweep's candles with
        the sweep's settings, and draw its equity beside buy and hold (about 0.1 s on a month of 1m candles)."""
        names = self.result.parameters
        cell = {name: _number(row[name]) for name in names}
        try:
            result = self.backtest.run(self.candles, *build(cell))
        except ValueError as exc:
            self.message = f"⚠ {exc}"
            return
        self.cell, self.cell_result = cell, result
        metric = self.result.metric
        shown = [metric] + [m for m in ("total_return_pct", "max_drawdown_pct", "trades") if m != metric]
        figures = " · ".join(f"{FIGURES.get(m, (m,))[0]} <b>{format_figure(m, result.metrics[m])}</b>" for m in shown)
        cell_text = " · ".join(f"{html.escape(k)} = <b>{v}</b>" for k, v in cell.items())
        self.cell_caption.object = f'<span class="sweep-cell-name">{cell_text}</span><br><small>{figures}</small>'
        self.cell_equity.object = equity_figure(result.equity, self.candles, self.backtest.initial_capital,
                                                "Equity of the cell", "cell equity", height=330,
                                                quote=quote_of(self.backtest.symbol))

    def __panel__(self):
        def axis(name: str) -> list:
            numbers = {"sizing_mode": "stretch_width"}
            return [pn.widgets.Select.from_param(self.param[name], name=f"Parameter {name}",
                                                 sizing_mode="stretch_width", css_classes=[f"sweep-{name}"]),
                    pn.Row(pn.widgets.FloatInput.from_param(self.param[f"{name}_start"], name="from", **numbers,
                                                            css_classes=[f"sweep-{name}-start"]),
                           pn.widgets.FloatInput.from_param(self.param[f"{name}_stop"], name="to", **numbers,
                                                            css_classes=[f"sweep-{name}-stop"]),
                           pn.widgets.FloatInput.from_param(self.param[f"{name}_step"], name="step", **numbers,
                                                            css_classes=[f"sweep-{name}-step"]),
                           sizing_mode="stretch_width")]

        settings = pn.Card(*self.store.settings_widgets(), title="Backtest settings", collapsed=True,
                           sizing_mode="stretch_width")
        controls = pn.Column(
            heading("Market"), *self.store.market_widgets(), heading("Grid"), *axis("x"), *axis("y"),
            pn.Row(pn.widgets.Select.from_param(self.param.metric, name="Rank by", sizing_mode="stretch_width"),
                   pn.widgets.IntInput.from_param(self.param.folds, name="Walk-forward folds", width=120,
                                                  css_classes=["sweep-folds"]), sizing_mode="stretch_width"),
            pn.widgets.IntInput.from_param(self.param.samples, name="Random cells (empty: the whole grid)",
                                           placeholder="all", sizing_mode="stretch_width",
                                           css_classes=["sweep-samples"]),
            pn.widgets.TextInput.from_param(self.param.scheduler, name="Dask scheduler (empty: local cluster)",
                                            placeholder="tcp://127.0.0.1:8786", sizing_mode="stretch_width",
                                            css_classes=["sweep-scheduler"]),
            settings, pn.Row(self.run_button, self.cancel_button, sizing_mode="stretch_width"),
            width=300, css_classes=["sweep-controls"])
        on_session_end(lambda: threading.Thread(target=self.close, daemon=True, name="sweep close").start())
        return pn.Row(controls, self.results, sizing_mode="stretch_width")


def column_title(name: str) -> str:
    """A figure's column title: its label and unit (``"Total return %"``), or the name."""
    label, unit = FIGURES.get(name, (name, ""))
    return f"{label} {unit}".strip() if unit == "%" else label


def _number(value):
    """A cell value as its parameter takes it: whole floats (pandas makes a row's values floats) as ints."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    return value.item() if isinstance(value, np.generic) else value


class Research(pn.viewable.Viewer):
    """The dashboard's Research tab: a ``BacktestView`` and a ``SweepView`` on one ``ResearchStore`` (the hub's
    symbols and interval; the candles from the hub's embedded replay recording, else the bundled one, unless
    ``data`` is given), as two sub-tabs. Nothing is built until the tab is first shown, and no Dask cluster starts
    until a sweep runs."""

    def __init__(self, hub=None, data=None, **params):
        super().__init__(**params)
        self.hub, self.data = hub, data
        self.store = self.backtest = self.sweep = None

    @param.depends()  # a lazy view: built when first rendered (its tab shown), not when the dashboard is made
    def __panel__(self):
        if self.store is None:
            self.store = ResearchStore(hub=self.hub, data=self.data)
            self.backtest, self.sweep = BacktestView(self.store), SweepView(self.store)
        return pn.Tabs(("Backtest", self.backtest), ("Sweep", self.sweep), dynamic=True, sizing_mode="stretch_width",
                       css_classes=["research-tabs"])


__all__ = ["BacktestView", "Research", "ResearchStore", "SweepView", "heatmap", "sweep_choices"]
