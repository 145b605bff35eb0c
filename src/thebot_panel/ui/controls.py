"""The indicator picker and parameter panels, generated from each indicator's ``param`` declarations."""

from __future__ import annotations

import panel as pn
import param

from .. import indicators as library


class IndicatorControls(pn.viewable.Viewer):
    """One card per indicator on ``chart``: a widget per parameter and a remove button; an add picker below.

    Widgets come from the declarations: bounds become the input's limits (values outside are refused),
    the doc is the tooltip, selectors become selects. Editing a value sets the parameter and the
    indicator's graph node recomputes the overlay over the loaded history. Each widget carries the
    CSS class ``param-<key>-<name>`` (e.g. ``param-ema_fast-period``), each card ``indicator-<key>``.
    """

    def __init__(self, chart, **params):
        super().__init__(**params)
        self.chart = chart
        self.picker = pn.widgets.Select(name="Add indicator", options=library.available(), value="MACD"
                                        if "MACD" in library.available() else None,
                                        sizing_mode="stretch_width", css_classes=["indicator-picker"])
        self.add_button = pn.widgets.Button(name="Add", button_type="primary", css_classes=["indicator-add"])
        self.add_button.on_click(lambda _: self.add(self.picker.value))
        self.cards = pn.Column(sizing_mode="stretch_width")
        self._watchers = []  # (indicator, watcher) keeping each card's title in step with its parameters
        self._refresh()

    def add(self, name: str) -> str:
        """Add indicator ``name`` with its default parameters to the chart; returns its key."""
        key = self.chart.add_indicator(library.create(name))
        self._refresh()
        return key

    def remove(self, key: str) -> None:
        """Remove the indicator ``key`` from the chart."""
        self.chart.remove_indicator(key)
        self._refresh()

    def _refresh(self) -> None:
        for indicator, watcher in self._watchers:
            indicator.param.unwatch(watcher)
        self._watchers = []
        self.cards.objects = [self._card(key, ind) for key, ind in self.chart.indicators.items()]

    def _card(self, key: str, indicator) -> pn.Card:
        widgets = [self._widget(key, indicator, name) for name, p in indicator.param.objects("existing").items()
                   if isinstance(p, (param.Number, param.Selector)) and not isinstance(p, param.ClassSelector)
                   and not p.constant and name != "name"]
        remove = pn.widgets.Button(name="Remove", button_type="light", css_classes=[f"remove-{key}"])
        remove.on_click(lambda _: self.remove(key))
        card = pn.Card(*widgets, remove, title=f"{key}: {indicator.label}", collapsed=False,
                       sizing_mode="stretch_width", css_classes=[f"indicator-{key}"])
        retitle = lambda *_: setattr(card, "title", f"{key}: {indicator.label}")  # noqa: E731
        self._watchers.append((indicator, indicator.param.watch(retitle, indicator._parameter_names())))
        return card

    @staticmethod
    def _widget(key: str, indicator, name: str):
        p = indicator.param[name]
        common = {"description": p.doc, "css_classes": [f"param-{key}-{name}"], "sizing_mode": "stretch_width"}
        if isinstance(p, param.Selector):
            return pn.widgets.Select.from_param(p, name=name, **common)
        low, high = p.bounds or (None, None)
        widget_type = pn.widgets.IntInput if isinstance(p, param.Integer) else pn.widgets.FloatInput
        label = name + (f" ({low}–{high})" if p.bounds else "")
        step = 1 if isinstance(p, param.Integer) else (p.step or 0.1)
        return widget_type.from_param(p, name=label, start=low, end=high, step=step, **common)

    def __panel__(self):
        return pn.Column(self.cards, pn.Row(self.picker, self.add_button, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")
