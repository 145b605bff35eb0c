"""Views saved as standalone HTML (`pn.panel(view).save(path, resources="inline")`) render in headless Chromium
opened on the file:// URL with every network request aborted: an hvplot view of batch indicators, and a snapshot
of the live CandleChart.

Known Panel limitation (holoviz/panel#6759, #7073): a saved Panel document still links four of Panel's own
stylesheets (loading.css, listpanel.css, theme default.css/native.css) from cdn.holoviz.org, even with inline
resources. Offline they fail to load; the page renders without them. They are the only requests allowed to fail
here: any other non-file request (a script, a font, another stylesheet) fails the test.
"""

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import holoviews as hv
import hvplot.pandas  # noqa: F401
import numpy as np
import panel as pn
import pytest
import talib

from thebot_panel import CandleChart, FeedHub, indicators
from thebot_panel.indicators import EMA, RSI
from thebot_panel.replay import Recording

from browser import candles, chromium, require_chromium

pytestmark = pytest.mark.browser

PANEL_CDN_CSS = re.compile(rf"^https://cdn\.holoviz\.org/panel/{re.escape(pn.__version__)}/dist/[\w/.-]+\.css(\?.*)?$")
RENDERED_JS = """() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && Bokeh.documents[0].is_idle
                       && [...Bokeh.index.all_views()].some(v => v.model.type === 'Figure')"""
SOURCE_JS = """(name) => {
  const src = Bokeh.documents[0].get_model_by_name(name);
  if (!src) return null;
  const out = {length: src.get_length()};
  for (const [k, v] of Object.entries(src.data)) out[k] = Array.from(v);
  return out;
}"""
FIGURES_JS = "() => [...Bokeh.index.all_views()].filter(v => v.model.type === 'Figure').map(v => v.el.isConnected)"


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with chromium() as browser:
        yield browser


