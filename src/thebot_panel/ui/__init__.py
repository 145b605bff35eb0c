"""Panel views of the feed hub: chart, controls, status strip, dashboard."""

import panel as pn
import param


def when_served(start) -> None:
    """Run ``start`` once a served page has loaded (no model changes before the page is sent), or now in a
    notebook, where there is no page load to wait for."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.onload(start)
    else:
        start()


def on_session_end(callback) -> None:
    """Call ``callback()`` when the served session (browser tab) ends; nothing in a notebook."""
    if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
        pn.state.on_session_destroyed(lambda _ctx: callback())


class LiveView(pn.viewable.Viewer):
    """A view its session redraws on a periodic callback: ``tick()`` every ``period_ms`` once shown (the page
    loaded, or the notebook cell ran), until ``detach()`` (called when the browser tab closes).

    ``tick()`` redraws (``refresh()``) only while ``visible``: the dashboard clears it while the view's tab
    is hidden, and setting it again redraws at once, so hidden views cost neither server nor browser time.
    Subclasses implement ``refresh()`` and may override ``tick()`` (e.g. to redraw only on change) and
    ``detach()`` (calling ``super().detach()``); their ``__panel__`` returns ``self.live(layout)``.
    """

    period_ms = param.Integer(default=1000, bounds=(50, None), doc="Redraw period (ms)")
    visible = param.Boolean(default=True, doc="Redraw only while shown (cleared while the view's tab is hidden)")

    def __init__(self, **params):
        super().__init__(**params)
        self._callback = None
        self.param.watch(lambda event: event.new and self.refresh(), ["visible"])

    def refresh(self) -> None:
        raise NotImplementedError

    def tick(self) -> None:
        if self.visible:
            self.refresh()

    def _start(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.tick, period=self.period_ms)

    def detach(self) -> None:
        """Stop the periodic redraw."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None

    def live(self, layout):
        """``layout``, with this view's periodic redraw started once it is shown and stopped with its session."""
        when_served(self._start)
        on_session_end(self.detach)
        return layout
