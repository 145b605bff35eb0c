"""The candle book and the exchange's interval aggregation, on real recordings."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from thebot_panel.binance.events import Kline
from thebot_panel.market.candles import CandleBook, Columns, aggregate
from recorded import klines_of

HALT_FLAT = (pd.Timestamp("2023-03-24 11:28", tz="UTC"), pd.Timestamp("2023-03-24 12:39", tz="UTC"))
HALT_MISSING = (pd.Timestamp("2023-03-24 12:40", tz="UTC"), pd.Timestamp("2023-03-24 13:59", tz="UTC"))


def pandas_resample(frame: pd.DataFrame, rule: str) -> pd.DataFrame:
    indexed = frame.set_index(pd.to_datetime(frame.open_time, unit="ms", utc=True))
    out = indexed.resample(rule, label="left", closed="left").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"})
    return out[indexed.resample(rule, label="left", closed="left").size() > 0]


@pytest.mark.parametrize("interval, rule", [("5m", "5min"), ("15m", "15min"), ("1h", "1h"), ("4h", "4h")])
def test_aggregation_equals_pandas_resample_of_the_recording(halt_recording, interval, rule):
    t, columns = aggregate(halt_recording.open_time.to_numpy(), halt_recording, interval)
    expected = pandas_resample(halt_recording, rule)
    assert list(pd.to_datetime(t, unit="ms", utc=True)) == list(expected.index)
    for name in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(columns[name], expected[name].to_numpy())
    np.testing.assert_allclose(columns["volume"], expected["volume"].to_numpy(), rtol=1e-12)


def test_halt_is_kept_as_recorded_without_inventing_candles(halt_recording):
    book = CandleBook("BTCUSDT", "1m")
    for kline in klines_of(halt_recording):
        book.apply(kline)
    frame = book.frame()
    assert len(frame) == len(halt_recording) == 2800
    flat = frame.loc[HALT_FLAT[0]:HALT_FLAT[1]]
    assert len(flat) == 72 and (flat.volume == 0).all() and (flat.high == flat.low).all()
    assert frame.loc[HALT_MISSING[0]:HALT_MISSING[1]].empty
    start = int(HALT_MISSING[0].value // 10**6)
    assert book.gaps() == [(start, start + 80 * 60_000)]
    t, _ = aggregate(book.candles.open_time, frame, "1h")
    hours = set(pd.to_datetime(t, unit="ms", utc=True))
    assert pd.Timestamp("2023-03-24 13:00", tz="UTC") not in hours  # no 1m candle in it → no 1h candle
    assert pd.Timestamp("2023-03-24 12:00", tz="UTC") in hours and pd.Timestamp("2023-03-24 14:00", tz="UTC") in hours


def kline(open_time, close, closed, volume=1.0):
    return Kline("BTCUSDT", "1m", open_time, open_time + 59_999, 100.0, max(100.0, close), min(100.0, close), close,
                 volume, closed)


def test_forming_candle_is_replaced_and_closed_candle_appended_once():
    book = CandleBook("BTCUSDT", "1m")
    assert book.apply(kline(0, 101, False)).kind == "forming"
    assert book.apply(kline(0, 102, False)).kind == "forming"
    assert book.forming.close == 102 and len(book) == 0
    update = book.apply(kline(0, 103, True))
    assert update.kind == "closed" and len(book) == 1 and book.forming is None
    assert book.apply(kline(0, 103, True)) is None          # duplicate closed kline
    assert book.apply(kline(0, 99, False)) is None          # late forming update of a closed candle
    assert book.duplicates == 2
    assert list(book.frame().close) == [103]
    book.apply(kline(60_000, 104, False))
    assert list(book.frame(include_forming=True).close) == [103, 104]


def test_load_merges_history_before_live_candles_without_duplicates(halt_recording):
    klines = klines_of(halt_recording.head(100))
    book = CandleBook("BTCUSDT", "1m")
    for k in klines[90:]:   # the stream delivered the newest candles first
        book.apply(k)
    added = book.load(klines[:95])   # REST history overlaps the live ones
    assert added == 90
    np.testing.assert_array_equal(book.candles.open_time, halt_recording.open_time.head(100).to_numpy())
    assert book.duplicates == 5


def test_invalid_interval_is_refused():
    with pytest.raises(ValueError, match="valid intervals"):
        CandleBook("BTCUSDT", "7m")


def test_columns_keep_the_newest_max_rows():
    columns = Columns(["close"], max_rows=4096)
    for t in range(10_000):
        columns.append(t, (float(t),))
        assert len(columns) == min(t + 1, 4096)
    assert list(columns.open_time[[0, -1]]) == [10_000 - 4096, 9_999]
    assert np.array_equal(columns.column("close"), np.arange(10_000 - 4096, 10_000, dtype=float))


def test_columns_fed_the_same_rows_hold_the_same_rows_whenever_they_are_read():
    """The book and each indicator's history are read at different moments; past max_rows they must still align."""
    often, seldom = Columns(["x"], max_rows=300), Columns(["y", "z"], max_rows=300)
    for t in range(5_000):
        often.append(t, (float(t),))
        seldom.append(t, (float(t), -float(t)))
        len(often)  # a read writes the queue: often writes every row, seldom every WRITE_EVERY rows
        if t % 977 == 0:
            assert np.array_equal(often.open_time, seldom.open_time) and len(often) == min(t + 1, 300)
    assert np.array_equal(often.open_time, seldom.open_time) and np.array_equal(seldom.column("z"), -often.column("x"))


