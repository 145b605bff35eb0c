"""Panel views of the feed hub: chart, controls, status strip, dashboard."""

import contextlib
import weakref

import panel as pn
import param
from bokeh.core.has_props import Local
from bokeh.models import ColumnDataSource, UIElement
from panel.io.notebook import block_comm, patch_inline_stylesheets, push
from panel.io.state import state


def served() -> bool:
    """Whether the current document is a served session (``panel serve``), not a notebook output."""
    return pn.state.curdoc is not None and pn.state.curdoc.session_context is not None


def when_served(start) -> None:
    """Run ``start`` once a served page has loaded (no model changes before the page is sent), or now in a
    notebook, where there is no page load to wait for."""
    if served():
        pn.state.onload(start)
    else:
        start()


def on_session_end(callback) -> None:
    """Call ``callback()`` when the served session (browser tab) ends; nothing in a notebook."""
    if served():
        pn.state.on_session_destroyed(lambda _ctx: callback())


def _sheets(model) -> tuple:
    """What a model's stylesheets say (CSS texts and URLs), whichever objects hold them."""
    return tuple(s if isinstance(s, str) else getattr(s, "css", None) or s.url for s in model.stylesheets)


_SENT_SHEETS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → (_sheets, the objects its page has)


@contextlib.contextmanager
def notebook_push():
    """Send the model changes that the block makes to the notebook outputs, once, at its end.

    A served document syncs by itself; a notebook output's document holds its changes until something pushes
    them (Panel does for its own parameter changes, not for a direct ``source.stream``). Panel's pushes are held
    back during the block, then each output's held changes go out in one message (none when served).

    Panel 1.9 also resets a pane's stylesheets whenever it updates the pane, to links to its CDN
    (holoviz/panel#8707): they are inlined, so an offline notebook fetches nothing from a CDN, and a reset that
    leaves them as the page has them is undone and not sent (new style sheets on every status update make the
    browser recompute the style of the whole notebook: seconds per update with a dashboard in a cell). Undone,
    not just dropped: Bokeh takes every model of the document as known to the page after a push, and a later
    message naming a style sheet the page never got would fail as a whole."""
    with block_comm():
        yield
    for _view, _root, doc, comm in list(state._views.values()):
        if comm is None:
            continue
        held = doc.callbacks._held_events
        for model in {id(m): m for e in held if (m := getattr(e, "model", None)) is not None}.values():
            for element in model.select({"type": UIElement}):  # the changed models and the new ones they hold
                patch_inline_stylesheets(element)
        unchanged = set()
        for model in {id(e.model): e.model for e in held if getattr(e, "attr", None) == "stylesheets"}.values():
            sheets, sent = _sheets(model), _SENT_SHEETS.get(model)
            if sent is not None and sent[0] == sheets:
                model.stylesheets = sent[1]  # the very objects the page has
                unchanged.add(id(model))
            else:
                _SENT_SHEETS[model] = (sheets, list(model.stylesheets))
        kept = []
        for event in doc.callbacks._held_events:
            if getattr(event, "attr", None) == "stylesheets":
                if id(event.model) in unchanged:
                    continue
                event.new = event.model.stylesheets  # Panel's event and ours are not combined (another setter)
            kept.append(event)
        doc.callbacks._held_events = kept
        push(doc, comm)


class LiveSource(Local, ColumnDataSource):
    """A ``ColumnDataSource`` that only Python writes: the ``data`` changes, streams and patches that come back
    from a page are ignored; the page sees a plain ``ColumnDataSource``.

    A live view computes each ``stream``/``patch`` from its source's current rows, so they must be exactly the rows
    it sent. In a notebook, Panel 1.9's comm (``panel/models/comm_manager.ts``, ``_document_changed``) sends back
    every change it has just applied in the page, unlike Bokeh's server session, which drops such echoes: without
    this guard an old row comes back after a newer one, the next update targets the wrong row, and the page's
    candles get doubled or out of order. Our views have no tool that edits their data in the page, so nothing
    a user does is lost.
    """

    __view_model__ = "ColumnDataSource"
    __view_module__ = "bokeh.models.sources"

    def set_from_json(self, name, value, *, setter=None) -> None:
        if name != "data" or setter is None:
            super().set_from_json(name, value, setter=setter)

    def _stream(self, new_data, rollover=None, setter=None) -> None:
        if setter is None:
            super()._stream(new_data, rollover, setter)

    def patch(self, patches, setter=None) -> None:
        if setter is None:
            super().patch(patches)


class LiveView(pn.viewable.Viewer):
    """A view its session redraws on a periodic callback: ``tick()`` every ``period_ms`` once shown (the page
    loaded, or the notebook cell ran), until ``detach()`` (called when the browser tab closes).

    A redraw may change Bokeh models directly (``source.stream``/``patch``, a legend label): a served document
    sends those changes by itself, a notebook output only when pushed, so every tick runs inside
    ``notebook_push()`` (nothing to do when served). The same view is therefore as live in a notebook
    cell as in a served page.

    ``tick()`` redraws (``refresh()``) only while ``visible``: the dashboard clears it while the view's tab
    is hidden, and setting it again redraws at once, so hidden views cost neither server nor browser time.
    The first tick after a tab is shown again also resends the value of each table named in ``tables``: a
    Tabulator being rebuilt in the browser drops an update that lands meanwhile.
    Subclasses implement ``refresh()`` and may override ``due()`` (redraw only on change), ``tick()`` (calling
    ``super().tick()``) and ``detach()`` (calling ``super().detach()``); their ``__panel__`` returns
    ``self.live(layout)``.
    """

    tables: tuple[str, ...] = ()  # attribute names of the view's Tabulator widgets

    period_ms = param.Integer(default=1000, bounds=(50, None), doc="Redraw period (ms)")
    visible = param.Boolean(default=True, doc="Redraw only while shown (cleared while the view's tab is hidden)")

    def __init__(self, **params):
        super().__init__(**params)
        self._callback = None
        self._resend = False
        self.param.watch(self._shown, ["visible"])

    def refresh(self) -> None:
        raise NotImplementedError

    def _shown(self, event) -> None:
        if event.new:
            with notebook_push():
                self.refresh()
            self._resend = bool(self.tables)

    def _periodic(self) -> None:
        with notebook_push():
            self.tick()

    def due(self) -> bool:
        """Whether the next tick redraws (while visible); always, unless a subclass knows nothing changed."""
        return True

    def tick(self) -> None:
        if self._resend:
            self._resend = False
            for name in self.tables:
                getattr(self, name).param.trigger("value")
        if self.visible and self.due():
            self.refresh()

    def _start(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self._periodic, period=self.period_ms)

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
