"""Cost of one new candle for the chart's default indicator set, incremental vs full recompute.

On real BTCUSDT 1m candles (the bundled recording), with a window of 5,000 closed candles behind
them, each of the next R candles is applied to the default set of ``hub.default_indicators()``:
EMA(9), EMA(21), BBANDS(20, 2, 2), RSI(14), MACD(12, 26, 9).

  incremental   ``update(kline, closed=True)`` of each indicator (O(1), compiled kernels);
  TA-Lib        ``talib.EMA``/``BBANDS``/``RSI``/``MACD`` recomputed over the 5,000-candle window (the usual way);
  talipp        ``add(close)`` on talipp's incremental EMA/BB/RSI/MACD, if talipp is installed (extra ``bench``).

A second row does the same for an update of the forming candle: ``update(kline, closed=False)``
(provisional, commits nothing) vs TA-Lib over the window vs talipp's ``update`` (replace the last
input). Then: ``recompute(frame)`` of each indicator over 10,000 candles after a parameter change,
and what a chart waits for after the same change: the graph's indicator node recomputes its history
and the signal node re-derives its signals (``MarketGraph`` holding 10,000 candles).

Rounds alternate the methods; each figure is the best round. Reading the output: µs per candle for
the whole set and each method's ratio to the incremental update (``x`` = times slower); ms for recomputes.

    .venv/bin/python benchmarks/indicators.py            # R = 5,000 candles, 7 rounds
    .venv/bin/python benchmarks/indicators.py --quick    # R = 500, 3 rounds, < 20 s
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import talib
from streamz import Stream

from thebot_panel.binance.events import Kline
from thebot_panel.market.graph import MarketGraph
from thebot_panel.hub import default_indicators, default_rules
from thebot_panel.replay import Recording
from thebot_panel.signals.alerts import AlertManager

try:
    from talipp.indicators import BB, EMA as TalippEMA, MACD as TalippMACD, RSI as TalippRSI
except ImportError:  # optional: pip install -e ".[bench]"
    TalippEMA = None

WINDOW = 5_000
RECOMPUTE_CANDLES = 10_000


def klines_of(frame) -> list[Kline]:
    """Closed BTCUSDT 1m klines from a candle frame (index ``open_time``, UTC)."""
    times = frame.index.as_unit("ms").asi8.tolist()
    columns = (frame[name].tolist() for name in ("open", "high", "low", "close", "volume"))
    return [Kline("BTCUSDT", "1m", t, t + 59_999, o, h, lo, c, v, closed=True)
            for t, o, h, lo, c, v in zip(times, *columns)]


def incremental(frame, klines, r: int, closed: bool) -> float:
    updates = []
    for indicator in default_indicators().values():
        indicator.recompute(frame.iloc[:WINDOW])
        updates.append(indicator.update)  # the kernel's own method, as the graph node calls it
    start = time.perf_counter()
    for kline in klines[WINDOW:WINDOW + r]:
        for update in updates:
            update(kline, closed)
    return time.perf_counter() - start


def talib_window(closes: np.ndarray, r: int) -> float:
    start = time.perf_counter()
    for i in range(1, r + 1):
        window = closes[i:WINDOW + i]
        talib.EMA(window, 9), talib.EMA(window, 21), talib.BBANDS(window, 20, 2, 2), talib.RSI(window, 14)
        talib.MACD(window, 12, 26, 9)
    return time.perf_counter() - start


def talipp(closes: np.ndarray, r: int, closed: bool) -> float:
    seed = closes[:WINDOW].tolist()
    indicators = [TalippEMA(9, input_values=seed), TalippEMA(21, input_values=seed), BB(20, 2, input_values=seed),
                  TalippRSI(14, input_values=seed), TalippMACD(12, 26, 9, input_values=seed)]
    start = time.perf_counter()
    for x in closes[WINDOW:WINDOW + r].tolist():
        for indicator in indicators:
            indicator.add(x) if closed else indicator.update(x)
    return time.perf_counter() - start


def recompute_indicator(frame, indicator) -> float:
    """Seconds for ``recompute(frame)`` after a parameter change (its first period + 3)."""
    name = next(n for n in ("period", "fast") if n in indicator.param)
    setattr(indicator, name, getattr(indicator, name) + 3)
    start = time.perf_counter()
    indicator.recompute(frame)
    return time.perf_counter() - start


def talib_once(frame) -> float:
    start = time.perf_counter()
    talib.EMA(frame["close"].to_numpy(), 12)
    return time.perf_counter() - start


def recompute_graph(graph: MarketGraph) -> float:
    """Seconds for the graph's reaction to EMA fast's period changing: indicator node + signal node."""
    ema = graph.branch.indicators["ema_fast"]
    start = time.perf_counter()
    ema.period = 12 if ema.period == 9 else 9
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="500 candles, 3 rounds (< 20 s)")
    parser.add_argument("-r", type=int, help="new candles timed per round (default 5,000; 500 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds (default 7; 3 with --quick)")
    args = parser.parse_args()
    r = args.r or (500 if args.quick else 5_000)
    rounds = args.rounds or (3 if args.quick else 7)

    frame = Recording.bundled()["BTCUSDT"].frame()
    klines, closes = klines_of(frame.iloc[:max(WINDOW + r, RECOMPUTE_CANDLES)]), frame["close"].to_numpy()
    history = frame.iloc[:RECOMPUTE_CANDLES]
    graph = MarketGraph(Stream(), "BTCUSDT", "1m", (ind := default_indicators()), default_rules(ind), AlertManager())
    graph.load(klines[:RECOMPUTE_CANDLES])
    per_candle = {  # (row, method) -> seconds for r candles
        ("closed", "incremental update"): lambda: incremental(frame, klines, r, True),
        ("closed", "TA-Lib over the window"): lambda: talib_window(closes, r),
        ("closed", "talipp add"): lambda: talipp(closes, r, True),
        ("forming", "incremental update"): lambda: incremental(frame, klines, r, False),
        ("forming", "talipp update"): lambda: talipp(closes, r, False),
    }
    if TalippEMA is None:
        del per_candle[("closed", "talipp add")], per_candle[("forming", "talipp update")]
    recomputes = {
        f"{indicator.label} recompute (first period + 3)":
            lambda indicator=indicator: recompute_indicator(history, type(indicator)(**indicator.param.values()))
        for indicator in default_indicators().values()
    } | {
        "talib.EMA over the closes (reference)": lambda: talib_once(history),
        "MarketGraph: EMA fast 9 <-> 12 (node + signals)": lambda: recompute_graph(graph),
    }
    times: dict = {key: [] for key in [*per_candle, *recomputes]}
    for _ in range(rounds):  # methods alternate within each round
        for key, measure in [*per_candle.items(), *recomputes.items()]:
            times[key].append(measure())
    best = {key: min(values) for key, values in times.items()}
    best[("forming", "TA-Lib over the window")] = best[("closed", "TA-Lib over the window")]

    labels = " + ".join(indicator.label for indicator in default_indicators().values())
    print(f"BTCUSDT 1m, {labels}: one new candle after a {WINDOW:,}-candle window, "
          f"best of {rounds} rounds of {r:,} candles{'' if TalippEMA else ' (talipp not installed)'}")
    for row, title in (("closed", "new closed candle"), ("forming", "forming-candle update")):
        base = best[(row, "incremental update")]
        print(f"\n{title:28}{'µs/candle':>10}{'ratio':>9}")
        for method in ("incremental update", "TA-Lib over the window", "talipp add", "talipp update"):
            if (row, method) in best:
                seconds = best[(row, method)]
                print(f"  {method:26}{seconds / r * 1e6:>10.2f}{seconds / base:>8.1f}x")
    print(f"\nafter a parameter change, over {RECOMPUTE_CANDLES:,} candles{'':9}{'ms':>6}")
    for label in recomputes:
        print(f"  {label:51}{best[label] * 1e3:>6.2f}")


if __name__ == "__main__":
    main()
