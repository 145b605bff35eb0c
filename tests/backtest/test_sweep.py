"""Parameter sweeps on Dask: the same figures as cell-by-cell backtests, walk-forward, cancel, bad input."""

import concurrent.futures
import os

import pandas as pd
import pytest
from dask.distributed import Client, LocalCluster

from thebot_panel.backtest import Backtest
from thebot_panel.backtest.sweep import Sweep, build, grid, local_cluster, sample, segments, serial, sweep
from thebot_panel.replay import Recording

SPACE = {"ema_fast.period": [5, 9, 13], "ema_slow.period": [21, 34]}
CROSSOVER = Backtest(rules=["Crossover"], fee_bps=5)


@pytest.fixture(scope="module")
def btc():
    return Recording.bundled()["BTCUSDT"].frame().iloc[:12_000]


@pytest.fixture(scope="module")
def client():
    with LocalCluster(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        yield client


def test_a_sweep_on_a_local_cluster_equals_the_same_sweep_run_serially(btc, client):
    on_dask = sweep(btc, SPACE, CROSSOVER, folds=2, client=client)
    here = serial(btc, SPACE, CROSSOVER, folds=2)
    pd.testing.assert_frame_equal(on_dask.table, here.table)
    pd.testing.assert_frame_equal(on_dask.walk_forward, here.walk_forward)
    pd.testing.assert_frame_equal(on_dask.best, here.best)
    assert len(on_dask.table) == 6 and len(on_dask.walk_forward) == 2 * 6 and len(on_dask.best) == 2


def test_each_cell_has_the_figures_of_its_own_backtest_ranked_best_first(btc, client):
    result = sweep(btc, SPACE, CROSSOVER, metric="total_return_pct", client=client)
    assert result.table.total_return_pct.is_monotonic_decreasing
    for row in result.table.head(3).itertuples(index=False):
        indicators, rules = build({"ema_fast.period": row[0], "ema_slow.period": row[1]})
        alone = CROSSOVER.run(btc, indicators, rules).metrics
        assert (row.total_return_pct, row.sharpe, row.trades) == (alone["total_return_pct"], alone["sharpe"],
                                                                   alone["trades"])


def test_walk_forward_picks_the_in_sample_best_and_reports_it_on_the_next_block(btc):
    result = serial(btc, SPACE, CROSSOVER, folds=2, metric="sharpe")
    walk = result.walk_forward
    for fold, best in result.best.iterrows():
        part = walk[walk.fold == best.fold]
        assert best.in_sharpe == part.in_sharpe.max()
        # out of sample: the best cell traded alone on block fold + 1, starting flat
        cell = {name: best[name] for name in result.parameters}
        found, side = CROSSOVER.evaluate(btc, *build(cell))
        (_, _, rows), = [s for s in segments(len(btc), 2) if s[:2] == ("out", best.fold)]
        figures = CROSSOVER.figures(found, CROSSOVER.simulate(found, side, rows), rows)
        assert best.out_sharpe == figures["sharpe"] and rows.stop - rows.start == len(btc) // 3


def test_grid_and_random_cells():
    assert grid(SPACE) == [{"ema_fast.period": f, "ema_slow.period": s} for f in (5, 9, 13) for s in (21, 34)]
    drawn = sample({"a.x": list(range(20)), "b.y": list(range(20))}, 30, seed=7)
    assert len(drawn) == len({tuple(c.values()) for c in drawn}) == 30
    assert drawn == sample({"a.x": list(range(20)), "b.y": list(range(20))}, 30, seed=7) != sample(
        {"a.x": list(range(20)), "b.y": list(range(20))}, 30, seed=8)


def test_a_rule_follows_the_indicator_parameters_of_its_cell():
    indicators, rules = build({"ema_fast.period": 12, "LevelCross.lower": 25})
    crossover, levels = rules[0], rules[1]
    assert (crossover.fast, crossover.slow, levels.lower) == ("ema_12", "ema_21", 25)
    assert indicators["ema_fast"].period == 12


@pytest.mark.parametrize("space, message", [
    ({"ema_fast.length": [5]}, "EMA has no parameter 'length'"),
    ({"nope.period": [5]}, "no indicator key or rule class 'nope'"),
    ({"ema_fast.period": [1]}, "period"),
    ({"ema_fast.period": []}, "at least one value"),
])
def test_bad_sweep_parameters_are_refused_before_anything_runs(btc, space, message):
    with pytest.raises(ValueError, match=message):
        Sweep(btc, space, client=object())  # refused before the client is used


def test_an_unknown_metric_is_refused(btc):
    with pytest.raises(ValueError, match="unknown metric 'luck': one of sharpe, sortino"):
        Sweep(btc, SPACE, metric="luck", client=object())


def test_a_cancelled_sweep_stops_and_says_so(btc):
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        running = Sweep(btc, {"ema_fast.period": list(range(3, 40)), "ema_slow.period": [50, 60, 70]},
                        CROSSOVER, client=client)
        assert running.total == 111 and running.done < running.total
        running.cancel()
        assert running.cancelled
        with pytest.raises(concurrent.futures.CancelledError):
            running.result()
        assert running.done < running.total


def test_screening_markets_runs_every_cell_on_each_and_ranks_them_together(client):
    markets = {symbol: frame.frame().iloc[:6_000] for symbol, frame in Recording.bundled().items()}
    screen = sweep(markets, {}, CROSSOVER, metric="total_return_pct", folds=1, client=client)
    assert list(screen.table.columns[:1]) == ["symbol"] and sorted(screen.table.symbol) == ["BTCUSDT", "ETHUSDT"]
    for row in screen.table.itertuples(index=False):
        alone = Backtest(symbol=row.symbol, rules=["Crossover"], fee_bps=5).run(markets[row.symbol]).metrics
        assert row.total_return_pct == alone["total_return_pct"] and row.trades == alone["trades"]
    assert screen.table.total_return_pct.is_monotonic_decreasing
    assert sorted(screen.best.symbol) == ["BTCUSDT", "ETHUSDT"]   # walk-forward per market
    both = sweep(markets, {"ema_fast.period": [5, 9]}, CROSSOVER, client=client)
    assert len(both.table) == 4 and both.table.equals(serial(markets, {"ema_fast.period": [5, 9]}, CROSSOVER).table)


def test_a_scheduler_address_runs_the_sweep_on_that_cluster_unchanged(btc, client):
    address = client.scheduler.address  # a running cluster, as tcp://host:8786 would be
    with Sweep(btc, SPACE, CROSSOVER, scheduler=address) as running:
        assert running.client.scheduler.address == address and running._cluster is None
        found = running.result()
    assert found.table.equals(serial(btc, SPACE, CROSSOVER).table)
    assert client.status == "running"  # closing the sweep's own client leaves the cluster up


def test_the_embedded_cluster_runs_worker_processes_on_127_0_0_1_with_the_heap_threshold_set():
    """Dask's nanny sets MALLOC_TRIM_THRESHOLD_, which turns off glibc's adaptive mmap threshold; the embedded
    cluster sets the threshold back (``WORKER_ENVIRON``) in each worker process, before it starts."""
    with local_cluster(1) as cluster, Client(cluster) as client:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        names = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
        environ = client.run(lambda: {k: os.environ.get(k) for k in names})
        (worker, found), = environ.items()
        assert worker.startswith("tcp://127.0.0.1:")
        assert found == {"MALLOC_MMAP_THRESHOLD_": str(32 * 2**20), "MALLOC_TRIM_THRESHOLD_": "65536"}
        assert client.run(os.getpid)[worker] != os.getpid()  # a process of its own
