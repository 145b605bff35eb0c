"""The dashboard: market selectors, indicator controls and status beside the live chart and its signals."""

from __future__ import annotations

import panel as pn

from ..hub import FeedHub
from .chart import CandleChart
from .controls import IndicatorControls
from .status import StatusStrip


class Dashboard(pn.viewable.Viewer):
    """What ``panel serve apps/live.py`` shows, and what a notebook cell shows: one chart per session."""

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self.chart = CandleChart(hub)
        self.controls = IndicatorControls(self.chart)
        self.status = StatusStrip(hub)

    def __panel__(self):
        sidebar = pn.Column(
            "### Market",
            pn.widgets.Select.from_param(self.chart.param.symbol, name="Symbol", sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.chart.param.interval, name="Interval", sizing_mode="stretch_width"),
            "### Indicators",
            self.controls,
            width=260,
        )
        main = pn.Column(self.status, self.chart, "### Signals", self.chart.table, sizing_mode="stretch_width")
        return pn.Row(sidebar, main, sizing_mode="stretch_width")
