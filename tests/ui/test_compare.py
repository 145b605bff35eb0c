"""The comparison view on a real hub over the replay of 13 USDT pairs: closes normalised to % change from a
common start, and a table of indicators side by side, both equal to computations over the books."""

from unittest import mock

import numpy as np
import pandas as pd
import pytest
from recorded import SCREENER as FIXTURES, SCREENER_SYMBOLS as SYMBOLS, klines_of
from bokeh.models import ColumnDataSource

from hubs import running_hub, wait_for_candles
from thebot_panel.hub import FeedHub
from thebot_panel import indicators
from thebot_panel.ui.compare import DEFAULT_INDICATORS, STARTS, Compare

HOURS = {"history": None, "24h": 24, "4h": 4, "1h": 1}


@pytest.fixture
async def live_hub(tmp_path):
    async with running_hub(tmp_path) as hub:
        yield hub


def expected_normalised(hub, symbols, start: str) -> dict[str, pd.Series]:
    """(close / close_at_start - 1) * 100 per symbol from its book (forming candle included), start = the
    chosen hours before the newest candle of the symbols, or each book's first candle."""
    frames = {s: hub.open(s, "1m").book.frame(include_forming=True) for s in symbols}
    newest = max(f.index[-1] for f in frames.values())
    expected = {}
    for symbol, frame in frames.items():
        close = frame["close"]
        if HOURS[start] is not None:
            close = close[close.index >= newest - pd.Timedelta(hours=HOURS[start])]
        expected[symbol] = (close / close.iloc[0] - 1) * 100
    return expected


def assert_normalised_matches_the_books(compare, hub) -> None:
    frame = compare.normalised()
    assert list(frame.columns) == compare.symbols and frame.index.name == "open_time"
    assert frame.index.is_monotonic_increasing and str(frame.index.tz) == "UTC"
    expected = expected_normalised(hub, compare.symbols, compare.start)
    assert frame.index.equals(pd.concat(expected, axis=1).sort_index().index)
    for symbol, series in expected.items():
        pd.testing.assert_series_equal(frame[symbol].dropna(), series, check_names=False, check_index_type=False,
                                       check_freq=False, rtol=1e-12)
        assert series.iloc[0] == 0


async def test_normalised_closes_equal_percent_change_from_each_start(live_hub):
    compare = Compare(live_hub)
    assert compare.symbols == SYMBOLS and list(STARTS.values()) == list(HOURS)
    lengths = {}
    for start in HOURS:
        compare.start = start
        assert_normalised_matches_the_books(compare, live_hub)
        lengths[start] = len(compare.normalised())
    # ~300 candles loaded: 24 h reaches back to the start of the history, 4 h and 1 h cut it
    assert lengths["history"] == lengths["24h"] > lengths["4h"] == 4 * 60 + 1 > lengths["1h"] == 61
    compare.symbols = ["BTCUSDT", "ETHUSDT"]
    assert list(compare.source.data) == ["open_time", "BTCUSDT", "ETHUSDT"]
    assert_normalised_matches_the_books(compare, live_hub)


def assert_source_shows(compare) -> None:
    """The chart's source holds ``normalised()``: open times (naive UTC) and one column per symbol."""
    shown = compare.normalised()
    np.testing.assert_array_equal(compare.source.data["open_time"], shown.index.tz_localize(None).to_numpy())
    for symbol in compare.symbols:
        np.testing.assert_allclose(compare.source.data[symbol], shown[symbol].to_numpy(), rtol=0, equal_nan=True)


async def test_chart_source_streams_new_candles_and_follows_the_chosen_start(live_hub):
    compare = Compare(live_hub)  # from the start of the loaded history: only the tail changes
    rows = len(compare.source.data["open_time"])
    with mock.patch.object(ColumnDataSource, "stream", autospec=True, side_effect=ColumnDataSource.stream) as stream:
        for _ in range(3):
            await wait_for_candles(live_hub, 1)
            compare.refresh()
            assert_normalised_matches_the_books(compare, live_hub)
            assert_source_shows(compare)
    assert stream.call_count >= 1 and len(compare.source.data["open_time"]) >= rows + 3
    compare.start = "1h"  # a rolling hour: re-based on every candle
    for _ in range(2):
        assert_source_shows(compare)
        assert len(compare.source.data["open_time"]) == 61
        await wait_for_candles(live_hub, 1)
        compare.refresh()


