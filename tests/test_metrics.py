"""The metrics strip, the confluence gauges and the live views' visibility.

``MarketMetrics`` is fed real Binance messages (recorded candles put in Binance's kline frame, the recorded
``@bookTicker``/``@trade``/``@aggTrade`` frames, the documented ``@ticker`` frame), all through
``parse_message``; its 24 h figures are checked against pandas over the same candles. The HTML of the strip
and of the gauges is read cell by cell; the views redraw only while their dashboard tab is shown.
"""

import asyncio
import dataclasses
import math
import re

import numpy as np
import orjson
import pandas as pd
import panel as pn
import param
import pytest

from recorded import SCREENER, WS, klines_of, ws_lines as lines
from thebot_panel.binance.events import AggTrade, BookTicker, Kline, Ticker24h, Trade, parse_message
from thebot_panel.hub import FeedHub
from thebot_panel.metrics import MarketMetrics
from thebot_panel.market.candles import CandleBook
from thebot_panel.signals.aggregator import Aggregator, Confluence
from thebot_panel.signals.rules import Signal
from thebot_panel.ui import LiveView
from thebot_panel.ui.chart import DOWN, UP
from thebot_panel.ui.confluence import ConfluenceGauges, gauge_html, gauge_title, signed_confidence
from thebot_panel.ui.dashboard import TABS, Dashboard
from thebot_panel.ui.metrics import COLUMNS, MetricsStrip, metrics_html, metrics_row

DAY = pd.Timedelta(hours=24)
MINUTE = pd.Timedelta(minutes=1)
NAN = float("nan")


def ms(timestamp: str) -> int:
    return pd.Timestamp(timestamp, tz="UTC").value // 10**6


# --- real Binance frames -------------------------------------------------------------------------------------

def kline_frame(kline: Kline, event_time: int = 0) -> bytes:
    """``kline`` as Binance's combined ``<symbol>@kline_<interval>`` frame (prices as decimal strings)."""
    return orjson.dumps({"stream": f"{kline.symbol.lower()}@kline_{kline.interval}", "data": {
        "e": "kline", "E": event_time, "s": kline.symbol, "k": {
            "t": kline.open_time, "T": kline.close_time, "s": kline.symbol, "i": kline.interval, "f": -1, "L": -1,
            "o": repr(kline.open), "c": repr(kline.close), "h": repr(kline.high), "l": repr(kline.low),
            "v": repr(kline.volume), "n": 0, "x": kline.closed, "q": "0", "V": "0", "Q": "0", "B": "0"}}})


def parsed(kline: Kline, event_time: int = 0) -> Kline:
    event = parse_message(kline_frame(kline, event_time))
    assert event == dataclasses.replace(kline, event_time=event_time, quote_volume=0.0, trades=0,
                                        taker_buy_volume=0.0, taker_buy_quote_volume=0.0)
    return event


def ticker(symbol: str, event_time: int = 123456789) -> Ticker24h:
    """Binance's documented ``@ticker`` payload (24 h change +250 %, volume 10,000), for ``symbol``."""
    data = orjson.loads((WS / "24hrTicker_event_doc_example.json").read_bytes())
    event = parse_message(orjson.dumps({**data, "s": symbol, "E": event_time}))
    assert type(event) is Ticker24h
    return event


def recorded_btcusdt_2024() -> list:
    """The parsed trade and spot bookTicker frames of the 2024-08-08 BTCUSDT recording (no depth)."""
    return [parse_message(raw) for raw in lines("btcusdt_2024-08-08_combined.jsonl")
            if orjson.loads(raw).get("stream", "").endswith(("@trade", "@bookTicker"))]


def book_of(klines) -> CandleBook:
    book = CandleBook(klines[0].symbol, klines[0].interval)
    book.load(klines)
    return book


