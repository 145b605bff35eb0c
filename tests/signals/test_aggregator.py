"""Signal aggregation: the confluence over a window of closed candles, the higher-interval trend, the stream node."""

import random

import numpy as np
import pytest
from streamz import Stream

from recorded import feed, klines_of, load

from thebot_panel.binance.events import Kline
from thebot_panel.indicators import EMA, with_indicators
from thebot_panel.market.candles import OHLCV, aggregate, candle_frame
from thebot_panel.market.graph import MarketGraph
from thebot_panel.market.messages import Analysis, Evaluated, Recomputed
from thebot_panel.presets import default_indicators, default_rules
from thebot_panel.signals.aggregator import Aggregator, Confluence, HigherTrend
from thebot_panel.signals.rules import Signal

MINUTE, QUARTER = 60_000, 900_000
T0 = 1_700_000_100_000 - 1_700_000_100_000 % QUARTER  # a 15m boundary


class NoAlerts:
    """Stands in for the alert manager (not under test here): every handler does nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def at(i: int) -> int:
    return T0 + i * MINUTE


def sig(i: int, side: str, strength: float = 1.0, rule: str = "A", provisional: bool = False) -> Signal:
    return Signal(at(i), "BTCUSDT", "1m", rule, side, 100.0, strength, provisional)


def stream(aggregator: Aggregator, candles: dict, n: int, trends=None) -> list[Confluence]:
    """``update`` on candles 0..n-1; ``candles`` maps a candle index to its signals."""
    return [aggregator.update(at(i), candles.get(i, ()), None if trends is None else trends[i]) for i in range(n)]


# --- the score ---------------------------------------------------------------------------------------------

def test_window_counts_the_current_candle_and_window_minus_one_before_it():
    buy = sig(0, "BUY", 0.8)
    got = stream(Aggregator(window=3, threshold=0.0, symbol="BTCUSDT", interval="1m"), {0: [buy]}, 4)
    assert [(c.direction, c.score, c.signals) for c in got] == [
        ("BUY", 0.8, (buy,)), ("BUY", 0.8, (buy,)), ("BUY", 0.8, (buy,)),   # candle 2: the 3rd candle of the window
        ("NEUTRAL", 0.0, ())]                                              # candle 3: window + 1 candles back
    assert got[2] == Confluence(at(2), "BTCUSDT", "1m", "BUY", 0.8, 0.8, (buy,), None)
    assert Aggregator(window=3, threshold=0.0).batch([at(i) for i in range(4)], [buy])[3].signals == ()


def test_window_counts_candles_not_time_across_a_gap():
    times = [at(0), at(1), at(90)]          # a 89-minute halt between the 2nd and 3rd candle
    got = Aggregator(window=3).batch(times, [sig(0, "SELL", 0.6)])
    assert [c.direction for c in got] == ["SELL"] * 3 and got[2].score == -0.6


def test_weights_weigh_each_rule_and_zero_mutes_it():
    a, b, c = sig(0, "BUY", 1.0, "A"), sig(0, "SELL", 0.5, "B"), sig(0, "SELL", 0.25, "C")
    aggregator = Aggregator(weights={"A": 1.0, "B": 3.0}, default_weight=2.0, threshold=0.1)
    got = aggregator.update(at(0), [a, b, c])
    assert got.score == pytest.approx((1 * 1.0 - 3 * 0.5 - 2 * 0.25) / 6) and got.direction == "SELL"
    assert got.confidence == pytest.approx(1 / 6) and got.signals == (a, b, c)
    aggregator.weights = {"B": 0.0, "C": 0.0}
    muted = aggregator.batch([at(0)], [a, b, c])[0]
    assert (muted.score, muted.direction, muted.signals) == (1.0, "BUY", (a,))
    aggregator.weights = {"A": -1.0}
    with pytest.raises(ValueError, match="weights must be >= 0"):
        aggregator.batch([at(0)], [a])


def test_score_below_threshold_is_neutral_and_at_it_is_not():
    weak = Aggregator(threshold=0.25).batch([at(0), at(1)], [sig(0, "BUY", 0.2), sig(1, "BUY", 0.3)])
    assert [(c.direction, c.score, c.confidence) for c in weak] == [("NEUTRAL", 0.2, 0.2), ("BUY", 0.25, 0.25)]
    opposed = Aggregator(threshold=0.0).update(at(0), [sig(0, "BUY", 0.7, "A"), sig(0, "SELL", 0.7, "B")])
    assert (opposed.direction, opposed.score, len(opposed.signals)) == ("NEUTRAL", 0.0, 2)


def test_provisional_signals_count_only_when_asked():
    signals = [sig(0, "BUY", 0.4), sig(0, "SELL", 1.0, "B", provisional=True)]
    assert Aggregator().update(at(0), signals).score == 0.4
    assert Aggregator(include_provisional=True).update(at(0), signals).score == pytest.approx(-0.3)


def test_higher_trend_confirms_or_cuts_the_confidence():
    candles = {i: [sig(i, "BUY", 0.8)] for i in range(4)}
    trends = [1, -1, 0, None]
    consulted = stream(Aggregator(window=1, confirm_interval="15m", contra_factor=0.25), candles, 4, trends)
    assert [(c.direction, c.confidence, c.confirmed) for c in consulted] == [
        ("BUY", 0.8, True), ("BUY", pytest.approx(0.2), False), ("BUY", 0.8, None), ("BUY", 0.8, None)]
    ignored = stream(Aggregator(window=1), candles, 4, trends)  # no confirm_interval: the trend is not consulted
    assert {(c.confidence, c.confirmed) for c in ignored} == {(0.8, None)}
    neutral = Aggregator(window=1, threshold=0.9, confirm_interval="15m").update(at(0), candles[0], -1)
    assert (neutral.direction, neutral.confidence, neutral.confirmed) == ("NEUTRAL", 0.8, None)
    by_callable = Aggregator(window=1, confirm_interval="15m", contra_factor=0.25).batch(
        [at(i) for i in range(4)], [s for v in candles.values() for s in v], lambda t: trends[(t - T0) // MINUTE])
    assert by_callable == consulted


def test_update_rejects_candles_out_of_order_and_signals_of_other_candles():
    aggregator = Aggregator()
    aggregator.update(at(1))
    with pytest.raises(ValueError, match="not after the last one"):
        aggregator.update(at(1))
    with pytest.raises(ValueError, match="signal of another candle"):
        aggregator.update(at(2), [sig(1, "BUY")])


def test_streaming_equals_batch_on_a_long_random_sequence():
    rng = random.Random(7)
    times, signals, trends, t = [], [], [], T0
    for _ in range(3000):
        t += MINUTE * rng.choice([1, 1, 1, 1, 2, 30])  # with gaps
        times.append(t)
        trends.append(rng.choice([1, -1, 0, None]))
        signals.append([Signal(t, "BTCUSDT", "1m", rng.choice("ABC"), rng.choice(["BUY", "SELL"]), 100.0,
                               rng.random(), rng.random() < 0.1) for _ in range(rng.choice([0, 0, 0, 1, 1, 2]))])
    make = lambda: Aggregator(window=7, weights={"A": 2.0, "C": 0.5}, threshold=0.3, confirm_interval="1h")
    streamed = [agg.update(t, s, trend) for agg in [make()] for t, s, trend in zip(times, signals, trends)]
    every = [s for candle in reversed(signals) for s in candle]  # candles in any order
    assert streamed == make().batch(times, every, trends)
    assert {c.direction for c in streamed} == {"BUY", "SELL", "NEUTRAL"}
    assert {c.confirmed for c in streamed} == {True, False, None}
    resumed = make()
    first = resumed.batch(times[:1700], every, trends[:1700], resume=True)  # continues streaming from the history
    assert first + [resumed.update(t, s, trend) for t, s, trend in zip(times[1700:], signals[1700:], trends[1700:])] == streamed
    assert len(resumed._recent) == 7  # bounded state: the window's candles only


# --- the higher-interval trend -----------------------------------------------------------------------------

def quarter_frame(minutes):
    """15m candles aggregated from 1m candles (the last one forming if its minutes are incomplete), with EMA(9/21)."""
    open_time, ohlcv = aggregate(minutes.index.as_unit("ms").asi8, {c: minutes[c].to_numpy() for c in OHLCV}, "15m")
    return with_indicators(candle_frame(open_time, ohlcv), EMA(period=9), EMA(period=21))


@pytest.fixture(scope="module")
def minutes():
    return load("btcusdt_2025")


def test_higher_trend_reads_the_last_closed_higher_candle(minutes):
    quarters = quarter_frame(minutes)
    trend = HigherTrend(quarters, "ema_9", "ema_21", lower="1m", interval="15m")
    t = minutes.index.as_unit("ms").asi8
    got = trend.at(t)
    sign = dict(zip(quarters.index.as_unit("ms").asi8.tolist(),
                    np.sign(np.nan_to_num(quarters.ema_9 - quarters.ema_21)).astype(int).tolist()))
    expected = [sign.get((x + MINUTE) // QUARTER * QUARTER - QUARTER, 0) for x in t.tolist()]
    assert got.tolist() == expected and {-1, 1} <= set(expected) and expected[0] == 0
    changes = t[1:][got[1:] != got[:-1]]
    assert len(changes) > 10 and (changes % QUARTER == 14 * MINUTE).all()  # only where a 15m candle closes too
    b = int(quarters.index[100].value // 1_000_000)  # 15m boundary: candle 100 opens here
    assert [trend(b - 2 * MINUTE), trend(b - MINUTE), trend(b + 7 * MINUTE), trend(b + 14 * MINUTE)] == [
        sign[b - 2 * QUARTER], sign[b - QUARTER], sign[b - QUARTER], sign[b]]


def test_higher_trend_never_reads_the_forming_higher_candle(minutes):
    full = HigherTrend(quarter_frame(minutes), "ema_9", "ema_21", interval="15m")
    t = minutes.index.as_unit("ms").asi8
    checked = 0
    for i in (j + d for j in range(400, 2990, 97) for d in range(3)):  # 3 consecutive minutes, 27 times
        known = quarter_frame(minutes.iloc[:i + 1])  # what exists when the 1m candle i closes
        expected = full(t[i])
        if known.index[-1].value // 1_000_000 + QUARTER > t[i] + MINUTE:  # the last 15m candle is still forming:
            known.iloc[-1, known.columns.get_loc("ema_9")] = -1e9 if expected > 0 else 1e9  # poison it
            checked += 1
        assert HigherTrend(known, "ema_9", "ema_21", interval="15m")(t[i]) == expected
    assert checked > 50


def test_higher_trend_follows_a_live_higher_interval_branch(minutes):
    quarters = quarter_frame(minutes)
    source = Stream(asynchronous=True)
    indicators = default_indicators()
    graph = MarketGraph(source, "BTCUSDT", "15m", indicators, default_rules(indicators), NoAlerts())
    for x in quarters.itertuples():
        o = int(x.Index.value // 1_000_000)
        source.emit(Kline("BTCUSDT", "15m", o, o + QUARTER - 1, x.open, x.high, x.low, x.close, x.volume, closed=True))
    t = minutes.index.as_unit("ms").asi8
    by_key = HigherTrend(graph.branch, "ema_fast", "ema_slow")  # keys follow parameter changes; 15m from the book
    assert by_key.at(t).tolist() == HigherTrend(quarters, interval="15m").at(t).tolist()
    indicators["ema_fast"].period = 5
    assert by_key.at(t).tolist() == HigherTrend(with_indicators(quarters, EMA(period=5)), "ema_5", interval="15m").at(t).tolist()


# --- the stream node ---------------------------------------------------------------------------------------



def markets(halt_recording):
    """A 1m market fed by the caller and a 15m market already holding the recording's 15m candles."""
    source = Stream(asynchronous=True)
    minute = MarketGraph(source, "BTCUSDT", "1m", default_indicators(), default_rules(default_indicators()), NoAlerts())
    quarter = MarketGraph(source, "BTCUSDT", "15m", default_indicators(), default_rules(default_indicators()), NoAlerts())
    open_time, ohlcv = aggregate(halt_recording.open_time.to_numpy(), {c: halt_recording[c].to_numpy() for c in OHLCV}, "15m")
    for o, *row in zip(open_time.tolist(), *(ohlcv[c].tolist() for c in OHLCV)):
        source.emit(Kline("BTCUSDT", "15m", o, o + QUARTER - 1, *row, closed=True))
    return source, minute, HigherTrend(quarter.branch, "ema_fast", "ema_slow")


