"""Cost of one new candle for the chart's default indicator set, incremental vs full recompute.

On real BTCUSDT 1m candles (the bundled recording), with a window of 5,000 closed candles behind
them, each of the next R candles is applied to the default set of ``presets.default_indicators()``:
EMA(9), EMA(21), BBANDS(20, 2, 2), RSI(14), MACD(12, 26, 9). The rows of the first table
(a new closed candle):

  incremental update      ``update(kline, closed=True)`` of each indicator (O(1), our compiled kernels);
  TA-Lib over the window  ``talib.EMA``/``BBANDS``/``RSI``/``MACD`` recomputed over the 5,000-candle
                          window, keeping the last value (the usual way);
  talib.stream update     TA-Lib's own streaming handles (``talib.stream``, 0.8.2 here): one handle per
                          function, opened on the 5,000 closes (``talib.stream.EMA(closes, timeperiod=9)``
                          etc.), then ``handle.update(close)`` commits the new closed candle and returns its
                          value (O(1), in C; equal to the Function API's value for that candle);
  talipp add              ``add(close)`` on talipp's incremental EMA/BB/RSI/MACD, if talipp is installed
                          (extra ``bench``).

The second table does the same for an update of the forming candle, which commits nothing:
``update(kline, closed=False)`` (provisional) vs TA-Lib over the window (the same figure as above)
vs ``handle.peek(close)`` (what ``update`` would return, state untouched) vs talipp's ``update``
(replace the last input). The talib.stream rows are left out with an older TA-Lib whose
``talib.stream`` has only functions (no ``talib.stream.Stream`` handles), the talipp rows without talipp.

Then, over 10,000 candles after a parameter change: ``recompute(frame)`` of each indicator, and
what a chart waits for, with ``talib.EMA`` as a reference. The last is a ``MarketGraph`` holding
10,000 candles, timed from setting ``graph.branch.indicators["ema_fast"].period`` (9 <-> 12) until
the setter returns: the branch moves the key to a new shared computation (the EMA over the book's
10,000 candles) and its signal node re-derives the signals of the rules reading it (and the confluence
node downstream re-derives its own). It is printed beside its goal (GRAPH_GOAL_MS).

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
import talib.stream

from thebot_panel.binance.events import Kline
from thebot_panel.market.graph import MarketGraph
from thebot_panel.market.node import Node
from thebot_panel.presets import default_indicators, default_rules
from thebot_panel.replay import Recording
from thebot_panel.signals.alerts import AlertManager

try:
    from talipp.indicators import BB, EMA as TalippEMA, MACD as TalippMACD, RSI as TalippRSI
except ImportError:  # optional: pip install -e ".[bench]"
    TalippEMA = None

WINDOW = 5_000
RECOMPUTE_CANDLES = 10_000
GRAPH_GOAL_MS = 2.0  # what a chart may wait for after a parameter change (issue 12)
# TA-Lib's handle objects (update/peek); an older talib.stream has only functions recomputing from arrays
STREAM_HANDLES = isinstance(getattr(talib.stream, "Stream", None), type)


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


def talib_stream(closes: np.ndarray, r: int, closed: bool) -> float:
    """Seconds for ``update`` (closed) or ``peek`` (forming) of TA-Lib's streaming handles on r closes."""
    seed = closes[:WINDOW]
    handles = [talib.stream.EMA(seed, timeperiod=9), talib.stream.EMA(seed, timeperiod=21),
               talib.stream.BBANDS(seed, timeperiod=20, nbdevup=2, nbdevdn=2), talib.stream.RSI(seed, timeperiod=14),
               talib.stream.MACD(seed, fastperiod=12, slowperiod=26, signalperiod=9)]
    steps = [handle.update if closed else handle.peek for handle in handles]
    start = time.perf_counter()
    for x in closes[WINDOW:WINDOW + r].tolist():
        for step in steps:
            step(x)
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
    """Seconds a chart waits after the user sets ``ema_fast``'s period (9 <-> 12): the branch moves the key to a
    new computation over the book's candles and its signal node re-derives the signals. ``RuntimeError`` if the
    setter returned without that having happened (then the figure would time nothing)."""
    ema = graph.branch.indicators["ema_fast"]
    old = graph.branch.computations["ema_fast"]
    period = 12 if ema.period == 9 else 9
    start = time.perf_counter()
    ema.period = period
    seconds = time.perf_counter() - start
    new, crossover = graph.branch.computations["ema_fast"], graph.branch.signals.rules[0]
    if new is old or new.columns != (f"ema_{period}",) or len(new.history.open_time) != len(graph.book) \
            or crossover.fast != f"ema_{period}":
        raise RuntimeError("setting ema_fast.period did not recompute the branch's EMA and signals")
    return seconds


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
    graph = MarketGraph(Node(), "BTCUSDT", "1m", (ind := default_indicators()), default_rules(ind), AlertManager())
    graph.load(klines[:RECOMPUTE_CANDLES])
    per_candle = {  # (row, method) -> seconds for r candles
        ("closed", "incremental update"): lambda: incremental(frame, klines, r, True),
        ("closed", "TA-Lib over the window"): lambda: talib_window(closes, r),
        ("closed", "talib.stream update"): lambda: talib_stream(closes, r, True),
        ("closed", "talipp add"): lambda: talipp(closes, r, True),
        ("forming", "incremental update"): lambda: incremental(frame, klines, r, False),
        ("forming", "talib.stream peek"): lambda: talib_stream(closes, r, False),
        ("forming", "talipp update"): lambda: talipp(closes, r, False),
    }
    if not STREAM_HANDLES:
        del per_candle[("closed", "talib.stream update")], per_candle[("forming", "talib.stream peek")]
    if TalippEMA is None:
        del per_candle[("closed", "talipp add")], per_candle[("forming", "talipp update")]
    recomputes = {
        f"{indicator.label} recompute (first period + 3)":
            lambda indicator=indicator: recompute_indicator(history, type(indicator)(**indicator.param.values()))
        for indicator in default_indicators().values()
    } | {
        "talib.EMA over the closes (reference)": lambda: talib_once(history),
    }
    graph_label = "MarketGraph: ema_fast.period 9 <-> 12 (+ signals)"
    recomputes[graph_label] = lambda: recompute_graph(graph)
    times: dict = {key: [] for key in [*per_candle, *recomputes]}
    for _ in range(rounds):  # methods alternate within each round
        for key, measure in [*per_candle.items(), *recomputes.items()]:
            times[key].append(measure())
    best = {key: min(values) for key, values in times.items()}
    best[("forming", "TA-Lib over the window")] = best[("closed", "TA-Lib over the window")]

    labels = " + ".join(indicator.label for indicator in default_indicators().values())
    missing = [name for name, there in (("talib.stream handles", STREAM_HANDLES), ("talipp", TalippEMA)) if not there]
    print(f"BTCUSDT 1m, {labels}: one new candle after a {WINDOW:,}-candle window, "
          f"best of {rounds} rounds of {r:,} candles (TA-Lib {talib.__version__}"
          f"{'; rows left out, not available: ' + ', '.join(missing) if missing else ''})")
    for row, title in (("closed", "new closed candle"), ("forming", "forming-candle update")):
        base = best[(row, "incremental update")]
        print(f"\n{title:28}{'µs/candle':>10}{'ratio':>9}")
        for method in ("incremental update", "TA-Lib over the window", "talib.stream update", "talib.stream peek",
                       "talipp add", "talipp update"):
            if (row, method) in best:
                seconds = best[(row, method)]
                print(f"  {method:26}{seconds / r * 1e6:>10.2f}{seconds / base:>8.1f}x")
    print(f"\nafter a parameter change, over {RECOMPUTE_CANDLES:,} candles{'':8}{'ms':>6}")
    for label in recomputes:
        ms = best[label] * 1e3
        goal = f"   goal ≤ {GRAPH_GOAL_MS:g} ms ({ms / GRAPH_GOAL_MS:.1f}x the goal)" if label == graph_label else ""
        print(f"  {label:51}{ms:>6.2f}{goal}")


if __name__ == "__main__":
    main()
