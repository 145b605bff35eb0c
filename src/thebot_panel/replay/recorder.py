"""``thebot-record``: record Binance market streams, frame by frame, into files the replay reads back.

    thebot-record --symbols btcusdt,ethusdt --streams kline_1m,aggTrade,bookTicker --out DIR

**Lines**: one frame per line, ``<receive time> <frame exactly as received>``, the line format of the
hftbacktest collector, so the replay's one reader serves both (``replay.recording``). The receive time
is an integer number of **nanoseconds** since the Unix epoch, UTC, on the recorder's clock
(``time.time_ns()``) when the frame was read from the socket. Frames are the combined-stream text Binance
sends (``{"stream": "btcusdt@aggTrade", "data": {...}}``), control replies and malformed frames included:
it is a recorder (malformed frames are counted). Newline characters in a frame (never in Binance's
compact JSON) are written as spaces, so that a line stays one frame.

**Files**: ``DIR/YYYYMMDDTHHMMSSZ.ws.gz``, gzip, one per rotation period: ``--rotate`` is a kline
interval from 1m to 1d (default 1h), the periods are UTC-aligned multiples of it, and a file holds the
frames received in its period (a clock stepped back across a boundary writes into the current file). A
file is named by its period's start, the recorder's first one by its first frame's receive time (to the
second); a taken name gets ``-2``, ``-3``...

**Crash safety**: every flush (every ``--flush-seconds``, default 1, or as soon as 10,000 frames wait)
appends the waiting lines to the file as one complete gzip member and hands it to the OS. A file is thus
a valid (multi-member) gzip file after every flush, which ``zcat`` and the replay read while it is being
written; after a crash it is readable up to its last flush (at most a partial member at its end, which
the replay drops with a warning). A file is fsynced and closed when its period ends (also when no frame
arrives) and when the recorder stops.

**Connection**: ``binance.client.MarketSocket`` with its raw-frame hook ``on_frame``: reconnects with
backoff and jitter, within the connection budget, before the 24-hour limit and on ``serverShutdown``.
What is sent while disconnected is lost: the recording has a gap there, and the log says so.

SIGINT/SIGTERM stop it cleanly: the socket closes, the waiting lines are written, the file is closed,
and a summary is printed. Bad arguments print one line on stderr and exit with code 2; a failure to
write exits with code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..binance.client import BINANCE_WS_URL, Connected, MarketSocket
from ..binance.streams import INTERVALS, MINUTE_MS, STREAM_KINDS, normalize_symbol, stream_name, validate_interval

log = logging.getLogger(__name__)

#: ``--rotate`` values: kline intervals from 1m to 1d (all divide a day), and two words for the usual ones.
ROTATIONS = {name: ms for name, ms in INTERVALS.items() if ms and MINUTE_MS <= ms <= 1_440 * MINUTE_MS}
ROTATION_WORDS = {"hourly": "1h", "daily": "1d"}
#: Frames waiting that make the recorder flush before its period.
FLUSH_FRAMES = 10_000
#: gzip level: zlib's default; ~5x smaller than the JSON at a few ms per MB.
COMPRESS_LEVEL = 6
FILE_SUFFIX = ".ws.gz"


def rotation_ms(rotate: str) -> int:
    """The length in ms of a ``--rotate`` value (``"1h"``, ``"15m"``, ``"1d"``, ``"hourly"``, ``"daily"``);
    ``ValueError`` naming it otherwise."""
    length = ROTATIONS.get(ROTATION_WORDS.get(rotate, rotate))
    if length is None:
        raise ValueError(f"cannot rotate files every {rotate!r}: use a kline interval from 1m to 1d "
                         f"({' '.join(ROTATIONS)}), or hourly / daily")
    return length


def stream_names(symbols: Iterable[str], kinds: Iterable[str]) -> list[str]:
    """Binance stream names for every symbol and stream kind, e.g. ``(["btcusdt"], ["kline_1m", "aggTrade"])``
    -> ``["btcusdt@kline_1m", "btcusdt@aggTrade"]``; ``ValueError`` naming a bad symbol or kind."""
    symbols, kinds = [normalize_symbol(s) for s in symbols], list(kinds)
    if not symbols or not kinds:
        raise ValueError("give at least one symbol and one stream kind")
    parsed = []
    for kind in kinds:
        name, _, interval = kind.partition("_")
        if name == "kline":
            if not interval:
                raise ValueError("stream kind 'kline' needs an interval, e.g. kline_1m")
            try:
                validate_interval(interval)
            except ValueError as exc:
                raise ValueError(f"stream kind {kind!r}: {exc}") from None
            parsed.append(("kline", interval))
        elif kind in STREAM_KINDS:
            parsed.append((kind, None))
        else:
            known = [k for k in STREAM_KINDS if k != "kline"]
            near = next((k for k in known if k.lower() == kind.lower()), None)
            hint = f" (did you mean {near}? Binance's names are case-sensitive)" if near else ""
            raise ValueError(f"unknown stream kind {kind!r}{hint}: use kline_<interval> "
                             f"(intervals {' '.join(INTERVALS)}), {', '.join(known)}")
    names = [stream_name(symbol, kind, interval) for symbol in symbols for kind, interval in parsed]
    return list(dict.fromkeys(names))


class FrameLog:
    """``<receive ns> <frame>`` lines in gzip files under ``out``, rotated every ``rotate_ms`` (UTC-aligned),
    one gzip member per ``write`` (see the module doc). Blocking I/O: use it from one thread at a time.

    ``files``: every file written, in order. ``frames``: lines written.
    """

    def __init__(self, out: Path, rotate_ms: int):
        self.out, self.rotate_ms = Path(out), rotate_ms
        self.files: list[Path] = []
        self.frames = 0
        self._file = None
        self._period = 0  # start (ms) of the open file's period
        self._in_file = 0

    def write(self, lines: list[tuple[int, str | bytes]]) -> None:
        """Append ``(receive ns, frame)`` lines, in receive order: a gzip member per file they go to."""
        chunk: list[bytes] = []
        for ns, raw in lines:
            period = ns // 1_000_000 // self.rotate_ms * self.rotate_ms
            if self._file is None or period > self._period:
                self._append(chunk)
                chunk = []
                self._close()
                self._open(period, ns)
            data = raw.encode() if isinstance(raw, str) else raw
            chunk.append(b"%d %s\n" % (ns, data.replace(b"\n", b" ")))
        self._append(chunk)

    def close_ended(self, now_ns: int) -> None:
        """Close the open file if its period ended by ``now_ns`` (the next frame opens the next file)."""
        if self._file is not None and now_ns // 1_000_000 >= self._period + self.rotate_ms:
            self._close()

    def close(self) -> None:
        self._close()

    def _open(self, period: int, first_ns: int) -> None:
        self._period = period
        start = period if self.files else max(period, first_ns // 1_000_000 // 1000 * 1000)  # to the second
        stem = f"{pd.Timestamp(start, unit='ms'):%Y%m%dT%H%M%SZ}"
        self.out.mkdir(parents=True, exist_ok=True)
        for n in range(1, 10_000):
            path = self.out / f"{stem}{'' if n == 1 else f'-{n}'}{FILE_SUFFIX}"
            try:
                self._file = open(path, "xb")
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(f"{self.out}: no free name for {stem}{FILE_SUFFIX}")
        self.files.append(path)
        self._in_file = 0

    def _append(self, chunk: list[bytes]) -> None:
        if chunk:
            self._file.write(gzip.compress(b"".join(chunk), COMPRESS_LEVEL, mtime=0))
            self._file.flush()
            self.frames += len(chunk)
            self._in_file += len(chunk)

    def _close(self) -> None:
        if self._file is not None:
            f, self._file = self._file, None
            try:
                f.flush()
                os.fsync(f.fileno())
            finally:
                f.close()
            log.info("closed %s: %d frames", f.name, self._in_file)


@dataclass
class Recorder:
    """Records ``streams`` (Binance stream names, e.g. ``btcusdt@kline_1m``) from ``ws_url`` into ``out`` (see
    the module doc): ``await run(stop)`` until ``stop`` is set.

    ``rotate``: a ``--rotate`` value; ``flush_s``: seconds between flushes; ``clock_ns``: the receive-time
    clock (ns since the epoch, UTC), which also drives rotation; ``socket_options``: more ``MarketSocket``
    arguments. After or during ``run``: ``frames`` (written), ``malformed`` (frames the parser refused, written
    too), ``reconnects``, ``files``.
    """

    out: Path
    streams: list[str]
    ws_url: str = BINANCE_WS_URL
    rotate: str = "1h"
    flush_s: float = 1.0
    clock_ns: Callable[[], int] = time.time_ns
    socket_options: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.flush_s > 0:
            raise ValueError(f"flush_s must be a positive number of seconds, got {self.flush_s!r}")
        self.frame_log = FrameLog(Path(self.out), rotation_ms(self.rotate))
        self.socket = MarketSocket(self.ws_url, self.streams, on_frame=self._on_frame, **self.socket_options)
        self._pending: list[tuple[int, str | bytes]] = []
        self._due = asyncio.Event()

    @property
    def frames(self) -> int:
        return self.frame_log.frames

    @property
    def malformed(self) -> int:
        return self.socket.counters.malformed

    @property
    def reconnects(self) -> int:
        return self.socket.counters.reconnects

    @property
    def files(self) -> list[Path]:
        return list(self.frame_log.files)

    def _on_frame(self, raw: str | bytes) -> None:
        self._pending.append((self.clock_ns(), raw))
        if len(self._pending) >= FLUSH_FRAMES:
            self._due.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Record until ``stop`` is set, then close the socket, write what waits and close the file.
        Raises ``OSError`` when a file cannot be written (the socket is closed first)."""
        self.socket.start()
        drain = asyncio.get_running_loop().create_task(self._drain())
        stopping = asyncio.get_running_loop().create_task(stop.wait())
        try:
            while not stop.is_set():
                waking = asyncio.ensure_future(self._due.wait())
                await asyncio.wait([stopping, waking], timeout=self.flush_s, return_when=asyncio.FIRST_COMPLETED)
                waking.cancel()
                await self._flush()
        finally:
            stopping.cancel()
            await self.socket.stop()
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            try:
                await self._flush()
            finally:
                await asyncio.to_thread(self.frame_log.close)

    async def _flush(self) -> None:
        self._due.clear()
        lines, self._pending = self._pending, []
        await asyncio.to_thread(self._write, lines, self.clock_ns())

    def _write(self, lines: list[tuple[int, str | bytes]], now_ns: int) -> None:
        if lines:
            self.frame_log.write(lines)
        self.frame_log.close_ended(now_ns)

    async def _drain(self) -> None:
        """Empty the socket's queue of parsed events (the recorder keeps the raw frames); log the reconnects."""
        while True:
            item = await self.socket.get()
            if type(item) is Connected:
                if item.resync:
                    log.warning("reconnected to %s: what was sent while disconnected is missing from the recording",
                                self.ws_url)
                else:
                    log.info("connected to %s", self.ws_url)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thebot-record", description=(
        "Record Binance market streams frame by frame into gzip files (one line per frame: receive time in ns "
        "since the epoch, a space, the frame as received), rotated on UTC boundaries; thebot-replay --data DIR "
        "replays them."))
    p.add_argument("--symbols", nargs="+", required=True, metavar="SYMBOL",
                   help="symbols, comma- or space-separated, e.g. btcusdt,ethusdt")
    p.add_argument("--streams", nargs="+", default=["kline_1m"], metavar="KIND",
                   help="stream kinds, comma- or space-separated: kline_<interval>, trade, aggTrade, bookTicker, "
                        "ticker (default: kline_1m)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory of the recording (created)")
    p.add_argument("--ws-url", default=BINANCE_WS_URL,
                   help="WebSocket endpoint (default: %(default)s; a thebot-replay server: ws://127.0.0.1:8765)")
    p.add_argument("--rotate", default="1h",
                   help="a new file every: a kline interval from 1m to 1d, or hourly / daily, UTC-aligned "
                        "(default: %(default)s)")
    p.add_argument("--flush-seconds", type=float, default=1.0, metavar="S",
                   help="write what was received every S seconds (default: %(default)s)")
    return p