def test_columns_from_more_arrays_than_max_rows_keep_the_newest():
    columns = Columns.from_arrays(["close"], np.arange(1_000), np.arange(1_000.0), max_rows=200)
    assert list(columns.open_time[[0, -1]]) == [800, 999] and columns.last_open_time == 999
    columns.append(1_000, (1_000.0,))
    assert len(columns) == 200 and columns.column("close")[-1] == 1_000.0


def test_closed_candle_older_than_the_forming_one_is_still_appended():
    """REST backfill and the stream can interleave: the x:true of T may arrive after T+1 started forming."""
    book = CandleBook("BTCUSDT", "1m")
    book.apply(kline(0, 101, True))
    book.apply(kline(120_000, 105, False))          # T+1 forming (from a REST page)
    update = book.apply(kline(60_000, 103, True))   # x:true of T from the stream
    assert update.kind == "closed" and list(book.frame().close) == [101, 103]
    assert book.forming.open_time == 120_000 and book.gaps() == [] and book.duplicates == 0
    assert book.apply(kline(60_000, 104, False)) is None   # a late forming update of T is stale


def test_holes_are_reported_when_a_kline_reveals_them_and_a_backfill_merges_into_them(halt_recording):
    klines = klines_of(halt_recording.head(30))
    book, woken = CandleBook("BTCUSDT", "1m"), []
    book.on_gap = lambda: woken.append(len(book))
    for k in klines[:10] + klines[15:20]:           # candles 10..14 lost in a disconnect
        book.apply(k)
    assert woken == [11] and book.gaps() == [(klines[10].open_time, klines[15].open_time)]
    book.apply(dataclasses.replace(klines[25], closed=False))  # forming beyond the next one: 20..24 missed
    book.apply(dataclasses.replace(klines[25], closed=False))  # the same forming candle again: no new wake-up
    assert woken == [11, 15] and book.gaps()[-1] == (klines[20].open_time, klines[25].open_time)
    assert book.load(klines[8:25]) == 10 and book.duplicates == 7   # the middle hole and the tail
    assert book.gaps() == [] and book.forming.open_time == klines[25].open_time
    np.testing.assert_array_equal(book.candles.open_time, halt_recording.open_time.head(25).to_numpy())
    np.testing.assert_array_equal(book.candles.column("close"), halt_recording.close.head(25).to_numpy())
