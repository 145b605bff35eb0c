"""Vectorised batch of the signal rules (``Rule.fire_arrays``) equals ``check`` candle by candle (``_run(...,
vectorised=False)``): the same signals in the same order, the same end state, so streaming continues alike after
a recompute; on the real 2023-03-24 halt recording, over warm-ups, ties and crossings exactly at equality."""

from __future__ import annotations

import numpy as np
import pytest

from thebot_panel.indicators import BBANDS, DONCHIAN, EMA, KELTNER, MACD, RSI, SUPERTREND, with_indicators
from thebot_panel.market.candles import OHLCV, candle_frame
from thebot_panel.signals import BandBreakout, Crossover, Divergence, LevelCross, MACDCross, Rule, SuperTrendFlip

NAN = float("nan")

CASES = {  # several parameter sets of every rule, on the columns of ``history``
    "ema_9_21": lambda: Crossover(fast="ema_9", slow="ema_21"),
    "ema_21_9": lambda: Crossover(fast="ema_21", slow="ema_9"),
    "ema_5_50": lambda: Crossover(fast="ema_5", slow="ema_50"),
    "close_ema_21": lambda: Crossover(fast="close", slow="ema_21"),
    "macd": MACDCross,
    "macd_zero_filter": lambda: MACDCross(zero_filter=True),
    "macd_5_35_5_zero_filter": lambda: MACDCross(macd="macd_5_35_5", signal="signal_5_35_5", zero_filter=True),
    "rsi_30_70": LevelCross,
    "rsi_30_70_no_hysteresis": lambda: LevelCross(hysteresis=0),
    "rsi_7_20_80": lambda: LevelCross(series="rsi_7", lower=20, upper=80, hysteresis=12),
    "rsi_7_inverted_levels": lambda: LevelCross(series="rsi_7", lower=60, upper=40, hysteresis=3),
    "bbands_breakout": BandBreakout,
    "bbands_reentry": lambda: BandBreakout(mode="reentry"),
    "bbands_10_1.5_reentry": lambda: BandBreakout(upper="upperband_10_1.5_1.5", lower="lowerband_10_1.5_1.5",
                                                  mode="reentry"),
    "keltner_breakout": lambda: BandBreakout(upper="upper_20_2_10", lower="lower_20_2_10"),
    "donchian_breakout": lambda: BandBreakout(upper="upper_20", lower="lower_20"),
    "donchian_5_reentry": lambda: BandBreakout(upper="upper_5", lower="lower_5", mode="reentry"),
    "supertrend": SuperTrendFlip,
    "supertrend_7_2": lambda: SuperTrendFlip(direction="direction_7_2", line="supertrend_7_2"),
    "rsi_divergence": Divergence,
    "rsi_hidden_divergence": lambda: Divergence(kind="hidden"),
    "hist_divergence_3_2": lambda: Divergence(series="hist_12_26_9", left=3, right=2, max_gap=40),
    "rsi_7_divergence_1_1": lambda: Divergence(series="rsi_7", left=1, right=1, max_gap=10),
}


@pytest.fixture(scope="module")
def history(halt_recording):
    """BTCUSDT 1m around the 2023-03-24 halt (flat candles: ties) with every column the cases read."""
    frame = candle_frame(halt_recording["open_time"].to_numpy(), {c: halt_recording[c].to_numpy() for c in OHLCV})
    return with_indicators(frame, EMA(period=5), EMA(period=9), EMA(period=21), EMA(period=50), RSI(period=7),
                           RSI(period=14), MACD(), MACD(fast=5, slow=35, signal=5), BBANDS(period=20),
                           BBANDS(period=10, nbdevup=1.5, nbdevdn=1.5), KELTNER(), DONCHIAN(period=5),
                           DONCHIAN(period=20), SUPERTREND(), SUPERTREND(atr_period=7, multiplier=2.0))