def _split(values: list[str]) -> list[str]:
    return [v for value in values for v in value.split(",") if v.strip()]


async def _record(recorder: Recorder) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stopping(sig: signal.Signals) -> None:
        log.info("%s: stopping", sig.name)
        stop.set()
        loop.remove_signal_handler(sig)  # a second one stops at once
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    print(f"recording {len(recorder.streams)} streams ({', '.join(recorder.streams[:6])}"
          f"{', …' if len(recorder.streams) > 6 else ''}) from {recorder.ws_url} into {recorder.out}, "
          f"a new file every {recorder.rotate} (UTC); Ctrl-C to stop", flush=True)
    await recorder.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        streams = stream_names(_split(args.symbols), _split(args.streams))
        if not args.flush_seconds > 0:
            raise ValueError(f"--flush-seconds must be a positive number, got {args.flush_seconds}")
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {args.out}: exists and is not a directory")
        recorder = Recorder(args.out, streams, args.ws_url, args.rotate, args.flush_seconds)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_record(recorder))
    except OSError as exc:
        print(f"thebot-record: error: cannot write the recording: {exc}", file=sys.stderr)
        return 1
    print(f"recorded {recorder.frames:,} frames ({recorder.malformed:,} malformed) into {len(recorder.files)} "
          f"file(s) in {recorder.out}; {recorder.reconnects} reconnect(s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
