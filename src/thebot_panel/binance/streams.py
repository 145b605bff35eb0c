"""Binance stream names, kline intervals and symbol syntax.

Source: Binance spot WebSocket market streams docs ("Kline/Candlestick Streams",
"Live Subscribing/Unsubscribing"). Stream names are lowercase, e.g. ``btcusdt@kline_1m``.
"""

from __future__ import annotations

import re

MINUTE_MS = 60_000

#: Kline intervals Binance spot accepts, with their length in ms ("1M" is a calendar month: no fixed length).
INTERVALS: dict[str, int | None] = {
    "1s": 1_000,
    "1m": MINUTE_MS,
    "3m": 3 * MINUTE_MS,
    "5m": 5 * MINUTE_MS,
    "15m": 15 * MINUTE_MS,
    "30m": 30 * MINUTE_MS,
    "1h": 60 * MINUTE_MS,
    "2h": 120 * MINUTE_MS,
    "4h": 240 * MINUTE_MS,
    "6h": 360 * MINUTE_MS,
    "8h": 480 * MINUTE_MS,
    "12h": 720 * MINUTE_MS,
    "1d": 1_440 * MINUTE_MS,
    "3d": 4_320 * MINUTE_MS,
    "1w": 10_080 * MINUTE_MS,
    "1M": None,
}

#: Stream kinds the parser understands (Binance's own names).
STREAM_KINDS = ("kline", "trade", "aggTrade", "bookTicker", "ticker")

#: A Binance symbol as the exchange writes it: 2-20 upper-case letters or digits.
SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def validate_interval(interval: str) -> str:
    """Return ``interval`` if Binance knows it; raise ``ValueError`` listing the valid intervals otherwise."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}: valid intervals are {' '.join(INTERVALS)}")
    return interval


def interval_ms(interval: str) -> int:
    """Length of a fixed-length interval in ms; ``ValueError`` for unknown intervals and for ``1M``."""
    length = INTERVALS[validate_interval(interval)]
    if length is None:
        raise ValueError("interval '1M' is a calendar month and has no fixed length in ms")
    return length


def normalize_symbol(symbol: str) -> str:
    """Upper-case ``symbol`` (``'btcusdt'`` -> ``'BTCUSDT'``); ``ValueError`` if it cannot be a Binance symbol."""
    upper = symbol.strip().upper()
    if not SYMBOL.match(upper):
        raise ValueError(f"invalid symbol {symbol!r}: a Binance symbol is 2-20 letters or digits, e.g. BTCUSDT")
    return upper


def stream_name(symbol: str, kind: str, interval: str | None = None) -> str:
    """The Binance stream name: ``stream_name('BTCUSDT', 'kline', '1m') == 'btcusdt@kline_1m'``."""
    if kind not in STREAM_KINDS:
        raise ValueError(f"unknown stream kind {kind!r}: valid kinds are {', '.join(STREAM_KINDS)}")
    base = f"{normalize_symbol(symbol).lower()}@{kind}"
    if kind == "kline":
        if interval is None:
            raise ValueError("a kline stream needs an interval, e.g. 'btcusdt@kline_1m'")
        return f"{base}_{validate_interval(interval)}"
    return base


def parse_stream_name(name: str) -> tuple[str, str, str | None]:
    """Split ``'btcusdt@kline_5m'`` into ``('BTCUSDT', 'kline', '5m')``; ``ValueError`` if malformed or unknown."""
    symbol, sep, rest = name.partition("@")
    if not sep:
        raise ValueError(f"invalid stream name {name!r}: expected '<symbol>@<kind>', e.g. 'btcusdt@kline_1m'")
    if rest.startswith("kline_"):
        return normalize_symbol(symbol), "kline", validate_interval(rest[len("kline_"):])
    if rest not in STREAM_KINDS or rest == "kline":
        raise ValueError(f"unknown stream {name!r}: supported kinds are {', '.join(STREAM_KINDS)}")
    return normalize_symbol(symbol), rest, None