def screener_frame(symbol: str) -> pd.DataFrame:
    """``symbol`` 1m, 2023-04-10 00:00 → 2023-04-11 23:59 (2,880 candles, no gap)."""
    return pd.read_csv(SCREENER / f"{symbol}-1m-2023-04-10_to_2023-04-12.csv.gz")


def expected_day(frame: pd.DataFrame, last_price: float | None = None) -> tuple[float, float, int]:
    """By hand: the 24 h before the end of the newest closed candle; base = the close just before that window
    (the first open when the candles cover less), end = ``last_price`` (the forming close) or the last close.
    Returns (change %, volume, candles in the window)."""
    candles = frame.assign(open_time=pd.to_datetime(frame["open_time"], unit="ms", utc=True)).set_index("open_time")
    start = candles.index[-1] + MINUTE - DAY
    window, before = candles[candles.index >= start], candles[candles.index < start]
    base = before["close"].iloc[-1] if len(before) else candles["open"].iloc[0]
    end = candles["close"].iloc[-1] if last_price is None else last_price
    return (end / base - 1) * 100, window["volume"].sum(), len(window)


# --- MarketMetrics -------------------------------------------------------------------------------------------

def test_24h_change_and_volume_come_from_the_last_24_hours_of_candles_across_a_halt(halt_recording):
    book = book_of(klines_of(halt_recording))
    m = MarketMetrics().snapshot("BTCUSDT", book, [])
    change, volume, candles = expected_day(halt_recording)
    assert candles == 1440 - 80  # the 24 h to 2023-03-24 23:59 hold the 80-minute halt: a time window, not 1,440
    assert m["source_24h"] == "candles"
    assert m["change_24h_pct"] == pytest.approx(change, rel=1e-12)
    assert m["volume_24h"] == pytest.approx(volume, rel=1e-12)
    base = halt_recording.set_index("open_time")["close"][ms("2023-03-23 23:59")]
    assert m["change_24h_pct"] == pytest.approx((halt_recording["close"].iloc[-1] / base - 1) * 100, rel=1e-12)
    by_count = (halt_recording["close"].iloc[-1] / halt_recording["close"].iloc[-1441] - 1) * 100
    assert m["change_24h_pct"] != pytest.approx(by_count, rel=1e-6)  # the last 1,440 candles reach further back
    # nothing received yet: the price is the last close, no tick, no quote, no age, no latency
    assert m["price"] == halt_recording["close"].iloc[-1] and m["direction"] == 0
    assert math.isnan(m["bid"]) and math.isnan(m["ask"]) and math.isnan(m["spread"])
    assert m["age_s"] is None and math.isnan(m["latency_ms"]) and m["signals_today"] == 0


def test_with_a_forming_candle_the_24h_window_ends_with_it_and_counts_its_volume_so_far():
    frame = screener_frame("ETHUSDT")
    klines = klines_of(frame, "ETHUSDT")
    close = klines[-1].close * 1.01  # a new high, 2023-04-11 23:59
    forming = dataclasses.replace(klines[-1], closed=False, close=close, high=max(klines[-1].high, close))
    book = book_of(klines[:-1] + [forming])
    assert book.forming == forming and len(book) == len(frame) - 1
    metrics = MarketMetrics()
    metrics.on_event(parsed(forming))
    m = metrics.snapshot("ETHUSDT", book, [])
    change, volume, candles = expected_day(frame, last_price=forming.close)  # the forming candle is the window's last
    assert candles == 1440 and m["source_24h"] == "candles" and m["price"] == forming.close
    assert m["change_24h_pct"] == pytest.approx(change, rel=1e-12)
    assert m["volume_24h"] == pytest.approx(volume, rel=1e-12)


