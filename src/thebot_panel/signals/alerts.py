"""Alerts: what a signal or a user's price alert raises, with a lifecycle ACTIVE -> DISMISSED / EXPIRED."""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import time
from dataclasses import dataclass, replace

from ..binance.streams import normalize_symbol
from ..prices import price_text
from .rules import Signal

log = logging.getLogger(__name__)

ACTIVE, DISMISSED, EXPIRED = "ACTIVE", "DISMISSED", "EXPIRED"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. Times are int ms since the epoch, UTC; ``price`` is in the quote currency.

    ``kind``: ``"signal"`` (raised by a signal rule) or ``"price"`` (a user's price alert, e.g.
    "BTCUSDT crosses 65,000": ``rule`` then reads ``"crosses 65,000"``). ``open_time``: the candle
    that fired it; ``created``: when it was raised (wall clock); ``state``: ACTIVE, DISMISSED or
    EXPIRED; ``ended``: when it left ACTIVE (None while active). ``id`` is unique per store.
    """

    id: int
    kind: str
    symbol: str
    interval: str
    rule: str
    side: str
    price: float
    strength: float
    open_time: int
    created: int
    provisional: bool = False
    state: str = ACTIVE
    ended: int | None = None

    @property
    def message(self) -> str:
        """One line for people: ``"BUY BTCUSDT 1m · EMA(9)×EMA(21) at 119,385.15 (strength 0.42)"``."""
        return (f"{self.side} {self.symbol} {self.interval} · {self.rule} at {price_text(self.price)}"
                f" (strength {self.strength:.2f}){' · provisional' if self.provisional else ''}")


@dataclass(frozen=True, slots=True)
class PriceAlert:
    """A user's price alert: fires once when ``symbol``'s price crosses ``level`` (quote currency)."""

    symbol: str
    level: float

    @property
    def rule(self) -> str:
        return f"crosses {self.level:,.8f}".rstrip("0").rstrip(".")


class AlertManager:
    """Raises alerts from signals and price alerts; keeps them, de-duplicated, with their lifecycle.

    - **Raising**: ``on_signal(signal)`` raises one alert per (symbol, interval, rule, candle): a repeat
      (e.g. a backfill replaying a candle) is counted as ``duplicates`` and ignored; within
      ``cooldown_ms`` of the same rule's last alert on that market (in candle time) it is counted as
      ``cooled_down`` and ignored. Provisional signals raise nothing. ``on_candle(kline)`` checks the
      price alerts: one fires (side ``UP`` or ``DOWN``) when a price crosses its level, then is removed.
    - **Lifecycle**: ACTIVE → DISMISSED (``dismiss(id)``) or EXPIRED (``expire(now)`` after
      ``expire_after_ms`` of wall-clock time).
    - **History**: the newest ``maxlen`` alerts in memory (``history(...)`` filters them), every
      alert and signal in ``store`` (an ``AlertStore``), from which a new manager reloads.
    - **Observers**: ``subscribe(fn)``; ``fn(alert)`` is called on every new alert and state change
      (``alert.state`` tells which); a coroutine function is scheduled on the running event loop. An
      observer that raises is counted (``observer_errors``) and logged, never stops the others.

    ``clock``: wall-clock ms (tests pass their own). ``ValueError`` for a negative cooldown or expiry.
    """

    def __init__(self, store=None, maxlen: int = 500, cooldown_ms: int = 0, expire_after_ms: int = 3_600_000,
                 clock=None):
        if cooldown_ms < 0 or expire_after_ms <= 0:
            raise ValueError(f"cooldown_ms must be >= 0 and expire_after_ms > 0, got {cooldown_ms} and {expire_after_ms}")
        self.store, self.cooldown_ms, self.expire_after_ms = store, cooldown_ms, expire_after_ms
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._alerts: collections.OrderedDict[int, Alert] = collections.OrderedDict()
        self.maxlen = maxlen
        self._keys: set[tuple] = set()
        self._last: dict[tuple, int] = {}  # (symbol, interval, rule) -> open time of its last alert
        self._prices: dict[str, float] = {}  # symbol -> last price seen
        self.price_alerts: list[PriceAlert] = []
        self._observers: list = []
        self.counters = collections.Counter()
        self._next_id = 1
        if store is not None:
            for alert in store.alerts(maxlen):
                self._remember(alert)
            self._next_id = store.next_id()

    # --- raising ------------------------------------------------------------------------------
    def on_signal(self, signal: Signal) -> Alert | None:
        """The alert ``signal`` raises, or None (provisional, duplicate or cooling down). Persists the signal."""
        if signal.provisional:
            return None
        if self.store is not None:
            self.store.add_signal(signal)
        market_rule = (signal.symbol, signal.interval, signal.rule)
        if (*market_rule, signal.open_time) in self._keys:
            self.counters["duplicates"] += 1
            return None
        last = self._last.get(market_rule)
        if last is not None and 0 <= signal.open_time - last < self.cooldown_ms:
            self.counters["cooled_down"] += 1
            return None
        return self._raise("signal", signal.symbol, signal.interval, signal.rule, signal.side, signal.price,
                           signal.strength, signal.open_time)

    def add_price_alert(self, symbol: str, level: float) -> PriceAlert:
        """Alert once when ``symbol`` (upper-cased) crosses ``level``; ``ValueError`` for a symbol that cannot be a
        Binance symbol (2-20 letters or digits, so no markup reaches a message) or a level that is not a positive
        number."""
        symbol = normalize_symbol(symbol or "")
        if not isinstance(level, (int, float)) or not level > 0:
            raise ValueError(f"a price alert level must be a positive number, got {level!r}")
        alert = PriceAlert(symbol, float(level))
        self.price_alerts.append(alert)
        return alert

    def on_candle(self, kline) -> list[Alert]:
        """Check the price alerts against ``kline``'s close (every update, forming ones included)."""
        previous = self._prices.get(kline.symbol)
        price = self._prices[kline.symbol] = kline.close
        if previous is None:
            return []
        raised = []
        for watch in [w for w in self.price_alerts if w.symbol == kline.symbol]:
            if previous < watch.level <= price or previous > watch.level >= price:
                self.price_alerts.remove(watch)
                raised.append(self._raise("price", kline.symbol, kline.interval, watch.rule,
                                          "UP" if price > previous else "DOWN", price, 1.0, kline.open_time))
        return raised

    def _raise(self, kind, symbol, interval, rule, side, price, strength, open_time) -> Alert:
        alert = Alert(self._next_id, kind, symbol, interval, rule, side, float(price), float(strength),
                      int(open_time), self._clock())
        self._next_id += 1
        self._remember(alert)
        self.counters["raised"] += 1
        self._changed(alert)
        return alert

    def _remember(self, alert: Alert) -> None:
        self._alerts[alert.id] = alert
        self._keys.add((alert.symbol, alert.interval, alert.rule, alert.open_time))
        market_rule = (alert.symbol, alert.interval, alert.rule)
        self._last[market_rule] = max(alert.open_time, self._last.get(market_rule, alert.open_time))
        while len(self._alerts) > self.maxlen:
            _, old = self._alerts.popitem(last=False)
            self._keys.discard((old.symbol, old.interval, old.rule, old.open_time))

    # --- lifecycle ------------------------------------------------------------------------------
    def dismiss(self, alert_id: int) -> Alert:
        """Set an ACTIVE alert to DISMISSED; ``KeyError`` for an unknown id, ``ValueError`` if it is not active."""
        return self._end(alert_id, DISMISSED)

    def expire(self, now: int | None = None) -> list[Alert]:
        """Set ACTIVE alerts raised more than ``expire_after_ms`` before ``now`` (default: the clock) to EXPIRED."""
        now = self._clock() if now is None else now
        old = [a.id for a in self._alerts.values() if a.state == ACTIVE and now - a.created >= self.expire_after_ms]
        return [self._end(alert_id, EXPIRED, now) for alert_id in old]

    def _end(self, alert_id: int, state: str, now: int | None = None) -> Alert:
        alert = self._alerts[alert_id]
        if alert.state != ACTIVE:
            raise ValueError(f"alert {alert_id} is {alert.state}, not ACTIVE")
        alert = self._alerts[alert_id] = replace(alert, state=state, ended=self._clock() if now is None else now)
        self.counters[state.lower()] += 1
        self._changed(alert)
        return alert

    def _changed(self, alert: Alert) -> None:
        if self.store is not None:
            self.store.save_alert(alert)
        for observer in list(self._observers):
            try:
                result = observer(alert)
                if inspect.isawaitable(result):
                    asyncio.get_running_loop().create_task(result)
            except Exception:
                self.counters["observer_errors"] += 1
                log.exception("alert observer %r failed on alert %d", observer, alert.id)

    def subscribe(self, observer) -> None:
        """Call ``observer(alert)`` (a function or a coroutine function) on every new alert and state change."""
        self._observers.append(observer)

    def unsubscribe(self, observer) -> None:
        self._observers.remove(observer)

    # --- reading --------------------------------------------------------------------------------
    def active(self) -> list[Alert]:
        """ACTIVE alerts, newest first."""
        return self.history(state=ACTIVE)

    def history(self, symbol: str | None = None, side: str | None = None, rule: str | None = None,
                since: int | None = None, state: str | None = None) -> list[Alert]:
        """Alerts in memory, newest first, filtered by symbol, side, rule, state and ``since`` (created, ms)."""
        return [a for a in reversed(self._alerts.values())
                if (symbol is None or a.symbol == symbol) and (side is None or a.side == side)
                and (rule is None or a.rule == rule) and (state is None or a.state == state)
                and (since is None or a.created >= since)]

    def stats(self) -> dict[str, int]:
        """Counters: raised, duplicates, cooled_down, dismissed, expired, observer_errors; and active now."""
        names = ("raised", "duplicates", "cooled_down", "dismissed", "expired", "observer_errors")
        return {**{n: self.counters[n] for n in names}, "active": len(self.active())}

    def __len__(self) -> int:
        return len(self._alerts)

    def __iter__(self):
        """Alerts in memory, oldest first."""
        return iter(list(self._alerts.values()))
