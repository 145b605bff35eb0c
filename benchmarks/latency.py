"""Latency from a kline's exchange event time to its data in the browser's chart, at 1, 10 and 100 kline updates/s.

What is measured: for each kline update of the charted market (BTCUSDT 1m), the time from its exchange event time
``E`` until the page's Bokeh source ``"candles"`` (the ``CandleChart``'s) holds its data, or newer data of that
chart (the view coalesces), in headless Chromium, on the served app. p50, p99, max and count per rate, side by side.

How. One child process runs a speed-1 ``ReplayServer`` (bundled recording) per run; per run, ``panel serve`` serves
this file, which runs ``apps/live.py`` unchanged with timing hooks on ``CandleChart``, with ``--source replay
--replay-url <that server>``. Every run's ``panel serve`` starts at the beginning, side by side, and stays idle
(no session, no feed) until its turn: then Debian's Chromium (never a downloaded one) opens its page, the run is
measured and its server stopped. The app runs with ``--warmup 500`` (the chart keeps 500 candles: the page holds
what it would with the default 1000; 300 with ``--quick``), ``--broadcast-port -1`` and news from a closed local port.

- Exchange time → wall time: at speed 1 the replay clock (``replay/clock.py``) is ``start + elapsed wall ms``, so
  ``wall(E) = E + offset``; the child reads ``time.time()`` beside ``now_ms()`` 100 times and keeps the least
  difference (``now_ms`` truncates to the ms).
- What was sent: an observer client (a thread) subscribes to the app's streams on its own connection, records
  every BTCUSDT 1m update (``E``, open time, close, volume, ``x``) and counts the rates.
- What the page applied: a hook on the source's ``streaming``/``patching`` signals and ``data`` change (BokehJS
  emits them synchronously as it applies the server's ``stream``/``patch``) records ``performance.timeOrigin +
  performance.now()`` and the rows at or after the last open time it has seen.
- Matched on (open_time, close, volume, closed): the close alone repeats within a candle, and an x:true has the
  close of the x:false before it. All times are this machine's wall clock; the page's clock is checked against
  Python's by round trips (the last line printed).
- In the served app, ``CandleChart._on_event`` and ``flush`` are wrapped to log when an update reaches the chart's
  buffer and when a flush starts and ends, which splits each latency into feed (E → chart buffer: the replay's
  send, socket, parse, graph), wait (buffer → next flush: the periodic callback, ``period_ms``, 50 ms in the app:
  the floor), flush (``CandleChart.flush``) and send (flush end → in the page: Bokeh's message, BokehJS).

Rates = kline updates/s the app receives on all its kline streams (the column ``kline/s`` is counted). Per 1m
candle, a market sends ``U`` (updates_per_candle) x:false and one x:true on its 1m stream, and ``U`` (+1 per 15) on
the 15m stream the app opens for the trend confirmation, so at speed 1 the rate is ``symbols × (2U + 1) / 60``:

    1/s    BTCUSDT           U = 29    (an update every ~2.07 s per stream: about Binance's 2 s cadence)
    10/s   BTCUSDT, ETHUSDT  U = 151
    100/s  BTCUSDT, ETHUSDT  U = 1499

U is chosen so that the updates' spacing (60000 // U ms) is no multiple of the flush period: their phase against the
periodic callback then walks through the whole period (as with many independent streams), instead of staying where
the page load put it (at U = 30, every update would wait the same time). The app also receives one 24 h ticker per
symbol with each x:false (``msg/s``). The chart shows BTCUSDT 1m: ``(U + 1) / 60`` of the updates per second.

Columns: "every update" = each update until it or a newer one of the chart is in the page (what a viewer waits);
"applied as sent" = only the updates the page got as they were sent: at 100/s the view sends the last of each
period, which is the one that arrived just before the flush, so this figure is biased low. ``missing`` = updates
with nothing newer in the page 2 s after the window. The last run is 10/s with the chart's ``period_ms`` set to 250
ms by this file (``--compare-period``; the app's own period before 2026-12-02), to show what the floor costs.

    .venv/bin/python benchmarks/latency.py           # 120 s at 1/s, 60 s at 10 and 100/s, 60 s at 10/s with 250 ms
    .venv/bin/python benchmarks/latency.py --quick   # 6 s each, no 250 ms run: about 1 minute
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from procs import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CHARTED = "BTCUSDT"
# rate (kline updates/s) -> symbols, updates_per_candle; speed 1 (see the docstring)
RATES = {1: (("BTCUSDT",), 29), 10: (("BTCUSDT", "ETHUSDT"), 151), 100: (("BTCUSDT", "ETHUSDT"), 1499)}

# The page side: record when rows reach the source, from the hook on.
HOOK_JS = """() => {
  const src = window.Bokeh && Bokeh.documents[0] && Bokeh.documents[0].get_model_by_name('candles');
  if (!src || !src.get_length()) return false;
  if (window.__latency) return true;
  const rec = window.__latency = {rows: [], seen: new Set(), last: -Infinity};
  const grab = () => {
    const t = performance.timeOrigin + performance.now(), d = src.data, ot = d.open_time;
    for (let i = ot.length - 1; i >= 0 && ot[i] >= rec.last; i--) {
      const row = [t, ot[i], d.close[i], d.volume[i], d.alpha[i] === 1], key = row.slice(1).join('|');
      if (!rec.seen.has(key)) { rec.seen.add(key); rec.rows.push(row); }
    }
    if (ot.length) rec.last = Math.max(rec.last, ot[ot.length - 1]);
  };
  src.streaming.connect(grab); src.patching.connect(grab); src.properties.data.change.connect(grab);
  grab();
  return true;
}"""


# ---- served side: `panel serve benchmarks/latency.py` runs apps/live.py with timing hooks --------------------------

def _serve_instrumented() -> None:
    """Wrap ``CandleChart._on_event``/``flush`` to log (to $THEBOT_LATENCY_LOG) when updates reach the chart's buffer
    and when flushes run; optionally override ``period_ms`` ($THEBOT_LATENCY_PERIOD_MS); then run apps/live.py."""
    import runpy

    from thebot_panel.market.messages import Analysis
    from thebot_panel.ui.chart import CandleChart

    if not getattr(CandleChart, "_latency_hooked", False):
        log = open(os.environ["THEBOT_LATENCY_LOG"], "a", buffering=1)
        on_event, flush = CandleChart._on_event, CandleChart.flush

        def _on_event(self, x):
            if type(x) is Analysis:
                now, k = time.time() * 1000, x.candle.kline
                log.write(f"b {now!r} {k.open_time} {k.close!r} {k.volume!r} {int(k.closed)}\n")
            on_event(self, x)

        def _flush(self):
            pending, t0 = bool(self._pending), time.time() * 1000
            flush(self)
            if pending:
                log.write(f"f {t0!r} {time.time() * 1000!r} {self.period_ms}\n")

        CandleChart._on_event, CandleChart.flush, CandleChart._latency_hooked = _on_event, _flush, True
        if period := int(os.environ.get("THEBOT_LATENCY_PERIOD_MS") or 0):
            CandleChart.param.period_ms.default = period
    runpy.run_path(str(ROOT / "apps" / "live.py"), run_name=__name__)


# ---- benchmark side ------------------------------------------------------------------------------------------------

def replay_child(upcs: list[int], conn) -> None:
    """Child process: one speed-1 ``ReplayServer`` per ``updates_per_candle`` in ``upcs``, all listening (a server
    without a connection sends nothing) until anything arrives on ``conn``. Sends a list of (rest_url, ws_url,
    offset) first, offset = wall clock - replay clock in ms: the least of 100 readings (``now_ms`` truncates)."""
    from thebot_panel.replay import Recording, ReplayServer

    async def offset(server) -> float:
        readings = []
        for _ in range(100):
            readings.append(time.time() * 1000 - server.now_ms())
            await asyncio.sleep(0.0007)
        return min(readings)

    async def run():
        recording = Recording.bundled()
        servers = [ReplayServer(recording, speed=1.0, updates_per_candle=upc) for upc in upcs]
        for server in servers:
            await server.start()
        conn.send([(server.rest_url, server.ws_url, await offset(server)) for server in servers])
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        for server in servers:
            await server.stop()
    asyncio.run(run())


class Observer(threading.Thread):
    """Subscribes to ``streams`` and records the charted stream's updates ``(recv ms, E, open_time, close, volume,
    closed)`` and the receive times of every kline and ticker message."""

    def __init__(self, ws_url: str, streams: list[str], charted: str):
        super().__init__(daemon=True)
        self.url, self.charted = f"{ws_url}/stream?streams={'/'.join(streams)}", charted
        self.updates, self.klines, self.messages = [], [], []
        self.stop, self.connected = threading.Event(), threading.Event()

    def run(self) -> None:
        import orjson
        from websockets.sync.client import connect

        with connect(self.url, max_size=None, compression=None) as ws:
            self.connected.set()
            while not self.stop.is_set():
                try:
                    raw = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                now = time.time() * 1000
                msg = orjson.loads(raw)
                self.messages.append(now)
                if msg["data"].get("e") == "kline":
                    self.klines.append(now)
                    if msg["stream"] == self.charted:
                        e, k = msg["data"]["E"], msg["data"]["k"]
                        self.updates.append((now, e, k["t"], float(k["c"]), float(k["v"]), bool(k["x"])))


class App:
    """``panel serve benchmarks/latency.py --args <app_args>`` on a free port, started at once (all runs' servers
    start side by side, then idle until their page opens); ``url()`` waits until it answers."""

    def __init__(self, app_args: list[str], env: dict[str, str], log: Path):
        self.port, self.log = free_port(), log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "panel", "serve", __file__, "--address", "127.0.0.1", "--port", str(self.port),
                 "--allow-websocket-origin", f"127.0.0.1:{self.port}", "--args", *app_args],
                cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)

    def url(self, timeout: float = 90) -> str:
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):  # a static file: no session made for the probe
                if httpx.get(f"http://127.0.0.1:{self.port}/static/js/bokeh.min.js", timeout=30).status_code == 200:
                    return f"http://127.0.0.1:{self.port}/latency"
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"panel serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def stop(self, wait: bool = False) -> None:
        self.proc.terminate()
        if wait:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(15)
            self.proc.kill()


def clock_skew(page) -> tuple[float, float]:
    """The page's clock minus Python's (ms) from the tightest of 20 round trips, and half that round trip."""
    best = None
    for _ in range(20):
        t0 = time.time() * 1000
        t = page.evaluate("() => performance.timeOrigin + performance.now()")
        t1 = time.time() * 1000
        if best is None or t1 - t0 < best[1] * 2:
            best = (t - (t0 + t1) / 2, (t1 - t0) / 2)
    return best


def measure(browser, app: App, replay: tuple, run: dict, seconds: float, quick: bool) -> dict:
    """Open ``app``'s page, hook its source and record ``seconds`` of ``run``'s updates; stops ``app``. Returns
    ``run`` with what the observer, the app and the page recorded."""
    settle, tail = (1.0, 1.0) if quick else (2.0, 2.0)  # after the hook, before counting; after, for the last to land
    rest_url, ws_url, offset = replay
    streams = [f"{s.lower()}@{kind}" for s in run["symbols"] for kind in ("kline_1m", "kline_15m", "ticker")]
    observer = Observer(ws_url, streams, f"{CHARTED.lower()}@kline_1m")
    observer.start()
    observer.connected.wait(30)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(app.url())
        deadline = time.monotonic() + 90
        while not page.evaluate(HOOK_JS):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the chart's source 'candles' never filled:\n{app.log.read_text()}")
            page.wait_for_timeout(100)
        skew = clock_skew(page)
        start = time.time() * 1000 + settle * 1000
        end = start + seconds * 1000
        page.wait_for_timeout((settle + seconds + tail) * 1000)
        rows = page.evaluate("() => window.__latency.rows")
        page.close()
    finally:
        app.stop()
        observer.stop.set()
        observer.join(5)
    return {**run, "offset": offset, "start": start, "end": end, "skew": skew, "sent": observer.updates,
            "page": rows, "klines": observer.klines, "messages": observer.messages,
            "app": Path(run["log"]).read_text().split("\n")}


def analyse(run: dict) -> dict:
    """Latencies (ms) of the run's updates sent within its window."""
    offset, start, end = run["offset"], run["start"], run["end"]
    sent = run["sent"]
    key = lambda t, c, v, x: (int(t), c, v, bool(x))  # noqa: E731
    applied = {}
    for t, *rest in sorted(run["page"]):
        applied.setdefault(key(*rest), t)
    buffered, flushes, period = {}, [], None
    for line in run["app"]:
        parts = line.split()
        if parts and parts[0] == "b":
            buffered.setdefault(key(parts[2], float(parts[3]), float(parts[4]), parts[5] == "1"), float(parts[1]))
        elif parts and parts[0] == "f":
            flushes.append((float(parts[1]), float(parts[2])))
            period = int(parts[3])
    flushes = np.array(sorted(flushes)).reshape(-1, 2)  # (start, end) ms
    # the page time at or after each sent update: the first later-or-equal update that was applied
    shown_at = np.full(len(sent), np.nan)
    nxt = np.nan
    for i in range(len(sent) - 1, -1, -1):
        t = applied.get(key(*sent[i][2:]))
        if t is not None:
            nxt = t if np.isnan(nxt) else min(nxt, t)
        shown_at[i] = nxt
    out = {k: [] for k in ("every", "as_sent", "feed", "wait", "flush", "send", "socket")}
    missing = 0
    for i, (recv, e, *k) in enumerate(sent):
        wall = e + offset
        if not start <= wall < end:
            continue
        out["socket"].append(recv - wall)
        if np.isnan(shown_at[i]):
            missing += 1
            continue
        out["every"].append(shown_at[i] - wall)
        if (t := applied.get(key(*k))) is not None:
            out["as_sent"].append(t - wall)
        b = buffered.get(key(*k))
        if b is not None and (j := np.searchsorted(flushes[:, 0], b)) < len(flushes):
            (f0, f1) = flushes[j]
            out["feed"].append(b - wall)
            out["wait"].append(f0 - b)
            out["flush"].append(f1 - f0)
            out["send"].append(shown_at[i] - f1)
    seconds = (end - start) / 1000
    count = lambda times: sum(start <= t < end for t in times) / seconds  # noqa: E731
    return {**{k: np.array(v) for k, v in out.items()}, "missing": missing, "period": period,
            "kline_rate": count(run["klines"]), "message_rate": count(run["messages"])}


