"""Research on history: backtests of a market's signal graph (``engine``), their performance figures
(``performance``) and parameter sweeps on Dask (``sweep``)."""

from .engine import Backtest, BacktestResult, evaluate, simulate

__all__ = ["Backtest", "BacktestResult", "evaluate", "simulate"]
