"""Sidebar controls generated from ``param`` declarations: indicator cards with a picker, signal rule cards."""

from __future__ import annotations

import panel as pn
import param

from .. import indicators as library


def param_widget(obj: param.Parameterized, key: str, name: str, series: list[str] = ()):
    """The widget of one parameter: bounds become the input's limits (values outside are refused), the
    doc is the tooltip; booleans become checkboxes, selectors selects, and a string parameter that names
    a series (``series`` given) a select of those series. CSS class ``param-<key>-<name>``."""
    p = obj.param[name]
    common = {"description": p.doc, "css_classes": [f"param-{key}-{name}"], "sizing_mode": "stretch_width"}
    if isinstance(p, param.Boolean):  # a checkbox has no tooltip: the doc goes in its label's title
        return pn.widgets.Checkbox.from_param(p, name=name, css_classes=common["css_classes"],
                                              sizing_mode="stretch_width")
    if isinstance(p, param.Selector):
        return pn.widgets.Select.from_param(p, name=name, **common)
    if isinstance(p, param.String):
        return pn.widgets.Select.from_param(p, name=name, options=sorted({*series, getattr(obj, name)}), **common)
    low, high = p.bounds or (None, None)
    widget_type = pn.widgets.IntInput if isinstance(p, param.Integer) else pn.widgets.FloatInput
    step = 1 if isinstance(p, param.Integer) else (p.step or 0.1)
    label = name + ("" if low is None and high is None else f" (≥ {low})" if high is None else
                    f" (≤ {high})" if low is None else f" ({low}–{high})")
    return widget_type.from_param(p, name=label, start=low, end=high, step=step, **common)


class _Cards(pn.viewable.Viewer):
    """One card per object, titled ``<key>: <label>`` and retitled whenever a parameter changes."""

    def __init__(self, **params):
        super().__init__(**params)
        self.cards = pn.Column(sizing_mode="stretch_width")
        self._watchers = []  # (object, watcher) keeping each card's title in step with its parameters

    def _objects(self) -> dict:
        raise NotImplementedError

    def _widgets(self, key: str, obj) -> list:
        raise NotImplementedError

    def _refresh(self) -> None:
        for obj, watcher in self._watchers:
            obj.param.unwatch(watcher)
        self._watchers = []
        self.cards.objects = [self._card(key, obj) for key, obj in self._objects().items()]

    def _card(self, key: str, obj) -> pn.Card:
        card = pn.Card(*self._widgets(key, obj), title=f"{key}: {obj.label}", collapsed=False,
                       sizing_mode="stretch_width", css_classes=[f"card-{key}"])
        retitle = lambda *_: setattr(card, "title", f"{key}: {obj.label}")  # noqa: E731
        self._watchers.append((obj, obj.param.watch(retitle, [n for n in obj.param if n != "name"])))
        return card


class IndicatorControls(_Cards):
    """One card per indicator on ``chart`` (a widget per parameter, a **Remove** button), and an add picker.

    Editing a value sets the parameter and the indicator's graph node recomputes the overlay over the
    loaded history. CSS hooks: ``param-<key>-<name>`` widgets, ``remove-<key>`` buttons,
    ``indicator-picker`` and ``indicator-add``.
    """

    def __init__(self, chart, **params):
        super().__init__(**params)
        self.chart = chart
        names = library.available()
        self.picker = pn.widgets.Select(name="Add indicator", options=names, value="STOCH" if "STOCH" in names else None,
                                        sizing_mode="stretch_width", css_classes=["indicator-picker"])
        self.add_button = pn.widgets.Button(name="Add", button_type="primary", css_classes=["indicator-add"])
        self.add_button.on_click(lambda _: self.add(self.picker.value))
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

    def _objects(self) -> dict:
        return self.chart.indicators

    def _widgets(self, key: str, indicator) -> list:
        widgets = [param_widget(indicator, key, name) for name, p in indicator.param.objects("existing").items()
                   if isinstance(p, (param.Number, param.Selector)) and not isinstance(p, param.ClassSelector)
                   and not p.constant and name != "name"]
        remove = pn.widgets.Button(name="Remove", button_type="light", css_classes=[f"remove-{key}"])
        remove.on_click(lambda _: self.remove(key))
        return [*widgets, remove]

    def __panel__(self):
        return pn.Column(self.cards, pn.Row(self.picker, self.add_button, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")


class RuleControls(_Cards):
    """One card per signal rule of ``chart``: an on/off toggle, provisional mode, its series and parameters.

    A change re-derives that rule's signals over the loaded history (markers and table follow).
    Widgets carry the CSS class ``param-rule<i>-<name>`` (``i`` = the rule's position).
    """

    def __init__(self, chart, **params):
        super().__init__(**params)
        self.chart = chart
        self._refresh()

    def _objects(self) -> dict:
        return {f"rule{i}": rule for i, rule in enumerate(self.chart.rules)}

    def _widgets(self, key: str, rule) -> list:
        series = [*("open", "high", "low", "close", "volume"), *self.chart.branch.labels().values()]
        names = ["enabled", "provisional", *rule.series_params,
                 *(n for n in rule.param if n not in ("name", "enabled", "provisional", *rule.series_params))]
        return [param_widget(rule, key, name, series) for name in names]

    def __panel__(self):
        return self.cards
