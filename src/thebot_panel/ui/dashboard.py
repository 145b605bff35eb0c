"""The dashboard: a sidebar of controls beside tabs for the chart, comparison, screener, signals and alerts,
paper portfolio, news and research (backtests and sweeps). ``template()`` is what ``panel serve`` shows; a
notebook cell shows the same views."""

from __future__ import annotations

import html

import panel as pn

from ..hub import FeedHub
from . import LiveView
from .alerts import AlertCenter
from .chart import CandleChart
from .compare import Compare
from .confluence import ConfluenceGauges
from .controls import IndicatorControls, RuleControls
from .metrics import MetricsStrip
from .news import NewsPanel
from .portfolio import PortfolioView
from .research import Research
from .screener import Screener
from .status import StatusStrip
from .theme import ACCENT, DOWN

TABS = ("Chart", "Compare", "Screener", "Signals & Alerts", "Portfolio", "News", "Research")


class Dashboard(pn.viewable.Viewer):
    """One session's views of the shared hub.

    Sidebar: source and replay (speed, pause), market (symbol picker, interval), chart settings (follow live,
    candles kept), indicators (add, remove, tweak), signal rules (toggle, tweak), alert settings. Main: the feed status
    and one tab per view in ``TABS``; ``extra`` adds or replaces views (title -> viewable).
    """

    def __init__(self, hub: FeedHub, extra: dict | None = None, **params):
        super().__init__(**params)
        self.hub = hub
        self.chart = CandleChart(hub)
        self.controls = IndicatorControls(self.chart)
        self.rules = RuleControls(self.chart)
        self.status = StatusStrip(hub)
        self.metrics = MetricsStrip(hub, focus=self.chart.symbol)
        self.gauges = ConfluenceGauges(hub)
        self.alerts = AlertCenter(hub.services.alerts, symbols=hub.symbols)
        self.symbol_picker = pn.widgets.AutocompleteInput(
            name="Symbol (a listed pair, e.g. SOLUSDT)", options=list(self.chart.param.symbol.objects),
            value=self.chart.symbol, restrict=False, case_sensitive=False, min_characters=1,
            search_strategy="includes", sizing_mode="stretch_width", css_classes=["symbol-picker"])
        self.symbol_picker.param.watch(self._picked, "value")
        self.chart.param.watch(self._charted, "symbol")
        self.symbol_message = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["symbol-message"],
                                           styles={"color": DOWN})
        self.extra = {"Compare": Compare(hub), "Screener": Screener(hub),
                      "Portfolio": PortfolioView(hub.services.portfolio, hub.symbols), "News": NewsPanel(hub.services.news),
                      "Research": Research(hub), **(extra or {})}

    def source(self) -> pn.Column:
        """Where the data comes from; for the bundled replay, its speed and a pause toggle (shared by every
        session: there is one feed per process)."""
        hub = self.hub
        if hub.replay is None:
            return pn.Column(pn.pane.HTML(f"<small>{html.escape(hub.source_label or hub.source)}</small>"),
                             sizing_mode="stretch_width")
        badge = pn.pane.HTML(pn.bind(lambda text: f"<small>{html.escape(text)}</small>", hub.param.replay_badge),
                             sizing_mode="stretch_width", css_classes=["replay-state"])
        return pn.Column(badge, pn.Row(
            pn.widgets.FloatInput.from_param(hub.param.speed, name="Replay speed (×)", width=140,
                                             css_classes=["replay-speed"]),
            pn.widgets.Toggle.from_param(hub.param.paused, name="Pause", width=100, margin=(24, 5, 5, 5),
                                         css_classes=["replay-pause"])), sizing_mode="stretch_width")

    async def pick_symbol(self, text: str) -> None:
        """Chart ``text``'s market: a hub symbol, or any symbol the source lists (subscribed on demand). A
        malformed or unknown symbol is explained under the picker and the chart stays as it is."""
        if not text or text == self.chart.symbol:
            return
        try:
            symbol = await self.hub.add_symbol(text)
        except ValueError as exc:
            self.symbol_message.object = f'<span class="symbol-error">⚠ {html.escape(str(exc))}</span>'
            self.symbol_picker.value = self.chart.symbol
            return
        self.symbol_message.object = ""
        if symbol not in self.chart.param.symbol.objects:
            self.chart.param.symbol.objects = [*self.chart.param.symbol.objects, symbol]
            self.symbol_picker.options = list(self.chart.param.symbol.objects)
        self.chart.symbol = self.symbol_picker.value = symbol

    def _charted(self, event) -> None:
        self.symbol_picker.value = self.metrics.focus = event.new

    async def _picked(self, event) -> None:
        await self.pick_symbol(event.new)

    def sidebar(self) -> list:
        chart = self.chart
        return [
            "### Source",
            pn.panel(pn.bind(lambda _label: self.source(), self.hub.param.source_label)),
            "### Market",
            self.symbol_picker,
            self.symbol_message,
            pn.widgets.Select.from_param(chart.param.interval, name="Interval", sizing_mode="stretch_width",
                                         css_classes=["interval-select"]),
            pn.widgets.Checkbox.from_param(chart.param.follow, name="Follow live", css_classes=["follow-live"]),
            pn.widgets.IntInput.from_param(chart.param.rollover, name="Candles kept in the page",
                                           sizing_mode="stretch_width"),
            "### Indicators",
            self.controls,
            "### Signal rules",
            self.rules,
            "### Alerts",
            pn.widgets.Checkbox.from_param(self.alerts.param.toasts, name="Toasts"),
            pn.widgets.Checkbox.from_param(self.alerts.notifier.param.enabled, name="Browser notification + sound"),
        ]

    def tabs(self) -> pn.Tabs:
        """The main area: one tab per view; a view redraws only while its tab is shown (``LiveView.visible``)."""
        views = {
            "Chart": pn.Column(self.chart, pn.Row(self.metrics, self.gauges, sizing_mode="stretch_width"),
                               sizing_mode="stretch_width"),
            "Signals & Alerts": pn.Column("#### Signals on the chart", self.chart.table, self.alerts,
                                          sizing_mode="stretch_width"),
            **self.extra,
        }
        titles = [title for title in TABS if title in views] + [title for title in views if title not in TABS]
        live = {"Chart": [self.chart, self.metrics, self.gauges], "Signals & Alerts": [self.chart, self.alerts],
                **{title: [view] for title, view in self.extra.items() if isinstance(view, LiveView)}}
        shown_in: dict[int, tuple[LiveView, set[str]]] = {}  # the chart: figures in one tab, its table in another
        for title, shown in live.items():
            for view in shown:
                shown_in.setdefault(id(view), (view, set()))[1].add(title)
        tabs = pn.Tabs(*((title, views[title]) for title in titles), dynamic=True, sizing_mode="stretch_width",
                       name="tabs")

        def show(active: int) -> None:
            for view, where in shown_in.values():
                view.visible = titles[active] in where

        show(tabs.active)
        tabs.param.watch(lambda event: show(event.new), "active")
        return tabs

    def template(self) -> pn.template.BootstrapTemplate:
        """The served page: Panel's BootstrapTemplate (all its resources are served locally), light or dark
        as the ``?theme=dark`` URL argument says; the sidebar's switch reloads the page in the other theme."""
        dark = pn.config.theme == "dark"
        switch = pn.widgets.Switch(name="Dark theme", value=dark, css_classes=["theme-switch"])
        switch.jscallback(value="const u = new URL(window.location); "
                                "u.searchParams.set('theme', cb_obj.value ? 'dark' : 'default'); window.location = u;")
        return pn.template.BootstrapTemplate(title="thebot-panel", sidebar=[switch, *self.sidebar()],
                                             main=[self.status, self.tabs()], sidebar_width=300,
                                             header_background=ACCENT, theme="dark" if dark else "default")

    def __panel__(self):
        return pn.Row(pn.Column(*self.sidebar(), width=300), pn.Column(self.status, self.tabs(),
                                                                      sizing_mode="stretch_width"),
                      sizing_mode="stretch_width")