def expected(graph, trend, **params):
    aggregator = Aggregator(symbol="BTCUSDT", interval="1m", **params)
    return aggregator.batch(graph.book.candles.open_time, graph.branch.signals.history, trend)


def test_confluence_node_emits_one_record_per_closed_candle_equal_to_batch(halt_recording):
    source, graph, trend = markets(halt_recording)
    params = dict(window=5, threshold=0.2, confirm_interval="15m", weights={"RSI(14) 30/70": 0.5})
    node = graph.branch.signals.confluence(graph.branch, Aggregator(**params), trend, max_history=5000)
    out = node.sink_to_list()
    feed(source, klines_of(halt_recording))
    node.flush()
    found = [x for x in out if type(x) is Confluence]
    assert len(found) == len(graph.book) == len(halt_recording)
    assert found == list(node.history) == expected(graph, trend, **params) and node.latest == found[-1]
    assert {c.direction for c in found} == {"BUY", "SELL", "NEUTRAL"} and {True, False} <= {c.confirmed for c in found}
    assert any(len(c.signals) >= 2 for c in found)
    # every input is passed on; a candle's record comes at once after its closed Analysis and its Signals,
    # just before the signal node's Evaluated marker of that candle
    assert len([x for x in out if type(x) is Analysis]) == 3 * len(halt_recording)
    assert [x for x in out if type(x) is Signal] == list(graph.branch.signals.history)
    for k in [i for i, x in enumerate(out) if type(x) is Confluence]:
        before, after = out[k - 1], out[k + 1]
        assert (before.open_time if type(before) is Signal else before.candle.kline.open_time) == out[k].open_time
        assert after == Evaluated(out[k].open_time)


def test_confluence_node_recomputes_on_parameter_changes_and_continues(halt_recording):
    source, graph, trend = markets(halt_recording)
    klines = klines_of(halt_recording)
    feed(source, klines[:1500])
    node = graph.branch.signals.confluence(graph.branch, Aggregator(window=5), trend, max_history=300)
    assert list(node.history) == expected(graph, trend, window=5)[-300:]   # starts from the branch's history
    out = node.sink_to_list()
    node.aggregator.param.update(window=120, confirm_interval="15m")
    assert [type(x) for x in out] == [Recomputed] and out[-1].node is node  # one recompute for both
    assert list(node.history) == expected(graph, trend, window=120, confirm_interval="15m")[-300:]
    graph.branch.indicators["ema_fast"].period = 5   # upstream recompute: other signals, passed on
    assert type(out[-1]) is Recomputed and out[-1].node is graph.branch.signals
    assert "EMA(5)×EMA(21)" in {s.rule for c in node.history for s in c.signals}
    feed(source, klines[1500:])
    node.flush()
    assert len(node.history) == 300
    assert list(node.history) == expected(graph, trend, window=120, confirm_interval="15m")[-300:]
