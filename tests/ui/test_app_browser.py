"""The served app (`panel serve apps/live.py`) in headless Chromium, fed by the replay server on 127.0.0.1; its news
feed (`THEBOT_NEWS_FEEDS`) is a hostile RSS feed on 127.0.0.1."""

import functools
import http.server
import threading
import time

import numpy as np
import pandas as pd
import pytest
import talib

from thebot_panel.indicators import ATR, BBANDS, EMA
from thebot_panel.market.candles import OHLCV, aggregate, candle_frame

from browser import (ThreadedReplay, candles, chromium, open_page, our_tracebacks, panel_serve, require_chromium,
                     wait_until)
from recorded import FIXTURES

pytestmark = pytest.mark.browser

NEWS = FIXTURES / "news"


@pytest.fixture(scope="module")
def hostile_feed():
    """tests/fixtures/news/hostile.rss.xml served on 127.0.0.1: markup, script and javascript: links in every field."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(NEWS))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hostile.rss.xml"
    server.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory, hostile_feed):
    require_chromium()
    with ThreadedReplay(speed=60) as replay:
        db = tmp_path_factory.mktemp("served") / "alerts.sqlite"  # its own alerts, not other test apps' replays
        args = ["--source", "replay", "--replay-url", replay.rest_url, "--symbols", "btcusdt,ethusdt", "--db", str(db)]
        sessions = ("--check-unused-sessions", "500", "--unused-session-lifetime", "500")  # reap closed tabs fast
        with (panel_serve(args, serve_args=sessions, env={"THEBOT_NEWS_FEEDS": hostile_feed}) as (url, log),
              chromium() as browser):
            yield replay, url, log, browser


@pytest.fixture
def tab(served):
    """A browser tab on the served app, closed after the test; yields (page, console errors, server log)."""
    replay, url, log, browser = served
    page, errors = open_page(browser, url)
    yield page, errors, log
    page.close()


def test_candles_grow_and_the_forming_candle_changes(tab):
    page, errors, log = tab
    first = wait_until(page, lambda c: c["length"] > 100, what="warm-up candles in the browser")
    last_time = first["open_time"][-1]
    grown = wait_until(page, lambda c: c["open_time"][-1] > last_time + 2 * 60_000, what="new candles")
    assert grown["length"] >= first["length"]
    # the forming candle (drawn translucent) is patched in place between closes
    seen = set()
    for _ in range(40):
        c = candles(page)
        seen.add((c["open_time"][-1], c["close"][-1], c["volume"][-1]))
        page.wait_for_timeout(100)
    assert len({t for t, _, _ in seen}) < len(seen), "the last candle never changed in place"
    assert grown["alpha"][-1] < 1 and grown["alpha"][-2] == 1
    closes = np.array(grown["close"])
    assert np.isfinite(grown["ema_fast"][-1]) and 0 < grown["rsi"][-1] < 100
    assert abs(grown["ema_fast"][-2] - talib.EMA(closes[:-1], 9)[-1]) / closes[-2] < 1e-6
    page.screenshot(path=str(log.with_suffix(".png")), full_page=True)
    assert page.locator(".replay-badge").inner_text().startswith("REPLAY")
    assert errors == []


def closed_frame(c: dict) -> pd.DataFrame:
    """The closed candles of the browser's source (the last one is forming) as a candle frame."""
    return candle_frame(np.array(c["open_time"][:-1], dtype="int64"), {k: np.array(c[k][:-1]) for k in OHLCV})


def set_parameter(page, key: str, name: str, value) -> None:
    box = page.locator(f".param-{key}-{name} input")
    box.fill(str(value))
    box.press("Enter")