def pct(a: np.ndarray, q: float) -> str:
    return f"{np.percentile(a, q):7.1f}" if len(a) else "     --"


def report(results: list[tuple[dict, dict]]) -> None:
    print("\nlatency (ms): exchange event time E -> data in the page's 'candles' source, headless Chromium")
    print(f"{'':>34}{'every update':^29}  {'applied as sent':^29}")
    print(f"{'rate sym     U period kline/s msg/s':34}{'n':>8}{'p50':>7}{'p99':>7}{'max':>7}  "
          f"{'n':>8}{'p50':>7}{'p99':>7}{'max':>7}  missing")
    for run, a in results:
        ev, sent = a["every"], a["as_sent"]
        print(f"{run['rate']:>3}/s {len(run['symbols']):>2} {run['upc']:>5} {a['period']:>6} {a['kline_rate']:>7.1f}"
              f"{a['message_rate']:>6.0f}{len(ev):>8}{pct(ev, 50)}{pct(ev, 99)}{pct(ev, 100)}  "
              f"{len(sent):>8}{pct(sent, 50)}{pct(sent, 99)}{pct(sent, 100)}  {a['missing']:>7}")
    print("\nwhere the time goes, every update (p50 / p99 ms): feed = E -> chart buffer (replay send, socket, parse,"
          "\ngraph); wait = buffer -> next flush (the periodic callback: the floor; p50 = period/2 and p99 = 0.99 x"
          "\nperiod if updates come at random times); flush = CandleChart.flush(); send = flush end -> in the page"
          "\n(Bokeh's message, BokehJS); share = wait / latency, of the means; socket = E -> received by an observer")
    print(f"{'rate period':11}{'feed':>16}{'wait':>16}{'flush':>16}{'send':>16}{'share':>7}{'socket':>16}")
    for run, a in results:
        parts = "".join(f"{pct(a[k], 50)} /{pct(a[k], 99)}" for k in ("feed", "wait", "flush", "send"))
        share = a["wait"].mean() / (a["feed"] + a["wait"] + a["flush"] + a["send"]).mean() if len(a["wait"]) else 0
        socket = f"{pct(a['socket'], 50)} /{pct(a['socket'], 99)}"
        print(f"{run['rate']:>3}/s {a['period']:>5}{parts}{share:>7.0%}{socket}")
    skews = ", ".join(f"{run['skew'][0]:+.2f} ± {run['skew'][1]:.2f}" for run, _ in results)
    print(f"\npage clock - Python's clock, ms (± half the round trip), per run: {skews}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="6 s per rate, warm-up 300 candles, no period comparison: about a minute")
    p.add_argument("--seconds", type=float, default=None, help="window per run (default 120 s at 1/s, else 60)")
    p.add_argument("--rates", default="1,10,100", help="comma-separated, of 1, 10, 100 (default: all)")
    p.add_argument("--compare-period", default=None, help="also run 10/s with the chart's period_ms set to each of "
                   "these comma-separated ms (default 250; none with --quick; 0: none)")
    args = p.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    compare = args.compare_period or ("0" if args.quick else "250")
    plan = [(int(r), None) for r in args.rates.split(",")] + [(10, int(ms)) for ms in compare.split(",") if int(ms)]
    from playwright.sync_api import sync_playwright

    t0 = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="latency-"))
    runs = []
    for i, (rate, period) in enumerate(plan):
        symbols, upc = RATES[rate]
        runs.append({"rate": rate, "symbols": symbols, "upc": upc, "log": str(tmp / f"app-{i}.log")})
    ctx = multiprocessing.get_context("spawn")
    conn, child = ctx.Pipe()
    replay = ctx.Process(target=replay_child, args=([run["upc"] for run in runs], child), daemon=True)
    replay.start()
    replays = conn.recv()
    apps = []
    for run, (rest_url, _, _), (_, period) in zip(runs, replays, plan):
        args_ = ["--source", "replay", "--replay-url", rest_url, "--symbols", ",".join(run["symbols"]),
                 "--interval", "1m", "--warmup", "300" if args.quick else "500", "--broadcast-port", "-1",
                 "--news", "http://127.0.0.1:9/none.xml",  # a closed port: nothing fetched from the internet
                 "--db", str(tmp / "db.sqlite")]
        env = {"THEBOT_LATENCY_LOG": run["log"], "THEBOT_LATENCY_PERIOD_MS": str(period or "")}
        apps.append(App(args_, env, Path(run["log"]).with_suffix(".serve.log")))
    results = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for run, app, replay_info, (_, period) in zip(runs, apps, replays, plan):
                seconds = args.seconds or (6 if args.quick else 120 if run["rate"] == 1 else 60)
                print(f"{run['rate']}/s, chart period {f'{period} ms' if period else 'as the app has it'}: "
                      f"{seconds:g} s ...", flush=True)
                done = measure(browser, app, replay_info, run, seconds, args.quick)
                results.append((done, analyse(done)))
            browser.close()
    finally:
        for app in apps:
            app.stop(wait=True)
        conn.send(None)
        replay.join(10)
        replay.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    report(results)
    print(f"\n{time.monotonic() - t0:.0f} s in all, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
elif __name__.startswith("bokeh_app_"):  # served by `panel serve benchmarks/latency.py`
    _serve_instrumented()