def assert_vectorised_equals_loop(rule: Rule, frame) -> list:
    """Both paths over ``frame``: equal signals (exact floats) and end states (``repr``: exact floats, NaN, types)."""
    signals, state = rule._run(frame, "BTCUSDT", "1m")
    loop_signals, loop_state = rule._run(frame, "BTCUSDT", "1m", vectorised=False)
    assert signals == loop_signals
    assert repr(state) == repr(loop_state)
    return signals


def stream(rule: Rule, frame) -> list:
    """Feed the rows of ``frame`` to ``update`` as closed candles; the signals."""
    times = frame.index.as_unit("ms").asi8.tolist()
    found = (rule.update(t, row["close"], row, "BTCUSDT", "1m") for t, row in zip(times, frame.to_dict("records")))
    return [s for s in found if s is not None]


@pytest.mark.parametrize("name", CASES)
def test_vectorised_recompute_equals_the_loop_and_streaming_continues_alike(name, history):
    make = CASES[name]
    assert type(make()).fire_arrays is not Rule.fire_arrays   # the case runs a vectorised path
    signals = assert_vectorised_equals_loop(make(), history)
    assert {s.side for s in signals} == {"BUY", "SELL"} and not any(s.provisional for s in signals)

    # recompute over the first 2,000 candles, then stream the rest: as the loop's state continues, and as one batch
    head, tail = history.iloc[:2000], history.iloc[2000:]
    vectorised, loop = make(), make()
    recomputed = vectorised.recompute(head, "BTCUSDT", "1m")
    loop_signals, loop.state = loop._run(head, "BTCUSDT", "1m", vectorised=False)
    assert recomputed == loop_signals and repr(vectorised.state) == repr(loop.state)
    continued = stream(vectorised, tail)
    assert continued == stream(loop, tail) and continued
    assert repr(recomputed + continued) == repr(signals)   # as Signal(...) builds them, field types too


@pytest.mark.parametrize("name", CASES)
def test_vectorised_edge_cases_empty_all_nan_short_and_disabled(name, history):
    rule = CASES[name]()
    nothing = repr(([], rule.initial_state()))
    assert assert_vectorised_equals_loop(rule, history.iloc[:0]) == []
    assert repr(rule._run(history.iloc[:0], "BTCUSDT", "1m")) == nothing
    assert assert_vectorised_equals_loop(rule, history.assign(**{c: NAN for c in rule.columns})) == []  # all warm-up
    for rows in (1, 2, 5, 12):   # shorter than a divergence window, then just past it
        assert_vectorised_equals_loop(rule, history.iloc[:rows])
    rule.enabled = False
    assert repr(rule._run(history, "BTCUSDT", "1m")) == nothing


def frame_of(**columns):
    """A 1m frame of the given series (lists of floats; ``close`` 100 unless given)."""
    n = len(next(iter(columns.values())))
    return candle_frame(np.arange(n) * 60_000, {"close": [100.0] * n, **columns})


