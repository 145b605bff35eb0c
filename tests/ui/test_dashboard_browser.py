"""The full dashboard in headless Chromium, on the app's own replay of the 13 USDT pairs of the 2023-04 recording:
every tab, hover values, a paper trade's P&L, the screener against batch indicators, the symbol picker and the
replay's speed and pause."""

import functools
import http.server
import re
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from browser import candles, chromium, open_page, our_tracebacks, panel_serve, require_chromium, wait_until
from recorded import FIXTURES
from thebot_panel.indicators import RSI
from thebot_panel.market.candles import OHLCV, candle_frame
from thebot_panel.replay import Recording

pytestmark = pytest.mark.browser

RECORDING = Recording.from_paths(FIXTURES / "screener")
SYMBOLS = sorted(RECORDING.symbols)
START = "2023-04-11T00:00"


@pytest.fixture(scope="module")
def news_url():
    """The RSS sample served on 127.0.0.1 (the News tab reads it)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES / "news"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/wire.rss.xml"
    server.shutdown()


class ReplayClock:
    """The served app's own replay clock, read over its REST API (``/api/v3/time``) on 127.0.0.1."""

    def __init__(self, log: Path):
        self.log = log

    def now_ms(self) -> int:
        rest_url = re.search(r"source: replay: ws://(127\.0\.0\.1:\d+)", self.log.read_text()).group(1)
        return httpx.get(f"http://{rest_url}/api/v3/time").json()["serverTime"]


@pytest.fixture(scope="module")
def served(news_url, tmp_path_factory):
    require_chromium()
    args = ["--source", "replay", "--replay-data", str(FIXTURES / "screener"), "--replay-start", START,
            "--speed", "60", "--symbols", ",".join(SYMBOLS), "--warmup", "300", "--news", news_url,
            "--broadcast-port", "-1", "--db", str(tmp_path_factory.mktemp("dashboard") / "alerts.sqlite")]
    with panel_serve(args) as (url, log), chromium() as browser:
        yield ReplayClock(log), url, log, browser
    assert our_tracebacks(log.read_text()) == []


@pytest.fixture
def tab(served):
    replay, url, log, browser = served
    page, errors = open_page(browser, url)
    wait_until(page, lambda c: c["length"] > 100, timeout=60, what="ADAUSDT candles")
    yield page, errors, replay
    page.close()


def show(page, title: str) -> None:
    page.get_by_text(title, exact=True).first.click()


def test_every_tab_renders_without_console_errors(tab):
    page, errors, _ = tab
    first = candles(page)
    show(page, "Compare")
    page.wait_for_function("() => (Bokeh.documents[0].get_model_by_name('compare')?.get_length() ?? 0) > 10")
    show(page, "Screener")
    page.locator(".screener-table .tabulator-row", has_text="DOGEUSDT").first.wait_for()
    show(page, "Signals & Alerts")
    page.locator(".active-alert, .no-active-alerts").first.wait_for()
    show(page, "Portfolio")
    page.locator(".paper-buy button").wait_for()
    show(page, "News")
    page.locator(".news-item").first.wait_for(timeout=20_000)
    assert "Bitcoin" in page.locator(".news-item").first.inner_text() or page.locator(".news-item").count() >= 2
    show(page, "Chart")
    grown = wait_until(page, lambda c: c["open_time"][-1] > first["open_time"][-1] and c["panes"], what="new candles")
    assert grown["panes"] == ["pane_macd", "pane_rsi"]
    assert errors == []


def test_hover_shows_the_candle_and_every_indicator_value(tab):
    page, errors, _ = tab
    box = page.locator(".bk-Canvas").first.bounding_box()   # the price figure
    tooltip = page.locator(".bk-tooltip-content").first
    for x in np.linspace(0.3, 0.95, 60):                   # across the candles until the hover shows one
        page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * 0.5)
        page.wait_for_timeout(50)
        if tooltip.count():
            break
    tooltip.wait_for(timeout=5_000)
    text = tooltip.inner_text()
    for field in ("open", "high", "low", "close", "volume", "ema_fast", "ema_slow", "bbands.upperband", "rsi",
                  "macd.hist"):
        assert field in text, f"{field} missing from the hover: {text}"
    assert errors == []


def cells_of(table, key: str) -> dict[str, str]:
    """Header title (lower case) -> text of the row of ``table`` (a Tabulator locator) that holds ``key``."""
    header = [h.strip().lower() for h in table.locator(".tabulator-col-title").all_inner_texts()]
    for row in table.locator(".tabulator-row").all():
        cells = row.locator(".tabulator-cell").all_inner_texts()
        if key in cells:
            return dict(zip(header, cells))
    raise AssertionError(f"no row with {key!r}")


def number(text: str) -> float:
    return float(text.replace(",", "").replace("$", ""))


