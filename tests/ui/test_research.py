"""The Research views without a browser: a backtest run from the view shows the figures of ``Backtest.run``; a sweep
through the view on an in-process Dask cluster fills the table, the heatmap and the walk-forward table with the
figures of the same sweep run serially; a tapped heatmap cell (or a chosen row) shows that cell's own backtest;
bad input is a readable message, never an exception."""

import asyncio
import re
from types import SimpleNamespace

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from dask.distributed import Client, LocalCluster

from recorded import SCREENER
from thebot_panel.backtest import Backtest
from thebot_panel.backtest.history import load_history
from thebot_panel.backtest.sweep import build, serial
from thebot_panel.replay import Recording
from thebot_panel.ui.dashboard import TABS
from thebot_panel.ui.research import (CHOICES, RULES, BacktestView, Research, ResearchStore, SweepView, axis_values,
                                      format_figure)

START, END = "2025-08-01", "2025-08-02"   # two days of the bundled BTCUSDT recording: 2,880 1m candles


@pytest.fixture(scope="module")
def client():
    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address="127.0.0.1:0",
                      worker_dashboard_address="127.0.0.1:0") as cluster, \
            Client(cluster) as client:
        yield client


def two_days(**settings) -> ResearchStore:
    store = ResearchStore(start=START, end=END)
    store.backtest.param.update(**settings)
    return store


def source_data(pane: pn.pane.Bokeh, name: str) -> dict:
    (source,) = pane.object.select(name=name)
    return source.data


