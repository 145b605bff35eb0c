"""The dashboard: market, indicator and rule controls beside the live chart, confluence gauges, signals and alerts."""

from __future__ import annotations

import panel as pn

from ..hub import FeedHub
from .alerts import AlertCenter
from .chart import CandleChart
from .confluence import ConfluenceGauges
from .controls import IndicatorControls, RuleControls
from .status import StatusStrip


class Dashboard(pn.viewable.Viewer):
    """What ``panel serve apps/live.py`` shows, and what a notebook cell shows: one chart per session.

    Sidebar: market, indicators (add, remove, tweak), signal rules (toggle, tweak). Main: the feed
    status, one confluence gauge per market, the chart, and tabs with its signals and the alert centre.
    """

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self.chart = CandleChart(hub)
        self.controls = IndicatorControls(self.chart)
        self.rules = RuleControls(self.chart)
        self.status = StatusStrip(hub)
        self.gauges = ConfluenceGauges(hub)
        self.alerts = AlertCenter(hub.alerts, symbols=hub.symbols)

    def __panel__(self):
        sidebar = pn.Column(
            "### Market",
            pn.widgets.Select.from_param(self.chart.param.symbol, name="Symbol", sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.chart.param.interval, name="Interval", sizing_mode="stretch_width"),
            "### Indicators",
            self.controls,
            "### Signal rules",
            self.rules,
            width=270,
        )
        tabs = pn.Tabs(("Signals", self.chart.table), ("Alerts", self.alerts), dynamic=False, name="tabs")
        main = pn.Column(self.status, self.gauges, self.chart, tabs, sizing_mode="stretch_width")
        return pn.Row(sidebar, main, sizing_mode="stretch_width")
