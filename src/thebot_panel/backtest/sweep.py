"""Parameter sweeps on Dask: a grid or a random sample of indicator and rule parameters, each cell a backtest.

A parameter is named ``"<indicator key>.<parameter>"`` (``"ema_fast.period"``) or ``"<rule class>.<parameter>"``
(``"LevelCross.lower"``); the rules are built from the indicators (``rules(indicators)``, the hub's
``default_rules`` unless given), so a rule reading an indicator follows its parameters (``ema_9`` → ``ema_12``).

The cells run on a ``dask.distributed`` cluster: an embedded ``LocalCluster`` (one single-threaded worker process
per core) unless a ``Client`` or a scheduler address (``tcp://host:8786``) is given, so the same sweep runs on a real
cluster unchanged. The candles go to every worker once (``scatter``); the cells go in batches (a few per worker, so
progress moves and workers stay busy), and a batch computes each distinct indicator once.

Walk-forward (``folds=k``): the history is cut into k + 1 equal blocks; fold i chooses the best cell on block i
(in-sample, by ``metric``) and reports it on block i + 1 (out-of-sample). Signals come from the whole history (every
rule and indicator is causal: a candle's signal reads no later candle), then each block is traded on its own,
starting flat with the initial capital. An in-sample best that does much worse out-of-sample is overfitted.
"""

from __future__ import annotations

import itertools
import math
import os
import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import param

from ..presets import default_indicators, default_rules
from .engine import Backtest

#: Set in each worker process of the embedded cluster before it starts. Dask's nanny sets
#: ``MALLOC_TRIM_THRESHOLD_=65536`` there (memory back to the OS); setting it also turns off glibc's adaptive mmap
#: threshold (mallopt(3)), so every array over 128 KB (a column of 130,000 candles is 1 MB) was mapped and unmapped,
#: its pages faulted in anew each time: the same backtests ran 1.5 times slower in a worker than in this process
#: (``benchmarks/sweep.py``). Arrays up to 32 MB come from the heap again; the trim still gives memory back.
WORKER_ENVIRON = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20}

#: The figures a sweep can rank by (``backtest.performance``); higher is better for all but the drawdown.
METRICS = ("sharpe", "sortino", "total_return_pct", "annual_return_pct", "profit_factor", "win_rate_pct",
           "max_drawdown_pct", "final_equity")


def grid(space: dict[str, list]) -> list[dict]:
    """Every combination of ``space`` (parameter name → values), the last name varying fastest."""
    names = list(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[name] for name in names))]


def sample(space: dict[str, list], n: int, seed: int = 0) -> list[dict]:
    """``n`` distinct cells of the grid drawn at random (all of them if the grid has fewer), in grid order."""
    cells = grid(space)
    chosen = sorted(random.Random(seed).sample(range(len(cells)), min(n, len(cells))))
    return [cells[i] for i in chosen]


def build(cell: dict, indicators=default_indicators, rules=default_rules) -> tuple[dict, list]:
    """The indicators and rules of one cell: ``indicators()`` with the cell's indicator parameters set, then
    ``rules(indicators)`` with its rule parameters. ``ValueError`` naming a parameter that fits neither, or a
    value out of its bounds."""
    made = indicators()
    for name, value in cell.items():
        key, _, parameter = name.partition(".")
        if key in made:
            _set(made[key], parameter, value, name)
    built = rules(made)
    by_class = {type(rule).__name__: rule for rule in built}
    for name, value in cell.items():
        key, _, parameter = name.partition(".")
        if key in made:
            continue
        if key not in by_class:
            raise ValueError(f"sweep parameter {name!r}: no indicator key or rule class {key!r}; indicators "
                             f"{sorted(made)}, rules {sorted(by_class)}")
        _set(by_class[key], parameter, value, name)
    return made, built


def _set(obj, parameter: str, value, name: str) -> None:
    if parameter not in obj.param or parameter == "name":
        raise ValueError(f"sweep parameter {name!r}: {type(obj).__name__} has no parameter {parameter!r}")
    if isinstance(obj.param[parameter], param.Integer) and isinstance(value, float) and value.is_integer():
        value = int(value)  # a whole number read back from a result table (pandas makes a row's values floats)
    setattr(obj, parameter, value)  # param's ValueError names the bounds


