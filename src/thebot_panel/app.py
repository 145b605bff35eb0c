"""Command-line options of the served app (``panel serve apps/live.py --args ...``) and the page they build."""

from __future__ import annotations

import argparse
import html
import logging

import panel as pn

from .binance.streams import INTERVALS, normalize_symbol, validate_interval
from .hub import FeedHub
from .sources import SOURCES
from .news import feed_urls

log = logging.getLogger("thebot_panel")


class OptionError(ValueError):
    """A command-line option the app cannot use; the message says which and why."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise OptionError(message)


def _symbols(text: str) -> list[str]:
    try:
        return [normalize_symbol(s) for s in text.split(",") if s.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _interval(text: str) -> str:
    try:
        return validate_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _news(text: str) -> list[str]:
    try:
        return feed_urls(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(text: str) -> float:
    try:
        speed = float(text)
    except ValueError:
        speed = -1
    if speed <= 0:
        raise argparse.ArgumentTypeError(f"invalid speed {text!r}: a positive number (1 = real time, 60 = "
                                         f"one 1m candle per second)")
    return speed


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="panel serve apps/live.py --args", description="thebot-panel live dashboard")
    p.add_argument("--source", choices=SOURCES, default="auto",
                   help="auto: Binance if reachable, else the bundled replay (default); binance; replay")
    p.add_argument("--symbols", type=_symbols, default=["BTCUSDT"], help="comma-separated, e.g. btcusdt,ethusdt")
    p.add_argument("--interval", type=_interval, default="1m", help=f"one of {' '.join(INTERVALS)}")
    p.add_argument("--speed", type=_speed, default=10.0, help="replay speed (1 = real time; default 10)")
    p.add_argument("--replay-data", nargs="+", default=None,
                   help="files or folders to replay: 1m kline CSVs, Binance archives, freqtrade candles, "
                        "thebot-record recordings (see README)")
    p.add_argument("--replay-start", default=None, help="replay clock start, ISO 8601 UTC or ms")
    p.add_argument("--replay-url", default=None, help="use a replay server already running at this URL")
    p.add_argument("--ws-url", default=None, help="override the Binance WebSocket base URL")
    p.add_argument("--rest-url", default=None, help="override the Binance REST base URL")
    p.add_argument("--warmup", type=int, default=1000, help="closed candles loaded before going live")
    p.add_argument("--history", type=int, default=5000,
                   help="closed candles kept per market, the newest (default 5000: 3.5 days of 1m candles)")
    p.add_argument("--confirm-interval", type=_interval, default="15m",
                   help="higher interval whose EMA(9)/EMA(21) trend confirms the confluence (default 15m)")
    p.add_argument("--broadcast-port", type=int, default=8765,
                   help="port of the event broadcast websocket ws://127.0.0.1:PORT/events (default 8765; -1: off)")
    p.add_argument("--news", type=_news, default=None,
                   help="comma-separated RSS/Atom feed URLs of the News tab (default: $THEBOT_NEWS_FEEDS, else "
                        "CoinDesk, Cointelegraph and Decrypt)")
    p.add_argument("--notify-config", default=None, help="TOML file of notification channels (webhook, discord, "
                                                          "slack, telegram, email); default: $THEBOT_NOTIFY_CONFIG")
    p.add_argument("--db", default=None, help="SQLite file of alerts and signals (default: $THEBOT_DB, else "
                                               "~/.local/share/thebot-panel/thebot.sqlite or the OS's user data dir)")
    return p


def hub_from_args(argv) -> FeedHub:
    """The process-wide hub for these options; ``OptionError`` with a readable message for bad ones."""
    args = parser().parse_args(list(argv))
    try:
        return FeedHub.shared(source=args.source, symbols=args.symbols, interval=args.interval, speed=args.speed,
                              warmup=args.warmup, history=args.history, ws_url=args.ws_url, rest_url=args.rest_url,
                              replay_url=args.replay_url, replay_data=args.replay_data,
                              replay_start=args.replay_start, db_path=args.db,
                              notify_config=args.notify_config, confirm_interval=args.confirm_interval,
                              news_urls=args.news,
                              broadcast_port=None if args.broadcast_port < 0 else args.broadcast_port)
    except ValueError as exc:
        raise OptionError(str(exc)) from None


def page(argv):
    """The dashboard for ``argv``, or a clear error panel (and one log line) when an option is bad; the error,
    which may quote the option's value, is HTML-escaped."""
    from .ui.dashboard import Dashboard

    try:
        hub = hub_from_args(argv)
    except OptionError as exc:
        log.error("bad option: %s", exc)
        return pn.pane.Alert(f"**Cannot start: {html.escape(str(exc))}**\n\n```\n{parser().format_usage()}```",
                             alert_type="danger", name="error")
    hub.ensure_started()
    return Dashboard(hub).template()
