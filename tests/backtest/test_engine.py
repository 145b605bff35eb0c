"""Backtests: the trades of a side per candle by hand, their figures, no look-ahead, and bad input."""

import numpy as np
import pandas as pd
import pytest

from thebot_panel.backtest import Backtest, simulate
from thebot_panel.backtest.engine import signal_sides
from thebot_panel.backtest.performance import performance
from thebot_panel.market.candles import candle_frame
from thebot_panel.replay import Recording
from thebot_panel.signals.rules import Signal

MIN = 60_000
FEE = 0.001  # 10 bps


def utc(minute: int) -> pd.Timestamp:
    return pd.Timestamp(minute * MIN, unit="ms", tz="UTC")


def candles(open_, close, high=None, low=None):
    open_, close = np.asarray(open_, float), np.asarray(close, float)
    high = np.maximum(open_, close) + 0.5 if high is None else np.asarray(high, float)
    low = np.minimum(open_, close) - 0.5 if low is None else np.asarray(low, float)
    return np.arange(len(open_), dtype=np.int64) * MIN, {"open": open_, "high": high, "low": low, "close": close,
                                                         "volume": np.ones(len(open_))}


def test_a_long_enters_at_the_next_open_and_exits_at_the_open_after_the_sell_paying_fees_and_slippage():
    open_time, columns = candles([100, 102, 104, 103, 105, 107], [101, 103, 103, 104, 106, 108])
    side = np.array([1, 0, 0, -1, 0, 0], np.int8)
    sim = simulate(open_time, columns, side, fee_bps=10, slippage_bps=20, initial_capital=10_000)
    (trade,) = sim.trades.to_dict("records")
    entry, exit_ = 102 * 1.002, 105 * 0.998                 # against the trader: buy higher, sell lower
    notional = 10_000 / 1.001                                # the fee comes out of the equity too
    units = notional / entry
    cash = units * exit_ * (1 - FEE)
    assert (trade["entry_time"], trade["exit_time"], trade["side"]) == (utc(1), utc(4), "long")
    assert trade["entry_price"] == pytest.approx(entry, rel=1e-12) and trade["exit_price"] == pytest.approx(exit_)
    assert trade["units"] == pytest.approx(units, rel=1e-12) and trade["candles"] == 4
    assert trade["fees"] == pytest.approx(notional * FEE + units * exit_ * FEE, rel=1e-12)
    assert trade["pnl"] == pytest.approx(cash - 10_000, rel=1e-12)
    assert trade["return_pct"] == pytest.approx((cash / 10_000 - 1) * 100, rel=1e-12)
    # equity at each close: flat, then units × close while held (closes 1..3), then the cash
    want = [10_000, *(units * np.array([103, 103, 104])), cash, cash]
    np.testing.assert_allclose(sim.equity, want, rtol=1e-12)
    assert sim.exposure.tolist() == [False, True, True, True, False, False]


def test_long_short_reverses_at_one_open_and_closes_what_is_open_at_the_last_close():
    open_time, columns = candles([100, 100, 110, 110, 100, 100], [100, 110, 110, 100, 100, 90])
    side = np.array([0, -1, 0, 1, 0, 0], np.int8)
    sim = simulate(open_time, columns, side, direction="long_short", fee_bps=0)
    assert list(zip(sim.side, sim.entry, sim.exit, sim.trades.exit_reason)) == [(-1, 2, 4, "signal"), (1, 4, 5, "end")]
    short, long_ = sim.trades.to_dict("records")
    assert short["pnl"] == pytest.approx(10_000 * (1 - 100 / 110))           # short at 110, covered at 100
    assert long_["exit_price"] == 90 and long_["pnl"] == pytest.approx((10_000 + short["pnl"]) * (90 / 100 - 1))
    assert sim.equity[-1] == pytest.approx(10_000 + short["pnl"] + long_["pnl"])
    # long only: the SELL on candle 1 opens nothing
    assert simulate(open_time, columns, side, fee_bps=0).entry.tolist() == [4]


def test_stops_fill_at_their_price_or_at_a_gapped_open_and_the_stop_loss_wins_a_candle_that_reaches_both():
    # entry at 100 (candle 1); stop 2 % → 98, take 5 % → 105
    open_time, columns = candles([100, 100, 101, 99, 100], [100, 101, 100, 100, 100],
                                 high=[100, 101, 102, 100, 100], low=[99, 99.5, 97, 99, 99])
    sim = simulate(open_time, columns, np.array([1, 0, 0, 0, 0], np.int8), fee_bps=0, stop_loss_pct=2,
                   take_profit_pct=5)
    assert list(zip(sim.exit, sim.trades.exit_reason, sim.trades.exit_price)) == [(2, "stop_loss", 98)]
    gapped = dict(columns, open=np.array([100, 100, 96, 99, 100.0]), low=np.array([99, 99.5, 95, 99, 99.0]))
    (trade,) = simulate(open_time, gapped, np.array([1, 0, 0, 0, 0], np.int8), fee_bps=0,
                        stop_loss_pct=2).trades.to_dict("records")
    assert (trade["exit_reason"], trade["exit_price"]) == ("stop_loss", 96)          # opened below the stop
    both = dict(columns, high=np.array([100, 101, 106, 100, 100.0]))
    (trade,) = simulate(open_time, both, np.array([1, 0, 0, 0, 0], np.int8), fee_bps=0, stop_loss_pct=2,
                        take_profit_pct=5).trades.to_dict("records")
    assert trade["exit_reason"] == "stop_loss"
    (trade,) = simulate(open_time, dict(both, low=np.array([99, 99.5, 99, 99, 99.0])), np.array([1, 0, 0, 0, 0], np.int8),
                        fee_bps=0, stop_loss_pct=2, take_profit_pct=5).trades.to_dict("records")
    assert (trade["exit_reason"], trade["exit_price"]) == ("take_profit", 105)


