"""Indicator parameter widgets, generated from each indicator's ``param`` declarations."""

from __future__ import annotations

import panel as pn
import param


class IndicatorControls(pn.viewable.Viewer):
    """One widget per numeric parameter of each indicator: bounds from the declaration, doc as tooltip.

    Editing a value sets the parameter; the indicator's graph node then recomputes the overlay over
    the loaded history. Values outside the bounds are refused by the widget (its label shows them).
    """

    def __init__(self, indicators: dict, **params):
        super().__init__(**params)
        self.indicators = indicators
        self.widgets = [
            self._widget(key, ind, name)
            for key, ind in indicators.items()
            for name, p in ind.param.objects("existing").items()
            if isinstance(p, param.Number) and not p.constant and name != "name"
        ]

    @staticmethod
    def _widget(key: str, indicator, name: str):
        p = indicator.param[name]
        low, high = p.bounds or (None, None)
        widget_type = pn.widgets.IntInput if isinstance(p, param.Integer) else pn.widgets.FloatInput
        first, *rest = key.split("_")
        label = " ".join([first.upper(), *rest, name]) + (f" ({low}–{high})" if p.bounds else "")
        return widget_type.from_param(p, name=label, start=low, end=high, description=p.doc,
                                      css_classes=[f"param-{key}-{name}"], sizing_mode="stretch_width")

    def __panel__(self):
        return pn.Column(*self.widgets, sizing_mode="stretch_width")
