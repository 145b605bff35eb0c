"""Paper trading: fills at the last price with the taker fee, positions and P&L by hand-computed numbers, refused
orders, following real signals of a real graph, the SQLite reload after a restart, and the bounded equity curve."""

import dataclasses
import math
import sqlite3

import pytest
from recorded import feed, klines_of
from streamz import Stream

from thebot_panel.binance.events import Kline
from thebot_panel.market.graph import MarketGraph
from thebot_panel.hub import default_indicators, default_rules
from thebot_panel.portfolio import Fill, PaperPortfolio, PaperStore, Position
from thebot_panel.signals.alerts import AlertManager
from thebot_panel.signals.rules import Signal
from thebot_panel.signals.store import AlertStore

MINUTE = 60_000
T0 = 1_753_660_800_000  # 2025-07-28 00:00 UTC


def traded(portfolio=None) -> PaperPortfolio:
    """Buy 0.1 at 20,000, buy 0.1 at 21,000, sell 0.15 at 22,000; fee 0.1 %, 10,000 USDT to start."""
    portfolio = portfolio or PaperPortfolio()
    portfolio.on_price("BTCUSDT", 20_000.0, T0)
    portfolio.buy("BTCUSDT", 0.1)
    portfolio.on_price("BTCUSDT", 21_000.0, T0 + MINUTE)
    portfolio.buy("BTCUSDT", 0.1)
    portfolio.on_price("BTCUSDT", 22_000.0, T0 + 2 * MINUTE)
    portfolio.sell("BTCUSDT", 0.15)
    return portfolio


def test_a_buy_fills_at_the_last_price_and_pays_the_fee_on_the_notional():
    portfolio = PaperPortfolio()
    portfolio.on_price("BTCUSDT", 19_000.0, T0)
    portfolio.on_price("BTCUSDT", 20_000.0, T0 + 5_000)
    portfolio.on_price("BTCUSDT", 99_999.0, T0 + 1_000)  # older than the last price: ignored
    fill = portfolio.buy("btcusdt", 0.1)
    assert fill == Fill(T0 + 5_000, "BTCUSDT", "BUY", 0.1, 20_000.0, 2.0, 0.0, "manual")
    assert portfolio.cash == pytest.approx(10_000 - 2_000 - 2.0, abs=1e-9)            # 7,998
    assert portfolio.position("BTCUSDT") == Position("BTCUSDT", 0.1, pytest.approx(20_020.0), 0.0)  # fee in avg
    assert portfolio.unrealised_pnl("BTCUSDT") == pytest.approx(-2.0)                 # (20,000 − 20,020) × 0.1
    assert portfolio.equity() == pytest.approx(9_998.0)


def test_positions_cash_and_pnl_match_hand_computed_numbers():
    portfolio = traded()
    # second buy: 2,100 + 2.10 fee; avg = (2,002 + 2,102.10) / 0.2 = 20,520.50
    # sell 0.15 at 22,000: 3,300 − 3.30 fee; realised = (22,000 − 20,520.50) × 0.15 − 3.30 = 218.625
    sell = portfolio.history[-1]
    assert (sell.side, sell.quantity, sell.price) == ("SELL", 0.15, 22_000.0)
    assert sell.fee == pytest.approx(3.3) and sell.realised_pnl == pytest.approx(218.625)
    position = portfolio.position("BTCUSDT")
    assert position.quantity == pytest.approx(0.05)
    assert position.average_price == pytest.approx(20_520.5)
    assert position.realised_pnl == pytest.approx(218.625)
    assert portfolio.cash == pytest.approx(10_000 - 2_002 - 2_102.1 + 3_296.7)       # 9,192.60
    assert portfolio.unrealised_pnl("BTCUSDT") == pytest.approx(73.975)               # 1,479.50 × 0.05
    totals = portfolio.totals()
    assert totals == pytest.approx({"cash": 9_192.6, "market_value": 1_100.0, "equity": 10_292.6,
                                    "realised_pnl": 218.625, "unrealised_pnl": 73.975, "total_pnl": 292.6,
                                    "fees": 7.4, "return_pct": 2.926})
    portfolio.on_price("BTCUSDT", 18_000.0, T0 + 3 * MINUTE)
    assert portfolio.unrealised_pnl("BTCUSDT") == pytest.approx((18_000 - 20_520.5) * 0.05)
    portfolio.sell("BTCUSDT", 0.05)                                                   # closes the position
    closed = portfolio.position("BTCUSDT")
    assert (closed.quantity, closed.average_price) == (0.0, 0.0)
    assert closed.realised_pnl == pytest.approx(218.625 + (18_000 - 20_520.5) * 0.05 - 0.9)
    assert portfolio.equity() == pytest.approx(portfolio.cash)
    assert portfolio.totals()["total_pnl"] == pytest.approx(closed.realised_pnl)
    assert portfolio.stats() == {"buys": 2, "sells": 2, "refused": 0, "followed": 0, "skipped": 0}