def expected_table(hub, names, symbols) -> pd.DataFrame:
    rows = {s: pd.concat([indicators.compute(n, hub.open(s, "1m").book.frame()).iloc[-1] for n in names])
            for s in symbols}
    return pd.DataFrame.from_dict(rows, orient="index")


async def test_indicator_table_equals_batch_computations_per_symbol_and_follows_new_candles(live_hub):
    compare = Compare(live_hub)
    assert compare.indicators == DEFAULT_INDICATORS
    table = compare.table()
    assert list(table.index) == SYMBOLS and table.index.name == "symbol" and (table.dtypes == "float64").all()
    assert list(table.columns) == ["rsi_14", "macd_12_26_9", "signal_12_26_9", "hist_12_26_9", "natr_14", "adx_14"]
    pd.testing.assert_frame_equal(table, expected_table(live_hub, DEFAULT_INDICATORS, SYMBOLS), check_names=False,
                                  rtol=1e-12)
    assert table.notna().all().all() and table["rsi_14"].between(0, 100).all()
    pd.testing.assert_frame_equal(compare.values.value, table)
    await wait_for_candles(live_hub, 2)
    compare.refresh()
    later = compare.table()
    assert later["rsi_14"].ne(table["rsi_14"]).sum() >= 10  # recomputed on the new candles
    pd.testing.assert_frame_equal(later, expected_table(live_hub, DEFAULT_INDICATORS, SYMBOLS), check_names=False,
                                  rtol=1e-12)
    pd.testing.assert_frame_equal(compare.values.value, later)
    compare.param.update(indicators=["ATR", "STOCH"], symbols=["SOLUSDT", "LINKUSDT"])
    assert list(compare.values.value.columns) == ["atr_14", "slowk_14_3_3", "slowd_14_3_3"]
    pd.testing.assert_frame_equal(compare.values.value,
                                  expected_table(live_hub, ["ATR", "STOCH"], ["SOLUSDT", "LINKUSDT"]),
                                  check_names=False, rtol=1e-12)
    # the table is one branch per compared market, on the market's shared indicator node; none is left behind
    sol, ada = live_hub.get("SOLUSDT", live_hub.interval), live_hub.get("ADAUSDT", live_hub.interval)
    assert len(sol.branches) == 2 and ada.branches == [ada.branch]
    assert {spec[0].__name__ for spec in sol.indicators.computations} >= {"ATR", "STOCH"}
    compare.close()
    assert sol.branches == [sol.branch] and len(sol.indicators.computations) == 5


def test_start_is_counted_back_from_the_newest_candle_of_the_selected_symbols(tmp_path):
    hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], db_path=str(tmp_path / "alerts.sqlite"))
    for symbol, behind in (("BTCUSDT", 0), ("ETHUSDT", 30)):  # ETH's book ends 30 minutes earlier
        klines = klines_of(pd.read_csv(FIXTURES / f"{symbol}-1m-2023-04-10_to_2023-04-12.csv.gz"), symbol)
        hub.open(symbol, "1m").load(klines[:len(klines) - behind])
    compare = Compare(hub, start="1h")
    assert compare.start_ms() == int(pd.Timestamp("2023-04-11 22:59", tz="UTC").value // 10**6)
    frame = compare.normalised()
    assert frame.index[0] == pd.Timestamp("2023-04-11 22:59", tz="UTC") and len(frame) == 61
    assert frame["ETHUSDT"].notna().sum() == 31 and frame["ETHUSDT"].iloc[-30:].isna().all()
    assert_normalised_matches_the_books(compare, hub)
    compare.symbols = ["ETHUSDT"]
    assert compare.normalised().index[0] == pd.Timestamp("2023-04-11 22:29", tz="UTC")
