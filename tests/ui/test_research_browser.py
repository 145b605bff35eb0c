"""The Research tab of the served app in headless Chromium: a backtest run from the page shows the figures of
``Backtest.run`` on the same candles; a 3×3 sweep on the app's own local Dask cluster moves its progress bar to
100 %, draws the heatmap and the ranked table; a click on a heatmap cell draws that cell's equity, equal to its own
backtest. No console error, no traceback of ours in the server log."""

import re

import pytest

from browser import chromium, open_page, our_tracebacks, panel_serve, require_chromium
from thebot_panel.backtest import Backtest
from thebot_panel.backtest.history import load_history
from thebot_panel.backtest.sweep import build

pytestmark = pytest.mark.browser

START, END = "2025-08-01", "2025-08-02"   # the bundled BTCUSDT recording, 2,880 1m candles

SOURCE_JS = """name => {
  const doc = Bokeh.documents[0], src = doc && doc.get_model_by_name(name);
  if (!src) return null;
  const out = {length: src.get_length() ?? 0};
  for (const [k, v] of Object.entries(src.data)) out[k] = Array.from(v ?? []);
  return out;
}"""


def fill(page, selector: str, value: str) -> None:
    box = page.locator(f"{selector} input")
    box.fill(value)
    box.press("Enter")


def source(page, name: str) -> dict | None:
    """The Bokeh source ``name`` of the page (each column as a list), or None."""
    return page.evaluate(SOURCE_JS, name)


def test_backtest_and_sweep_from_the_research_tab(tmp_path):
    require_chromium()
    args = ["--source", "replay", "--symbols", "btcusdt,ethusdt", "--speed", "60", "--warmup", "300",
            "--broadcast-port", "-1", "--db", str(tmp_path / "alerts.sqlite")]
    candles = load_history("BTCUSDT", "1m", start=START, end="2025-08-02 23:59")
    with panel_serve(args) as (url, log), chromium() as browser:
        page, errors = open_page(browser, url)
        page.locator(".bk-Canvas").first.wait_for(timeout=60_000)   # the chart tab is up
        page.get_by_text("Research", exact=True).first.click()

        # a backtest: long on the default rules' signals, 10 bps fees, over two days
        page.locator(".research-run button").wait_for(timeout=30_000)
        fill(page, ".research-start", START)
        fill(page, ".research-end", END)
        page.locator(".research-run button").click()
        page.locator(".backtest-message", has_text="BTCUSDT 1m: 2,880 candles").wait_for(timeout=30_000)
        expected = Backtest().run(candles).metrics
        shown = {row.get_attribute("data-metric"): row.locator("td") for row in
                 page.locator(".research-metrics tr").all()}
        assert float(shown["sharpe"].get_attribute("data-value")) == expected["sharpe"]
        assert float(shown["trades"].get_attribute("data-value")) == expected["trades"] > 50
        assert shown["total_return_pct"].inner_text() == f"{expected['total_return_pct']:+,.2f} %".replace("-", "−")
        page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('backtest equity curve') !== null")
        assert source(page, "backtest equity curve")["length"] == 2880
        assert page.locator(".research-trades .tabulator-row").count() > 10
        page.screenshot(path=str(tmp_path / "research_backtest.png"))

        # a 3×3 sweep of the EMA periods on the app's local cluster
        page.get_by_text("Sweep", exact=True).first.click()
        page.locator(".sweep-run button").wait_for(timeout=30_000)
        for selector, value in ((".sweep-x-start", "5"), (".sweep-x-stop", "13"), (".sweep-x-step", "4"),
                                (".sweep-y-start", "21"), (".sweep-y-stop", "55"), (".sweep-y-step", "17")):
            fill(page, selector, value)
        page.wait_for_timeout(300)
        page.locator(".sweep-run button").click()
        bar = page.locator(".sweep-progress progress")
        seen = []
        for _ in range(600):   # the local cluster starts in seconds, then the 9 cells run
            value, top = bar.get_attribute("value"), bar.get_attribute("max")
            seen.append((value, top))
            if value is not None and top == "9" and value == "9":
                break
            page.wait_for_timeout(100)
        assert seen[-1] == ("9", "9"), seen[-5:]
        progress = [int(v) for v, top in seen if v is not None and top == "9"]
        assert progress == sorted(progress)   # it only moves forward
        page.locator(".sweep-message", has_text="9 cells of BTCUSDT 1m").wait_for(timeout=30_000)
        assert page.locator(".sweep-count").inner_text() == "9 / 9 cells"
        assert page.locator(".sweep-table .tabulator-row").count() == 9
        heatmap = page.locator(".sweep-heatmap .bk-Canvas").first
        heatmap.wait_for(timeout=30_000)
        labels = page.evaluate("() => [...Bokeh.documents[0].all_models].map(m => m.axis_label).filter(l => l)")
        assert {"ema_fast.period", "ema_slow.period"} <= set(labels)   # the heatmap's axes
        page.screenshot(path=str(tmp_path / "research_sweep_heatmap.png"))

        # a click in the middle of the heatmap: that cell's equity beside buy and hold
        box = heatmap.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5)
        page.wait_for_function("() => Bokeh.documents[0].get_model_by_name('cell equity curve') !== null",
                               timeout=30_000)
        caption = page.locator(".sweep-cell-name").inner_text()
        cell = {name: int(value) for name, value in re.findall(r"([\w.]+) = (\d+)", caption)}
        assert set(cell) == {"ema_fast.period", "ema_slow.period"}
        assert cell["ema_fast.period"] in (5, 9, 13) and cell["ema_slow.period"] in (21, 38, 55)
        alone = Backtest().run(candles, *build(cell))
        curve = source(page, "cell equity curve")
        assert curve["length"] == 2880 and curve["equity"][-1] == alone.equity.iloc[-1]
        page.screenshot(path=str(tmp_path / "research_sweep_cell.png"))
        assert errors == []
        page.close()
    assert our_tracebacks(log.read_text()) == []
