"""thebot-record against a real ReplayServer on 127.0.0.1: what it records replays into the same market.

The recorder's receive-time clock is the replay server's clock here (injected), so an accelerated replay
crosses hour boundaries in seconds and the rotation can be checked. The recorded files are read back
independently (gzip + json) as well as by ``Recording.from_paths``.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import signal
import sys
import zlib
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import websockets

from recorded import FIXTURES
from thebot_panel.replay import Recording, ReplayServer, load_candles
from thebot_panel.replay.recorder import FrameLog, Recorder, main, stream_names

TICK_FILE = FIXTURES / "ticks" / "btcusdt_20240808_2354-2357.hftbacktest.gz"
AGG_FILE = FIXTURES / "ticks" / "xrpeth_20191011_0000-0100_aggTrade.ws.gz"
MIN, HOUR = 60_000, 3_600_000
NS = 1_000_000  # per ms
COLUMNS = ["open", "high", "low", "close", "volume"]


def ms(iso: str) -> int:
    return pd.Timestamp(iso).value // NS


def file_lines(path: Path) -> list[tuple[int, bytes]]:
    """``(receive ns, frame)`` per line of a recorded file, read with the standard gzip module."""
    with gzip.open(path, "rb") as f:
        return [(int(line[:line.index(b" ")]), line[line.index(b" ") + 1:].rstrip(b"\n")) for line in f]


def closed_klines(frames: list[bytes]) -> dict[str, list[dict]]:
    """Symbol -> the recorded x:true 1m klines (``k`` objects), in recorded order."""
    out: dict[str, list[dict]] = {}
    for raw in frames:
        msg = json.loads(raw)
        if msg.get("stream", "").endswith("@kline_1m") and msg["data"]["k"]["x"]:
            out.setdefault(msg["data"]["s"], []).append(msg["data"]["k"])
    return out


def kline_frame(klines: list[dict]) -> pd.DataFrame:
    index = pd.DatetimeIndex(pd.to_datetime([k["t"] for k in klines], unit="ms", utc=True), name="open_time")
    return pd.DataFrame({c: [float(k[c[0]]) for k in klines] for c in COLUMNS}, index=index)


async def record(server: ReplayServer, streams: list[str], until_ms: int, out: Path, to_the_end: bool = False,
                 **options) -> Recorder:
    """Record ``streams`` from ``server`` (started paused) from its start until its clock reaches ``until_ms``
    and, ``to_the_end``, the frames stop coming (a fast replay on a busy machine sends behind its clock); the
    recorder's clock is the server's (ns)."""
    recorder = Recorder(out, streams, server.ws_url, clock_ns=lambda: server.now_ms() * NS, flush_s=0.1, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(recorder.run(stop))
    async with asyncio.timeout(10):
        while server.connections_open < 1:
            await asyncio.sleep(0.01)
    server.resume()
    async with asyncio.timeout(60):
        while server.now_ms() < until_ms:
            await asyncio.sleep(0.05)
        received = -1
        while to_the_end and recorder.socket.counters.received != received:
            received = recorder.socket.counters.received
            await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, 10)
    assert recorder.reconnects == 0 and recorder.malformed == 0
    return recorder


@pytest.fixture(scope="module")
def bundled() -> Recording:
    return Recording.bundled()


async def test_recorded_klines_replay_into_the_recorded_candles_and_files_rotate_on_the_hour(bundled, tmp_path):
    start, until = ms("2025-08-01T00:40:30Z"), ms("2025-08-01T02:00:30Z")
    streams = stream_names(["btcusdt", "ethusdt"], ["kline_1m", "kline_5m", "ticker"])
    assert streams == ["btcusdt@kline_1m", "btcusdt@kline_5m", "btcusdt@ticker",
                       "ethusdt@kline_1m", "ethusdt@kline_5m", "ethusdt@ticker"]
    server = ReplayServer(bundled, start=start, speed=1200)
    server.pause()
    async with server:
        recorder = await record(server, streams, until, tmp_path)

    # rotation: a file per UTC hour, named by its start; the first by its first frame's receive time. (Usually
    # 00:4x, 01:00, 02:00; a busy machine may deliver the first frames after 01:00 of this fast replay's clock.)
    names = [p.name for p in sorted(tmp_path.iterdir())]
    assert names == [p.name for p in recorder.files] and len(names) >= 2
    starts = [pd.Timestamp(name.removesuffix(".ws.gz")).value // NS for name in names]
    assert starts[0] == file_lines(recorder.files[0])[0][0] // NS // 1000 * 1000  # to the second
    assert start <= starts[0] and starts[-1] == ms("2025-08-01T02:00Z")
    assert all(b == a - a % HOUR + HOUR for a, b in zip(starts, starts[1:]))  # consecutive hours
    lines = []
    for path, lo in zip(recorder.files, starts):
        in_file = file_lines(path)
        assert in_file and all(lo * NS <= ns < (lo - lo % HOUR + HOUR) * NS for ns, _ in in_file)
        lines += in_file
    assert len(lines) == recorder.frames > 300
    assert [ns for ns, _ in lines] == sorted(ns for ns, _ in lines)

    # the recording's candles are exactly the recorded x:true 1m klines, and the server's source candles
    recorded = closed_klines([raw for _, raw in lines])
    recording = Recording.from_paths(tmp_path)
    assert recording.symbols == ("BTCUSDT", "ETHUSDT") and not recording.ticks
    for symbol in recording.symbols:
        want = kline_frame(recorded[symbol])
        assert want.index[0] == pd.Timestamp("2025-08-01T00:40Z") and len(want) >= 30
        assert (np.diff(want.index.as_unit("ms").asi8) == MIN).all()
        pd.testing.assert_frame_equal(recording[symbol].frame(), want, check_exact=True)
        pd.testing.assert_frame_equal(want, bundled[symbol].frame().loc[want.index[0]:want.index[-1]],
                                      check_exact=True)
        pd.testing.assert_frame_equal(load_candles(tmp_path)[symbol], want, check_exact=True)

    # ...and replayed, the server answers them as they were recorded, to the decimal string
    async with ReplayServer(recording, start=recording.end, speed=1.0) as replay, httpx.AsyncClient() as client:
        for symbol in recording.symbols:
            r = await client.get(f"{replay.rest_url}/api/v3/klines", params={"symbol": symbol, "interval": "1m",
                                                                            "startTime": 0, "limit": 1000})
            rows = r.json()
            assert [[row[0], *row[1:6]] for row in rows] == [[k["t"], k["o"], k["h"], k["l"], k["c"], k["v"]]
                                                             for k in recorded[symbol]]


async def test_recorded_trades_and_book_tickers_replay_byte_for_byte(tmp_path):
    source = Recording.from_paths(TICK_FILE)
    server = ReplayServer(source, speed=60)  # starts at the first tick
    server.pause()
    async with server:
        await record(server, ["btcusdt@kline_1m", "btcusdt@trade", "btcusdt@bookTicker"], source.end + 1_000,
                     tmp_path, to_the_end=True)
    recording = Recording.from_paths(tmp_path)
    got, want = recording.ticks["BTCUSDT"], source.ticks["BTCUSDT"]
    for kind in ("trade", "bookTicker"):
        assert len(got.streams[kind]) == len(want.streams[kind]) > 1_000
        assert got.streams[kind].payload == want.streams[kind].payload
        assert got.streams[kind].ids.tolist() == want.streams[kind].ids.tolist()
    assert got.streams["trade"].time.tolist() == want.streams["trade"].time.tolist()
    assert not len(got.streams["aggTrade"]) and got.trades_kind == "trade"
    # 23:55 and 23:56 closed on the stream (recorded klines); 23:57 is the partial last minute, from the trades.
    # (23:54 is partial too; it is dropped when the recording starts after its first trade, which depends on the
    # bookTickers' receive times: on a busy machine this fast replay reaches the recorder late, the first frames less.)
    closed = closed_klines([raw for f in sorted(tmp_path.iterdir()) for _, raw in file_lines(f)])["BTCUSDT"]
    assert [k["t"] for k in closed] == [ms("2024-08-08T23:55Z"), ms("2024-08-08T23:56Z")]
    candles = recording["BTCUSDT"]
    from_klines = candles.frame()[~candles.derived]
    pd.testing.assert_frame_equal(from_klines, kline_frame(closed), check_exact=True)
    assert candles.derived[-1] and candles.open_time[-1] == ms("2024-08-08T23:57Z")
    pd.testing.assert_frame_equal(candles.frame().loc["2024-08-08T23:55Z":], source["BTCUSDT"].frame(),
                                  check_exact=True)


async def test_recorded_agg_trades_replay_on_their_own_stream(tmp_path):
    source = Recording.from_paths(AGG_FILE)
    assert source.ticks["XRPETH"].trades_kind == "aggTrade" and len(source.ticks["XRPETH"].streams["aggTrade"]) == 181
    server = ReplayServer(source, speed=1200)
    server.pause()
    async with server:
        await record(server, ["xrpeth@kline_1m", "xrpeth@aggTrade"], source.end + 1_000, tmp_path, to_the_end=True)
    recording = Recording.from_paths(tmp_path)
    assert recording.describe().startswith("XRPETH 1m + aggTrade ticks (XRPETH)")
    got, want = recording.ticks["XRPETH"].streams["aggTrade"], source.ticks["XRPETH"].streams["aggTrade"]
    assert got.payload == want.payload and got.time.tolist() == want.time.tolist() and len(got) == 181
    # the oracle: pandas over the fixture's aggTrades, minutes without a trade absent, the first (partial) dropped
    trades = pd.DataFrame([orjson.loads(p) for p in want.payload])
    trades.index = pd.DatetimeIndex(pd.to_datetime(trades["T"], unit="ms", utc=True), name="open_time")
    oracle = trades.assign(p=trades["p"].astype(float), q=trades["q"].astype(float)).resample("1min").agg(
        {"p": ["first", "max", "min", "last"], "q": "sum"}).dropna()
    oracle.columns = COLUMNS
    oracle = oracle.iloc[1:]
    frame = recording["XRPETH"].frame()
    assert len(frame) == len(oracle) == 48
    assert list(frame.index) == list(oracle.index)
    np.testing.assert_array_equal(frame[COLUMNS[:4]].to_numpy(), oracle[COLUMNS[:4]].to_numpy())
    np.testing.assert_allclose(frame["volume"].to_numpy(), oracle["volume"].to_numpy(), rtol=1e-12)
    assert not frame.index.to_series().diff().iloc[1:].eq(pd.Timedelta("1min")).all()  # gaps stay gaps
    # closed minutes come from the recorded x:true klines, the last (partial) one from the aggTrades
    assert recording["XRPETH"].derived[:-1].sum() == 0 and recording["XRPETH"].derived[-1]


# -- files: flushes, crashes, rotation -------------------------------------------------------------------


def kline_frame_text(open_time: int, close: str = "100.5") -> str:
    """A closed BTCUSDT 1m kline frame as Binance sends it on a combined stream (values made up)."""
    k = {"t": open_time, "T": open_time + MIN - 1, "s": "BTCUSDT", "i": "1m", "f": 1, "L": 2, "o": "100", "c": close,
         "h": "101", "l": "99", "v": "3.5", "n": 2, "x": True, "q": "350", "V": "1", "Q": "100", "B": "0"}
    event = {"e": "kline", "E": open_time + MIN, "s": "BTCUSDT", "k": k}
    return orjson.dumps({"stream": "btcusdt@kline_1m", "data": event}).decode()


def test_every_flush_leaves_a_complete_gzip_file_and_a_crash_loses_at_most_the_last_member(tmp_path, caplog):
    t0 = ms("2025-03-01T10:00Z")
    log = FrameLog(tmp_path, HOUR)
    sizes = []
    for k in range(3):  # three flushes, one candle each
        log.write([(t0 * NS + (k * MIN + MIN) * NS + 5, kline_frame_text(t0 + k * MIN))])
        path = log.files[0]
        sizes.append(path.stat().st_size)
        assert len(gzip.decompress(path.read_bytes()).splitlines()) == k + 1  # readable while being written
        member = zlib.decompressobj(wbits=31)
        assert member.decompress(path.read_bytes()[sizes[-2] if k else 0:]).count(b"\n") == 1 and member.eof
    assert len(Recording.from_paths(path)["BTCUSDT"]) == 3  # the open file replays
    data = path.read_bytes()
    for cut, kept in [(sizes[1] + (sizes[2] - sizes[1]) // 2, 2),  # a crash in the middle of the third member
                      (sizes[2] - 4, 3)]:  # ...in its trailer (its data is complete)
        path.write_bytes(data[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            candles = Recording.from_paths(path)["BTCUSDT"]
        assert candles.open_time.tolist() == [t0 + k * MIN for k in range(kept)]
        assert "last gzip member is incomplete" in caplog.text and path.name in caplog.text
    path.write_bytes(data + b"\x1f\x8b\x08\x00")  # a member cut off in its header
    assert len(Recording.from_paths(path)["BTCUSDT"]) == 3
    log.close()


def test_files_rotate_on_utc_boundaries_and_never_reopen(tmp_path):
    t = ms("2025-03-01T10:59:59.500Z") * NS
    log = FrameLog(tmp_path, HOUR)
    log.write([(t, "a")])
    log.close_ended(t + 499 * NS)
    assert log._file is not None
    log.write([(t + 499 * NS, "b\nc"), (t + 500 * NS, "d")])  # 11:00:00.000 opens the next file
    log.write([(t + 400 * NS, "e")])  # the clock stepped back: into the current file
    assert [p.name for p in log.files] == ["20250301T105959Z.ws.gz", "20250301T110000Z.ws.gz"]
    assert [raw for _, raw in file_lines(log.files[0])] == [b"a", b"b c"]  # a newline in a frame -> a space
    assert [raw for _, raw in file_lines(log.files[1])] == [b"d", b"e"]
    first = FrameLog(tmp_path / "b", HOUR)  # a first file opened late in its hour still closes on the hour
    first.write([(t, "a")])
    first.close_ended(t + 500 * NS)
    assert first._file is None and first.files[0].name == "20250301T105959Z.ws.gz"
    log.close_ended(ms("2025-03-01T11:59:59.999Z") * NS)
    assert log._file is not None
    log.close_ended(ms("2025-03-01T12:00Z") * NS)  # the period ended without a frame: closed (and fsynced)
    assert log._file is None
    log.write([(ms("2025-03-01T12:30Z") * NS, b"f")])
    assert log.files[-1].name == "20250301T120000Z.ws.gz" and log.frames == 5
    log.close()
    again = FrameLog(tmp_path, 24 * HOUR)  # a second recorder in the same directory and second
    again.write([(t + 500 * NS, "g")])
    again.close()
    assert again.files[0].name == "20250301T110000Z-2.ws.gz"


# -- a real socket: malformed frames, the CLI --------------------------------------------------------------


async def test_malformed_frames_are_recorded_as_received_and_counted(tmp_path, caplog):
    t0 = ms("2025-03-01T10:00Z")
    frames = [kline_frame_text(t0), "not json", '{"stream":"btcusdt@trade","data":{"e":"trade","s":"BTCUSDT"}}',
              json.dumps(json.loads(kline_frame_text(t0 + MIN, "100.25")), indent=1), kline_frame_text(t0 + 2 * MIN)]

    async def handler(ws):
        assert ws.request.path == "/stream?streams=btcusdt@kline_1m/btcusdt@trade"
        for frame in frames:
            await ws.send(frame)
        await ws.wait_closed()

    async with websockets.serve(handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        recorder = Recorder(tmp_path, ["btcusdt@kline_1m", "btcusdt@trade"], url, flush_s=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(recorder.run(stop))
        async with asyncio.timeout(10):
            while recorder.frames < len(frames):
                await asyncio.sleep(0.02)
        stop.set()
        await task
    assert recorder.frames == 5 and recorder.malformed == 2
    lines = [raw for path in recorder.files for _, raw in file_lines(path)]
    assert lines == [f.replace("\n", " ").encode() for f in frames]  # as received, one line each
    with caplog.at_level(logging.WARNING):
        candles = Recording.from_paths(tmp_path)["BTCUSDT"]
    assert candles.open_time.tolist() == [t0, t0 + MIN, t0 + 2 * MIN]
    assert candles.ohlcv["close"].tolist() == [100.5, 100.25, 100.5]
    assert "2 malformed frame(s) skipped" in caplog.text and "first on line 2" in caplog.text


@pytest.mark.parametrize("args, needles", [
    (["--streams", "kline_1m,aggtrade"], ["'aggtrade'", "did you mean aggTrade"]),
    (["--streams", "kline_7m"], ["'kline_7m'", "unknown interval '7m'"]),
    (["--streams", "kline"], ["'kline' needs an interval"]),
    (["--streams", "depth"], ["'depth'", "kline_<interval>"]),
    (["--symbols", "btc-usdt"], ["invalid symbol 'btc-usdt'"]),
    (["--rotate", "2d"], ["'2d'", "1m to 1d"]),
    (["--flush-seconds", "0"], ["--flush-seconds"]),
])
def test_cli_refuses_bad_arguments_naming_the_value(tmp_path, capsys, args, needles):
    base = {"--symbols": "btcusdt", "--streams": "kline_1m", "--out": str(tmp_path / "rec")}
    base.update(dict(zip(args[::2], args[1::2])))
    with pytest.raises(SystemExit) as stopped:
        main([x for pair in base.items() for x in pair])
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and all(n in err for n in needles) and "Traceback" not in err, err
    assert not (tmp_path / "rec").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_cli_records_until_a_signal_and_stops_cleanly(bundled, tmp_path, sig):
    async with ReplayServer(bundled, speed=600) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "thebot_panel.replay.recorder", "--symbols", "btcusdt,ethusdt",
            "--streams", "kline_1m", "--out", str(tmp_path), "--ws-url", server.ws_url, "--flush-seconds", "0.1",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            started = await asyncio.wait_for(proc.stdout.readline(), 20)
            assert b"recording 2 streams (btcusdt@kline_1m, ethusdt@kline_1m)" in started
            async with asyncio.timeout(20):  # read the file while it is being written
                while not (files := list(tmp_path.glob("*.ws.gz"))) or len(closed_klines(
                        [raw for _, raw in file_lines(files[0])]).get("ETHUSDT", [])) < 3:
                    await asyncio.sleep(0.1)
            proc.send_signal(sig)
            out, err = await asyncio.wait_for(proc.communicate(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err and f"{sig.name}: stopping".encode() in err
    files = sorted(tmp_path.iterdir())  # one, or two if the test ran across an hour (wall clock)
    frames = [raw for f in files for _, raw in file_lines(f)]
    assert f"recorded {len(frames):,} frames (0 malformed) into {len(files)} file(s)".encode() in out
    recording = Recording.from_paths(tmp_path)
    recorded = closed_klines(frames)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        want = kline_frame(recorded[symbol])
        assert len(want) >= 3
        pd.testing.assert_frame_equal(recording[symbol].frame(), want, check_exact=True)
        pd.testing.assert_frame_equal(want, bundled[symbol].frame().loc[want.index], check_exact=True)