def segments(n: int, folds: int) -> list[tuple[str, int, slice]]:
    """The candle ranges a cell is traded on: ``("all", 0, rows)``, then per fold ``("in", i, rows)`` and
    ``("out", i, rows)``."""
    found = [("all", 0, slice(0, n))]
    if folds:
        edges = np.linspace(0, n, folds + 2).astype(int)
        for i in range(folds):
            found += [("in", i, slice(edges[i], edges[i + 1])), ("out", i, slice(edges[i + 1], edges[i + 2]))]
    return found


def run_cells(candles: pd.DataFrame, cells: list[dict], backtest: dict, folds: int, indicators=default_indicators,
              rules=default_rules, symbol: str | None = None) -> list[dict]:
    """One batch of a sweep (a Dask task): each cell's figures on each segment, one row per (cell, segment); with
    ``symbol`` (a screen of several markets), the backtest's symbol and a ``symbol`` column."""
    test, cache, rows = Backtest(**{**backtest, **({} if symbol is None else {"symbol": symbol})}), {}, []
    market = {} if symbol is None else {"symbol": symbol}
    for cell in cells:
        found, side = test.evaluate(candles, *build(cell, indicators, rules), cache=cache)
        for segment, fold, span in segments(len(found.open_time), folds):
            figures = test.figures(found, test.simulate(found, side, span), span)
            rows.append({**market, **cell, "segment": segment, "fold": fold, **figures})
    return rows


@dataclass
class SweepResult:
    """What a sweep found, ranked by ``metric`` (best first; the drawdown: smallest first).

    ``table``: one row per cell: its parameters, then its figures over the whole history (``METRICS`` and the rest
    of ``backtest.performance``). ``walk_forward``: one row per (fold, cell) with ``in_<metric>`` and
    ``out_<metric>``; ``best``: per fold, the in-sample best cell and its in- and out-of-sample figure (both None
    without folds). ``parameters``: the swept names. A screen of several markets has a ``symbol`` column first in
    each, and ``best`` per symbol and fold.
    """

    table: pd.DataFrame
    walk_forward: pd.DataFrame | None
    best: pd.DataFrame | None
    metric: str
    parameters: list[str]


def _ranked(frame: pd.DataFrame, column: str, metric: str) -> pd.DataFrame:
    ascending = metric == "max_drawdown_pct"
    return frame.sort_values(column, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)


def collect(rows: list[dict], names: list[str], metric: str, folds: int) -> SweepResult:
    """The ``SweepResult`` of ``run_cells`` rows (any order)."""
    frame = pd.DataFrame(rows)
    table = _ranked(frame[frame.segment == "all"].drop(columns=["segment", "fold"]), metric, metric)
    if not folds:
        return SweepResult(table, None, None, metric, names)
    markets = ["symbol"] if "symbol" in frame else []
    pick = frame[frame.segment != "all"].pivot_table(index=[*markets, "fold", *names], columns="segment",
                                                     values=metric, dropna=False).reset_index()
    walk = pick.rename(columns={"in": f"in_{metric}", "out": f"out_{metric}"})
    walk.columns.name = None
    best = pd.concat([_ranked(part, f"in_{metric}", metric).head(1)
                      for _, part in walk.groupby([*markets, "fold"])], ignore_index=True)
    return SweepResult(table, walk, best, metric, names)


def batches(cells: list, workers: int, per_worker: int = 4) -> list[list]:
    """``cells`` cut into about ``workers × per_worker`` batches of consecutive cells (neighbours in a grid share
    indicators, which a batch computes once)."""
    size = max(1, math.ceil(len(cells) / max(1, workers * per_worker)))
    return [cells[i:i + size] for i in range(0, len(cells), size)]