async def wait_until(predicate, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


async def test_run_shows_the_figures_trades_and_equity_of_backtest_run():
    store = two_days(direction="long_short", fee_bps=5, slippage_bps=1, stop_loss_pct=1.5)
    store.rules = ["Crossover", "MACDCross"]
    view = BacktestView(store)
    await view.run()

    candles = load_history("BTCUSDT", "1m", start=START, end="2025-08-02 23:59")
    expected = Backtest(direction="long_short", fee_bps=5, slippage_bps=1, stop_loss_pct=1.5,
                        rules=["Crossover", "MACDCross"]).run(candles)
    assert len(candles) == 2880 and view.candles.equals(candles)
    assert view.result.metrics == expected.metrics and expected.metrics["trades"] > 20
    shown = dict(re.findall(r'data-metric="(\w+)".*?data-value="([^"]+)"', view.metrics.object))
    assert {name: float(text) for name, text in shown.items()} == {k: expected.metrics[k] for k in shown}
    assert f'>{format_figure("sharpe", expected.metrics["sharpe"])}<' in view.metrics.object
    assert len(view.trades.value) == len(expected.trades)
    assert view.trades.value["P&L"].tolist() == expected.trades["pnl"].tolist()
    curve = source_data(view.equity, "backtest equity curve")
    np.testing.assert_array_equal(curve["equity"], expected.equity.to_numpy())
    np.testing.assert_allclose(curve["hold"][-1] / 10_000 * 100 - 100, expected.metrics["buy_hold_return_pct"],
                               rtol=1e-12)
    assert view.message == f"BTCUSDT 1m: 2,880 candles, {len(expected.trades)} trades, {len(expected.signals)} signals"
    assert not view.running and not view.results.loading


async def test_the_data_parameter_reads_replay_files_and_the_hubs_replay_recording():
    view = BacktestView(ResearchStore(data=[str(SCREENER)], symbol="solusdt", interval="5m"))
    await view.run()
    candles = load_history("SOLUSDT", "5m", data=[str(SCREENER)])
    assert view.result.metrics == Backtest(symbol="SOLUSDT", interval="5m").run(candles).metrics

    hub = SimpleNamespace(symbols=["ADAUSDT", "DOGEUSDT"], interval="15m",
                          replay=SimpleNamespace(recording=Recording.from_paths(SCREENER)))
    store = ResearchStore(hub=hub)
    assert (store.symbol, store.interval, store.symbols) == ("ADAUSDT", "15m", ["ADAUSDT", "DOGEUSDT"])
    view = BacktestView(store)
    await view.run()
    assert view.message.startswith("ADAUSDT 15m:") and len(view.candles) > 100


@pytest.mark.parametrize("change, said", [   # said: what the message says (load_history's words, or the view's)
    ({"start": "2030-01-01"}, ["BTCUSDT", "2030-01-01"]),
    ({"start": "next tuesday"}, ["start 'next tuesday' is not a date: write e.g. 2025-08-01"]),
    ({"symbol": "DOGEUSDT"}, ["DOGEUSDT", "it holds BTCUSDT, ETHUSDT"]),
    ({"symbol": "BTC/USDT"}, ["invalid symbol 'BTC/USDT'"]),
    ({"rules": []}, ["choose at least one rule whose signals trade"]),
    ({"data": ["/nowhere/klines.csv"]}, ["/nowhere/klines.csv"]),
])
async def test_bad_input_is_a_message_and_clears_the_results(change, said):
    view = BacktestView(two_days())
    await view.run()
    assert view.result is not None
    view.store.param.update(**change)
    await view.run()
    assert view.message.startswith("⚠ ") and all(words in view.message for words in said), view.message
    assert "Traceback" not in view.message and "\n" not in view.message
    assert view.result is None and view.metrics.object == "" and view.equity.object is None
    assert len(view.trades.value) == 0 and not view.running and not view.run_button.disabled


SPACE = {"ema_fast.period": [5, 9, 13], "ema_slow.period": [21, 38, 55]}


def three_by_three(client, **params) -> SweepView:
    view = SweepView(two_days(fee_bps=5), client=client, **params)
    view.store.rules = ["Crossover"]
    view.param.update(x_start=5, x_stop=13, x_step=4, y_start=21, y_stop=55, y_step=17)
    assert view.space() == SPACE
    return view


async def test_a_sweep_fills_the_table_heatmap_and_walk_forward_with_the_serial_sweeps_figures(client):
    view = three_by_three(client, folds=2, metric="total_return_pct")
    await view.run()
    assert view.running and view.sweep is not None and view.progress.max == 9
    await wait_until(lambda: not view.running)

    candles = load_history("BTCUSDT", "1m", start=START, end="2025-08-02 23:59")
    expected = serial(candles, SPACE, Backtest(fee_bps=5, rules=["Crossover"]), folds=2, metric="total_return_pct")
    pd.testing.assert_frame_equal(view.result.table, expected.table)
    shown = view.table.value   # the parameters, the ranking figure, then the others
    assert list(shown.columns[:3]) == [*SPACE, "total_return_pct"]
    pd.testing.assert_frame_equal(shown, expected.table[shown.columns])
    assert view.table.visible and view.progress.value == view.progress.max == 9
    assert view.message.startswith("9 cells of BTCUSDT 1m, 2025-08-01 → 2025-08-02 ranked by total_return_pct")
    # the heatmap: one cell per grid cell, coloured by the metric, with the value written on it
    cells = view.heatmap.object.get(0)
    assert isinstance(cells, hv.HeatMap) and len(cells) == 9
    colours = cells.dframe().set_index(["x", "y"])["value"]
    for row in expected.table.itertuples(index=False):
        assert colours[(row[0], row[1])] == row.total_return_pct
    labels = view.heatmap.object.get(1).dframe().set_index(["x", "y"])["text"]
    assert labels[(9, 38)] == format_figure("total_return_pct", colours[(9, 38)]).removesuffix(" %")
    # walk-forward: each fold's in-sample best with its out-of-sample figure and the blocks' dates
    walk = view.walk_forward.value
    assert view.walk_forward.visible and len(walk) == 2
    assert walk["in-sample total_return_pct"].tolist() == expected.best["in_total_return_pct"].tolist()
    assert walk["out-of-sample total_return_pct"].tolist() == expected.best["out_total_return_pct"].tolist()
    assert walk["in-sample"][0] == "2025-08-01 00:00 → 2025-08-01 15:59"   # 2,880 candles in 3 blocks of 960
    assert walk["out-of-sample"][1] == "2025-08-02 08:00 → 2025-08-02 23:59"
    assert view.sweep is None and view.cancel_button.disabled and not view.run_button.disabled


async def test_tapping_a_heatmap_cell_or_choosing_a_row_shows_that_cells_equity(client):
    view = three_by_three(client)
    await view.run()
    await wait_until(lambda: not view.running)
    backtest = Backtest(fee_bps=5, rules=["Crossover"])

    view.tapped(x=8.2, y=41.0)   # data coordinates inside the cell (9, 38)
    assert view.cell == {"ema_fast.period": 9, "ema_slow.period": 38}
    alone = backtest.run(view.candles, *build(view.cell))
    curve = source_data(view.cell_equity, "cell equity curve")
    np.testing.assert_array_equal(curve["equity"], alone.equity.to_numpy())
    row = view.table.value.set_index(list(SPACE)).loc[(9, 38)]
    assert alone.metrics["sharpe"] == row["sharpe"] and alone.metrics["final_equity"] == row["final_equity"]
    assert "ema_fast.period = <b>9</b>" in view.cell_caption.object

    view.table.selection = [8]   # the worst cell by Sharpe
    worst = view.table.value.iloc[8]
    assert view.cell == {name: int(worst[name]) for name in SPACE}
    assert view.cell_result.metrics["sharpe"] == worst["sharpe"]


async def test_cancel_stops_the_sweep_between_batches(client):
    view = SweepView(ResearchStore(), client=client)   # the whole month: ~0.1 s per cell
    view.param.update(x_start=5, x_stop=14, x_step=1, y_start=20, y_stop=29, y_step=1)
    await view.run()
    sweep = view.sweep
    await wait_until(lambda: sweep.done > 0)
    await view.cancel()
    assert view.message.startswith("Cancelled after ") and view.message.endswith(" of 100 cells.")
    assert sweep.cancelled and view.sweep is None and not view.running
    assert view.result is None and not view.table.visible and not view.run_button.disabled


@pytest.mark.parametrize("change, message", [
    ({"y": "ema_fast.period"}, "⚠ choose two different parameters (both are ema_fast.period)"),
    ({"x_step": 0}, "⚠ ema_fast.period: the step must be more than 0, not 0"),
    ({"x_start": 20, "x_stop": 10}, "⚠ ema_fast.period: the stop (10) is before the start (20)"),
    ({"x_start": 1, "x_stop": 5}, "⚠ the sweep did not start: EMA.period=1"),
    ({"x": "LevelCross.lower", "x_step": 0.001}, "⚠ 150,005 cells is more than 2,500: widen the steps"),
])
async def test_bad_sweep_input_is_a_message(client, change, message):
    view = SweepView(two_days(), client=client)
    for name, value in change.items():   # in order: choosing a parameter resets its range
        setattr(view, name, value)
    await view.run()
    assert view.message.startswith(message), view.message
    assert not view.running and view.sweep is None and view.result is None


def test_sweep_choices_are_the_default_indicator_periods_and_rule_levels():
    assert {"ema_fast.period", "ema_slow.period", "rsi.period", "macd.fast", "bbands.nbdevup", "LevelCross.lower",
            "LevelCross.upper", "Divergence.left"} <= set(CHOICES)
    assert CHOICES["ema_fast.period"] == (5, 13, 2) and axis_values("ema_fast.period", *CHOICES["ema_fast.period"]) \
        == [5, 7, 9, 11, 13]
    assert axis_values("LevelCross.lower", 20, 30, 2.5) == [20, 22.5, 25, 27.5, 30]
    assert RULES == ("Crossover", "LevelCross", "MACDCross", "BandBreakout", "Divergence")


def test_the_research_tab_is_built_when_first_shown():
    assert TABS[-1] == "Research"
    tab = Research()
    view = pn.panel(tab)
    assert tab.store is None   # a dashboard's page load builds nothing (and no cluster starts before a sweep)
    view.get_root()
    assert isinstance(tab.backtest, BacktestView) and tab.sweep.store is tab.backtest.store
    assert tab.sweep.sweep is None


async def test_without_a_client_the_sweep_runs_on_a_local_cluster_on_127_0_0_1_closed_with_the_session():
    view = SweepView(ResearchStore())   # the whole month: a 10×10 grid takes seconds on two worker processes
    view.param.update(x_start=5, x_stop=14, x_step=1, y_start=20, y_stop=29, y_step=1)
    await view.run()
    sweep = view.sweep
    client, cluster = sweep.client, sweep._cluster
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:") and client.dashboard_link.startswith(
        "http://127.0.0.1:")
    assert all(worker.startswith("tcp://127.0.0.1:") for worker in client.scheduler_info()["workers"])
    view.close()   # what the end of the browser session calls
    assert sweep.cancelled and view.sweep is None
    assert cluster.status.name == "closed" and client.status == "closed"
