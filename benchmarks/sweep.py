"""Backtests and sweeps: one backtest over 90 days of 1m candles, and a 20 × 20 EMA grid on Dask vs vectorbt.

Data: BTCUSDT 1m, 2025-05-20 → 2025-08-18 (90 days, 129,600 candles) from the shared recordings
(``../shared/data``; the bundled 28 days if they are not there).

1. One backtest (``Backtest().run``): the default indicators and rules (five rules trading), and the crossover
   alone, best of 5.
2. The grid: ``ema_fast.period`` 5..24 × ``ema_slow.period`` 26..64 step 2 = 400 backtests of the EMA crossover
   (long only, next-open fills, 10 bps fees), each ranked by Sharpe:
   - ``serial``: ``sweep.serial``, cell after cell in this process (the reference);
   - ``dask 1 worker`` and ``dask N workers``: ``Sweep`` on the embedded ``LocalCluster`` (``local_cluster``) of
     N worker processes (N = the cores), wall time from submit to the ranked table (the cluster's start is shown apart);
   - ``vectorbt``: ``vbt.Portfolio.from_signals`` on the same 400 columns at once (TA-Lib's EMA, which ours
     equals; entries and exits where fast crosses slow as our ``Crossover`` defines it, shifted one candle, filled
     at the open with the same fee), if vectorbt is installed (``pip install -e ".[bench]"``); else a plain
     pandas/TA-Lib loop. Its numba functions are compiled on a warm-up run first.
   Same trades: for every cell, the entry and exit candles of vectorbt's closed trades equal ours (vectorbt leaves
   the last position open where we close it at the last close: that one is compared by its entry).

    .venv/bin/python benchmarks/sweep.py            # the full grid (a few minutes)
    .venv/bin/python benchmarks/sweep.py --quick    # a 5 × 5 grid over the bundled 28 days (< 1 minute)
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import talib
from dask.distributed import Client

from thebot_panel.backtest import Backtest
from thebot_panel.backtest.history import load_history
from thebot_panel.backtest.sweep import Sweep, build, local_cluster, serial

SHARED = Path(__file__).resolve().parents[2] / "shared/data/binance/klines/spot_ohlcv"
NINETY_DAYS = SHARED / "BTCUSDT-1m-2025-05-20_to_2025-08-18.csv.gz"
FEE_BPS = 10.0


def best_of(runs: int, fn) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def on_dask(candles, space, backtest, workers: int) -> tuple[float, float, object]:
    """(cluster start s, sweep wall s, result) on a fresh LocalCluster of ``workers`` processes."""
    start = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster) as client:
        client.run(lambda: __import__("thebot_panel.backtest.sweep"))  # imports done before the clock
        started = time.perf_counter() - start
        begin = time.perf_counter()
        with Sweep(candles, space, backtest, client=client) as running:
            result = running.result()
        return started, time.perf_counter() - begin, result


def crossings(fast: np.ndarray, slow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our ``Crossover``'s BUY and SELL candles as boolean arrays (previous fast <= slow, now fast > slow; NaN never)."""
    up = np.zeros(len(fast), bool)
    down = np.zeros(len(fast), bool)
    up[1:] = (fast[1:] > slow[1:]) & (fast[:-1] <= slow[:-1])
    down[1:] = (fast[1:] < slow[1:]) & (fast[:-1] >= slow[:-1])
    return up, down


def vectorbt_grid(candles: pd.DataFrame, space: dict):
    """The grid in vectorbt: one ``from_signals`` over every cell's column; returns the portfolio and the cells."""
    import vectorbt as vbt

    close = candles.close.to_numpy()
    fasts, slows = space["ema_fast.period"], space["ema_slow.period"]
    ema = {p: talib.EMA(close, p) for p in {*fasts, *slows}}
    cells = [(f, s) for f in fasts for s in slows]
    entries, exits = np.empty((len(close), len(cells)), bool), np.empty((len(close), len(cells)), bool)
    for k, (f, s) in enumerate(cells):
        up, down = crossings(ema[f], ema[s])
        entries[1:, k], exits[1:, k] = up[:-1], down[:-1]   # acted on at the next candle's open
        entries[0, k] = exits[0, k] = False
    columns = pd.MultiIndex.from_tuples(cells, names=["fast", "slow"])
    frame = lambda a: pd.DataFrame(a, index=candles.index, columns=columns)  # noqa: E731
    portfolio = vbt.Portfolio.from_signals(candles.close, frame(entries), frame(exits), price=candles.open,
                                           fees=FEE_BPS / 1e4, init_cash=10_000.0, freq="1min")
    return portfolio, cells