def test_with_less_than_24h_of_candles_the_change_is_from_the_first_open():
    frame = screener_frame("SOLUSDT").iloc[:600]
    m = MarketMetrics().snapshot("SOLUSDT", book_of(klines_of(frame, "SOLUSDT")), [])
    assert m["change_24h_pct"] == pytest.approx((frame["close"].iloc[-1] / frame["open"].iloc[0] - 1) * 100, rel=1e-12)
    assert m["volume_24h"] == pytest.approx(frame["volume"].sum(), rel=1e-12)
    assert m["change_24h_pct"] == pytest.approx(expected_day(frame)[0], rel=1e-12)


def test_without_candles_or_events_everything_is_unknown():
    m = MarketMetrics().snapshot("BTCUSDT", CandleBook("BTCUSDT", "1m"), [])
    assert math.isnan(m["price"]) and math.isnan(m["change_24h_pct"]) and math.isnan(m["volume_24h"])
    assert m["source_24h"] == "candles" and m["direction"] == 0 and m["age_s"] is None


def test_a_24h_ticker_replaces_the_candle_figures_for_its_symbol_only(halt_recording):
    book = book_of(klines_of(halt_recording))
    eth = book_of(klines_of(screener_frame("ETHUSDT"), "ETHUSDT"))
    metrics = MarketMetrics()
    metrics.on_event(ticker("BTCUSDT"))
    m = metrics.snapshot("BTCUSDT", book, [])
    assert (m["source_24h"], m["change_24h_pct"], m["volume_24h"]) == ("@ticker", 250.0, 10_000.0)
    assert m["price"] == halt_recording["close"].iloc[-1]  # a ticker is no kline: the price stays the last close
    other = metrics.snapshot("ETHUSDT", eth, [])
    assert other["source_24h"] == "candles" and other["volume_24h"] != 10_000.0


def test_the_price_is_the_last_kline_close_and_the_direction_that_of_the_last_price_change():
    klines = klines_of(screener_frame("DOGEUSDT"), "DOGEUSDT")[:300]
    close = pd.Series([k.close for k in klines])
    moves = np.sign(close.diff())
    # tick test: an unchanged close keeps the last direction; 0 until the price has changed once
    expected = moves.where(moves != 0).ffill().fillna(0).astype(int)
    assert {-1, 0, 1} <= set(moves.dropna()) and expected.iloc[0] == 0  # the recording has flat ticks too
    metrics = MarketMetrics()
    book = CandleBook("DOGEUSDT", "1m")
    for i, kline in enumerate(klines):
        metrics.on_event(parsed(kline))
        book.apply(kline)
        m = metrics.snapshot("DOGEUSDT", book, [])
        assert (m["price"], m["direction"]) == (kline.close, expected[i]), i
    assert m["age_s"] is not None and 0 <= m["age_s"] < 5


def test_bid_ask_and_spread_come_from_the_book_ticker_and_other_event_kinds_are_ignored():
    events = recorded_btcusdt_2024()
    quotes = [e for e in events if type(e) is BookTicker]
    others = [e for e in events if type(e) is not BookTicker]
    assert len(quotes) == 5 and {type(e) for e in others} == {Trade}
    agg = parse_message((WS / "ethusdt_aggTrade_event_testnet.json").read_bytes())
    assert type(agg) is AggTrade
    metrics = MarketMetrics(clock=lambda: 1_723_161_255_342 + 250)
    book = CandleBook("BTCUSDT", "1m")
    for event in others:
        metrics.on_event(event)
    metrics.on_event(agg)
    for symbol in ("BTCUSDT", "ETHUSDT"):  # trades are not what the strip shows: nothing was seen
        m = metrics.snapshot(symbol, book, [])
        assert m["age_s"] is None and math.isnan(m["price"]) and math.isnan(m["latency_ms"]) and math.isnan(m["bid"])
    for quote in quotes:
        metrics.on_event(quote)
    m = metrics.snapshot("BTCUSDT", book, [])
    last = quotes[-1]
    assert (m["bid"], m["ask"]) == (last.bid_price, last.ask_price) == (61837.63, 61837.64)
    assert m["spread"] == pytest.approx(0.01, abs=1e-9)
    assert m["age_s"] is not None and math.isnan(m["price"])
    assert math.isnan(m["latency_ms"])  # spot bookTicker frames carry no event time


