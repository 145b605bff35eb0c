"""``thebot-backtest``: a backtest or a parameter sweep from the command line.

    thebot-backtest run --symbol BTCUSDT --interval 15m --rules Crossover --stop-loss-pct 2
    thebot-backtest sweep --param ema_fast.period=5:25 --param ema_slow.period=26:66:2 --rules Crossover --folds 2
    thebot-backtest sweep ... --scheduler tcp://host:8786     # on a running Dask cluster
    thebot-backtest sweep --symbols BTCUSDT,ETHUSDT --rules Crossover   # screen markets (the same Dask path)

Data: the bundled recording, or ``--data`` files and folders as the replay reads them. Prints the figures (run) or
the best cells (sweep); ``--csv`` writes the trades (run) or the whole table (sweep). Exit status 2 with a message
for a bad option.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from ..binance.streams import validate_interval
from .engine import Backtest
from .history import load_history
from .sweep import METRICS, Sweep


def value_range(text: str) -> tuple[str, list]:
    """``name=start:stop[:step]`` (stop included) or ``name=v1,v2,...`` → (name, values); numbers stay ints when
    they are whole."""
    name, sep, spec = text.partition("=")
    if not sep or "." not in name:
        raise argparse.ArgumentTypeError(f"invalid --param {text!r}: write name=start:stop[:step] or name=a,b,c "
                                         f"with name like ema_fast.period or LevelCross.lower")
    try:
        if ":" in spec:
            start, stop, *step = (float(x) for x in spec.split(":"))
            values = list(np.arange(start, stop + (step[0] if step else 1) / 2, step[0] if step else 1))
        else:
            values = [float(x) for x in spec.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid --param {text!r}: values must be numbers") from None
    if not values:
        raise argparse.ArgumentTypeError(f"invalid --param {text!r}: no value in the range")
    return name, [int(v) if float(v).is_integer() else float(v) for v in values]


def _interval(text: str) -> str:
    try:
        return validate_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--symbol", default="BTCUSDT")
    common.add_argument("--interval", type=_interval, default="1m")
    common.add_argument("--data", nargs="+", default=None, help="files or folders the replay reads (default: bundled)")
    common.add_argument("--start", default=None, help="first open time, ISO 8601 UTC")
    common.add_argument("--end", default=None, help="last open time, ISO 8601 UTC")
    common.add_argument("--direction", choices=["long", "long_short"], default="long")
    common.add_argument("--trade-on", choices=["signals", "confluence"], default="signals")
    common.add_argument("--rules", default=None, help="comma-separated rule classes that trade, e.g. Crossover")
    common.add_argument("--fee-bps", type=float, default=10.0)
    common.add_argument("--slippage-bps", type=float, default=0.0)
    common.add_argument("--stop-loss-pct", type=float, default=None)
    common.add_argument("--take-profit-pct", type=float, default=None)
    common.add_argument("--capital", type=float, default=10_000.0, help="initial equity, quote currency")
    common.add_argument("--csv", default=None, help="write the trades (run) or the table (sweep) here")
    p = argparse.ArgumentParser(prog="thebot-backtest", description=__doc__.split("\n")[0])
    commands = p.add_subparsers(dest="command", required=True)
    commands.add_parser("run", parents=[common], help="one backtest with the default indicators and rules")
    sweep = commands.add_parser("sweep", parents=[common], help="a grid or random search on Dask")
    sweep.add_argument("--param", type=value_range, action="append", default=[],
                       help="name=start:stop[:step] or name=a,b,c (repeat for each parameter)")
    sweep.add_argument("--symbols", default=None,
                       help="comma-separated: screen these markets with every cell (default: --symbol alone)")
    sweep.add_argument("--samples", type=int, default=None, help="random cells instead of the whole grid")
    sweep.add_argument("--metric", choices=METRICS, default="sharpe")
    sweep.add_argument("--folds", type=int, default=0, help="walk-forward folds (0: none)")
    sweep.add_argument("--scheduler", default=None, help="Dask scheduler address (default: an embedded LocalCluster)")
    sweep.add_argument("--top", type=int, default=10, help="best cells printed")
    return p


def main(argv=None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        symbols = args.symbols.split(",") if getattr(args, "symbols", None) else [args.symbol]
        markets = {s.upper(): load_history(s, args.interval, args.data, args.start, args.end) for s in symbols}
        candles = markets[symbols[0].upper()]
        backtest = Backtest(symbol=args.symbol.upper(), interval=args.interval, direction=args.direction,
                            trade_on=args.trade_on, rules=args.rules.split(",") if args.rules else None,
                            fee_bps=args.fee_bps, slippage_bps=args.slippage_bps, stop_loss_pct=args.stop_loss_pct,
                            take_profit_pct=args.take_profit_pct, initial_capital=args.capital)
        span = f"{', '.join(markets)} {args.interval}, {len(candles):,} candles {candles.index[0]} → {candles.index[-1]}"
        if args.command == "run":
            result = backtest.run(candles)
            print(span)
            print(pd.Series(result.metrics).to_string(float_format=lambda v: f"{v:,.4g}"))
            if args.csv:
                result.trades.to_csv(args.csv, index=False)
            return 0
        with Sweep(markets if len(markets) > 1 else candles, dict(args.param), backtest, samples=args.samples, metric=args.metric, folds=args.folds,
                   scheduler=args.scheduler) as running:
            print(f"{span}: {running.total} backtests on {running.client.dashboard_link or running.client}")
            found = running.result()
    except (ValueError, FileNotFoundError, OSError) as exc:
        p.error(str(exc))
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(found.table.head(args.top).to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
        if found.best is not None:
            print("\nwalk-forward: the in-sample best of each fold, out of sample")
            print(found.best.to_string(index=False, float_format=lambda v: f"{v:,.4g}"))
    if args.csv:
        found.table.to_csv(args.csv, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
