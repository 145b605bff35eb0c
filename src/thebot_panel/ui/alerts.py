"""The alert centre: active alerts with a dismiss button, the history table, toasts and browser notifications."""

from __future__ import annotations

import html
import logging
import math
import time

import pandas as pd
import panel as pn
import param
from panel.reactive import ReactiveHTML

from ..signals.alerts import ACTIVE, Alert, AlertManager
from . import LiveView
from .theme import DOWN, UP

log = logging.getLogger(__name__)

HISTORY_DTYPES = {"id": "int64", "created": str, "symbol": str, "interval": str, "kind": str, "rule": str,
                  "side": str, "price": "float64", "strength": "float64", "state": str}
RECENCY = {"all": None, "last hour": 3_600_000, "last 24 h": 86_400_000, "last 7 days": 7 * 86_400_000}


def history_frame(alerts) -> pd.DataFrame:
    """Alerts as a table: id, created (UTC, ISO text), symbol, interval, kind, rule, side, price (quote), strength, state."""
    rows = [{"id": a.id, "created": f"{pd.Timestamp(a.created, unit='ms'):%Y-%m-%d %H:%M:%S} UTC",
             "symbol": a.symbol, "interval": a.interval, "kind": a.kind, "rule": a.rule, "side": a.side,
             "price": a.price, "strength": round(a.strength, 3), "state": a.state} for a in alerts]
    return pd.DataFrame(rows, columns=list(HISTORY_DTYPES)).astype(HISTORY_DTYPES)


class BrowserNotifier(ReactiveHTML):
    """Opt-in browser notification and a short beep for each new alert (the browser asks for permission once)."""

    enabled = param.Boolean(default=False, doc="Show a browser notification and beep on each new alert")
    message = param.String(default="", doc="The last alert's message; a change notifies")

    _template = '<div id="notifier" style="display:none"></div>'
    _scripts = {
        "enabled": """
            if (data.enabled && "Notification" in window && Notification.permission === "default")
              Notification.requestPermission();
        """,
        "message": """
            if (!data.enabled || !data.message) return;
            if ("Notification" in window && Notification.permission === "granted")
              new Notification("thebot-panel", {body: data.message});
            const ctx = new (window.AudioContext || window.webkitAudioContext)();
            const osc = ctx.createOscillator();
            osc.frequency.value = 880;
            osc.connect(ctx.destination);
            osc.start();
            osc.stop(ctx.currentTime + 0.15);
        """,
    }


