"""Pipeline throughput vs the bare socket, measured side by side in one run.

A ReplayServer (bundled BTCUSDT/ETHUSDT recording, ``speed="max"``: it sends as fast as the client
reads) runs in a child process on 127.0.0.1, so that server and client each have a core. Every run
gets a fresh server, hence the same messages: btcusdt and ethusdt @kline_1m/5m/15m/1h on one
combined-stream connection. The client is one of:

  (a) a bare websockets client that receives and counts the raw frames;
  (b) MarketSocket: receive, parse into typed events, queue; a consumer takes them off the queue;
  (c) (b) + the streamz graph: one MarketGraph per market (8) with the hub's default indicators and
      rules, each event pushed with ``source.push`` as ``FeedHub._consume`` does.

The clock starts at the first message and stops at the N-th after it. Rounds alternate a, b, c; each
row shows the round where the client used the least CPU (the least disturbed by other work).

Reading the output: "wall clock" is messages per second as received, and its ratio to (a); ``busy``
is client CPU / wall time. Well under 100 % means the client waited for the replay server (which
spends ~50 µs of CPU per message, more than a bare client): that row's wall msg/s is the server's
pace, not the client's. "client CPU" is what compares the clients whatever the server's pace: CPU
µs per message, the msg/s it allows on one core, and that rate's ratio to (a). "server µs/msg" is
the replay server's CPU per message. "graph alone" pushes the parsed events of a (b) run through
fresh graphs with no socket: the graph's own cost per event. The replay sends a few updates per candle (about one
kline in four closes a candle), Binance one every 2 s per stream (about one in a hundred over these 8 streams), so
the line after it times each push alone and weighs the forming and closed costs by Binance's share.

    .venv/bin/python benchmarks/pipeline.py            # N = 30,000 messages, 5 rounds
    .venv/bin/python benchmarks/pipeline.py --quick    # N = 10,000, 1 round, < 20 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import time

from websockets.asyncio.client import connect

from thebot_panel.binance.client import Connected, MarketSocket
from thebot_panel.binance.streams import interval_ms, stream_name
from thebot_panel.market.graph import MarketGraph
from thebot_panel.market.node import Node
from thebot_panel.presets import default_indicators, default_rules
from thebot_panel.replay import Recording, ReplayServer
from thebot_panel.signals.alerts import AlertManager

from procs import cpu_seconds

MARKETS = [(symbol, interval) for symbol in ("BTCUSDT", "ETHUSDT") for interval in ("1m", "5m", "15m", "1h")]
STREAMS = [stream_name(symbol, "kline", interval) for symbol, interval in MARKETS]
CLIENTS = {"socket": "(a) bare websockets", "parse": "(b) MarketSocket + parse", "graph": "(c) + streamz graph"}


def graphs() -> Node:
    """The hub's graph: one shared source and a MarketGraph per market with the default indicators and rules (kept
    on the source, as the hub keeps them: nothing else holds a graph)."""
    source, alerts = Node(asynchronous=True), AlertManager()
    source.markets = []
    for symbol, interval in MARKETS:
        indicators = default_indicators()
        source.markets.append(MarketGraph(source, symbol, interval, indicators, default_rules(indicators), alerts))
    return source


def serve(recording: Recording, conn) -> None:
    """Child process: a max-speed ReplayServer; sends its ws URL and serves until killed."""
    async def run():
        async with ReplayServer(recording, speed="max") as server:
            conn.send(server.ws_url)
            await asyncio.Event().wait()
    asyncio.run(run())


class Run:
    """Counts messages: times the n after the first, then kills the server at once (a client closing
    a max-speed replay would wait for its close timeout: the close frame queues behind data)."""

    def __init__(self, n: int, server):
        self.n, self.server, self.count = n, server, -1

    def _clocks(self) -> tuple[float, float, float]:
        return time.perf_counter(), time.process_time(), cpu_seconds(self.server.pid)

    def tick(self) -> bool:
        """One message received; True once the n-th timed message is in."""
        self.count += 1
        if self.count == 0:
            self.started = self._clocks()
        elif self.count == self.n:
            self.wall, self.cpu, self.server_cpu = (b - a for a, b in zip(self.started, self._clocks()))
            self.server.kill()
            return True
        return False


async def bare_socket(url: str, run: Run, captured: list) -> None:
    async with connect(url, max_size=2**22, compression=None) as ws:
        async for _ in ws:
            if run.tick():
                ws.transport.abort()  # no close handshake with the killed server
                return


async def market_socket(url: str, run: Run, captured: list, emit=None) -> None:
    socket = MarketSocket(url.split("/stream")[0], STREAMS)
    socket.start()
    try:
        while True:
            item = await socket.get()
            if type(item) is Connected:
                continue
            if emit is not None:
                emit(item)
            captured.append(item)
            if run.tick():
                break
    finally:  # the client may wait for its close timeout on the killed server's connection: not measured
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(socket.stop(), 0.5)
    if socket.counters.dropped:
        print(f"  note: MarketSocket dropped {socket.counters.dropped} events (queue full)")


async def graph_socket(url: str, run: Run, captured: list) -> None:
    await market_socket(url, run, captured, emit=graphs().push)  # graph built in the loop, as in the app


def run_client(client: str, recording: Recording, n: int, captured: list) -> tuple[float, float, float]:
    """One run against a fresh server: (wall s, client CPU s, server CPU s) for n messages."""
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("fork").Process(target=serve, args=(recording, child), daemon=True)
    server.start()
    url = f"{parent.recv()}/stream?streams={'/'.join(STREAMS)}"
    run = Run(n, server)
    coroutine = {"socket": bare_socket, "parse": market_socket, "graph": graph_socket}[client]
    asyncio.run(coroutine(url, run, captured))
    server.join()
    return run.wall, run.cpu, run.server_cpu


async def graph_alone(events: list) -> tuple[float, float, float]:
    """Seconds to push pre-parsed ``events`` through fresh graphs (no socket); then, on fresh graphs again, each
    push timed alone: the mean µs of a forming update and of a closed candle."""
    emit = graphs().push
    start = time.perf_counter()
    for event in events:
        emit(event)
    total = time.perf_counter() - start
    emit, clock, spent = graphs().push, time.perf_counter, {False: [], True: []}
    for event in events:
        start = clock()
        emit(event)
        spent[event.closed].append(clock() - start)
    return total, *(sum(spent[kind]) / max(1, len(spent[kind])) * 1e6 for kind in (False, True))


def binance_closed_share() -> float:
    """The share of closed klines on ``STREAMS`` at Binance's cadence (an update every 2 s per stream, whatever the
    interval: 1 in 30 closes a 1m candle, 1 in 1,800 a 1h one)."""
    return sum(2_000 / interval_ms(interval) for _, interval in MARKETS) / len(MARKETS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 messages, 1 round (< 20 s)")
    parser.add_argument("-n", type=int, help="messages per run (default 30,000; 10,000 with --quick)")
    parser.add_argument("--rounds", type=int, help="rounds of (a), (b), (c) (default 5; 1 with --quick)")
    args = parser.parse_args()
    n = args.n or (10_000 if args.quick else 30_000)
    rounds = args.rounds or (1 if args.quick else 5)
    recording = Recording.bundled()  # loaded once; the forked servers share it
    print(f"{n:,} messages of {len(STREAMS)} streams ({', '.join(STREAMS)}), best of {rounds} round(s) each")

    runs: dict[str, list] = {client: [] for client in CLIENTS}
    events: list = []
    for _ in range(rounds):
        for client in CLIENTS:
            captured: list = []
            runs[client].append(run_client(client, recording, n, captured))
            if client == "parse":
                events = captured
    best = {client: min(r, key=lambda run: run[1]) for client, r in runs.items()}  # least client CPU
    wall_a, cpu_a, _ = best["socket"]
    print(f"\n{'':26}{'wall clock':^21}{'client CPU':^28}{'server':>9}")
    print(f"{'client':26}{'msg/s':>8}{'/(a)':>6}{'busy':>7}{'µs/msg':>10}{'msg/s/core':>12}{'/(a)':>6}{'µs/msg':>9}")
    for client, label in CLIENTS.items():
        wall, cpu, server = best[client]
        print(f"{label:26}{n / wall:>8,.0f}{wall_a / wall:>6.2f}{cpu / wall:>7.0%}"
              f"{cpu / n * 1e6:>10.1f}{n / cpu:>12,.0f}{cpu_a / cpu:>6.2f}{server / n * 1e6:>9.1f}")

    alone, forming, closing = min((asyncio.run(graph_alone(events)) for _ in range(max(3, rounds))),
                                  key=lambda run: run[0])
    closed, share = sum(e.closed for e in events), binance_closed_share()
    print(f"\ngraph alone ({len(MARKETS)} markets, {len(events):,} parsed klines of which {closed:,} closed): "
          f"{alone / len(events) * 1e6:.1f} µs/event ({len(events) / alone:,.0f} events/s)")
    print(f"  each push timed alone: forming update {forming:.1f} µs, closed candle {closing:.1f} µs; "
          f"at Binance's cadence ({share:.1%} closed) {forming * (1 - share) + closing * share:.1f} µs/event")

if __name__ == "__main__":
    main()