def test_a_paper_buy_shows_the_unrealised_pnl_of_the_moving_price(tab):
    page, errors, _ = tab
    show(page, "Portfolio")
    page.locator(".paper-buy button").wait_for(timeout=20_000)
    page.locator(".paper-symbol select").select_option("BTCUSDT")
    page.locator(".paper-quantity input").fill("0.01")
    page.locator(".paper-quantity input").press("Enter")
    page.locator(".paper-buy button").click()
    page.locator(".paper-message-text", has_text="Bought 0.01 BTCUSDT").wait_for(timeout=10_000)
    positions = page.locator(".paper-positions")
    positions.locator(".tabulator-row", has_text="BTCUSDT").first.wait_for(timeout=10_000)
    first = cells_of(positions, "BTCUSDT")
    for _ in range(120):   # the replay moves the price; the page follows
        row = cells_of(positions, "BTCUSDT")
        unrealised = float(page.locator(".paper-unrealised-pnl").get_attribute("data-value"))
        if row["last price"] != first["last price"]:
            break
        page.wait_for_timeout(250)
    assert row["last price"] != first["last price"], "the price never moved"
    quantity, average, last = (number(row[k]) for k in ("quantity", "average price", "last price"))
    assert quantity >= 0.01
    # the average is shown to the cent: (last - average) × quantity, to half a cent of the average × quantity
    assert abs(unrealised - (last - average) * quantity) <= 0.005 * quantity + 0.01 * quantity
    assert abs(number(row["unrealised p&l"]) - unrealised) <= 0.005 + 0.01 * quantity
    assert errors == []


def test_screener_rows_equal_rsi_computed_in_batch_over_the_same_candles(tab):
    page, errors, replay = tab
    show(page, "Screener")
    table = page.locator(".screener-table")
    table.locator(".tabulator-row", has_text="XRPUSDT").first.wait_for()
    page.wait_for_timeout(1500)  # the rows drawn with the tab may predate the refresh that showing it starts
    before = replay.now_ms()
    header = [h.strip().lower() for h in table.locator(".tabulator-col-title").all_inner_texts()]
    rows = [row.locator(".tabulator-cell").all_inner_texts() for row in table.locator(".tabulator-row").all()]
    after = replay.now_ms()
    symbol_column, rsi_column = header.index("symbol"), next(i for i, h in enumerate(header) if h.startswith("rsi"))
    shown = {cells[symbol_column]: float(cells[rsi_column]) for cells in rows}
    assert sorted(shown) == SYMBOLS
    # the last closed candle when the rows were read: between the one before ``before`` and the one before ``after``
    last_opens = range(before - before % 60_000 - 120_000, after - after % 60_000, 60_000)
    for symbol, value in shown.items():
        c = RECORDING[symbol]
        expected = []
        for last_open in last_opens:
            keep = c.open_time <= last_open
            frame = candle_frame(c.open_time[keep], {k: c.ohlcv[k][keep] for k in OHLCV})
            expected.append(RSI().batch(frame).iloc[-1, 0])
        assert min(abs(value - e) for e in expected) <= 0.051, (symbol, value, expected)  # shown to 1 decimal
    assert errors == []


def pick(page, text: str) -> None:
    box = page.locator(".symbol-picker input")
    box.fill(text)
    box.press("Enter")


def test_the_symbol_picker_explains_an_unknown_symbol_and_charts_a_listed_one(tab):
    page, errors, _ = tab
    before = candles(page)
    pick(page, "NOPEUSDT")
    message = page.locator(".symbol-error")
    message.wait_for(timeout=10_000)
    assert "unknown symbol NOPEUSDT" in message.inner_text() and "exchangeInfo" in message.inner_text()
    assert page.locator(".symbol-picker input").input_value() == "ADAUSDT"   # back to the charted symbol
    # nothing else disturbed: the chart goes on with ADAUSDT's candles
    after = wait_until(page, lambda c: c["open_time"][-1] > before["open_time"][-1], what="new ADAUSDT candles")
    assert after["close"][-1] < 1 and after["panes"] == ["pane_macd", "pane_rsi"]   # ADA trades under 1 USDT

    pick(page, "ethusdt")
    eth = wait_until(page, lambda c: c["close"] and c["close"][-1] > 1000, what="ETHUSDT candles")
    closes = RECORDING["ETHUSDT"].ohlcv["close"]
    assert set(eth["close"][:-1]) <= set(closes.tolist())   # closed candles are the recording's
    assert message.count() == 0   # the message is gone
    assert errors == []


def test_replay_pause_and_speed_from_the_sidebar(tab):
    page, errors, replay = tab
    pause = page.locator(".replay-pause button")
    state = page.locator(".replay-state")
    pause.click()
    try:
        state.get_by_text("paused").wait_for(timeout=10_000)
        paused_at = replay.now_ms()
        page.wait_for_timeout(1000)   # what was sent before the pause is still on its way to the page
        last = candles(page)["open_time"][-1]
        page.wait_for_timeout(3000)   # ×60: three candles would have closed
        assert replay.now_ms() == paused_at
        assert candles(page)["open_time"][-1] == last
    finally:
        pause.click()
    wait_until(page, lambda c: c["open_time"][-1] > last, what="candles after resuming")
    assert "paused" not in state.inner_text()

    speed = page.locator(".replay-speed input")
    speed.fill("240")
    speed.press("Enter")
    try:
        state.get_by_text("×240").wait_for(timeout=10_000)
        t0, wall0 = replay.now_ms(), page.evaluate("() => Date.now()")
        page.wait_for_timeout(2000)
        rate = (replay.now_ms() - t0) / (page.evaluate("() => Date.now()") - wall0)
        assert 120 < rate < 300, rate   # replay ms per wall ms
    finally:
        speed.fill("60")
        speed.press("Enter")
    state.get_by_text("×60").wait_for(timeout=10_000)
    assert errors == []