class AlertCenter(LiveView):
    """Active alerts (newest first, each with **Dismiss**) and the alert history with filters and sorting.

    New alerts also show as a toast in this session (Panel notifications, when the app enables them; at
    most one every ``toast_every_s``, summing up the alerts raised meanwhile) and, opted in, as a browser
    notification with a beep; these go out on every tab. The manager's changes are buffered and applied
    every ``period_ms`` from the session's own callback, while the view is ``visible``. Alert texts (symbol, rule,
    message) are HTML-escaped wherever they are shown as HTML: the active rows, the toasts (Panel's toasts render
    HTML) and the price-alert lines; the history table and browser notifications show them as text.
    CSS hooks for tests and styling:
    ``.active-alert`` rows holding an ``.alert-line`` (with ``data-id``, ``data-symbol``, ``data-interval``,
    ``data-rule``, ``data-side``, ``data-price``) and a ``.dismiss-<id>`` button.
    """

    tables = ("table",)

    recency = param.Selector(default="all", objects=list(RECENCY), doc="Show alerts raised within this period")
    toasts = param.Boolean(default=True, doc="Show each new alert as a toast in this page")
    shown = param.Integer(default=8, bounds=(1, 100), doc="Active alerts listed (newest first)")
    toast_every_s = param.Number(default=3.0, bounds=(0, None), doc="Least time between two toasts (s)")

    def __init__(self, alerts: AlertManager, symbols: list[str] = (), **params):
        super().__init__(**params)
        self.alerts = alerts
        self.price_symbol = pn.widgets.Select(name="Symbol", options=list(symbols), width=130)
        self.price_level = pn.widgets.FloatInput(name="Crosses (quote currency)", value=None, width=180,
                                                 css_classes=["price-level"])
        self.price_add = pn.widgets.Button(name="Add price alert", button_type="primary", css_classes=["price-add"])
        self.price_add.on_click(lambda _: self.add_price_alert(self.price_symbol.value, self.price_level.value))
        self.price_message = pn.pane.Markdown("", css_classes=["price-message"], sizing_mode="stretch_width")
        self.active = pn.Column(sizing_mode="stretch_width", name="active alerts")
        self.table = pn.widgets.Tabulator(history_frame([]), show_index=False, height=300, sizing_mode="stretch_width",
                                          disabled=True, header_filters=True, pagination="local", page_size=50,
                                          sorters=[{"field": "id", "dir": "desc"}], name="alert history")
        self.notifier = BrowserNotifier()
        self.counts = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._changes: list[Alert] = []
        self._dirty = True
        self._rows: dict[int, pn.Row] = {}  # alert id -> its row in the active list
        self._active_key = None
        self._untoasted: list[Alert] = []
        self._toasted_at = -math.inf  # time.monotonic() of the last toast
        self.alerts.subscribe(self._changes.append)
        self.param.watch(lambda _: self.refresh(), ["recency"])
        self.refresh()

    def add_price_alert(self, symbol: str, level) -> None:
        """Watch ``symbol`` crossing ``level``; a bad level is explained under the form, nothing else changes."""
        try:
            watch = self.alerts.add_price_alert(symbol, level)
        except ValueError as exc:
            self.price_message.object = f"⚠ {html.escape(str(exc))}"
            return
        self.price_message.object = self._watching() or ""
        log.info("price alert: %s %s", watch.symbol, watch.rule)

    def _watching(self) -> str:
        return "Watching: " + html.escape(", ".join(f"{w.symbol} {w.rule}" for w in self.alerts.price_alerts)) \
            if self.alerts.price_alerts else ""

    def dismiss(self, alert_id: int) -> None:
        """Dismiss an active alert (its row leaves the active list at once)."""
        self.alerts.dismiss(alert_id)
        self.refresh()

    def dismiss_all(self) -> None:
        """Dismiss every active alert."""
        for alert in self.alerts.active():
            self.alerts.dismiss(alert.id)
        self.refresh()

    def announce(self, new: list[Alert]) -> None:
        """Pass the newest of ``new`` alerts to the browser notifier, and toast it, or how many were raised
        since the last toast, at most once every ``toast_every_s`` (a busy feed must not bury the page)."""
        self._untoasted += new
        if new and self.notifier.enabled:
            self.notifier.message = new[-1].message
        now = time.monotonic()
        if not self._untoasted or now - self._toasted_at < self.toast_every_s:
            return
        if self.toasts and pn.state.notifications is not None:
            newest = self._untoasted[-1].message
            text = newest if len(self._untoasted) == 1 else f"{len(self._untoasted)} new alerts · newest: {newest}"
            pn.state.notifications.info(html.escape(text), duration=4000)
        self._untoasted, self._toasted_at = [], now

    def refresh(self) -> None:
        """Redraw the active list, history and counters from the manager."""
        self._dirty = False
        active = self.alerts.active()
        shown = active[:self.shown]
        key = ([a.id for a in shown], len(active))
        if key != self._active_key:  # rebuild the list only when it changed; rows of alerts still shown are kept
            self._active_key = key
            self._rows = {a.id: self._rows.get(a.id) or self._row(a) for a in shown}
            rows = list(self._rows.values()) or [
                pn.pane.Markdown("*No active alerts.*", css_classes=["no-active-alerts"])]
            if len(active) > self.shown:
                rows.append(pn.pane.Markdown(f"*… and {len(active) - self.shown} more active (see the history).*"))
            self.active.objects = rows
        window = RECENCY[self.recency]
        since = None if window is None else self.alerts._clock() - window
        history = history_frame(self.alerts.history(since=since))
        if not history.equals(self.table.value):
            self.table.value = history
        if not self.price_message.object.startswith("⚠"):
            self.price_message.object = self._watching()
        stats = self.alerts.stats()
        self.counts.object = (f"{stats['active']} active · {stats['raised']} raised · {stats['dismissed']} dismissed · "
                              f"{stats['expired']} expired · {stats['duplicates']} duplicates · "
                              f"{stats['cooled_down']} cooled down")

    def _row(self, alert: Alert) -> pn.Row:
        button = pn.widgets.Button(name="Dismiss", button_type="light", width=90, css_classes=[f"dismiss-{alert.id}"])
        button.on_click(lambda _: self.dismiss(alert.id))
        color = {"BUY": UP, "UP": UP}.get(alert.side, DOWN)
        attributes = " ".join(f'data-{k}="{html.escape(str(getattr(alert, k)))}"'
                              for k in ("id", "symbol", "interval", "rule", "side", "price"))
        side = html.escape(alert.side)
        text = pn.pane.HTML(f'<span class="alert-line" {attributes}><b style="color:{color}">{side}</b> '
                            f'{html.escape(alert.message.split(" ", 1)[1])}</span>', sizing_mode="stretch_width")
        return pn.Row(text, button, sizing_mode="stretch_width", css_classes=["active-alert"])

    def due(self) -> bool:
        return self._dirty

    def tick(self) -> None:
        new = [a for a in self._changes if a.state == ACTIVE]
        self._dirty |= bool(self._changes)
        self._changes.clear()
        self.announce(new)
        super().tick()

    def detach(self) -> None:
        """Stop following the manager (done when the session ends)."""
        self.alerts.unsubscribe(self._changes.append)
        super().detach()

    def __panel__(self):
        controls = pn.Row(pn.widgets.Select.from_param(self.param.recency, name="Show", width=160),
                          pn.widgets.Checkbox.from_param(self.param.toasts, name="Toasts"),
                          pn.widgets.Checkbox.from_param(self.notifier.param.enabled, name="Browser notification + sound"),
                          self.notifier)
        price = pn.Row(self.price_symbol, self.price_level, self.price_add, sizing_mode="stretch_width")
        dismiss_all = pn.widgets.Button(name="Dismiss all", button_type="light", css_classes=["dismiss-all"])
        dismiss_all.on_click(lambda _: self.dismiss_all())
        return self.live(pn.Column("#### Active alerts", self.active, pn.Row(self.counts, dismiss_all),
                                   "#### Price alerts", price, self.price_message, "#### Alert history", controls,
                                   self.table, sizing_mode="stretch_width"))