def test_changing_the_ema_period_recomputes_the_overlay(tab):
    page, errors, _ = tab
    before = wait_until(page, lambda c: c["length"] > 400, what="enough candles")
    set_parameter(page, "ema_fast", "period", 30)
    expected = lambda c: EMA(period=30).batch(closed_frame(c))["ema_30"].to_numpy()  # noqa: E731
    after = wait_until(page, lambda c: abs(c["ema_fast"][-2] - expected(c)[-1]) / c["close"][-2] < 1e-6,
                       what="EMA(30) overlay")
    # the browser holds the last 500 candles, the server more: EMA's seed has faded out after ~300
    np.testing.assert_allclose(after["ema_fast"][-100:-1], expected(after)[-99:], rtol=1e-9)
    assert not np.allclose(after["ema_fast"][-100:-1], EMA(period=9).batch(closed_frame(after))["ema_9"][-99:],
                           rtol=1e-6)
    assert before["length"] <= after["length"]
    assert errors == []


def test_changing_a_bollinger_parameter_shows_the_batch_values_of_the_new_setting(tab):
    page, errors, _ = tab
    wait_until(page, lambda c: c["length"] > 400, what="enough candles")
    set_parameter(page, "bbands", "nbdevup", 3)
    bands = lambda c: BBANDS(period=20, nbdevup=3.0).batch(closed_frame(c))  # noqa: E731
    after = wait_until(page, lambda c: np.isclose(c["bbands.upperband"][-2], bands(c).iloc[-1, 0], rtol=1e-12),
                       what="BBANDS(20, 3, 2) overlay")
    expected = bands(after)
    for output, column in zip(BBANDS.outputs, expected.columns):
        np.testing.assert_allclose(after[f"bbands.{output}"][20:-1], expected[column].to_numpy()[20:], rtol=1e-9)
    assert errors == []


def test_indicators_are_added_and_removed_on_the_running_chart(tab):
    page, errors, _ = tab
    wait_until(page, lambda c: c["length"] > 400 and c["panes"] == ["pane_macd", "pane_rsi"], what="default panes")
    page.locator(".indicator-picker select").select_option("ATR")
    page.locator(".indicator-add button").click()
    added = wait_until(page, lambda c: "pane_atr" in c["panes"] and "atr" in c, what="the ATR pane")
    expected = ATR().batch(closed_frame(added))["atr_14"].to_numpy()
    np.testing.assert_allclose(added["atr"][-100:-1], expected[-99:], rtol=1e-9)  # Wilder's seed has faded out
    page.locator(".remove-rsi button").click()
    removed = wait_until(page, lambda c: "pane_rsi" not in c["panes"] and "rsi" not in c, what="RSI pane gone")
    assert removed["panes"] == ["pane_atr", "pane_macd"] and "ema_fast" in removed
    assert errors == []


def test_two_tabs_share_one_upstream_connection_and_detach_when_closed(served):
    replay, url, log, browser = served
    pages = [open_page(browser, url)[0] for _ in range(2)]
    for page in pages:
        wait_until(page, lambda c: c["length"] > 100, what="candles")
    assert replay.connections_opened == 1 and replay.connections_open == 1
    detached = log.read_text().count("chart detached from BTCUSDT 1m")
    for page in pages:
        page.close()

    def detaches() -> list[str]:  # each view logs the branches left on the market after taking its own off
        return [line for line in log.read_text().splitlines() if "detached from BTCUSDT 1m" in line]

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not (log.read_text().count("chart detached from BTCUSDT 1m") >= detached + 2
                                               and detaches()[-1].endswith("branches left on it: 1")):
        time.sleep(0.2)
    assert log.read_text().count("chart detached from BTCUSDT 1m") >= detached + 2
    assert detaches()[-1].endswith("branches left on it: 1")  # only the hub's own default branch
    assert replay.connections_opened == 1
    assert our_tracebacks(log.read_text()) == []