@pytest.mark.parametrize("symbol, quantity, message", [
    ("BTCUSDT", 0, r"the quantity must be a positive number \(base asset\), got 0"),
    ("BTCUSDT", -0.1, r"the quantity must be a positive number \(base asset\), got -0.1"),
    ("BTCUSDT", None, r"the quantity must be a positive number \(base asset\), got None"),
    ("BTCUSDT", math.nan, r"the quantity must be a positive number \(base asset\), got nan"),
    ("ETHUSDT", 0.1, r"no price yet for ETHUSDT: orders fill at the last kline price"),
    ("ETHBTC", 0.1, r"ETHBTC is not quoted in USDT, the currency of this account"),
    ("", 0.1, r"invalid symbol ''"),
])
def test_a_bad_order_is_refused_with_a_clear_message_and_changes_nothing(symbol, quantity, message):
    portfolio = PaperPortfolio()
    portfolio.on_price("BTCUSDT", 20_000.0, T0)
    for order in (portfolio.buy, portfolio.sell):
        with pytest.raises(ValueError, match=message):
            order(symbol, quantity)
    assert (portfolio.cash, portfolio.positions(), list(portfolio.history)) == (10_000.0, [], [])
    assert portfolio.stats()["refused"] == 2


def test_a_buy_beyond_the_cash_fee_included_and_a_sell_beyond_the_position_are_refused(tmp_path):
    store = PaperStore(tmp_path / "paper.sqlite")
    portfolio = PaperPortfolio(store=store)
    portfolio.on_price("BTCUSDT", 20_000.0, T0)
    with pytest.raises(ValueError, match=r"buying 0.5 BTCUSDT at 20,000.00 costs 10,010.00 USDT with the 0.1 % "
                                         r"fee; the cash is 10,000.00 USDT"):
        portfolio.buy("BTCUSDT", 0.5)   # the notional alone fits, not with the fee
    with pytest.raises(ValueError, match=r"cannot sell 0.1 BTCUSDT: the position is 0 \(spot paper trading is "
                                         r"long-only\)"):
        portfolio.sell("BTCUSDT", 0.1)
    portfolio.buy("BTCUSDT", 0.4995)    # 9,990 + 9.99 fee = 9,999.99: fits
    with pytest.raises(ValueError, match=r"cannot sell 0.5 BTCUSDT: the position is 0.4995"):
        portfolio.sell("BTCUSDT", 0.5)
    assert portfolio.cash == pytest.approx(0.01) and portfolio.position("BTCUSDT").quantity == 0.4995
    assert len(store.fills()) == 1 and portfolio.stats()["refused"] == 3


def signals_graph(portfolio):
    """A real MarketGraph (the hub's default indicators and rules) the portfolio follows."""
    source = Stream(asynchronous=True)
    indicators = default_indicators()
    graph = MarketGraph(source, "BTCUSDT", "1m", indicators, default_rules(indicators), AlertManager())
    return source, graph, portfolio.follow(graph)




def test_following_signals_buys_on_buy_when_flat_and_sells_everything_on_sell(halt_recording):
    portfolio = PaperPortfolio(follow_signals=True, order_fraction=0.1)
    source, graph, sinks = signals_graph(portfolio)
    signals = graph.branch.signals.filter(lambda x: type(x) is Signal).sink_to_list()
    fills = []
    for kline in klines_of(halt_recording.head(400)):
        feed(source, [kline])
        if len(portfolio.history) > len(fills):       # check each fill against the equity just before it
            fill = portfolio.history[-1]
            if fill.side == "BUY":
                before = portfolio.cash + fill.quantity * fill.price + fill.fee
                assert fill.quantity * fill.price + fill.fee == pytest.approx(0.1 * before)
            fills.append(fill)
    expected, held = [], False
    for s in signals:
        if s.side == "BUY" and not held or s.side == "SELL" and held:
            expected.append((s.side, s.open_time + 59_999, s.price, s.rule))
            held = s.side == "BUY"
    assert len(expected) >= 6 and len(signals) > len(expected)   # some signals were not acted on
    assert [(f.side, f.time, f.price, f.reason) for f in fills] == expected
    for buy, sell in zip(fills[::2], fills[1::2]):
        assert sell.quantity == buy.quantity                      # the whole position
    assert portfolio.stats()["followed"] == len(fills)
    assert portfolio.cash == pytest.approx(10_000 + sum(f.cash_change for f in fills))
    assert portfolio.last_price("BTCUSDT") == halt_recording.close.iloc[399]
    for sink in sinks:
        sink.destroy()
    feed(source, klines_of(halt_recording.iloc[400:500]))
    assert len(portfolio.history) == len(fills)                  # no longer following


def test_provisional_signals_other_symbols_and_follow_off_trade_nothing(halt_recording):
    portfolio = PaperPortfolio(follow_symbols=["ETHUSDT"], follow_signals=True)
    source, graph, _ = signals_graph(portfolio)
    feed(source, klines_of(halt_recording.head(300)))
    assert len(graph.branch.signals.history) > 5 and list(portfolio.history) == []
    buy = Signal(T0, "ETHUSDT", "1m", "EMA(9)×EMA(21)", "BUY", 3_000.0, 0.5)
    assert portfolio.on_signal(dataclasses.replace(buy, provisional=True)) is None
    portfolio.follow_signals = False
    assert portfolio.on_signal(buy) is None
    portfolio.follow_signals = True
    assert portfolio.on_signal(buy).quantity == pytest.approx(1_000 / (3_000 * 1.001))
    assert portfolio.on_signal(dataclasses.replace(buy, open_time=T0 + MINUTE)) is None  # not flat
    assert portfolio.stats()["skipped"] == 1