def test_performance_figures_equal_hand_computed_values():
    equity = np.array([10_100.0, 9_999.0, 10_200.0, 10_302.0])   # initial 10,000
    columns = {"open": np.array([50.0, 0, 0, 0]), "close": np.array([0, 0, 0, 55.0])}
    figures = performance(equity, np.array([True, True, False, True]), np.array([150.0, -50.0, 202.0]), columns,
                          interval_ms=86_400_000, initial_capital=10_000)
    r = np.array([0.01, -0.01, 201 / 9_999, 0.01])          # 10,100/10,000 − 1, 9,999/10,100 − 1, …
    assert figures["total_return_pct"] == pytest.approx(3.02)
    assert figures["annual_return_pct"] == pytest.approx((1.0302 ** (365 / 4) - 1) * 100)
    assert figures["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365))
    assert figures["sortino"] == pytest.approx(r.mean() / np.sqrt(0.01 ** 2 / 4) * np.sqrt(365))
    assert figures["max_drawdown_pct"] == pytest.approx((1 - 9_999 / 10_100) * 100)
    assert figures["win_rate_pct"] == pytest.approx(200 / 3) and figures["profit_factor"] == pytest.approx(352 / 50)
    assert (figures["trades"], figures["exposure_pct"], figures["buy_hold_return_pct"]) == (3, 75, pytest.approx(10))


def test_a_candle_with_a_buy_and_a_sell_trades_neither():
    times = np.array([0, MIN, 2 * MIN])
    signals = [Signal(MIN, "X", "1m", "a", "BUY", 1.0, 1.0), Signal(MIN, "X", "1m", "b", "SELL", 1.0, 1.0),
               Signal(2 * MIN, "X", "1m", "a", "SELL", 1.0, 1.0)]
    assert signal_sides(times, signals).tolist() == [0, 0, -1]
    assert signal_sides(times, signals, rules={"a"}).tolist() == [0, 1, -1]


@pytest.fixture(scope="module")
def btc():
    return Recording.bundled()["BTCUSDT"].frame().iloc[:6_000]


def test_no_look_ahead_changing_the_future_changes_nothing_before_it(btc):
    cut = 4_000
    future = btc.copy()
    future.iloc[cut:, :4] *= 1.07        # another future: prices 7 % higher from the cut on
    future.iloc[cut:, 4] *= 3.0
    runs = [Backtest(direction="long_short", stop_loss_pct=1.5, take_profit_pct=3).run(frame) for frame in (btc, future)]
    before = btc.index[cut]
    signals = [[s for s in run.signals if s.open_time < before.value // 1_000_000] for run in runs]
    assert signals[0] == signals[1] and len(signals[0]) > 100
    trades = [run.trades[run.trades.exit_time < before] for run in runs]
    pd.testing.assert_frame_equal(*trades)
    assert len(trades[0]) > 20
    pd.testing.assert_series_equal(runs[0].equity[:before].iloc[:-1], runs[1].equity[:before].iloc[:-1])
    assert not runs[0].equity.iloc[-1] == runs[1].equity.iloc[-1]   # the future did change the end


def test_the_result_holds_trades_equity_and_figures_of_the_rules_asked_for(btc):
    result = Backtest(rules=["Crossover"], fee_bps=0).run(btc)
    assert {s.rule for s in result.signals} == {"EMA(9)×EMA(21)"}   # only the rules that trade are run
    assert len({s.rule for s in Backtest().run(btc).signals}) == 5
    crossings = [s for s in result.signals if s.rule == "EMA(9)×EMA(21)"]
    entries = result.trades.entry_time
    buys = pd.to_datetime([s.open_time for s in crossings if s.side == "BUY"], unit="ms", utc=True)
    assert set(entries) <= {t + pd.Timedelta(minutes=1) for t in buys} and len(entries) > 50
    assert result.equity.index.equals(btc.index) and result.metrics["trades"] == len(result.trades)
    assert result.metrics["final_equity"] == pytest.approx(10_000 + result.trades.pnl.sum(), rel=1e-9)
    assert list(result.trades.dtypes.astype(str)) == ["datetime64[ns, UTC]"] * 2 + [
        "object", "float64", "float64", "float64", "float64", "float64", "float64", "int64", "object"]


@pytest.mark.parametrize("params, message", [
    ({"fee_bps": -1}, "fee_bps"),
    ({"interval": "7m"}, "unknown interval '7m'"),
    ({"direction": "sideways"}, "direction"),
])
def test_bad_parameters_are_refused_naming_them(params, message):
    with pytest.raises(ValueError, match=message):
        Backtest(**params)


def test_a_rule_class_not_in_the_backtest_and_a_frame_that_is_not_candles_are_refused(btc):
    with pytest.raises(ValueError, match=r"no rule of class Nope in this backtest; its rules are \['Crossover'"):
        Backtest(rules=["Nope"]).run(btc)
    with pytest.raises(ValueError, match=r"missing \['volume'\]"):
        Backtest().run(btc.drop(columns="volume"))
    with pytest.raises(ValueError, match="strictly increasing"):
        Backtest().run(btc.iloc[::-1])
