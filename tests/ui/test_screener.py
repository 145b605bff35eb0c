"""The screener on a real hub over the replay of 13 USDT pairs (2023-04-10 → 2023-04-12): one row per market,
each value equal to an independent batch computation over the market's book, patched live."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from hubs import running_hub, wait_for_candles
from recorded import SCREENER as FIXTURES, SCREENER_SYMBOLS as SYMBOLS, klines_of
from thebot_panel import indicators
from thebot_panel.hub import FeedHub
from thebot_panel.ui.screener import COLUMNS, Screener, trend_state


@pytest.fixture
async def live_hub(tmp_path):
    async with running_hub(tmp_path) as hub:
        yield hub


def expected_row(graph) -> dict:
    """A row computed independently of the screener: batch indicators over the book's closed candles."""
    frame = graph.book.frame()
    forming = graph.book.forming
    close = frame["close"]
    price = forming.close if forming is not None else close.iloc[-1]
    fast = indicators.compute("EMA", frame, period=9)["ema_9"].iloc[-1]
    slow = indicators.compute("EMA", frame, period=21)["ema_21"].iloc[-1]
    trend = ("up" if fast > slow and close.iloc[-1] > slow else
             "down" if fast < slow and close.iloc[-1] < slow else "mixed")
    return {"price": price,
            "rsi": indicators.compute("RSI", frame)["rsi_14"].iloc[-1], "trend": trend}


def assert_rows_match_the_books(hub, frame: pd.DataFrame) -> None:
    for symbol in SYMBOLS:
        graph = hub.open(symbol, "1m")
        row, expected = frame.loc[symbol], expected_row(graph)
        assert row["price"] == expected["price"], symbol
        change, _, source = hub.metrics.day(symbol, graph.book)   # the metrics strip's: the replay's @ticker
        assert source == "@ticker" and row["change_pct"] == change, symbol
        assert row["rsi"] == pytest.approx(expected["rsi"], rel=1e-9), symbol
        assert row["trend"] == expected["trend"], symbol
        last = graph.branch.signals.history[-1] if graph.branch.signals.history else None
        assert row["signal"] == ("" if last is None else f"{last.side} · {last.rule}"), symbol
        assert row["signal_at"] == (pd.NaT if last is None else pd.Timestamp(last.open_time, unit="ms", tz="UTC"))
        latest = graph.confluence.latest
        assert row["confluence"] == latest.direction, symbol
        assert row["confidence_pct"] == pytest.approx(latest.confidence * 100, rel=1e-12), symbol


async def test_screener_has_one_row_per_pair_equal_to_batch_computations_over_its_book(live_hub):
    frame = Screener(live_hub).frame()
    assert list(frame.index) == SYMBOLS and frame.index.name == "symbol"
    assert {c: str(t) for c, t in frame.dtypes.items()} == {c: str(np.dtype(t)) if t != "datetime64[ns, UTC]" else t
                                                          for c, t in COLUMNS.items()}
    assert_rows_match_the_books(live_hub, frame)
    # not vacuous: real prices, trends both ways, signals and confluence everywhere
    assert frame["price"].gt(0).all() and frame["rsi"].between(0, 100).all()
    assert set(frame["trend"]) <= {"up", "down", "mixed"} and frame["signal"].str.len().gt(0).sum() >= 10
    assert set(frame["confluence"]) <= {"BUY", "SELL", "NEUTRAL"}
    assert frame.loc["BTCUSDT", "price"] > 25_000 and frame.loc["DOGEUSDT", "price"] < 1


async def test_screener_table_follows_the_books_as_candles_arrive(live_hub):
    screener = Screener(live_hub)
    shown = screener.table.value
    before = screener.frame()
    pd.testing.assert_frame_equal(shown, before)
    await wait_for_candles(live_hub, 5)
    screener.refresh()
    after = screener.frame()
    pd.testing.assert_frame_equal(screener.table.value, after)
    assert after["price"].ne(before["price"]).sum() >= 7 and after["rsi"].ne(before["rsi"]).sum() >= 7
    assert_rows_match_the_books(live_hub, after)


def test_change_is_over_24h_of_candles_when_the_book_holds_more(tmp_path):
    hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], db_path=str(tmp_path / "alerts.sqlite"))
    for symbol in hub.symbols:
        klines = klines_of(pd.read_csv(FIXTURES / f"{symbol}-1m-2023-04-10_to_2023-04-12.csv.gz"), symbol)
        hub.open(symbol, "1m").load(klines[:-1])
        hub.source_stream.emit(dataclasses.replace(klines[-1], closed=False))  # 2023-04-11 23:59, forming
    screener = Screener(hub)
    frame = screener.frame()
    for symbol in hub.symbols:
        book = hub.open(symbol, "1m").book
        close = book.frame()["close"]
        reference = close.loc[pd.Timestamp("2023-04-10 23:59", tz="UTC")]
        assert reference != close.iloc[0]
        assert frame.loc[symbol, "change_pct"] == pytest.approx((book.forming.close / reference - 1) * 100, rel=1e-12)
        assert frame.loc[symbol, "rsi"] == pytest.approx(indicators.compute("RSI", book.frame())["rsi_14"].iloc[-1],
                                                         rel=1e-9)


def test_committed_columns_follow_a_gap_filled_before_the_last_candle(tmp_path):
    hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], db_path=str(tmp_path / "alerts.sqlite"))
    klines = {}
    for symbol in hub.symbols:
        klines[symbol] = klines_of(pd.read_csv(FIXTURES / f"{symbol}-1m-2023-04-10_to_2023-04-12.csv.gz"), symbol)
        hub.open(symbol, "1m").load(klines[symbol][:-40] + klines[symbol][-20:])  # 20 minutes missing
    screener = Screener(hub)
    gapped = screener.frame()
    for symbol in hub.symbols:
        hub.open(symbol, "1m").load(klines[symbol][-40:-20])  # the backfill: the last closed candle stays
    filled = screener.frame()
    for symbol in hub.symbols:
        graph = hub.open(symbol, "1m")
        expected = expected_row(graph)
        assert filled.loc[symbol, "rsi"] == pytest.approx(expected["rsi"], rel=1e-9), symbol
        assert filled.loc[symbol, "rsi"] != gapped.loc[symbol, "rsi"], symbol  # the fill changed it
        assert filled.loc[symbol, "trend"] == expected["trend"], symbol
        assert filled.loc[symbol, "confluence"] == graph.confluence.latest.direction, symbol


def test_trend_state_follows_ema9_ema21_and_the_close_on_every_candle():
    for path in sorted(FIXTURES.glob("*.csv.gz")):
        frame = pd.read_csv(path)
        close = frame["close"]
        fast = indicators.compute("EMA", frame, period=9)["ema_9"].to_numpy()
        slow = indicators.compute("EMA", frame, period=21)["ema_21"].to_numpy()
        expected = np.select([np.isnan(slow), (fast > slow) & (close > slow), (fast < slow) & (close < slow)],
                             ["", "up", "down"], "mixed")
        states = [trend_state(c, f, s) for c, f, s in zip(close, fast, slow)]
        assert states == expected.tolist(), path.name
        assert {"", "up", "down", "mixed"} == set(states)