def test_switching_symbol_and_interval_subscribes_at_run_time(tab, served):
    page, errors, log = tab
    replay = served[0]
    wait_until(page, lambda c: c["length"] > 100, what="BTCUSDT candles")
    picker = page.locator(".symbol-picker input")
    picker.fill("ETHUSDT")
    picker.press("Enter")
    wait_until(page, lambda c: c["close"][-1] < 10_000, what="ETHUSDT candles")
    page.locator(".interval-select select").select_option("5m")
    five = wait_until(page, lambda c: c["length"] > 100 and c["open_time"][-2] - c["open_time"][-3] == 300_000,
                      what="ETHUSDT 5m candles")
    eth = replay.recording["ETHUSDT"]
    t, expected = aggregate(eth.open_time, eth.ohlcv, "5m")
    closed = np.array(five["open_time"][:-1], dtype="int64")     # the last one is forming
    index = np.searchsorted(t, closed)
    np.testing.assert_array_equal(t[index], closed)
    for column in ("open", "high", "low", "close"):
        np.testing.assert_array_equal(np.array(five[column][:-1]), expected[column][index])
    assert "warm-up ETHUSDT 5m" in log.read_text()
    assert replay.connections_opened == 1     # the same upstream connection, subscribed at run time
    assert errors == []


SIGNALS_JS = """() => {
  const src = Bokeh.documents[0].get_model_by_name('signals');
  return src ? {rule: Array.from(src.data.rule), side: Array.from(src.data.side), price: Array.from(src.data.price)} : null;
}"""


def test_a_signal_shows_as_a_marker_and_an_alert_and_dismissing_removes_it(tab, served):
    page, errors, _ = tab
    replay = served[0]
    page.get_by_text("Signals & Alerts", exact=True).first.click()
    # an alert on the chart's market, raised by the live signals of the replay
    line = page.locator('.active-alert .alert-line[data-symbol="BTCUSDT"][data-interval="1m"]').first
    line.wait_for(timeout=60_000)
    replay.run(replay.pause)   # no newer alert pushes this one out of the newest 8 under the click
    try:
        alert_id, rule, side = (line.get_attribute(f"data-{k}") for k in ("id", "rule", "side"))
        price = float(line.get_attribute("data-price"))
        page.get_by_text("Chart", exact=True).first.click()   # the same signal is a marker on the chart
        deadline = time.monotonic() + 10
        while (rule, side, price) not in zip(*(markers := page.evaluate(SIGNALS_JS) or {"": []}).values()):
            assert time.monotonic() < deadline, f"no marker for {(rule, side, price)} on the chart: {markers}"
            page.wait_for_timeout(250)
        page.get_by_text("Signals & Alerts", exact=True).first.click()
        page.wait_for_timeout(1000)   # as a user would: the tab's views are rebuilt as it shows, buttons included
        page.locator(f".dismiss-{alert_id} button").click()
        page.locator(f".dismiss-{alert_id}").wait_for(state="detached", timeout=10_000)
        history = page.locator(".tabulator-row", has_text="DISMISSED")
        history.first.wait_for(timeout=10_000)
        assert alert_id in history.first.inner_text()
    finally:
        replay.run(replay.resume)
    assert errors == []


def test_a_hostile_news_feed_runs_no_script_and_links_only_to_http(tab):
    page, errors, log = tab
    page.get_by_text("News", exact=True).first.click()
    titles = page.locator(".news-item .news-title")
    titles.nth(3).wait_for(timeout=30_000)
    page.wait_for_timeout(1500)   # time for a broken <img onerror> or <svg onload> to fire, had one been made
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert titles.all_inner_texts() == ['<img src=x onerror="window.__pwned=1">',
                                        '<svg onload="window.__pwned=7"> escaped twice', 'Bitcoin "quoted" & safe',
                                        "Data link"]
    feed = 'Evil <img src=x onerror="window.__pwned=6">Feed'
    assert page.locator(".news-meta").first.inner_text().startswith(f"{feed} · ")
    assert page.get_by_text(f"✓ {feed}: 4 items").count() == 1   # the feed's status line
    news = page.locator(".news-item")
    assert news.locator("img, svg, iframe, script").count() == 0
    hrefs = page.locator("a").evaluate_all("anchors => anchors.map(a => a.getAttribute('href') || '')")
    assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:"))], hrefs
    assert news.locator("a").evaluate_all("anchors => anchors.map(a => a.href)") == [
        "https://news.example/btc?a=1&b=%222%22"]
    assert errors == []   # nothing was even requested for the <img src=x>
