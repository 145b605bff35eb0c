"""The alert manager: raising from signals and price alerts, de-duplication, cooldown, lifecycle, filters,
observers, and the SQLite store a restart reloads from."""

import asyncio
import html
import sqlite3
import types
from dataclasses import replace

import panel as pn
import pytest

from thebot_panel.binance.events import Kline
from thebot_panel.prices import price_text
from thebot_panel.signals.alerts import ACTIVE, DISMISSED, EXPIRED, AlertManager
from thebot_panel.signals.rules import Signal
from thebot_panel.signals.store import AlertStore, default_path
from thebot_panel.ui.alerts import AlertCenter

MINUTE = 60_000
T0 = 1_753_660_800_000  # 2025-07-28 00:00 UTC


class Clock:
    def __init__(self, now: int = 1_800_000_000_000):
        self.now = now

    def __call__(self) -> int:
        return self.now


def signal(minute: int, rule: str = "EMA(9)×EMA(21)", side: str = "BUY", symbol: str = "BTCUSDT",
           provisional: bool = False) -> Signal:
    return Signal(T0 + minute * MINUTE, symbol, "1m", rule, side, 100_000.0 + minute, 0.5, provisional)


def kline(close: float, minute: int = 0, symbol: str = "BTCUSDT") -> Kline:
    return Kline(symbol, "1m", T0 + minute * MINUTE, T0 + minute * MINUTE + 59_999, close, close, close, close, 1.0,
                 closed=False)


def test_a_signal_raises_one_active_alert_with_its_fields():
    clock = Clock()
    manager = AlertManager(clock=clock)
    alert = manager.on_signal(signal(3))
    assert (alert.id, alert.kind, alert.symbol, alert.interval, alert.rule, alert.side) == \
        (1, "signal", "BTCUSDT", "1m", "EMA(9)×EMA(21)", "BUY")
    assert (alert.price, alert.strength, alert.open_time, alert.created, alert.state, alert.ended) == \
        (100_003.0, 0.5, T0 + 3 * MINUTE, clock.now, ACTIVE, None)
    assert alert.message == "BUY BTCUSDT 1m · EMA(9)×EMA(21) at 100,003.00 (strength 0.50)"
    assert manager.active() == [alert] and manager.stats()["raised"] == 1


def test_alert_prices_keep_the_ticks_of_cheap_coins():
    assert [price_text(p) for p in (119_387.6, 95.96, 7.0, 1.1188, 0.06714, 0.0000123456, 0.0, float("nan"))] == \
        ["119,387.60", "95.96", "7.00", "1.1188", "0.06714", "0.00001235", "0.00", "—"]
    alert = AlertManager().on_signal(replace(signal(3), symbol="TRXUSDT", price=0.06714))
    assert alert.message == "BUY TRXUSDT 1m · EMA(9)×EMA(21) at 0.06714 (strength 0.50)"


def test_one_alert_per_rule_per_candle_and_provisional_signals_raise_none():
    manager = AlertManager()
    assert manager.on_signal(signal(3)) is not None
    assert manager.on_signal(signal(3)) is None                       # the same candle again (e.g. a backfill)
    assert manager.on_signal(signal(3, rule="RSI(14) 30/70")) is not None  # another rule on that candle
    assert manager.on_signal(signal(3, symbol="ETHUSDT")) is not None      # another market
    assert manager.on_signal(signal(4, provisional=True)) is None
    assert manager.stats() == {"raised": 3, "duplicates": 1, "cooled_down": 0, "dismissed": 0, "expired": 0,
                               "observer_errors": 0, "active": 3}


def test_cooldown_per_rule_and_market_in_candle_time():
    manager = AlertManager(cooldown_ms=5 * MINUTE)
    fired = [m for m in (0, 2, 4, 5, 6, 11) if manager.on_signal(signal(m)) is not None]
    assert fired == [0, 5, 11]
    assert manager.on_signal(signal(12, rule="RSI(14) 30/70")) is not None  # other rules have their own cooldown
    assert manager.stats()["cooled_down"] == 3


def test_dismiss_and_expiry_end_the_lifecycle():
    clock = Clock()
    manager = AlertManager(expire_after_ms=10 * MINUTE, clock=clock)
    first, second = manager.on_signal(signal(0)), manager.on_signal(signal(1))
    clock.now += 5 * MINUTE
    third = manager.on_signal(signal(2))
    dismissed = manager.dismiss(first.id)
    assert (dismissed.state, dismissed.ended) == (DISMISSED, clock.now)
    with pytest.raises(ValueError, match=f"alert {first.id} is DISMISSED, not ACTIVE"):
        manager.dismiss(first.id)
    with pytest.raises(KeyError):
        manager.dismiss(999)
    clock.now += 5 * MINUTE
    assert [a.id for a in manager.expire()] == [second.id]   # 10 minutes old; the third is 5
    assert [a.id for a in manager.active()] == [third.id]
    assert [a.state for a in manager.history()] == [ACTIVE, EXPIRED, DISMISSED]
    assert manager.stats()["expired"] == 1 and manager.stats()["dismissed"] == 1