def open_offline(browser, path):
    """Open ``path`` with every non-file:// request aborted; returns (page, aborted URLs, errors).

    ``errors``: console errors, uncaught page errors and aborted requests, except Panel's CDN stylesheets."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    aborted, errors = [], []

    def route(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            aborted.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})")
            if m.type == "error" and not PANEL_CDN_CSS.match(m.location.get("url") or "") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function(RENDERED_JS, timeout=30_000)
    page.wait_for_timeout(500)  # late errors, e.g. from a stylesheet or a lazily loaded script
    errors += [f"network request: {url}" for url in aborted if not PANEL_CDN_CSS.match(url)]
    return page, aborted, errors


def named(name: str):
    """A HoloViews hook naming the element's Bokeh ColumnDataSource ``source_<name>``, to find it in the browser
    (HoloViews already gives a y range the name of its dimension, e.g. ``rsi_14``)."""
    def hook(plot, element):
        plot.handles["source"].name = f"source_{name}"
    return hook


def test_saved_hvplot_view_of_batch_indicators_renders_offline(browser, tmp_path):
    history = Recording.bundled()["BTCUSDT"].frame()
    batch = indicators.with_indicators(history, EMA(period=9), "BBANDS", "RSI", "MACD", EMA(period=9, of=RSI()))
    window = batch.tail(500)
    price = (window.hvplot.area(y="lowerband_20_2_2", y2="upperband_20_2_2", alpha=0.2, responsive=True)
             * window.hvplot.ohlc(y=["open", "high", "low", "close"], responsive=True)
             * window.hvplot.line(y="ema_9", responsive=True).opts(hooks=[named("ema_9")]))
    rsi = (window.hvplot.line(y="rsi_14", responsive=True).opts(hooks=[named("rsi_14")])
           * window.hvplot.line(y="ema_9_of_rsi_14", responsive=True).opts(hooks=[named("ema_9_of_rsi_14")]))
    macd = window.hvplot.line(y=["macd_12_26_9", "signal_12_26_9"], value_label="MACD", responsive=True)
    view = hv.Layout([price.opts(height=350), rsi.opts(height=180), macd.opts(height=180)]).cols(1)
    path = tmp_path / "batch.html"
    pn.panel(view).save(path, resources="inline")

    page, aborted, errors = open_offline(browser, path)
    page.screenshot(path=str(tmp_path / "batch.png"), full_page=True)
    assert errors == []
    assert all(PANEL_CDN_CSS.match(url) for url in aborted)
    figures = page.evaluate(FIGURES_JS)
    assert len(figures) == 3 and all(figures)
    close = history["close"].to_numpy()
    expected = {"ema_9": talib.EMA(close, 9), "rsi_14": talib.RSI(close, 14),
                "ema_9_of_rsi_14": talib.EMA(talib.RSI(close, 14), 9)}
    open_time_ms = (window.index - window.index[0]).total_seconds().to_numpy() * 1000
    for name, want in expected.items():
        source = page.evaluate(SOURCE_JS, f"source_{name}")
        assert source is not None, f"no ColumnDataSource named {name!r} in the saved document"
        assert source["length"] == len(window) == 500
        np.testing.assert_array_equal(source[name], window[name].to_numpy())  # exact, as serialised
        np.testing.assert_allclose(source[name], want[-500:], rtol=1e-9, atol=0)
        times = np.array(source["open_time"], dtype=float)
        np.testing.assert_array_equal(times - times[0], open_time_ms)


async def chart_snapshot(path):
    """A live CandleChart on the replay after warm-up, saved as HTML; returns its candle source's data then."""
    hub = FeedHub(source="replay", symbols=["BTCUSDT"], speed=60, warmup=300)
    await hub.start()
    assert hub.error == "" and hub.status == "connected"
    chart = CandleChart(hub, symbol="BTCUSDT", rollover=200)
    try:
        chart.flush()  # loads the history into the Bokeh sources (a periodic callback does this in a session)
        data = {k: list(v) for k, v in chart.source.data.items()}
        history = hub.open("BTCUSDT", "1m").book.frame()
        pn.panel(chart).save(path, resources="inline")  # no await between reading the data and saving it
    finally:
        chart.detach()
        await hub.stop()
    return data, history


def test_saved_candle_chart_snapshot_renders_offline(browser, tmp_path):
    path = tmp_path / "chart.html"
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        data, history = pool.submit(asyncio.run, chart_snapshot(path)).result(120)
    assert len(data["open_time"]) >= 199

    page, aborted, errors = open_offline(browser, path)
    page.screenshot(path=str(tmp_path / "chart.png"), full_page=True)
    assert errors == []
    assert all(PANEL_CDN_CSS.match(url) for url in aborted)
    shown = candles(page)
    assert shown is not None, "no ColumnDataSource named 'candles' in the saved document"
    assert shown["length"] == len(data["open_time"])
    assert shown["panes"] == ["pane_macd", "pane_rsi"]
    for column in ("open_time", "open", "high", "low", "close", "volume", "ema_fast", "rsi", "macd.hist"):
        np.testing.assert_array_equal(np.array(shown[column], dtype=float), np.array(data[column], dtype=float),
                                      err_msg=column)
    # the closed candles in the page carry the indicator values of the whole warm-up history, equal to TA-Lib's
    close = history["close"].to_numpy()
    closed = np.array(shown["alpha"]) == 1
    n = int(closed.sum())
    assert n >= 199 and closed[:n].all()
    assert np.array_equal(np.array(shown["open_time"])[:n], history.index[-n:].as_unit("ms").asi8.astype(float))
    np.testing.assert_allclose(np.array(shown["ema_fast"])[:n], talib.EMA(close, 9)[-n:], rtol=1e-9, atol=0)
    np.testing.assert_allclose(np.array(shown["rsi"])[:n], talib.RSI(close, 14)[-n:], rtol=1e-9, atol=0)
    assert page.locator("canvas").count() >= 4