class Sweep:
    """A sweep on Dask, started at once, watched and cancelled from a UI or awaited from a notebook.

    ``Sweep(candles, space, backtest=Backtest(...), samples=None, metric="sharpe", folds=0, client=None,
    scheduler=None)``: ``space`` maps parameter names to their values (see the module docstring); ``candles`` is one
    market's frame, or ``{symbol: frame}`` to screen several markets with every cell (``space`` may then be {}: the
    backtest as it is, on each); ``samples`` draws
    that many cells at random instead of the whole grid; ``client`` (a ``dask.distributed.Client``) or
    ``scheduler`` (an address) runs it there, else on an embedded ``LocalCluster`` (scheduler, workers and
    dashboard on 127.0.0.1 only) that ``close()`` stops.
    ``ValueError`` for an unknown metric or parameter (before anything runs). ``done``/``total`` count the cells;
    ``result()`` waits for all (``concurrent.futures.CancelledError`` after ``cancel()``).
    """

    def __init__(self, candles: pd.DataFrame, space: dict[str, list], backtest: Backtest | None = None, *,
                 samples: int | None = None, metric: str = "sharpe", folds: int = 0, client=None,
                 scheduler: str | None = None, indicators=default_indicators, rules=default_rules, seed: int = 0):
        from dask.distributed import Client

        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}")
        markets = candles if isinstance(candles, dict) else {None: candles}
        if not markets or not (space or None not in markets) or any(len(v) == 0 for v in space.values()):
            raise ValueError("a sweep needs at least one parameter (or several markets), each with at least one "
                             "value")
        if folds < 0:
            raise ValueError(f"folds must be >= 0, not {folds}")
        cells = grid(space) if samples is None else sample(space, samples, seed)
        for cell in cells[:1]:
            build(cell, indicators, rules)  # a bad name or value fails here, not on a worker
        self.names, self.metric, self.folds = list(space), metric, folds
        backtest = backtest or Backtest()
        settings = {k: v for k, v in backtest.param.values().items() if k != "name"}
        self._cluster = None
        if client is None:
            if scheduler is None:
                self._cluster = local_cluster()
            client = Client(self._cluster if scheduler is None else scheduler)
            self._own_client = True
        else:
            self._own_client = False
        self.client = client
        workers = max(1, len(client.scheduler_info().get("workers", {})) or 1)
        self._batches, self.futures = [], []
        for symbol, frame in markets.items():
            data = client.scatter(frame, broadcast=symbol is None)
            for batch in batches(cells, max(1, workers // len(markets))):
                self._batches.append(batch)
                self.futures.append(client.submit(run_cells, data, batch, settings, folds, indicators, rules, symbol,
                                                  pure=False))

    @property
    def total(self) -> int:
        """Backtests in the sweep: cells × markets."""
        return sum(len(batch) for batch in self._batches)

    @property
    def done(self) -> int:
        """Cells finished so far."""
        return sum(len(cells) for cells, future in zip(self._batches, self.futures) if future.status == "finished")

    @property
    def cancelled(self) -> bool:
        return any(future.status == "cancelled" for future in self.futures)

    def cancel(self) -> None:
        """Stop the sweep: batches not yet run never start."""
        self.client.cancel(self.futures)

    def result(self) -> SweepResult:
        """Wait for every cell and rank them (``SweepResult``)."""
        rows = list(itertools.chain.from_iterable(self.client.gather(self.futures)))
        return collect(rows, self.names, self.metric, self.folds)

    def close(self) -> None:
        """Release the client and the embedded cluster (not a client that was given)."""
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> Sweep:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def local_cluster(n_workers: int | None = None):
    """The embedded ``dask.distributed.LocalCluster``: ``n_workers`` single-threaded worker processes (default: one
    per core) with ``WORKER_ENVIRON``; scheduler, workers and dashboard listen on 127.0.0.1 only."""
    import dask
    from dask.distributed import LocalCluster

    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_ENVIRON.items()}
    with dask.config.set(environ):  # read by each nanny as the cluster starts it
        return LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                            host="127.0.0.1", dashboard_address="127.0.0.1:0")


def sweep(candles: pd.DataFrame, space: dict[str, list], backtest: Backtest | None = None, **options) -> SweepResult:
    """Run a ``Sweep`` to the end and return its ``SweepResult`` (options as ``Sweep``)."""
    with Sweep(candles, space, backtest, **options) as running:
        return running.result()


def serial(candles, space: dict[str, list], backtest: Backtest | None = None, *, samples=None,
           metric: str = "sharpe", folds: int = 0, indicators=default_indicators, rules=default_rules,
           seed: int = 0) -> SweepResult:
    """The same sweep in this process, cell after cell, no Dask (a reference, and for a single small grid)."""
    markets = candles if isinstance(candles, dict) else {None: candles}
    cells = grid(space) if samples is None else sample(space, samples, seed)
    settings = {k: v for k, v in (backtest or Backtest()).param.values().items() if k != "name"}
    rows = [row for symbol, frame in markets.items()
            for row in run_cells(frame, cells, settings, folds, indicators, rules, symbol)]
    return collect(rows, list(space), metric, folds)
