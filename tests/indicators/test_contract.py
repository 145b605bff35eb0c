"""The indicator contract (the base class and the notebook entry points): O(1) state, recompute on a parameter
change, chaining, clear errors, NaN candles, labels, the registry. That each indicator equals TA-Lib one candle
at a time and in batch, with provisional values, is in ``test_families.py``."""

import numpy as np
import pandas as pd
import pytest
import talib

from indicator_checks import assert_close_after_warmup, stream
from indicator_families import close, hlcv
from recorded import HALT_START, klines, load

from thebot_panel import indicators
from thebot_panel.indicators import EMA, RSI, SMA, VWAP


def test_update_cost_does_not_grow_with_history():
    """O(1) state: a kernel keeps no history, so 3,000 candles leave it as small as 3 did."""
    ema = EMA(period=9)
    ema.recompute(load("btcusdt_2025"))
    assert ema.update.__self__.__sizeof__() == EMA(period=9).update.__self__.__sizeof__()


@pytest.mark.parametrize("make, change, reference", [
    (lambda: EMA(period=20), {"period": 50}, lambda f: talib.EMA(close(f), 50)),
    (lambda: SMA(period=20), {"period": 9}, lambda f: talib.SMA(close(f), 9)),
    (lambda: RSI(period=14), {"period": 21}, lambda f: talib.RSI(close(f), 21)),
    (lambda: EMA(period=20), {"source": "hl2"}, lambda f: talib.EMA(talib.MEDPRICE(*hlcv(f)[1:3]), 20)),
])
def test_recompute_after_parameter_change_then_updates_continue(make, change, reference):
    frame = load("btcusdt_2025")
    history, live = frame.iloc[:2000], klines(frame.iloc[2000:])
    indicator = make()
    indicator.recompute(history)
    indicator.param.update(**change)
    recomputed = indicator.recompute(history)[indicator.columns[0]].to_numpy()
    continued = np.array([indicator.update(k, closed=True)[0] for k in live])
    assert_close_after_warmup(np.r_[recomputed, continued], reference(frame), indicator.warmup)


def test_parameter_change_resets_committed_state_until_recompute():
    frame = load("btcusdt_2025").iloc[:100]
    ema = EMA(period=9)
    ema.recompute(frame)
    ema.period = 10
    assert np.isnan(ema.update(klines(frame)[-1], closed=True)[0])


def test_upstream_parameter_change_resets_and_notifies_the_chained_indicator():
    rsi = RSI(period=14)
    chained = EMA(period=9, of=rsi)
    events = []
    chained.param.watch(events.append, ["of"])
    frame = load("btcusdt_2025").iloc[:500]
    chained.recompute(frame)
    rsi.period = 7
    assert len(events) == 1 and chained.label == "EMA(9) of RSI(7)" and chained.warmup == 7 + 8
    assert np.isnan(chained.update(klines(frame)[-1], closed=True)[0])
    np.testing.assert_allclose(chained.batch(frame).to_numpy()[15:, 0], talib.EMA(talib.RSI(close(frame), 7), 9)[15:],
                               rtol=1e-9)


@pytest.mark.parametrize("value", [1, 10**6, "x", 2.5])
def test_period_outside_bounds_or_not_an_integer_raises_naming_parameter_and_bounds(value):
    with pytest.raises(ValueError) as created:
        EMA(period=value)
    ema = EMA(period=9)
    with pytest.raises(ValueError) as assigned:
        ema.period = value
    for error in (created, assigned):
        message = str(error.value)
        assert "EMA.period" in message and repr(value) in message and "(2, 1000)" in message
    assert ema.period == 9


def test_unknown_source_raises_naming_the_choices():
    with pytest.raises(ValueError, match=r"RSI\.source='hl3'.*'hlc3'"):
        RSI(source="hl3")


def test_unknown_output_of_the_upstream_raises_naming_its_outputs():
    with pytest.raises(ValueError, match=r"RSI\(14\) has outputs \['rsi'\], not 'hist'"):
        EMA(of=RSI(), output="hist")