def same_trades(portfolio, cells, candles, backtest) -> int:
    """Cells whose vectorbt trades (entry and exit candles) differ from ours; 0 when all agree."""
    records = portfolio.trades.records
    index = candles.index
    differing = 0
    for k, (f, s) in enumerate(cells):
        ours = backtest.run(candles, *build({"ema_fast.period": f, "ema_slow.period": s})).trades
        theirs = records[records["col"] == k]
        ours_entries = index.get_indexer(ours.entry_time)
        closed = theirs[theirs["status"] == 1]
        closed_ours = ours[ours.exit_reason != "end"]
        if not (np.array_equal(theirs["entry_idx"], ours_entries)
                and np.array_equal(closed["exit_idx"], index.get_indexer(closed_ours.exit_time))):
            differing += 1
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 × 5 grid over the bundled 28 days")
    args = parser.parse_args()
    data = [NINETY_DAYS] if NINETY_DAYS.exists() and not args.quick else None
    candles = load_history("BTCUSDT", "1m", data)
    fasts, slows = (range(5, 25), range(26, 66, 2)) if not args.quick else (range(5, 25, 4), range(26, 66, 8))
    space = {"ema_fast.period": list(fasts), "ema_slow.period": list(slows)}
    cells = len(fasts) * len(slows)
    crossover = Backtest(rules=["Crossover"], fee_bps=FEE_BPS)
    workers = os.cpu_count() or 1
    print(f"BTCUSDT 1m {candles.index[0]:%Y-%m-%d} → {candles.index[-1]:%Y-%m-%d}: {len(candles):,} candles; "
          f"grid {len(fasts)} × {len(slows)} = {cells} backtests; {workers} cores")

    every = best_of(5, lambda: Backtest(fee_bps=FEE_BPS).run(candles))
    one = best_of(5, lambda: crossover.run(candles))
    print(f"\none backtest, {len(candles):,} candles: default indicators and five rules {every:.3f} s "
          f"(goal ≤ 1 s: {'yes' if every <= 1 else 'no'}); the crossover alone {one * 1e3:.1f} ms")

    rows = []
    start = time.perf_counter()
    reference = serial(candles, space, crossover)
    rows.append(("serial (this process)", 0.0, time.perf_counter() - start))
    one_start, one_wall, single = on_dask(candles, space, crossover, 1)
    rows.append(("dask, 1 worker", one_start, one_wall))
    many_start, many_wall, many = on_dask(candles, space, crossover, workers)
    rows.append((f"dask, {workers} workers", many_start, many_wall))
    assert single.table.equals(reference.table) and many.table.equals(reference.table), "dask differs from serial"
    try:
        import vectorbt  # noqa: F401
        warm, _ = vectorbt_grid(candles.iloc[:2_000], {"ema_fast.period": [5, 9], "ema_slow.period": [26, 30]})
        warm.total_return(), warm.trades.records  # numba compiles what the timed run calls
        start = time.perf_counter()
        portfolio, grid_cells = vectorbt_grid(candles, space)
        portfolio.total_return()
        rows.append(("vectorbt from_signals", 0.0, time.perf_counter() - start))
        differing = same_trades(portfolio, grid_cells, candles, crossover)
        trades = f"vectorbt's trades equal ours in {cells - differing} of {cells} cells"
    except ImportError:
        start = time.perf_counter()
        for f in fasts:
            for s in slows:
                up, down = crossings(talib.EMA(candles.close.to_numpy(), f), talib.EMA(candles.close.to_numpy(), s))
        rows.append(("pandas/TA-Lib signals only (no vectorbt)", 0.0, time.perf_counter() - start))
        trades = "vectorbt not installed (pip install -e '.[bench]')"

    print(f"\n{'grid of ' + str(cells):42}{'cluster start s':>16}{'wall s':>9}{'backtests/s':>13}{'vs 1 worker':>13}")
    for label, started, wall in rows:
        print(f"{label:42}{started:>16.1f}{wall:>9.2f}{cells / wall:>13,.0f}{one_wall / wall:>12.2f}×")
    print(f"\n{trades}; {workers} workers vs 1: {one_wall / many_wall:.2f}× (goal ≥ 1.7×)")
    print(f"best cell by Sharpe: {reference.table.iloc[0, :2].to_dict()} "
          f"sharpe {reference.table.sharpe.iloc[0]:.2f}, total return {reference.table.total_return_pct.iloc[0]:.1f} %")


if __name__ == "__main__":
    main()
