"""The Screener with 2 and with 200 symbols: tab switches, sort and filter, and whether the Chart keeps up.

What is measured, in headless Chromium on the served app (``panel serve apps/live.py``, unchanged), for 2 and
for 200 symbols side by side in one run:

- **tab switch**: from the click on the "Screener" tab until the table shows all its rows (2 or 200; see below),
  and from the click on "Chart" until the price figure's canvas is shown and until the chart's Bokeh source
  ``"candles"`` applies its next update (at Binance's cadence a 1m kline update comes every 2 s, but the chart
  sends what it buffered while hidden as soon as it is shown again), ``--dwell`` s on each tab. Repeated
  ``--switches`` times: p50 and max; a switch not done in 60 s counts as timed out (two end the switching).
- **sort**: a click on the "24 h %" header until the table's first row is another symbol (clicked again, the
  other way round, if the first click left it in place); **filter**: "SYM001" typed in the symbol header filter and
  Enter, until the table shows 1 row; then the filter cleared, until it shows them all again.
- **the Chart before and after**: on the Chart tab, before the Screener was ever opened and after the switches
  and the sort and filter, for ``--seconds``: the charted market's (SYM001USDT 1m) updates applied per second in
  the page against those the replay sent, and the latency from each update's exchange event time ``E`` until the
  page's source holds it or a newer one (as ``latency.py`` measures it, with its page hook and its observer).
- **CPU per phase**: the app process's (``panel serve``, which holds the hub: utime + stime from ``/proc``) and
  the browser's (every Chromium process of this run, from ``/proc``), in cores = CPU s / wall s; and the page's
  long tasks (main-thread tasks over 50 ms, ``PerformanceObserver``), in ms per s. Phases: the Chart before, the
  switching, the Screener shown (``--seconds``, before the sort), the Chart after.
- **what went wrong**: the page's console errors and warnings and uncaught errors, and the tracebacks in the
  app's log, counted, under the table.

How. Per symbol count, a child process runs ``scale.py``'s replay (``scale.serve``, the steady phase: speed 1,
30 kline updates per candle, ``kline_1m``/``kline_15m``/``ticker`` of the synthetic ``SYM001USDT``… mapped to
the real recordings; no trade or bookTicker, which the app does not subscribe), and ``panel serve apps/live.py
--args --source replay --replay-url <it> --symbols SYM001USDT,… --warmup 300 --broadcast-port -1``. Both apps
start together; a first request to each starts its hub, whose warm-up (every market at once, as the app does:
1m and the 15m of the trend confirmation, 2 × symbols markets) the run waits for by reading the app's log. Then
each app in turn (200 symbols first, then 2) is measured on a fresh page, and stopped. The clocks: clicks and
key presses are timed from the DOM event's ``timeStamp`` (capture listener on ``window``), conditions are polled
in the page on ``requestAnimationFrame`` and timed with ``performance.now()`` (a frame's resolution, about 17
ms). ``E`` → wall time: at speed 1 the replay clock is ``START + elapsed``, and the child answers ``now`` over
its pipe (the offset from the tightest of 20 round trips).

"All its rows": the table (Tabulator, in Panel's shadow DOM) holds N rows after its filters
(``getDataCount("active") == N``) and has drawn them: N ``.tabulator-row`` elements, or, when Tabulator draws only
the rows in view (the table has a height bound), rows down to the bottom of its view.

    .venv/bin/python benchmarks/screener.py           # 10 switches, 20 s windows (5 to 6 minutes)
    .venv/bin/python benchmarks/screener.py --quick   # 3 switches, 4 s windows, 1 s dwell (2 to 4 minutes)
    .venv/bin/python benchmarks/screener.py [--symbols 2,200] [--switches K] [--seconds S] [--dwell D] [--warmup W]
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import latency
import scale
from procs import cpu_seconds, free_port

ROOT = Path(__file__).resolve().parents[1]
CHARTED = "SYM001USDT"
WARM_UP = re.compile(r"warm-up (\S+) (\S+): \d+ candles")

# The page side: hooks (once the chart's source is filled) and one-shot watches armed before each action.
BENCH_JS = """() => {
  if (window.__bench) return true;
  const src = Bokeh.documents[0].get_model_by_name('candles');
  const B = window.__bench = {updates: [], longtasks: [], w: null};
  const mark = () => B.updates.push(performance.now());
  src.streaming.connect(mark); src.patching.connect(mark); src.properties.data.change.connect(mark);
  new PerformanceObserver(l => { for (const e of l.getEntries()) B.longtasks.push([e.startTime, e.duration]); })
    .observe({type: 'longtask', buffered: true});
  const views = () => [...Bokeh.index.all_views()];
  B.table = () => views().find(v => v.tabulator && v.el.isConnected &&
                                     (v.model.css_classes || []).includes('screener-table'));
  B.rows = t => t ? t.shadow_el.querySelectorAll('.tabulator-row') : [];
  B.first = () => {  // the symbol of the first row drawn
    const r = B.rows(B.table())[0], c = r && r.querySelector('[tabulator-field="symbol"]');
    return c ? c.innerText : null;
  };
  B.shown = () => {  // rows in the table (after its filters), rows drawn, and whether the drawn rows fill its view
    const t = B.table();
    if (!t) return null;
    const rows = B.rows(t), holder = t.shadow_el.querySelector('.tabulator-tableholder');
    const filled = rows.length > 0 && !!holder &&
      rows[rows.length - 1].getBoundingClientRect().bottom >= holder.getBoundingClientRect().bottom;
    return {active: t.tabulator.getDataCount('active'), rendered: rows.length, filled};
  };
  B.conds = {
    screener: w => { const s = B.shown(); return !!s && s.active === w.arg && (s.rendered === w.arg || s.filled); },
    rows: w => { const s = B.shown(); return !!s && s.rendered === w.arg; },
    sort: w => { const f = B.first(); return f !== null && f !== w.before; },
    chart: w => {
      const v = views().find(v => v.model.name === 'price' && v.el.isConnected);
      if (w.canvas === null && v && v.el.getBoundingClientRect().width > 0 && (!v.has_finished || v.has_finished()))
        w.canvas = performance.now();
      if (w.update === null) { const u = B.updates.find(t => t >= w.t0); if (u !== undefined) w.update = u; }
      return w.canvas !== null && w.update !== null;
    },
  };
  // the next `type` event (capture, on window) starts the clock; the condition is checked on every frame
  B.arm = (kind, arg, type) => {
    const w = B.w = {kind, arg, t0: null, t1: null, canvas: null, update: null, before: B.first(), done: false};
    const start = e => { if (w.t0 === null && (type !== 'keydown' || e.key === 'Enter')) w.t0 = e.timeStamp; };
    window.addEventListener(type, start, true);
    const loop = () => {
      if (B.w !== w) return window.removeEventListener(type, start, true);
      if (w.t0 !== null && B.conds[kind](w)) {
        w.t1 = performance.now(); w.done = true;
        return window.removeEventListener(type, start, true);
      }
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  };
  return true;
}"""


# ---- processes ----------------------------------------------------------------------------------------------------

def cpu_s(pids) -> float:
    """User + system CPU seconds of ``pids`` (those still alive)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def chromium_pids() -> list[int]:
    """This run's Chromium processes: descendants of this process named chromium/chrome."""
    parent, names = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                names[int(entry.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
                parent[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    mine = {os.getpid()}
    grown = True
    while grown:
        before = len(mine)
        mine |= {pid for pid, ppid in parent.items() if ppid in mine}
        grown = len(mine) > before
    return [pid for pid in mine if names.get(pid, "").startswith("chrom")]


class Replay:
    """``scale.serve`` (the steady phase of ``n`` synthetic symbols, no trade/bookTicker) in a child process."""

    def __init__(self, n: int, warmup: int, minutes: float):
        # The 15m markets of the trend confirmation warm up too: 15 × (warm-up + 1) minutes of history before START.
        self.settings = scale.Settings(warmup=15 * (warmup + 1), ticks=False,
                                       tick_seconds=int(minutes * 60))  # the replay lasts this + 10 minutes
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self.conn, theirs = context.Pipe()
        self.proc = context.Process(target=scale.serve, daemon=True, args=(
            n, "steady", self.settings, scale.SHARED if scale.SHARED.exists() else None, self.port, theirs))
        self.proc.start()
        self.mapping = None

    def ready(self) -> None:
        self.mapping, _ = self.conn.recv()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def offset(self) -> float:
        """Wall clock − replay clock (ms), from the tightest of 20 round trips over the pipe."""
        best = None
        for _ in range(20):
            t0 = time.time() * 1000
            self.conn.send(("now", None))
            now = self.conn.recv()
            t1 = time.time() * 1000
            if best is None or t1 - t0 < best[1]:
                best = ((t0 + t1) / 2 - now, t1 - t0)
        return best[0]

    def stop(self) -> None:
        if not self.proc.is_alive():
            return
        with contextlib.suppress(OSError):
            self.conn.send(("stop", None))
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


class App:
    """``panel serve apps/live.py`` on the replay of ``n`` symbols (its log in ``tmp``)."""

    def __init__(self, n: int, replay: Replay, warmup: int, tmp: Path):
        self.n, self.port, self.log = n, free_port(), tmp / f"app-{n}.log"
        args = ["--source", "replay", "--replay-url", replay.rest_url, "--symbols", ",".join(scale.symbols(n)),
                "--interval", "1m", "--warmup", str(warmup), "--broadcast-port", "-1",
                "--news", "http://127.0.0.1:9/none.xml",  # a closed port: nothing fetched from the internet
                "--db", str(tmp / f"db-{n}.sqlite")]
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "panel", "serve", "apps/live.py", "--address", "127.0.0.1", "--port",
                 str(self.port), "--allow-websocket-origin", f"127.0.0.1:{self.port}", "--args", *args],
                cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/live"

    def start_hub(self, timeout: float = 120) -> None:
        """Wait until the server answers, then request the page once: the session starts the hub."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/static/js/bokeh.min.js", timeout=30).status_code == 200:
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"panel serve did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)
        httpx.get(self.url, timeout=timeout)

    def warmed(self) -> int:
        return len(set(WARM_UP.findall(self.log.read_text())))

    def retries(self) -> int:
        return self.log.read_text().count("history incomplete")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
            self.proc.kill()


# ---- measurement --------------------------------------------------------------------------------------------------

class Phase:
    """CPU of the app and of the browser, and the page's long tasks, between ``__init__`` and ``end()``."""

    def __init__(self, page, app_pid: int):
        self.page, self.app_pid = page, app_pid
        self.browser = chromium_pids()
        self.wall, self.app_cpu, self.browser_cpu = time.perf_counter(), cpu_s([app_pid]), cpu_s(self.browser)
        self.page_t = page.evaluate("() => performance.now()")

    def end(self) -> dict:
        wall = time.perf_counter() - self.wall
        out = {"wall": wall, "app": (cpu_s([self.app_pid]) - self.app_cpu) / wall,
               "browser": (cpu_s(self.browser) - self.browser_cpu) / wall}
        t1 = self.page.evaluate("() => performance.now()")
        tasks = self.page.evaluate("() => window.__bench.longtasks")
        out["longtask"] = sum(d for t, d in tasks if self.page_t <= t < t1) / wall
        return out


def act(page, kind: str, arg, action, event: str = "click", timeout: float = 60.0) -> dict | None:
    """Arm the page's watch ``kind``, do ``action(timeout_ms)``, and return the watch once its condition held (times
    in ms from the event), or None if the action or the condition took over ``timeout`` s."""
    from playwright.sync_api import Error

    page.evaluate("([k, a, e]) => window.__bench.arm(k, a, e)", [kind, arg, event])
    deadline = time.monotonic() + timeout
    try:
        action(timeout * 1000)
        page.wait_for_function("() => window.__bench.w.done", timeout=max(1.0, deadline - time.monotonic()) * 1000)
    except Error:  # Playwright's TimeoutError is one
        return None
    w = page.evaluate("() => window.__bench.w")
    return {"ms": w["t1"] - w["t0"], "canvas": w["canvas"] and w["canvas"] - w["t0"],
            "update": w["update"] and w["update"] - w["t0"]}


def chart_window(page, seconds: float, app_pid: int) -> dict:
    """On the Chart tab: ``seconds`` of the charted market's updates, then 1 s for the last ones to land."""
    phase = Phase(page, app_pid)
    start = time.time() * 1000
    page.wait_for_timeout(seconds * 1000)
    end = time.time() * 1000
    out = phase.end()
    page.wait_for_timeout(1000)
    return {**out, "start": start, "end": end}


def measure(browser, app: App, replay: Replay, k: int, seconds: float, dwell: float, out: dict) -> None:
    """Every phase of one app on a fresh page (the hub is warm), into ``out`` as they are measured (what was
    measured stays there if a later phase fails). Two timed-out switches end the switching."""
    n = app.n
    click = lambda title: lambda ms: page.get_by_text(title, exact=True).first.click(timeout=ms)  # noqa: E731
    observer = latency.Observer(replay.ws_url, [f"{CHARTED.lower()}@kline_1m"], f"{CHARTED.lower()}@kline_1m")
    observer.start()
    observer.connected.wait(30)
    out["errors"], out["warnings"] = errors, warnings = Counter(), Counter()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("console", lambda m: (errors if m.type == "error" else warnings if m.type == "warning" else Counter())
            .update([m.text[:160]]))
    page.on("pageerror", lambda e: errors.update([f"uncaught: {str(e)[:150]}"]))
    try:
        t = time.perf_counter()
        page.goto(app.url, timeout=120_000)
        deadline = time.monotonic() + 120
        while not page.evaluate(latency.HOOK_JS):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the chart's source 'candles' never filled:\n{app.log.read_text()[-3000:]}")
            page.wait_for_timeout(100)
        page.evaluate(BENCH_JS)
        out["page_load"] = time.perf_counter() - t
        out["skew"] = latency.clock_skew(page)
        out["offset"] = replay.offset()
        page.wait_for_timeout(dwell * 1000)
        out["chart1"] = chart_window(page, seconds, app.proc.pid)

        # tab switches
        phase = Phase(page, app.proc.pid)
        out["to_screener"], out["to_chart"] = to_screener, to_chart = [], []
        for i in range(k):
            to_screener.append(act(page, "screener", n, click("Screener")))
            if i == 0:  # the rows Tabulator draws at rest: all N, or those in view (+ a buffer) with a height
                page.wait_for_timeout(300)
                out["rendered"] = page.evaluate("() => window.__bench.shown()?.rendered")
            page.wait_for_timeout(dwell * 1000)
            to_chart.append(act(page, "chart", None, click("Chart")))
            page.wait_for_timeout(dwell * 1000)
            if (to_screener + to_chart).count(None) >= 2:
                break
        out["switch_cpu"] = phase.end()

        # the Screener shown, then sort and filter
        act(page, "screener", n, click("Screener"))
        phase = Phase(page, app.proc.pid)
        page.wait_for_timeout(seconds * 1000)
        out["screener_cpu"] = phase.end()
        table = page.locator(".screener-table")
        header = table.locator('.tabulator-col[tabulator-field="change_pct"] .tabulator-col-title')
        for _ in range(2):  # ascending; descending if that left the first row in place
            out["sort"] = act(page, "sort", None, lambda ms: header.click(timeout=ms), timeout=10)
            if out["sort"] is not None:
                break
        box = table.locator('.tabulator-col[tabulator-field="symbol"] input')
        box.fill(CHARTED[:6], timeout=60_000)
        out["filter"] = act(page, "rows", 1, lambda ms: box.press("Enter", timeout=ms), event="keydown")
        box.fill("", timeout=60_000)
        out["unfilter"] = act(page, "screener", n, lambda ms: box.press("Enter", timeout=ms), event="keydown")

        # the Chart again
        act(page, "chart", None, click("Chart"))
        out["chart2"] = chart_window(page, seconds, app.proc.pid)
    finally:
        with contextlib.suppress(Exception):  # the rows the page applied, for the latencies
            out["page"] = page.evaluate("() => window.__latency.rows")
        page.close()
        observer.stop.set()
        observer.join(5)
        log = app.log.read_text()
        out["tracebacks"] = Counter(block.strip().split("\n")[-1][:160]
                                    for block in log.split("Traceback (most recent call last):")[1:])
        for name in ("chart1", "chart2"):
            if name in out and "page" in out:
                w = out[name]
                run = {"offset": out["offset"], "start": w["start"], "end": w["end"], "sent": observer.updates,
                       "page": out["page"], "app": [], "klines": observer.klines, "messages": observer.messages}
                a = latency.analyse(run)
                w["latency"], w["missing"], w["sent_rate"] = a["every"], a["missing"], a["kline_rate"]
                w["applied_rate"] = sum(w["start"] <= row[0] < w["end"] for row in out["page"]) / (
                    (w["end"] - w["start"]) / 1000)


# ---- report -------------------------------------------------------------------------------------------------------

def ms(values) -> np.ndarray:
    return np.array([v for v in values if v is not None], dtype=float)


def p50_max(a: np.ndarray) -> str:
    return f"{np.percentile(a, 50):6.0f} / {a.max():6.0f}" if len(a) else "          --"


def report(results: list[dict], k: int) -> None:
    width = 19
    print(f"\nscreener benchmark: apps/live.py in headless Chromium; times in ms, p50 / max (switches: {k} each way)")
    print(f"{'':52}" + "".join(f"{str(r['n']) + ' symbols':>{width}}" for r in results) + f"{'ratio':>8}")

    def row(label: str, cells: list[str], values: list[float] | None = None) -> None:
        ratio = values[-1] / values[0] if values and len(values) > 1 and values[0] else np.nan
        print(f"{label:52}" + "".join(f"{c:>{width}}" for c in cells)
              + (f"{ratio:7.1f}x" if np.isfinite(ratio) else ""))

    def timed(label: str, pick) -> None:
        picked = [pick(r) for r in results]
        arrays = [ms(values) for values in picked]
        cells = [p50_max(a) if len(a) else "timed out" if values else "--" for a, values in zip(arrays, picked)]
        row(label, cells, [np.percentile(a, 50) if len(a) else np.nan for a in arrays])

    def phase(label: str, key: str, fmt: str) -> None:
        for i, (name, title) in enumerate((("chart1", "Chart before"), ("switch_cpu", "switching"),
                                           ("screener_cpu", "Screener shown"), ("chart2", "Chart after"))):
            values = [r[name][key] if name in r else np.nan for r in results]
            row(f"{label if i == 0 else '':28}{title:>24}",
                [fmt.format(v) if np.isfinite(v) else "--" for v in values], values)

    row("warm-up of every market (1m + 15m), s", [f"{r['warmup_s']:.0f}" if "warmup_s" in r else "--"
                                                  for r in results])
    row("page load until the chart has candles, s", [f"{r['page_load']:.1f}" if "page_load" in r else "--"
                                                     for r in results])
    timed("click Screener -> all rows shown", lambda r: [x and x["ms"] for x in r.get("to_screener", [])])
    row("  rows drawn / rows in the table", [f"{r['rendered']} / {r['n']}" if r.get("rendered") else "--"
                                             for r in results])
    timed("click Chart -> price canvas shown", lambda r: [x and x["canvas"] for x in r.get("to_chart", [])])
    timed("click Chart -> the chart's next update", lambda r: [x and x["update"] for x in r.get("to_chart", [])])
    row("  switches timed out (60 s) / done", [f"{(r.get('to_screener', []) + r.get('to_chart', [])).count(None)} / "
                                              f"{len(r.get('to_screener', []) + r.get('to_chart', []))}"
                                              for r in results])
    timed("sort: click '24 h %' -> another first row", lambda r: [r["sort"] and r["sort"]["ms"]] if "sort" in r else [])
    timed("filter: 'SYM001' + Enter -> 1 row", lambda r: [r["filter"] and r["filter"]["ms"]] if "filter" in r else [])
    timed("filter cleared + Enter -> all rows",
          lambda r: [r["unfilter"] and r["unfilter"]["ms"]] if "unfilter" in r else [])
    for name, title in (("chart1", "Chart before the Screener"), ("chart2", "Chart after it")):
        row(f"{title}: updates applied/s (sent)",
            [f"{r[name]['applied_rate']:.2f} ({r[name]['sent_rate']:.2f})" if "applied_rate" in r.get(name, {})
             else "--" for r in results])
        timed("  E -> in the page's source", lambda r, name=name: list(r.get(name, {}).get("latency", [])))
    phase("app process CPU, cores", "app", "{:.2f}")
    phase("browser CPU, cores", "browser", "{:.2f}")
    phase("page long tasks, ms/s", "longtask", "{:.0f}")
    for r in results:
        notes = [r["error"]] if "error" in r else []
        if "skew" in r:
            notes.append(f"page clock - Python's {r['skew'][0]:+.1f} ± {r['skew'][1]:.1f} ms")
        if "retries" in r:
            notes.append(f"REST calls retried in the warm-up {r['retries']}")
        missing = [r[name]["missing"] for name in ("chart1", "chart2") if "missing" in r.get(name, {})]
        if any(missing):
            notes.append(f"chart updates never applied: {' + '.join(map(str, missing))}")
        counters = (("console errors", r.get("errors")), ("console warnings", r.get("warnings")),
                    ("server tracebacks", r.get("tracebacks")))
        notes += [f"{title} {sum(counter.values())}" for title, counter in counters if counter is not None]
        print(f"{r['n']} symbols: " + "; ".join(notes))
        for title, counter in counters:
            if counter:
                print(f"  {title}: " + "; ".join(f"{count} × {text}" for text, count in counter.most_common(5)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 switches, 4 s windows, 1 s dwell (2 to 4 minutes)")
    p.add_argument("--symbols", default="2,200", help="comma-separated symbol counts (default 2,200)")
    p.add_argument("--switches", type=int, help="Screener/Chart round trips (default 10; 3 with --quick)")
    p.add_argument("--seconds", type=float, help="each Chart window and the Screener's, s (default 20; 4 --quick)")
    p.add_argument("--dwell", type=float, help="s on a tab between switches (default 1.5; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=300, help="the app's --warmup (default 300)")
    p.add_argument("--warm-limit", type=float, default=240, help="s to wait for every market's warm-up (240)")
    args = p.parse_args(argv)
    if not os.path.exists(latency.CHROMIUM):
        sys.exit(f"{latency.CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    counts = [int(x) for x in args.symbols.split(",")]
    k = args.switches or (3 if args.quick else 10)
    seconds = args.seconds or (4.0 if args.quick else 20.0)
    dwell = args.dwell or (1.0 if args.quick else 1.5)
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="screener-"))
    replays, apps, results = {}, {}, {}
    try:
        for n in counts:
            replays[n] = Replay(n, args.warmup, minutes=15)
        for replay in replays.values():
            replay.ready()
        for n in counts:
            apps[n] = App(n, replays[n], args.warmup, tmp)
        print(f"{', '.join(map(str, counts))} symbols: replays and apps started ({time.monotonic() - t0:.0f} s); "
              f"mapping {', '.join(replays[max(counts)].mapping[:3])}, …", flush=True)
        with ThreadPoolExecutor() as pool:  # each first page builds that app's hub and dashboard
            list(pool.map(App.start_hub, apps.values()))
        started = time.monotonic()
        waiting = set(counts)
        while waiting and time.monotonic() - started < args.warm_limit:
            for n in list(waiting):
                if apps[n].warmed() >= 2 * n:
                    results[n] = {"n": n, "warmup_s": time.monotonic() - started, "retries": apps[n].retries()}
                    waiting.discard(n)
            time.sleep(0.5)
        for n in waiting:
            results[n] = {"n": n, "error": f"warm-up incomplete after {args.warm_limit:.0f} s: {apps[n].warmed()} "
                                           f"of {2 * n} markets ({apps[n].retries()} REST calls retried)"}
        print("warm-ups: " + ", ".join(f"{n} symbols {r['warmup_s']:.0f} s" if "warmup_s" in r else
                                        f"{n} symbols failed" for n, r in sorted(results.items())), flush=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=latency.CHROMIUM, args=latency.CHROMIUM_ARGS)
            for n in sorted(counts, reverse=True):  # the largest first: the other hub idles meanwhile
                if "error" not in results[n]:
                    print(f"{n} symbols: measuring ({k} switches, {seconds:g} s windows) at "
                          f"{time.monotonic() - t0:.0f} s ...", flush=True)
                    try:
                        measure(browser, apps[n], replays[n], k, seconds, dwell, results[n])
                    except Exception as exc:  # noqa: BLE001 (reported below the table)
                        results[n]["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
                apps[n].stop()  # before the next app is measured
                replays[n].stop()
            browser.close()
    finally:
        for app in apps.values():
            app.stop()
        for replay in replays.values():
            replay.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    report([results[n] for n in counts], k)
    print(f"\n{time.monotonic() - t0:.0f} s in all, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