@pytest.mark.parametrize("speed, expected_ms", [(lambda: 1.0, 6_000.0), (lambda: 60.0, 100.0),
                                                (lambda: 600, 10.0), (lambda: None, NAN)],
                         ids=["live", "replay x60", "replay x600", "replay max"])
def test_latency_is_the_feed_clock_delay_in_wall_clock_ms(speed, expected_ms):
    event_time = ms("2023-04-10 00:00:30.5")  # during the kline below
    now = event_time + 6_000  # the feed clock is 6 s past the event
    kline = klines_of(pd.read_csv(SCREENER / "BTCUSDT-1m-2023-04-10_to_2023-04-12.csv.gz").iloc[:1])[0]
    metrics = MarketMetrics(clock=lambda: now, speed=speed)
    metrics.on_event(parsed(kline, event_time))
    latency = metrics.snapshot("BTCUSDT", CandleBook("BTCUSDT", "1m"), [])["latency_ms"]
    assert math.isnan(latency) if math.isnan(expected_ms) else latency == pytest.approx(expected_ms)


def test_latency_follows_the_newest_event_of_the_symbol_and_defaults_to_real_time_speed():
    now = ms("2024-01-01")
    metrics = MarketMetrics(clock=lambda: now)  # no speed: 1 feed ms per wall-clock ms
    kline = klines_of(screener_frame("BTCUSDT").iloc[:1])[0]
    metrics.on_event(parsed(kline, now - 1_500))
    assert metrics.snapshot("BTCUSDT", CandleBook("BTCUSDT", "1m"), [])["latency_ms"] == 1_500
    metrics.on_event(ticker("BTCUSDT", event_time=now - 40))
    metrics.on_event(recorded_btcusdt_2024()[-1])  # a spot bookTicker, no event time: the latency stays
    assert metrics.snapshot("BTCUSDT", CandleBook("BTCUSDT", "1m"), [])["latency_ms"] == 40
    assert math.isnan(metrics.snapshot("ETHUSDT", CandleBook("ETHUSDT", "1m"), [])["latency_ms"])


def test_signals_today_counts_this_symbols_signals_since_the_utc_midnight_of_the_last_candle(halt_recording):
    book = book_of(klines_of(halt_recording))  # last candle 2023-03-24 23:59

    def signal(symbol, when, side="BUY"):
        return Signal(ms(when), symbol, "1m", "RSI(14) 30/70", side, 27_000.0, 0.5)

    signals = [signal("BTCUSDT", "2023-03-23 12:00"), signal("BTCUSDT", "2023-03-23 23:59", "SELL"),
               signal("BTCUSDT", "2023-03-24 00:00"), signal("ETHUSDT", "2023-03-24 08:00"),
               signal("BTCUSDT", "2023-03-24 15:30", "SELL"), signal("BTCUSDT", "2023-03-24 23:59")]
    assert MarketMetrics().snapshot("BTCUSDT", book, signals)["signals_today"] == 3
    assert MarketMetrics().snapshot("ETHUSDT", book, signals)["signals_today"] == 1
    earlier = book_of(klines_of(halt_recording[halt_recording["open_time"] < ms("2023-03-24")]))  # ends 03-23 23:59
    assert MarketMetrics().snapshot("BTCUSDT", earlier, signals)["signals_today"] == 5


# --- the strip's HTML ----------------------------------------------------------------------------------------

def snapshot(**values) -> dict:
    return {"symbol": "BTCUSDT", "price": 27_123.45, "direction": 1, "change_24h_pct": -1.2345,
            "volume_24h": 45_678.123, "source_24h": "candles", "bid": 27_123.44, "ask": 27_123.45, "spread": 0.01,
            "signals_today": 4, "age_s": 0.25, "latency_ms": 12.0, **values}


