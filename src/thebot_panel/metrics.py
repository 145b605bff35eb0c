"""Per-symbol market metrics for the metrics strip: last price and tick direction, 24 h change and volume,
best bid/ask and spread, signals today, last update age, and the feed latency."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .binance.events import BookTicker, Kline, Ticker24h

DAY_MS = 86_400_000


def last_price(book) -> float:
    """The forming candle's close if one is forming, else the last closed close (quote currency); NaN if empty."""
    if book.forming is not None:
        return book.forming.close
    return float(book.candles.column("close")[-1]) if len(book) else float("nan")


def rolling_day(book, window_ms: int = DAY_MS) -> tuple[float, float]:
    """Binance's 24 h rolling figures from a candle book: (% change, base-asset volume).

    The window is the candles opened in (T - window_ms, T], T the newest candle's open time (the forming one's,
    if any), gaps included as time, not as a count: the change runs from the close just before the window (the
    first candle's open when the book holds less) to ``last_price``; the volume sums the window, the forming
    candle's so far included. (NaN, NaN) for an empty book.
    """
    if not len(book) and book.forming is None:
        return float("nan"), float("nan")
    times, closes, volumes = book.candles.open_time, book.candles.column("close"), book.candles.column("volume")
    forming = book.forming
    newest = forming.open_time if forming is not None else int(times[-1])
    start = int(np.searchsorted(times, newest - window_ms, side="right"))
    if start > 0:
        base = closes[start - 1]
    else:
        base = book.candles.column("open")[0] if len(book) else forming.open
    volume = float(volumes[start:].sum()) + (forming.volume if forming is not None else 0.0)
    return (last_price(book) / base - 1) * 100, volume


@dataclass(slots=True)
class _Seen:
    price: float = float("nan")
    previous: float = float("nan")
    received: float = 0.0            # time.monotonic() of the last event
    latency_ms: float = float("nan")  # receive time - exchange event time, wall-clock ms
    ticker: Ticker24h | None = None
    book: BookTicker | None = None


class MarketMetrics:
    """A sink of the hub's parsed events that remembers, per symbol, what the metrics strip shows.

    ``clock()`` gives the feed's "now" in ms since the epoch, UTC: the wall clock for Binance, the
    replay clock for a replay (whose event times are the recording's), so the latency is comparable.
    ``speed()`` is how many feed-clock ms pass per wall-clock ms (1 for Binance, the replay's speed; None
    when the clock is virtual, "max"): latencies are wall-clock ms, ``(clock() - event time) / speed()``.
    """

    def __init__(self, clock=None, speed=None):
        self.clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.speed = speed or (lambda: 1.0)
        self._seen: dict[str, _Seen] = {}

    def on_event(self, event) -> None:
        kind = type(event)
        if kind not in (Kline, Ticker24h, BookTicker):
            return
        seen = self._seen.setdefault(event.symbol, _Seen())
        seen.received = time.monotonic()
        if event.event_time:
            speed = self.speed()
            seen.latency_ms = float("nan") if speed is None else (self.clock() - event.event_time) / speed
        if kind is Kline:
            if event.close != seen.price:
                seen.previous, seen.price = seen.price, event.close
        elif kind is Ticker24h:
            seen.ticker = event
        else:
            seen.book = event

    def snapshot(self, symbol: str, book, signals) -> dict:
        """What the strip shows for ``symbol``: a dict of

        ``price`` (quote currency), ``direction`` (+1 up-tick, -1 down-tick, 0), ``change_24h_pct`` and
        ``volume_24h`` (base asset; from ``@ticker`` when subscribed, else from the last 24 h of ``book``'s
        candles, ``source_24h`` saying which), ``bid``/``ask``/``spread`` (``@bookTicker``; NaN without it),
        ``signals_today`` (signals in ``signals`` since the UTC midnight of the last candle), ``age_s``
        (seconds since the symbol's last event; None before any), ``latency_ms`` (feed latency, NaN unknown).
        """
        seen = self._seen.get(symbol, _Seen())
        change, volume, source = self.day(symbol, book)
        bid = seen.book.bid_price if seen.book else float("nan")
        ask = seen.book.ask_price if seen.book else float("nan")
        price = seen.price
        if np.isnan(price):
            price = last_price(book)
        last_open = int(book.candles.open_time[-1]) if len(book) else None
        day_start = None if last_open is None else last_open - last_open % DAY_MS
        return {
            "symbol": symbol, "price": price,
            "direction": 0 if np.isnan(seen.previous) else int(np.sign(seen.price - seen.previous)),
            "change_24h_pct": change, "volume_24h": volume, "source_24h": source,
            "bid": bid, "ask": ask, "spread": ask - bid,
            "signals_today": 0 if day_start is None else sum(1 for s in signals
                                                             if s.symbol == symbol and s.open_time >= day_start),
            "age_s": time.monotonic() - seen.received if seen.received else None,
            "latency_ms": seen.latency_ms,
        }

    def day(self, symbol: str, book) -> tuple[float, float, str]:
        """(24 h change %, 24 h base volume, source): from the last ``@ticker`` of ``symbol`` (source
        ``"@ticker"``), else ``rolling_day(book)`` (source ``"candles"``)."""
        seen = self._seen.get(symbol)
        if seen is not None and seen.ticker is not None:
            return seen.ticker.price_change_percent, seen.ticker.volume, "@ticker"
        return *rolling_day(book), "candles"
