"""``thebot-replay`` / ``python -m thebot_panel.replay``: serve recorded candles and ticks over Binance's protocol.

Prints the WebSocket and REST URLs and runs until Ctrl-C (or SIGTERM). Bad arguments print one
line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from .recording import Recording
from .server import ReplayServer

DEFAULT_PORT = 8765


def _speed(text: str) -> float | str:
    if text == "max":
        return text
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number or 'max', got {text!r}")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thebot-replay", description=(
        "Replay recorded Binance 1m candles and trade/aggTrade/bookTicker ticks as a local Binance spot server "
        "(kline, ticker, trade, aggTrade and bookTicker WebSocket streams and REST "
        "/api/v3/{ping,time,exchangeInfo,klines} on one port)."))
    p.add_argument("--data", nargs="+", metavar="PATH",
                   help="1m candle files (SYMBOL-1m-<range>.csv[.gz]; Binance archives "
                        "SYMBOL-1m-YYYY-MM[-DD].csv|.zip; freqtrade BASE_QUOTE-1m.feather|.json), WebSocket "
                        "recordings (thebot-record's *.ws.gz, *.hftbacktest.gz), or directories holding them "
                        "(default: the bundled sample)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help="port to listen on, 0 = any free one (default: %(default)s)")
    p.add_argument("--start", help="replay start: ISO-8601 time (UTC if no zone) or ms since the epoch "
                                   "(default: 7 days into the recording; the first tick when every candle "
                                   "comes from ticks)")
    p.add_argument("--speed", type=_speed, default=1.0,
                   help="replay speed: 1 = real time, 60 = one 1m candle per second, or 'max' (default: 1)")
    p.add_argument("--updates-per-candle", type=_positive_int, metavar="N",
                   help="x:false updates per 1m candle (default: clamp(300 // speed, 1, 30))")
    return p


async def _serve(server: ReplayServer) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    symbol = server.recording.symbols[0]
    streams = f"{symbol.lower()}@kline_1m"
    ticks = server.recording.ticks.get(symbol)
    if ticks is not None:
        streams += "".join(f"/{symbol.lower()}@{kind}" for kind, st in ticks.streams.items() if len(st))
    async with server:
        print(server.describe(), flush=True)
        print(f"websocket: {server.ws_url}/stream?streams={streams}  (or {server.ws_url}/ws/<stream>)", flush=True)
        print(f"rest:      {server.rest_url}/api/v3/klines?symbol={symbol}&interval=1m", flush=True)
        print("Ctrl-C to stop", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        recording = Recording.from_paths(args.data) if args.data else Recording.bundled()
        server = ReplayServer(recording, args.host, args.port, args.start, args.speed, args.updates_per_candle)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        parser.error(f"cannot listen on {args.host}:{args.port}: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