def test_batch_needs_an_open_time_index_only_for_an_indicator_that_reads_the_time():
    closes = pd.DataFrame({"close": [1.0, 2.0, 3.0, 4.0, 5.0]})   # a plain RangeIndex
    assert EMA(period=3).batch(closes)["ema_3"].tolist()[2:] == [2.0, 3.0, 4.0]
    with pytest.raises(ValueError, match=r"VWAP\(session\) needs the candles' open times: a frame indexed by open_time"):
        VWAP().batch(closes.assign(high=1.0, low=1.0, volume=1.0))


def test_frame_missing_a_needed_column_raises_naming_it():
    frame = load("btcusdt_2025").drop(columns=["high"])
    with pytest.raises(ValueError, match=r"EMA\(9, hl2\) needs a 'high' column"):
        EMA(period=9, source="hl2").batch(frame)
    assert EMA(period=9).batch(frame).notna().any().all()  # close is all EMA(9) needs


def test_nan_candles_propagate_like_talib():
    frame = load("btcusdt_2025").iloc[:300].copy()
    frame.iloc[:5, :] = np.nan  # leading NaNs are skipped, as TA-Lib's wrapper skips them
    frame.iloc[200, 3] = np.nan  # a NaN later poisons what follows, as in TA-Lib
    for indicator, expected in [(EMA(period=9), talib.EMA(close(frame), 9)), (RSI(), talib.RSI(close(frame)))]:
        got = indicator.batch(frame).to_numpy()[:, 0]
        np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-9)


def test_labels_columns_and_panes():
    assert (EMA().label, EMA().columns) == ("EMA(20)", ["ema_20"])
    assert (SMA().label, RSI().label) == ("SMA(20)", "RSI(14)")
    hl2 = EMA(period=9, source="hl2")
    assert (hl2.label, hl2.column("ema"), hl2.needs) == ("EMA(9, hl2)", "ema_9_hl2", ["high", "low"])
    chained = EMA(period=9, of=RSI(period=7))
    assert (chained.label, chained.columns) == ("EMA(9) of RSI(7)", ["ema_9_of_rsi_7"])
    assert (SMA.pane, EMA.pane, RSI.pane) == ("price", "price", "own")


def test_registry_lists_and_creates_indicators():
    names = indicators.available()
    assert {"SMA", "EMA", "RSI"} <= set(names) and names == sorted(names)
    ema = indicators.create("ema", period=50)
    assert isinstance(ema, EMA) and ema.period == 50
    with pytest.raises(ValueError, match=r"unknown indicator 'MACDX'; available: \[.*'EMA'"):
        indicators.create("MACDX")


def test_compute_and_with_indicators_on_a_pandas_frame():
    frame = load("btcusdt_2025")
    rsi = indicators.compute("RSI", frame, period=7)
    assert list(rsi.columns) == ["rsi_7"] and rsi.index.equals(frame.index)
    out = indicators.with_indicators(frame, "EMA", RSI(period=7))
    assert list(out.columns) == [*frame.columns, "ema_20", "rsi_7"]
    pd.testing.assert_series_equal(out["rsi_7"], rsi["rsi_7"])
    assert "ema_20" not in frame.columns  # the input frame is left alone


@pytest.mark.parametrize("name", indicators.available())
def test_every_indicator_takes_nan_and_halt_candles_without_crashing_and_batch_equals_streaming(name):
    frame = load("ethusdt_2023_halt").iloc[HALT_START - 100:HALT_START + 200].copy()  # the flat zero-volume halt
    frame.iloc[:3, :] = np.nan      # leading NaN candles
    frame.iloc[150, 3] = np.nan     # a NaN close inside the history
    indicator = indicators.create(name)
    batch = indicator.batch(frame).to_numpy()
    np.testing.assert_array_equal(batch, stream(indicators.create(name), frame))
    assert batch.shape == (len(frame), len(indicator.outputs)) and not np.isinf(batch).any()