def test_crossings_exactly_at_equality():
    # equal then apart fires; apart then equal does not; equal then equal does not
    lines = frame_of(ema_9=[1.0, 1.0, 2.0, 1.0, 1.0, 0.5, 1.0, 2.0], ema_21=[1.0] * 8)
    assert [(s.open_time // 60_000, s.side) for s in assert_vectorised_equals_loop(Crossover(), lines)] == [
        (2, "BUY"), (5, "SELL"), (7, "BUY")]
    macd = frame_of(macd_12_26_9=[-1.0, -1.0, -0.5, -1.0, 2.0, 1.0], signal_12_26_9=[-1.0, -1.0, -1.0, -1.0, 1.0, 1.0])
    assert [s.side for s in assert_vectorised_equals_loop(MACDCross(), macd)] == ["BUY", "BUY"]
    assert [s.side for s in assert_vectorised_equals_loop(MACDCross(zero_filter=True), macd)] == ["BUY"]
    # the level itself: 30 reached from below is a BUY, 70 reached from above a SELL
    rsi = frame_of(rsi_14=[29.0, 30.0, 30.0, 29.0, 30.0, 71.0, 70.0, 70.0, 71.0, 70.0])
    assert [(s.open_time // 60_000, s.side) for s in assert_vectorised_equals_loop(LevelCross(hysteresis=0), rsi)] == [
        (1, "BUY"), (4, "BUY"), (6, "SELL"), (9, "SELL")]
    # a close on the previous candle's band is inside (strength 0 back on it); a zero-width channel: strength 1
    band = frame_of(close=[10.0, 12, 13, 12, 12, 11, 12], upper=[12.0] * 7, lower=[10.0, 10, 10, 10, 12, 12, 12])
    breakout = assert_vectorised_equals_loop(BandBreakout(upper="upper", lower="lower"), band)
    assert [(s.open_time // 60_000, s.side, s.strength) for s in breakout] == [(2, "BUY", 1.0), (5, "SELL", 1.0)]
    reentry = assert_vectorised_equals_loop(BandBreakout(upper="upper", lower="lower", mode="reentry"), band)
    assert [(s.open_time // 60_000, s.side, s.strength) for s in reentry] == [(3, "SELL", 0.0), (6, "BUY", 1.0)]


def test_random_series_with_ties_nan_warm_ups_and_equalities():
    """Small integers: many ties, touches and crossings at equality, for every rule and parameter shape."""
    rules = [Crossover(fast="a", slow="b"), MACDCross(macd="a", signal="b", zero_filter=True),
             LevelCross(series="rsi", lower=20, upper=30, hysteresis=10), LevelCross(series="rsi", lower=30, upper=20),
             BandBreakout(upper="upper", lower="lower"), BandBreakout(upper="upper", lower="lower", mode="reentry"),
             SuperTrendFlip(direction="direction", line="line"), Divergence(series="rsi", left=1, right=1, max_gap=20),
             Divergence(series="a", left=2, right=1, max_gap=8, kind="hidden")]
    rng, fired = np.random.default_rng(12), {rule: 0 for rule in rules}
    for _ in range(20):
        n = 300
        values = {name: rng.integers(0, 6, n) * scale for name, scale in
                  (("a", 1.0), ("b", 1.0), ("low", 1.0), ("rsi", 10.0), ("upper", 1.0))}
        values["high"], values["lower"] = values["low"] + rng.integers(0, 3, n), values["upper"] - rng.integers(0, 3, n)
        values["direction"] = rng.choice([-2.0, -1.0, 0.0, 1.0, 2.0, NAN], n, p=[0.05, 0.4, 0.05, 0.4, 0.05, 0.05])
        values["line"] = values["a"] + 90
        for name in ("a", "rsi", "upper", "lower"):
            values[name][: rng.integers(0, 30)] = NAN   # a warm-up
        frame = frame_of(close=rng.integers(1, 7, n) * 1.0, **values)
        for rule in rules:
            fired[rule] += len(assert_vectorised_equals_loop(rule, frame))
    assert min(fired.values()) > 20


def test_divergence_of_both_kinds_confirmed_on_one_candle_fires_neither():
    # left = right = 1: swing lows at 1 and 5 (3 -> 2, a lower low), swing highs at 3 and 5 (8 -> 9, a higher high);
    # the oscillator 20 -> 40 at the lows (higher: BUY) and 60 -> 40 at the highs (lower: SELL), both confirmed at 6
    low, high, rule = [5.0, 3, 5, 5, 5, 2, 5, 5], [6.0, 6, 6, 8, 6, 9, 6, 6], Divergence(left=1, right=1)
    both = frame_of(low=low, high=high, rsi_14=[50.0, 20, 50, 60, 50, 40, 50, 50])
    assert assert_vectorised_equals_loop(rule, both) == []
    # the high at 3 lower (30): the highs no longer diverge, the BUY fires
    buy_only = frame_of(low=low, high=high, rsi_14=[50.0, 20, 50, 30, 50, 40, 50, 50])
    assert [(s.open_time // 60_000, s.side, s.strength) for s in assert_vectorised_equals_loop(rule, buy_only)] == [
        (6, "BUY", 0.5)]