def test_a_restart_reloads_balance_positions_history_and_settings_from_the_alerts_file(tmp_path):
    path = tmp_path / "thebot.sqlite"
    alerts = AlertStore(path)                       # the same file as the alerts
    store = PaperStore(path)
    before = traded(PaperPortfolio(store=store))
    before.on_price("ETHUSDT", 3_000.0, T0 + 2 * MINUTE)
    before.buy("ETHUSDT", 1.0)
    before.fee_rate, before.follow_signals, before.order_fraction = 0.00075, True, 0.25
    store.close()
    tables = {row[0] for row in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"signals", "alerts", "paper_trades", "paper_account"} <= tables

    after = PaperPortfolio(store=PaperStore(path), fee_rate=0.005)  # the stored account wins
    assert after.cash == before.cash and after.positions() == before.positions()
    assert list(after.history) == list(before.history) and after.fees == pytest.approx(before.fees)
    assert (after.fee_rate, after.follow_signals, after.order_fraction) == (0.00075, True, 0.25)
    # no price yet after the restart: positions are valued at their average price, orders wait for the feed
    assert after.unrealised_pnl("BTCUSDT") == 0.0
    assert after.equity() == pytest.approx(after.cash + 0.05 * 20_520.5 + 1.0 * 3_000 * 1.001)
    with pytest.raises(ValueError, match="no price yet for BTCUSDT"):
        after.sell("BTCUSDT", 0.05)
    after.reset(5_000)
    again = PaperPortfolio(store=PaperStore(path))
    assert (again.cash, again.starting_balance, again.positions(), again.fee_rate) == (5_000.0, 5_000.0, [], 0.00075)
    assert len(alerts.signals()) == 0                # the alerts' tables are untouched


def test_the_equity_curve_keeps_one_point_per_minute_and_at_most_max_points():
    portfolio = PaperPortfolio(max_points=5)
    portfolio.on_price("BTCUSDT", 100.0, T0)
    portfolio.buy("BTCUSDT", 10)                     # 1,000 + 1 fee: cash 8,999
    for minute in range(20):
        for second, price in ((10, 90.0), (30, 120.0), (50, 100.0 + minute)):
            portfolio.on_price("BTCUSDT", price, T0 + minute * MINUTE + second * 1_000)
    portfolio.on_price("ETHUSDT", 3_000.0, T0 + MINUTE)   # another symbol's late price adds no point in the past
    curve = portfolio.equity_curve()
    assert [t for t, _ in curve] == [T0 + m * MINUTE for m in range(15, 20)]
    assert [e for _, e in curve] == pytest.approx([8_999 + 10 * (100 + m) for m in range(15, 20)])  # last per minute
    assert portfolio.equity_curve(since=T0 + 18 * MINUTE) == curve[-2:]


def test_the_view_explains_a_refused_order_and_shows_a_filled_one():
    pytest.importorskip("panel")
    from thebot_panel.ui.portfolio import PortfolioView

    portfolio = PaperPortfolio()
    portfolio.on_kline(Kline("BTCUSDT", "1m", T0, T0 + 59_999, 20_000, 20_000, 20_000, 20_000.0, 1.0, closed=False))
    view = PortfolioView(portfolio, ["BTCUSDT", "ETHUSDT"])
    view.quantity.value = 0
    view.buy_button.clicks += 1
    assert view.message == "⚠ the quantity must be a positive number (base asset), got 0"
    assert view.positions.value.empty and view.trades.value.empty and portfolio.cash == 10_000
    view.quantity.value = 0.1
    view.buy_button.clicks += 1
    assert view.message == "Bought 0.1 BTCUSDT at 20,000.00 · fee 2.00 USDT"
    row = view.positions.value.iloc[0].to_dict()
    assert row == pytest.approx({"symbol": "BTCUSDT", "quantity": 0.1, "average price": 20_020.0,
                                 "last price": 20_000.0, "unrealised P&L": -2.0, "realised P&L": 0.0})
    assert len(view.trades.value) == 1 and 'class="paper-cash" data-value="7998.0"' in view.totals.object
    view.sell_button.clicks += 1
    view.quantity.value = 1
    view.sell_button.clicks += 1
    assert view.message.startswith("⚠ cannot sell 1 BTCUSDT: the position is 0")
    portfolio.on_price("BTCUSDT", 21_000.0, T0 + MINUTE)
    view.refresh()                                   # the periodic callback
    assert list(view.equity_source.data["time"]) == [T0, T0 + MINUTE] and view.figure.name == "equity"
    assert view.positions.name == "positions"
    assert view.message_pane.object.startswith('<span class="paper-message-text" data-refused="true"')
