"""The stream graph: klines → candle book → indicator nodes → signal node → alerts, on a real recording."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import talib
from streamz import Stream

from recorded import feed, klines_of
from thebot_panel.market.graph import MarketGraph
from thebot_panel.market.messages import Analysis, Recomputed
from thebot_panel.hub import default_indicators, default_rules
from thebot_panel.indicators import BBANDS, DONCHIAN, MACD, SMA, SUPERTREND
from thebot_panel.metrics import MarketMetrics
from thebot_panel.signals.alerts import AlertManager
from thebot_panel.signals.rules import (BandBreakout, Crossover, Divergence, LevelCross, MACDCross, Signal,
                                        SuperTrendFlip)


def build():
    source = Stream(asynchronous=True)
    indicators = default_indicators()
    alerts = AlertManager()
    graph = MarketGraph(source, "BTCUSDT", "1m", indicators, default_rules(indicators), alerts,
                        metrics=MarketMetrics(clock=lambda: 0))
    return source, graph, alerts




def test_graph_streams_candles_indicators_and_signals_equal_to_batch(halt_recording):
    source, graph, alerts = build()
    rows = graph.branch.signals.sink_to_list()
    feed(source, klines_of(halt_recording))
    closes = halt_recording.close.to_numpy()
    assert len(graph.book) == len(halt_recording)
    closed = [r for r in rows if type(r) is Analysis and r.candle.closed]
    forming = [r for r in rows if type(r) is Analysis and not r.candle.closed]
    assert len(closed) == len(halt_recording) and len(forming) == 2 * len(halt_recording)
    np.testing.assert_allclose(graph.branch.column("ema_fast"), talib.EMA(closes, 9), rtol=1e-9,
                               equal_nan=True)
    np.testing.assert_allclose(graph.branch.column("rsi"), talib.RSI(closes, 14), rtol=1e-9,
                               equal_nan=True)
    # the provisional value on the final forming update equals the committed one
    final_forming = [r for r in forming[1::2]]
    np.testing.assert_allclose([r.values["ema_21"] for r in final_forming],
                               graph.branch.column("ema_slow"), rtol=1e-12, equal_nan=True)
    streamed = list(graph.branch.signals.history)
    frame = graph.branch.frame()
    batch = sorted((s for rule in graph.branch.signals.rules for s in rule.batch(frame, "BTCUSDT", "1m")),
                   key=lambda s: s.open_time)
    assert streamed == batch and len(streamed) > 50
    assert {s.rule for s in streamed} == {"EMA(9)×EMA(21)", "RSI(14) 30/70", "MACD(12, 26, 9) signal cross",
                                          "BBANDS(20, 2, 2) breakout", "RSI(14) divergence"}
    assert len(alerts) == min(alerts.maxlen, len(streamed))  # the newest alerts, one per signal
    assert [(a.open_time, a.rule, a.side, a.price) for a in alerts] == [(s.open_time, s.rule, s.side, s.price)
                                                                         for s in streamed[-len(alerts):]]


def test_parameter_change_recomputes_history_and_signals(halt_recording):
    source, graph, _ = build()
    klines = klines_of(halt_recording)
    feed(source, klines[:2000])
    signals_out = graph.branch.signals.sink_to_list()
    graph.branch.indicators["ema_fast"].period = 12
    assert [type(x) for x in signals_out] == [Recomputed]
    closes = halt_recording.close.to_numpy()
    np.testing.assert_allclose(graph.branch.column("ema_fast"), talib.EMA(closes[:2000], 12), rtol=1e-9,
                               equal_nan=True)
    assert list(graph.branch.frame().columns) == [
        "open", "high", "low", "close", "volume", "ema_12", "ema_21", "upperband_20_2_2", "middleband_20_2_2",
        "lowerband_20_2_2", "rsi_14", "macd_12_26_9", "signal_12_26_9", "hist_12_26_9"]
    assert graph.branch.signals.rules[0].fast == "ema_12"
    feed(source, klines[2000:])   # continues incrementally after the recompute
    np.testing.assert_allclose(graph.branch.column("ema_fast"), talib.EMA(closes, 12), rtol=1e-9,
                               equal_nan=True)
    frame = graph.branch.frame()
    batch = sorted((s for rule in graph.branch.signals.rules for s in rule.batch(frame, "BTCUSDT", "1m")),
                   key=lambda s: s.open_time)
    assert list(graph.branch.signals.history) == batch
    assert "EMA(12)×EMA(21)" in {s.rule for s in batch}


def test_a_rule_keeps_following_its_own_indicator_when_two_keys_share_a_column(halt_recording):
    source, graph, _ = build()
    feed(source, klines_of(halt_recording)[:600])
    crossover = graph.branch.signals.rules[0]
    slow = graph.branch.indicators["ema_slow"]
    slow.period = 9                 # ema_slow now gives ema_9, as ema_fast does
    assert (crossover.fast, crossover.slow) == ("ema_9", "ema_9")
    slow.period = 30                # only the slow line moves on
    assert (crossover.fast, crossover.slow) == ("ema_9", "ema_30")
    assert {s.rule for s in graph.branch.signals.history} >= {"EMA(9)×EMA(30)"}
    crossover.slow = "close"        # a series pointed elsewhere by the user stays there
    slow.period = 40
    assert (crossover.fast, crossover.slow) == ("ema_9", "close")


def test_session_branch_is_detached_on_destroy(halt_recording):
    source, graph, _ = build()
    feed(source, klines_of(halt_recording.head(300)))
    indicators = default_indicators()
    branch = graph.add_branch(indicators, default_rules(indicators))
    sink = branch.signals.sink_to_list()
    assert len(graph.indicators.downstreams) == 2 and len(branch.column("rsi")) == 300   # starts from the history
    assert len(graph.indicators.computations) == 5   # the same five indicators, computed once for both branches
    feed(source, klines_of(halt_recording.iloc[300:310]))
    assert len([x for x in sink if type(x) is Analysis]) == 30
    branch.destroy()
    assert len(graph.indicators.downstreams) == 1 and graph.branches == [graph.branch]
    feed(source, klines_of(halt_recording.iloc[310:320]))
    assert len([x for x in sink if type(x) is Analysis]) == 30 and len(graph.book) == 320


def test_a_branch_refused_for_a_missing_series_leaves_nothing_running_and_destroy_twice_is_harmless(
        halt_recording):
    source, graph, _ = build()
    feed(source, klines_of(halt_recording.head(100)))
    with pytest.raises(ValueError, match="needs series 'ema_50'"):
        graph.add_branch({"ema": SMA(period=7)}, [Crossover(fast="sma_7", slow="ema_50")])
    assert len(graph.indicators.computations) == 5 and graph.branches == [graph.branch]
    branch = graph.add_branch({"sma": SMA(period=7)}, [])
    branch.destroy()
    branch.destroy()
    assert len(graph.indicators.computations) == 5 and graph.branches == [graph.branch]


def test_a_failing_sink_of_one_session_does_not_keep_a_candle_from_the_others(halt_recording, caplog):
    source, graph, _ = build()
    feed(source, klines_of(halt_recording.head(100)))
    broken = graph.add_branch({"sma": SMA(period=7)}, [])
    failing = broken.signals.each(lambda x: 1 / 0)
    later = graph.add_branch({"sma": SMA(period=9)}, [])
    seen = later.signals.sink_to_list()
    feed(source, klines_of(halt_recording.iloc[100:110]))
    assert failing.errors == 30 + 10 and "ZeroDivisionError" in caplog.text   # every update and Evaluated
    assert len([x for x in seen if type(x) is Analysis and x.candle.closed]) == 10 and len(later.column("sma")) == 110


def test_a_stream_frame_keeps_its_columns_and_follows_a_parameter_change(halt_recording):
    source, graph, _ = build()
    feed(source, klines_of(halt_recording.head(100)))
    branch = graph.add_branch({"sma": SMA(period=7)}, [])
    rows = branch.stream_frame().stream.sink_to_list()
    feed(source, klines_of(halt_recording.iloc[100:101]))
    branch.indicators["sma"].period = 3
    feed(source, klines_of(halt_recording.iloc[101:102]))
    assert [list(r.columns) for r in rows] == [["open", "high", "low", "close", "volume", "sma_7"]] * 2
    closes = halt_recording.close.to_numpy()
    assert rows[0]["sma_7"].iloc[0] == pytest.approx(closes[94:101].mean(), rel=1e-12)
    assert rows[1]["sma_7"].iloc[0] == pytest.approx(closes[99:102].mean(), rel=1e-12)  # the new parameters


def test_warm_up_after_live_candles_recomputes_every_node(halt_recording):
    source, graph, _ = build()
    klines = klines_of(halt_recording.head(500))
    feed(source, klines[450:])            # the stream came first
    out = graph.branch.signals.sink_to_list()
    graph.load(klines[:460])              # then the REST history
    assert type(out[-1]) is Recomputed and len(graph.book) == 500
    np.testing.assert_allclose(graph.branch.column("ema_slow"),
                               talib.EMA(halt_recording.close.to_numpy()[:500], 21), rtol=1e-9, equal_nan=True)
    assert all(type(s) is Signal for s in graph.branch.signals.history)
    assert pd.Index(graph.branch.frame().index).is_monotonic_increasing


def test_indicators_are_added_and_removed_on_a_running_branch(halt_recording):
    source, graph, _ = build()
    klines = klines_of(halt_recording)
    feed(source, klines[:1000])
    branch = graph.branch
    out = branch.signals.sink_to_list()
    branch.add("sma", SMA(period=50))
    assert [type(x) for x in out] == [Recomputed] and list(branch.indicators) == ["ema_fast", "ema_slow", "bbands", "rsi", "macd", "sma"]
    branch.remove("rsi")
    assert len(graph.indicators.computations) == 5 and "rsi_14" not in branch.frame().columns
    assert "RSI(14) 30/70" not in [r.label for r in branch.signals.active]  # RSI rules rest without their series
    assert [r.label for r in branch.signals.active] == ["EMA(9)×EMA(21)", "MACD(12, 26, 9) signal cross",
                                                         "BBANDS(20, 2, 2) breakout"]
    feed(source, klines[1000:])
    closes = halt_recording.close.to_numpy()
    np.testing.assert_allclose(branch.column("sma"), talib.SMA(closes, 50), rtol=1e-9, equal_nan=True)
    last = [x for x in out if type(x) is Analysis][-1]
    assert set(last.values) == {"ema_9", "ema_21", "sma_50", *BBANDS().columns, *MACD().columns}
    assert all("RSI" not in s.rule for s in list(branch.signals.history)[-20:])
    with pytest.raises(ValueError, match="'sma' is already on this chart"):
        branch.add("sma", SMA())
    branch.add("sma_2", SMA(period=50))  # the same indicator twice: one column in the frame, same values
    assert list(branch.frame().columns).count("sma_50") == 1
    np.testing.assert_array_equal(branch.column("sma_2"), branch.column("sma"))


def test_every_rule_in_the_graph_streams_what_batch_gives_even_after_a_reload(halt_recording):
    source = Stream(asynchronous=True)
    indicators = default_indicators() | {"donchian": DONCHIAN(), "supertrend": SUPERTREND()}
    rules = [Crossover(), Crossover(fast="close", slow="ema_21"), LevelCross(), MACDCross(zero_filter=True),
             BandBreakout(), BandBreakout(upper="upper_20", lower="lower_20", mode="reentry"), SuperTrendFlip(),
             Divergence(), Divergence(series="hist_12_26_9", provisional=True)]
    graph = MarketGraph(source, "BTCUSDT", "1m", indicators, rules, AlertManager())
    klines = klines_of(halt_recording)
    feed(source, klines[:700])
    graph.load(klines[:650])  # the history reloaded mid-stream: every rule is re-derived, then goes on
    out = graph.branch.signals.sink_to_list()
    feed(source, klines[700:])
    frame = graph.branch.frame()
    for rule in rules:
        batch = rule.batch(frame, "BTCUSDT", "1m")
        assert batch and list(graph.branch.signals._found[rule]) == batch[-1000:], rule.label
    provisional = [x for x in out if type(x) is Signal and x.provisional]
    assert provisional and {s.rule for s in provisional} == {"HIST(12, 26, 9) divergence"}


def test_a_rule_naming_a_missing_series_is_refused_and_a_toggled_rule_is_re_derived(halt_recording):
    source, graph, _ = build()
    with pytest.raises(ValueError, match=r"needs series 'ema_50'.*available series: \[.*'ema_9'"):
        graph.add_branch(default_indicators(), [Crossover(fast="ema_50", slow="ema_21")])
    feed(source, klines_of(halt_recording.head(1500)))
    signals = graph.branch.signals
    out = signals.sink_to_list()
    rsi_rule = next(r for r in signals.rules if r.label.startswith("RSI"))
    assert any(s.rule == rsi_rule.label for s in signals.history)
    rsi_rule.enabled = False
    assert [type(x) for x in out] == [Recomputed]
    assert all(s.rule != rsi_rule.label for s in signals.history)
    rsi_rule.lower = 25
    rsi_rule.enabled = True
    assert list(signals._found[rsi_rule]) == rsi_rule.batch(graph.branch.frame(), "BTCUSDT", "1m")


def test_no_repainting_forming_updates_change_no_closed_candle_signal(halt_recording):
    klines = klines_of(halt_recording.head(1500))
    source_a, graph_a, _ = build()
    source_b, graph_b, _ = build()
    emitted = graph_a.branch.signals.sink_to_list()
    feed(source_a, klines)                      # two forming updates before each close
    for k in klines:                            # closes only
        source_b.emit(k)
    signals = [x for x in emitted if type(x) is Signal]
    assert signals == list(graph_a.branch.signals.history) == list(graph_b.branch.signals.history)
    assert all(not s.provisional for s in signals) and len(signals) > 20
    # each signal is emitted right after its own candle's closed Analysis, never during a forming update
    last = None
    for x in emitted:
        if type(x) is Analysis:
            last = x
        elif type(x) is Signal:
            assert last.candle.closed and last.candle.kline.open_time == x.open_time


def test_sessions_share_each_computation_and_a_tweak_gets_its_own_for_that_indicator_only(halt_recording):
    source, graph, _ = build()
    klines = klines_of(halt_recording)
    feed(source, klines[:1000])
    tabs = [graph.add_branch(default_indicators(), default_rules(default_indicators())) for _ in range(3)]
    computations = graph.indicators.computations
    assert len(computations) == 5 and all(c.users == 4 for c in computations.values())   # hub + 3 tabs
    others = [tab.signals.sink_to_list() for tab in (graph.branch, *tabs[1:])]
    tabs[0].indicators["rsi"].period = 7                    # one tab tweaks RSI
    assert len(computations) == 6 and tabs[0].computations["ema_fast"] is graph.branch.computations["ema_fast"]
    assert all(out == [] for out in others)                 # nobody else reloads
    feed(source, klines[1000:1100])
    closes = halt_recording.close.to_numpy()[:1100]
    np.testing.assert_allclose(tabs[0].column("rsi"), talib.RSI(closes, 7), rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(tabs[1].column("rsi"), talib.RSI(closes, 14), rtol=1e-9, equal_nan=True)
    assert tabs[0].signals.rules[1].series == "rsi_7" and graph.branch.signals.rules[1].series == "rsi_14"
    assert [x.values["rsi_14"] for x in others[0] if type(x) is Analysis][-1] == tabs[1].column("rsi")[-1]
    tabs[0].indicators["rsi"].period = 14                   # back to the shared computation
    assert len(computations) == 5 and tabs[0].computations["rsi"] is graph.branch.computations["rsi"]
    for tab in tabs:
        tab.destroy()
    assert len(computations) == 5 and all(c.users == 1 for c in computations.values())


def test_views_read_a_market_through_tail_last_and_its_latest_signal_and_confluence(halt_recording):
    source, graph, _ = build()
    assert graph.last() == {} and graph.latest_signal is None and graph.latest_confluence is None
    assert len(graph.tail(5)) == 0 and np.isnan(graph.price)
    klines = klines_of(halt_recording.head(1500))
    feed(source, klines)
    source.emit(dataclasses.replace(klines[-1], open_time=klines[-1].open_time + 60_000, close=27_000.0,
                                    closed=False))
    pd.testing.assert_frame_equal(graph.tail(20), graph.branch.frame().tail(20))
    assert len(graph.tail(5_000)) == 1500 and graph.price == 27_000.0   # the forming candle's close
    last = graph.last()
    assert last["close"] == klines[-1].close and last["rsi"] == graph.branch.column("rsi")[-1]
    assert set(last) == {"close", *graph.branch.keys}
    assert graph.latest_signal == graph.signals[-1] == graph.branch.signals.history[-1]
    assert graph.latest_confluence.open_time == klines[-1].open_time
    assert graph.metrics()["signals_today"] > 0 and graph.day()[2] == "candles"
    with pytest.raises(ValueError, match="tail needs n >= 1"):
        graph.tail(0)


def test_a_market_keeps_its_newest_history_candles_with_their_streamed_indicator_values(halt_recording):
    source, full, _ = build()
    kept = MarketGraph(source, "ETHUSDT", "1m", default_indicators(), [], AlertManager(), history=300)
    feed(source, klines_of(halt_recording))
    feed(source, klines_of(halt_recording, symbol="ETHUSDT"))  # the same candles under another symbol
    assert len(kept.book) == 300 and len(full.book) == len(halt_recording) > 300
    pd.testing.assert_frame_equal(kept.tail(1000), full.tail(300))  # the same candles and streamed values
    kept.branch.indicators["rsi"].period = 7  # a recompute over what is kept stays aligned with the kept candles
    assert len(kept.branch.column("rsi")) == 300 and kept.tail(300).index.equals(full.tail(300).index)