def cells(row: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", row)


def test_a_row_shows_every_figure_with_its_css_hook():
    row = metrics_row(snapshot())
    assert row.startswith('<tr class="metrics-BTCUSDT">') and row.endswith("</tr>")
    symbol, price, change, volume, bid, ask, spread, signals, age = cells(row)
    assert symbol == "<b>BTCUSDT</b>"
    assert price == f'<span class="metric-price" style="color:{UP};font-weight:600">27,123.45 ▲</span>'
    assert change.startswith(f'<span class="metric-change" style="color:{DOWN}">-1.23 %</span>')
    assert change.endswith("(candles)</small>")
    assert volume == '<span class="metric-volume">45,678.12</span>'
    assert (bid, ask, spread) == ('<span class="metric-bid">27,123.44</span>', '<span class="metric-ask">27,123.45</span>',
                                  '<span class="metric-spread">0.01</span>')
    assert signals == '<span class="metric-signals">4</span>' and age == '<span class="metric-age">0.2 s ago</span>'


def test_the_symbol_is_escaped():
    row = metrics_row(snapshot(symbol='"><img src=x onerror=1>'))
    assert "<img" not in row and row.startswith('<tr class="metrics-&quot;&gt;&lt;img src=x onerror=1&gt;">')


@pytest.mark.parametrize("direction, color, arrow", [(1, UP, " ▲"), (-1, DOWN, " ▼"), (0, "inherit", " ")])
def test_the_price_is_coloured_and_marked_by_the_tick_direction(direction, color, arrow):
    price = cells(metrics_row(snapshot(direction=direction)))[1]
    assert price == f'<span class="metric-price" style="color:{color};font-weight:600">27,123.45{arrow}</span>'


def test_figures_from_the_ticker_are_unmarked_and_unknown_values_are_dashes():
    row = metrics_row(snapshot(symbol="ETHUSDT", direction=0, change_24h_pct=2.5, source_24h="@ticker",
                               bid=NAN, ask=NAN, spread=NAN, age_s=None, signals_today=0))
    assert row.startswith('<tr class="metrics-ETHUSDT">') and "(candles)" not in row
    _, _, change, _, bid, ask, spread, signals, age = cells(row)
    assert change == f'<span class="metric-change" style="color:{UP}">+2.50 %</span>'
    assert (bid, ask, spread) == ('<span class="metric-bid">—</span>', '<span class="metric-ask">—</span>',
                                  '<span class="metric-spread">—</span>')
    assert signals.endswith(">0</span>") and age == '<span class="metric-age">—</span>'
    unknown = cells(metrics_row(snapshot(price=NAN, change_24h_pct=NAN, volume_24h=NAN)))
    assert "—" in unknown[1] and 'style="color:inherit">— %' in unknown[2] and ">—<" in unknown[3]


def test_the_table_has_the_columns_and_a_row_per_snapshot_in_order(halt_recording):
    book = book_of(klines_of(halt_recording))
    metrics = MarketMetrics()
    metrics.on_event(ticker("ETHUSDT"))
    snapshots = [metrics.snapshot(s, book, []) for s in ("ETHUSDT", "BTCUSDT")]
    table = metrics_html(snapshots)
    assert re.findall(r"<th>(.*?)</th>", table) == list(COLUMNS)
    assert re.findall(r'<tr class="metrics-(\w+)">', table) == ["ETHUSDT", "BTCUSDT"]
    eth, btc = (row for row in re.findall(r'<tr class="metrics-\w+">.*?</tr>', table))
    assert "(candles)" in btc and "(candles)" not in eth and "+250.00 %" in eth
    assert metrics_html([]).count("<tr") == 1  # the header only


# --- the confluence gauges -----------------------------------------------------------------------------------

T = ms("2023-03-24 12:00")


def confluence(*sides_and_strengths) -> Confluence:
    """The real aggregator's confluence of signals on one candle, e.g. ``("SELL", 0.8)``."""
    signals = [Signal(T, "BTCUSDT", "1m", f"rule {i}", side, 27_000.0, strength)
               for i, (side, strength) in enumerate(sides_and_strengths)]
    return Aggregator(symbol="BTCUSDT", interval="1m").update(T, signals)


def bar(html: str) -> tuple[float, float]:
    """(left %, width %) of a gauge's bar."""
    left, width = re.search(r"left:([-\d.]+)%;width:([-\d.]+)%", html).groups()
    return float(left), float(width)


def test_a_sell_confluence_is_negative_with_a_red_bar_left_of_the_centre():
    sell = confluence(("SELL", 0.8))
    assert (sell.direction, sell.score, sell.confidence) == ("SELL", pytest.approx(-0.8), pytest.approx(0.8))
    assert signed_confidence(sell) == -80
    html = gauge_html("BTCUSDT 1m", sell)
    assert re.match(r'<div class="gauge gauge-BTCUSDT" data-value="-80"', html)
    assert bar(html) == (10.0, 40.0)  # from 10 % to the centre
    assert f"background:{DOWN}" in html and f'color:{DOWN}">-80</b>' in html
    assert "<small>SELL 80%</small>" in html and "<b style=\"width:120px\">BTCUSDT 1m</b>" in html


def test_a_buy_confluence_is_positive_with_a_green_bar_right_of_the_centre():
    buy = confluence(("BUY", 0.9), ("SELL", 0.3))  # (0.9 - 0.3) / 2
    assert buy.direction == "BUY" and signed_confidence(buy) == 30
    html = gauge_html("ETHUSDT 5m", buy)
    assert 'class="gauge gauge-ETHUSDT" data-value="30"' in html
    assert bar(html) == (50.0, 15.0) and f"background:{UP}" in html and f'color:{UP}">+30</b>' in html


def test_a_neutral_confluence_keeps_its_lean_in_a_grey_bar():
    lean = Confluence(T, "BTCUSDT", "1m", "NEUTRAL", confidence=0.1, score=0.1)   # below the threshold
    html = gauge_html("BTCUSDT 1m", lean)
    assert signed_confidence(lean) == 10 and bar(html) == (50.0, 5.0)
    assert "background:#9e9e9e" in html and f"background:{UP}" not in html and "<small>NEUTRAL 10%</small>" in html


def test_a_disagreeing_higher_trend_shrinks_the_value_but_keeps_its_side():
    contra = Confluence(T, "BTCUSDT", "1m", "SELL", confidence=0.36, score=-0.72, confirmed=False)
    assert signed_confidence(contra) == -36 and bar(gauge_html("BTCUSDT 1m", contra)) == (32.0, 18.0)
    assert gauge_title(contra) == "SELL 36% · higher trend disagrees"
    assert gauge_title(dataclasses.replace(contra, direction="BUY", score=0.72, confidence=0.72,
                                           confirmed=True)) == "BUY 72% · higher trend confirms"


def test_no_confluence_yet_is_a_grey_zero_waiting_for_a_closed_candle():
    assert signed_confidence(None) == 0
    html = gauge_html("BTCUSDT 1m", None)
    assert 'data-value="0"' in html and bar(html) == (50.0, 0.0) and "background:#9e9e9e" in html
    assert "<small>waiting for a closed candle</small>" in html and ">+0</b>" in html


# --- the views on a hub (not started) ------------------------------------------------------------------------

@pytest.fixture
def hub(tmp_path, halt_recording):
    """A hub of BTCUSDT (the 2023-03-23/24 recording loaded) and ETHUSDT (no candles), never started."""
    hub = FeedHub(source="replay", symbols=["BTCUSDT", "ETHUSDT"], db_path=str(tmp_path / "alerts.sqlite"))
    hub.open("BTCUSDT", "1m").load(klines_of(halt_recording))
    return hub


def test_the_strip_shows_each_hub_symbol_with_its_signals_today_and_the_latency_of_the_newest_update(hub, halt_recording):
    now = ms("2023-03-25 00:00:30")
    hub.metrics.clock, hub.metrics.speed = (lambda: now), (lambda: 60.0)
    forming = Kline("BTCUSDT", "1m", ms("2023-03-25"), ms("2023-03-25") + 59_999, 27_500.0, 27_600.0, 27_400.0,
                    27_450.0, 3.5, closed=False)
    hub.source_stream.emit(ticker("ETHUSDT", event_time=now - 6_000))  # older than BTC's klines
    hub.source_stream.emit(parsed(forming, now - 600))
    hub.source_stream.emit(parsed(dataclasses.replace(forming, close=27_440.0), now - 120))
    strip = MetricsStrip(hub)
    snapshots = strip.snapshots()
    assert [m["symbol"] for m in snapshots] == ["BTCUSDT", "ETHUSDT"]
    btc, eth = snapshots
    history = hub.open("BTCUSDT", "1m").branch.signals.history
    times = pd.Series([s.open_time for s in history])
    assert len(times) > 0 and btc["signals_today"] == (times >= ms("2023-03-24")).sum() > 0  # the last candle's day
    assert btc["price"] == 27_440.0 and btc["direction"] == -1 and btc["latency_ms"] == pytest.approx(2.0)
    with_forming = pd.concat([halt_recording, pd.DataFrame([{"open_time": forming.open_time, "open": 27_500.0,
                                                             "close": 27_440.0, "volume": 3.5}])])
    change, volume, _ = expected_day(with_forming)   # the window ends with the forming candle
    assert (btc["change_24h_pct"], btc["volume_24h"]) == (pytest.approx(change, rel=1e-12), pytest.approx(volume))
    assert math.isnan(eth["price"]) and eth["source_24h"] == "@ticker" and eth["latency_ms"] == pytest.approx(100.0)
    assert eth["age_s"] > btc["age_s"]
    rows = re.findall(r'<tr class="metrics-(\w+)">(.*?)</tr>', strip.table.object)
    assert [symbol for symbol, _ in rows] == ["BTCUSDT", "ETHUSDT"]
    assert f"color:{DOWN};font-weight:600\">27,440 ▼" in rows[0][1] and "(candles)" in rows[0][1]
    assert f'<span class="metric-signals">{btc["signals_today"]}</span>' in rows[0][1]
    assert "+250.00 %" in rows[1][1] and "(candles)" not in rows[1][1]
    assert strip.latency.feed_ms == pytest.approx(2.0) and strip.latency.sent_ms > now  # wall clock, 2025+
    assert 'class="metric-rate">0.0</span> msg/s' in strip.rate.object  # no socket yet


def test_the_gauges_show_each_markets_latest_confluence(hub):
    latest = hub.open("BTCUSDT", "1m").confluence.latest
    assert latest is not None and latest.open_time == ms("2023-03-24 23:59")
    gauges = ConfluenceGauges(hub).pane.object
    assert re.findall(r'class="gauge gauge-(\w+)" data-value="(-?\d+)"', gauges) == [
        ("BTCUSDT", str(signed_confidence(latest))), ("ETHUSDT", "0")]
    assert f"<small>{gauge_title(latest)}</small>" in gauges and "waiting for a closed candle" in gauges


# --- LiveView: redraw while visible --------------------------------------------------------------------------

class Counting(LiveView):
    refreshes = param.Integer(default=0)

    def refresh(self) -> None:
        self.refreshes += 1

    def __panel__(self):
        return self.live(pn.pane.HTML("counting"))


class Tabled(Counting):
    tables = ("table",)

    def __init__(self, **params):
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(pd.DataFrame({"x": [1.0]}))


def test_the_first_tick_after_showing_again_resends_the_tables_once():
    view = Tabled()
    sent = []
    view.table.param.watch(lambda event: sent.append(event.new), "value")
    view.tick()
    view.visible = False
    view.tick()
    assert sent == []                     # nothing resent while shown or hidden
    view.visible = True
    assert sent == []                     # the redraw on showing is the view's own
    view.tick()
    assert len(sent) == 1 and sent[0].equals(view.table.value)   # the value again, once
    view.tick()
    assert len(sent) == 1


def test_a_tick_redraws_only_while_visible_and_showing_again_redraws_at_once():
    view = Counting()
    assert view.refreshes == 0 and view.visible
    view.tick()
    view.tick()
    assert view.refreshes == 2
    view.visible = False
    view.tick()
    view.tick()
    assert view.refreshes == 2  # hidden: no redraw, not even on hiding
    view.visible = True
    assert view.refreshes == 3  # shown again: redrawn at once, without waiting for a tick
    view.visible = True
    assert view.refreshes == 3
    view.tick()
    assert view.refreshes == 4


async def test_in_a_notebook_the_periodic_redraw_starts_when_shown_and_stops_on_detach():
    view = Counting(period_ms=50)
    assert view._callback is None
    layout = view.__panel__()
    try:
        assert view._callback is not None and layout.object == "counting"
        await asyncio.sleep(0.5)
        assert view.refreshes >= 3
        view.visible = False
        hidden = view.refreshes
        await asyncio.sleep(0.3)
        assert view.refreshes == hidden
    finally:
        view.detach()
    assert view._callback is None
    view.visible = True
    stopped = view.refreshes
    await asyncio.sleep(0.3)
    assert view.refreshes == stopped  # shown but detached: no more ticks
    view.detach()  # twice is harmless
    assert view._callback is None


# --- the dashboard: only the shown tab's views redraw --------------------------------------------------------

def visibility(dashboard: Dashboard) -> dict[str, bool]:
    live = {title: view for title, view in dashboard.extra.items() if isinstance(view, LiveView)}  # not Research
    return {"chart": dashboard.chart.visible, "metrics": dashboard.metrics.visible, "gauges": dashboard.gauges.visible,
            "alerts": dashboard.alerts.visible, **{title: view.visible for title, view in live.items()}}


def test_switching_tabs_shows_only_the_views_of_the_active_tab(hub):
    dashboard = Dashboard(hub)
    tabs = dashboard.tabs()
    assert tabs._names == list(TABS)  # the tab titles
    assert tabs.active == 0
    assert visibility(dashboard) == {"chart": True, "metrics": True, "gauges": True, "alerts": False,
                                     "Compare": False, "Screener": False, "Portfolio": False, "News": False}
    for title in TABS:
        tabs.active = TABS.index(title)
        shown = {name for name, visible in visibility(dashboard).items() if visible}
        # the chart draws its figures on the Chart tab and its signal table on Signals & Alerts
        assert shown == ({"chart", "metrics", "gauges"} if title == "Chart" else {"chart", "alerts"}
                         if title == "Signals & Alerts" else {title} & set(visibility(dashboard))), title


def test_a_hidden_strip_is_not_redrawn_and_is_redrawn_as_soon_as_its_tab_is_shown(hub):
    dashboard = Dashboard(hub)
    tabs = dashboard.tabs()
    tabs.active = TABS.index("Screener")
    before = dashboard.metrics.table.object
    assert "27,555" not in before
    tick = Kline("BTCUSDT", "1m", ms("2023-03-25"), ms("2023-03-25") + 59_999, 27_500.0, 27_600.0, 27_400.0,
                 27_555.0, 1.0, closed=False)
    hub.source_stream.emit(parsed(tick))
    dashboard.metrics.tick()
    assert dashboard.metrics.table.object == before  # hidden: the periodic tick does not redraw
    tabs.active = TABS.index("Chart")
    assert "27,555" in dashboard.metrics.table.object  # shown: redrawn at once