def test_history_filters_by_symbol_side_rule_state_and_recency():
    clock = Clock()
    manager = AlertManager(clock=clock)
    manager.on_signal(signal(0))
    clock.now += MINUTE
    manager.on_signal(signal(1, side="SELL", symbol="ETHUSDT"))
    manager.on_signal(signal(2, rule="RSI(14) 30/70", side="SELL"))
    assert [a.open_time for a in manager.history()] == [T0 + 2 * MINUTE, T0 + MINUTE, T0]  # newest first
    assert [a.symbol for a in manager.history(side="SELL")] == ["BTCUSDT", "ETHUSDT"]
    assert [a.rule for a in manager.history(symbol="BTCUSDT", rule="RSI(14) 30/70")] == ["RSI(14) 30/70"]
    assert len(manager.history(since=clock.now)) == 2 and manager.history(state=DISMISSED) == []


def test_history_is_bounded():
    manager = AlertManager(maxlen=3)
    for m in range(5):
        manager.on_signal(signal(m))
    assert [a.open_time for a in manager] == [T0 + m * MINUTE for m in (2, 3, 4)]


def test_price_alert_fires_once_when_the_price_crosses_its_level():
    manager = AlertManager()
    manager.add_price_alert("btcusdt", 65_000)
    manager.add_price_alert("BTCUSDT", 60_000)
    assert manager.on_candle(kline(64_000)) == []          # the first price only sets the reference
    assert manager.on_candle(kline(64_900, symbol="ETHUSDT")) == []
    raised = manager.on_candle(kline(65_000.5, minute=1))
    assert [(a.kind, a.rule, a.side, a.price, a.open_time) for a in raised] == \
        [("price", "crosses 65,000", "UP", 65_000.5, T0 + MINUTE)]
    assert manager.on_candle(kline(64_000, minute=2)) == [] and manager.on_candle(kline(66_000, minute=3)) == []
    assert [a.side for a in manager.on_candle(kline(59_000, minute=4))] == ["DOWN"]
    assert manager.price_alerts == []
    with pytest.raises(ValueError, match="a price alert level must be a positive number, got -5"):
        manager.add_price_alert("BTCUSDT", -5)
    with pytest.raises(ValueError, match="invalid symbol '<b>BTC</b>'"):
        manager.add_price_alert("<b>BTC</b>", 65_000)


async def test_sync_and_async_observers_see_every_change_and_a_failing_one_is_counted():
    manager = AlertManager()
    seen, seen_async = [], []

    async def remote(alert):
        await asyncio.sleep(0)
        seen_async.append((alert.id, alert.state))

    def broken(alert):
        raise RuntimeError("observer bug")

    for observer in (seen.append, broken, remote):
        manager.subscribe(observer)
    alert = manager.on_signal(signal(0))
    manager.dismiss(alert.id)
    await asyncio.sleep(0.01)
    assert [(a.id, a.state) for a in seen] == [(1, ACTIVE), (1, DISMISSED)]
    assert seen_async == [(1, ACTIVE), (1, DISMISSED)]
    assert manager.stats()["observer_errors"] == 2


def test_a_restart_reloads_alerts_signals_states_and_de_duplication(tmp_path):
    path = tmp_path / "alerts.sqlite"
    clock = Clock()
    first = AlertManager(store=AlertStore(path), clock=clock, cooldown_ms=5 * MINUTE)
    a = first.on_signal(signal(0))
    b = first.on_signal(signal(1, rule="RSI(14) 30/70", side="SELL"))
    first.on_signal(signal(2, provisional=True))
    first.dismiss(a.id)
    first.store.close()

    second = AlertManager(store=AlertStore(path), clock=clock, cooldown_ms=5 * MINUTE)
    assert [(x.id, x.rule, x.state) for x in second] == [(a.id, a.rule, DISMISSED), (b.id, b.rule, ACTIVE)]
    assert [s.open_time for s in second.store.signals()] == [T0, T0 + MINUTE]   # provisional ones are not kept
    assert second.on_signal(signal(1, rule="RSI(14) 30/70", side="SELL")) is None  # still de-duplicated
    assert second.on_signal(signal(3)) is None                                     # still cooling down
    assert second.on_signal(signal(5)).id == b.id + 1                              # ids go on


def test_the_store_refuses_a_path_it_cannot_open_and_defaults_to_the_user_data_dir(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises((sqlite3.Error, OSError)):
        AlertStore(tmp_path / "file" / "alerts.sqlite")
    assert default_path().name == "thebot.sqlite" and "thebot-panel" in str(default_path())


# -- the alert centre -----------------------------------------------------------------------------

def test_the_alert_centre_escapes_alert_texts_in_rows_toasts_and_form_messages(monkeypatch):
    toasts = []   # what Panel's toasts (HTML) would show
    toasts_area = types.SimpleNamespace(info=lambda text, duration: toasts.append(text))
    monkeypatch.setattr(pn.state, "_notification", toasts_area)
    manager = AlertManager()
    centre = AlertCenter(manager, symbols=["BTCUSDT"], toast_every_s=0)
    hostile = '<img src=x onerror="window.__pwned=1">'
    alert = manager.on_signal(signal(0, rule=hostile, side="<b>BUY</b>"))
    centre.announce([alert])
    centre.refresh()
    centre.add_price_alert(hostile, 65_000)

    [row] = centre.active.objects
    shown = [row.objects[0].object, *toasts, centre.price_message.object]
    assert all("<img" not in text and "<b>BUY" not in text for text in shown), shown
    assert f'data-rule="{html.escape(hostile)}"' in shown[0]
    assert "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in toasts[0]
    assert centre.price_message.object.startswith("⚠ invalid symbol &#x27;&lt;img")
