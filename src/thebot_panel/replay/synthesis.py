"""Market synthesis for the replay: Binance's kline, 24hr ticker and tick data made from a ``Recording``.

Every timestamp is int ms since the Unix epoch, UTC; "replay time" is the replay clock's reading
(``replay.clock``), which the caller passes in. Numbers are written as Binance writes them: decimal
strings, never an exponent.

**How a 1m candle plays** (``U = updates_per_candle``): ``U`` x:false updates at replay times
``t + k * 60000 // U`` (k = 0..U-1; with U=30 that is Binance's 2 s cadence), then one x:true at
``t + 60000`` (its ``E``). Update k shows the candle at fraction ``(k+1)/U`` of a deterministic path
open→low→high→close (close ≥ open) or open→high→low→close (close < open), walked at constant price
speed; high/low are the extremes visited so far, volume grows pro rata; intermediate prices and
volumes are rounded to the decimals of the recording. The last x:false carries exactly the recorded
OHLCV, and so does the x:true. (``ReplayServer`` picks the default ``U`` from its speed.)

**Higher intervals** (3m … 1d) are aggregated from the 1m candles as the exchange does
(``market.candles.aggregate`` semantics, which REST uses directly: UTC-aligned buckets, open of
the first, max high, min low, close of the last, summed volume rounded to the recording's decimals,
i.e. the exact decimal sum). On the streams the forming candle is the bucket's closed 1m candles
(precomputed per 1m candle with numpy/pandas) plus the current partial 1m state, updated whenever
the 1m candle is; it closes (x:true, ``E`` = bucket end) when the replay clock reaches the bucket
end, which is when its last 1m candle closes, or, if the bucket's last minutes are missing, when
the clock passes the end. Missing minutes are never filled in: a bucket without any 1m candle
yields no candle. Stream and REST values of a candle are identical.

Kline fields the OHLCV recording lacks are sent as ``q``/``V``/``Q`` = ``"0"``, ``n`` = 0,
``f``/``L`` = -1 (see ``replay.recording``).

**Ticks**: for a symbol with a tick recording, ``<symbol>@trade``, ``<symbol>@aggTrade`` and
``<symbol>@bookTicker`` play the recorded events of that stream (those recorded), byte for byte as
recorded (``E`` included), each at its time on the replay clock (trade, aggTrade: ``T``; bookTicker:
receive time moved onto the exchange clock, see ``replay.recording``),
interleaved with the other subscribed streams in replay-time order (events due at the same ms go out
in subscription order). Its 1m candles, where derived from the trades (or aggTrades), play their real
forming state: an x:false update at replay time ``t`` shows the minute's trades with ``T <= t`` (at
least the first one), the x:true all of them, and REST shows the trades up to the clock; the
recording's last, partial minute shows its trades up to the last tick and is never closed (no kline
event of that symbol after its last tick). A tick stream that was not recorded is not served (an
``@aggTrade`` cannot be made from trades: its aggregate ids are the exchange's, nor trades from
aggTrades); other kinds (``@depth``...) neither.

**24hr ticker** (``<symbol>@ticker``, every symbol, event ``24hrTicker`` with all of Binance's fields
in its order): rolling statistics over the 1m candles opened in ``(E - 24h, E]``, the last one the
forming candle at its partial state, exactly as the kline streams show it at ``E``. Binance pushes
every 1000 ms of wall time; the replay sends one at each x:false update instant of a playing 1m
candle (``U`` per candle, e.g. every 2 s at U=30 and ×1, every 12 s of replay time at ×60), so its
rate scales with the kline streams' and ``c`` is the 1m kline close at the same ``E``; like them it
falls silent in gaps and after a partial last minute's last tick. Fields: ``o`` the window's first
open, ``h``/``l`` its extremes, ``v`` the volume sum (rounded to the recording's decimals), ``c``,
``p = c - o``, ``P`` = ``100 * p / o`` with 3 decimals as the live stream sends (the doc example shows
``"250.00"``, live payloads e.g. ``"-3.488"``), ``x`` the close of the last candle before the window
(``"0"`` if none), ``O = E - 24h``, ``C = E``. Not recorded, hence estimated: ``q`` = sum of volume *
typical price ``(h + l + c) / 3`` per 1m candle, so ``w = q / v`` (``"0"`` for no volume). Not
recorded, hence sent as "none": ``Q`` = ``"0"``, ``F``/``L`` = -1, ``n`` = 0 (as Binance for a window
without trades and as the klines here); ``b``/``B``/``a``/``A`` are the latest recorded bookTicker at
or before ``E`` while ``E`` is within the symbol's tick recording, else ``"0"``.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
import orjson
import pandas as pd

from ..binance.streams import INTERVALS, MINUTE_MS, interval_ms, parse_stream_name, stream_name
from ..market.candles import OHLCV, aggregate
from .recording import TICK_KINDS, MinuteCandles, Recording, TickStream

#: Kline intervals the replay serves: those that can be built from 1m candles by UTC-aligned buckets.
SERVED_INTERVALS = tuple(i for i, ms in INTERVALS.items() if ms and MINUTE_MS <= ms <= 1_440 * MINUTE_MS)
_DAY_MS = 1_440 * MINUTE_MS
#: Quote assets recognised when splitting a symbol for exchangeInfo, longest first.
_QUOTES = sorted(("USDT", "FDUSD", "USDC", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY", "BRL"),
                 key=len, reverse=True)


def _num(x: float) -> str:
    """A float as Binance writes numbers: a decimal string (shortest round-trip, never an exponent)."""
    s = repr(x)
    return s if "e" not in s else np.format_float_positional(x, trim="0")


def partial_candle(o: float, h: float, low: float, c: float, v: float, fraction: float,
                   price_decimals: int = 8, volume_decimals: int = 8) -> tuple[float, float, float, float]:
    """``(close, high, low, volume)`` of a 1m candle ``fraction`` (0..1] of the way through its minute.

    The price walks open→low→high→close (``c >= o``) or open→high→low→close at constant speed;
    high/low are the extremes visited so far; volume is ``v * fraction``. At ``fraction >= 1`` the
    result is exactly ``(c, h, low, v)``.
    """
    if fraction >= 1:
        return c, h, low, v
    points = (o, low, h, c) if c >= o else (o, h, low, c)
    legs = [abs(b - a) for a, b in zip(points, points[1:])]
    todo = fraction * sum(legs)
    price = hi = lo = o
    for a, b, leg in zip(points, points[1:], legs):
        if todo <= leg:
            price = a + (b - a) * (todo / leg) if leg else a
            break
        todo -= leg
        price = b
        hi, lo = max(hi, b), min(lo, b)
    price = min(max(round(price, price_decimals), low), h)
    return price, max(hi, price), min(lo, price), round(v * fraction, volume_decimals)


@dataclass(frozen=True)
class Stream:
    """A subscribable stream: a kline stream (``interval``, ``length`` in ms), a tick stream (``ticks``),
    or a 24hr ticker (neither; ``length`` 1m: it plays at the 1m candle's update instants)."""

    name: str
    symbol: str
    interval: str | None
    length: int
    ticks: TickStream | None = None


class MarketSynthesizer:
    """The market data a ``recording`` plays as: the streams it serves, their kline and ticker events
    at a replay time, and REST kline rows and symbol info (see the module doc for the values).

    ``updates_per_candle`` (``U``): x:false updates per 1m candle, an integer from 1 to 60000, else
    ``ValueError``. Tick streams carry their recorded payloads (``Stream.ticks``) for the caller to send.
    """

    def __init__(self, recording: Recording, updates_per_candle: int):
        if not isinstance(updates_per_candle, int) or not 1 <= updates_per_candle <= MINUTE_MS:
            raise ValueError(f"updates_per_candle must be an integer from 1 to {MINUTE_MS}, got {updates_per_candle!r}")
        self.recording, self.updates_per_candle = recording, updates_per_candle
        self._offsets = [k * MINUTE_MS // updates_per_candle for k in range(updates_per_candle)]
        self._offset_set = frozenset(self._offsets)
        self._so_far: dict[tuple[str, int], dict[str, np.ndarray]] = {}

    def stream(self, name: str) -> Stream:
        """Validate a stream name; ``ValueError`` with a clear message if the replay cannot serve it."""
        symbol, kind, interval = parse_stream_name(name)
        with_ticks = ", ".join(self.recording.ticks) or "none"
        if kind not in ("kline", "ticker", *TICK_KINDS):
            raise ValueError(f"stream {name!r} is not served: the replay serves <symbol>@kline_<interval> and "
                             "<symbol>@ticker streams, and <symbol>@trade / <symbol>@aggTrade / <symbol>@bookTicker "
                             f"for symbols with those ticks recorded ({with_ticks})")
        if symbol not in self.recording:
            raise ValueError(f"unknown symbol {symbol} in {name!r}: "
                             f"the recording holds {', '.join(self.recording.symbols)}")
        canonical = stream_name(symbol, kind, interval)
        if name != canonical:
            raise ValueError(f"stream names are lowercase: use {canonical!r}, not {name!r}")
        if kind in TICK_KINDS:
            ticks = self.recording.ticks.get(symbol)
            if ticks is None or not len(ticks.streams[kind]):
                served = [stream_name(symbol, k) for k in TICK_KINDS if ticks is not None and len(ticks.streams[k])]
                raise ValueError(f"stream {name!r} is not served: {symbol} has no recorded {kind} events "
                                 f"(served: {', '.join(served + [f'{symbol.lower()}@kline_<interval>'])}); "
                                 f"symbols with ticks: {with_ticks}")
            return Stream(name, symbol, None, 0, ticks.streams[kind])
        if kind == "ticker":
            return Stream(name, symbol, None, MINUTE_MS)
        if interval not in SERVED_INTERVALS:
            raise ValueError(f"interval {interval} cannot be made from 1m candles: "
                             f"the replay serves {' '.join(SERVED_INTERVALS)}")
        return Stream(name, symbol, interval, interval_ms(interval))

    def symbol_info(self, symbol: str) -> dict:
        """``symbol``'s exchangeInfo entry: base and quote asset, tick and step size from the recording's decimals."""
        c = self.recording[symbol]
        quote = next((q for q in _QUOTES if symbol.endswith(q) and symbol != q), "")
        return {"symbol": symbol, "status": "TRADING", "baseAsset": symbol[:len(symbol) - len(quote)],
                "baseAssetPrecision": 8, "quoteAsset": quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"], "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
                "filters": [{"filterType": "PRICE_FILTER", "tickSize": f"{10.0 ** -c.price_decimals:.8f}"},
                            {"filterType": "LOT_SIZE", "stepSize": f"{10.0 ** -c.volume_decimals:.8f}"}],
                "permissions": ["SPOT"]}

    def kline_rows(self, symbol: str, interval: str, start: int | None, end: int | None, limit: int,
                   now: int) -> list[list]:
        """REST rows ``[t, o, h, l, c, v, T, q, n, V, Q, "0"]`` of ``symbol``'s ``interval`` candles opened at
        or before replay time ``now``.

        The forming candle is the last row, at its state at ``now``. ``start``/``end`` bound the open
        time (inclusive, None for no bound); ``limit`` takes the first rows from ``start`` if given,
        else the last rows up to ``end``/``now``.
        """
        length = interval_ms(interval)
        upto = now if end is None else min(now, end - end % length + length - 1)
        c = self.recording[symbol]
        opens, agg = self._candles(c, interval, 0 if start is None else start - start % length, upto)
        keep = np.ones(len(opens), dtype=bool)
        if start is not None:
            keep &= opens >= start
        if end is not None:
            keep &= opens <= end
        rows = np.flatnonzero(keep)
        rows = rows[:limit] if start is not None else rows[-limit:]
        o, h, low, close, volume = (agg[name][rows].tolist() for name in OHLCV)
        return [[t0, _num(o[i]), _num(h[i]), _num(low[i]), _num(close[i]), _num(round(volume[i], c.volume_decimals)),
                 t0 + length - 1, "0", 0, "0", "0", "0"] for i, t0 in enumerate(opens[rows].tolist())]

    def events_at(self, st: Stream, tick: int) -> list[dict]:
        """The events of kline or ticker stream ``st`` due at replay time ``tick``: a kline close, then an
        update (kline x:false or ticker), each if any."""
        t = self.recording[st.symbol].open_time
        events = []
        i = int(np.searchsorted(t, tick, "right")) - 1  # the last candle opened at or before tick
        minute = tick - tick % MINUTE_MS
        playing = i >= 0 and t[i] == minute
        if st.interval is not None and tick % st.length == 0:  # a bucket ends: close it if it holds a candle
            last = i - 1 if playing else i
            if last >= 0 and t[last] >= tick - st.length:
                events.append(self._kline_event(st, last, MINUTE_MS - 1, tick, True))
        if playing and tick - minute in self._offset_set:
            events.append(self._kline_event(st, i, tick - minute, tick, False) if st.interval is not None
                          else self._ticker_event(st.symbol, i, tick - minute, tick))
        return events

    def next_tick(self, symbol: str, after: int, lengths: set[int]) -> int | None:
        """The earliest replay time > ``after`` when ``symbol`` has an event for kline streams of these
        lengths (a ticker's is 1m); None if there is none (or only after the last tick of a partial last candle)."""
        c = self.recording[symbol]
        t = c.open_time
        minute = after - after % MINUTE_MS
        j = int(np.searchsorted(t, minute))
        if j < len(t) and t[j] == minute:  # a 1m candle is playing: its next update, else its close
            k = bisect_right(self._offsets, after - minute)
            tick = minute + (self._offsets[k] if k < len(self._offsets) else MINUTE_MS)
        else:
            ticks = [int(t[j])] if j < len(t) else []  # the next candle's first update
            for length in lengths:  # a bucket whose last minutes are missing closes at its end
                end = after - after % length + length
                if j > 0 and t[j - 1] >= end - length:
                    ticks.append(end)
            tick = min(ticks, default=None)
        return None if tick is None or (c.until is not None and tick > c.until) else tick

    def _partial(self, c: MinuteCandles, i: int, since_open: int) -> tuple[float, float, float, float]:
        """``(close, high, low, volume)`` of 1m candle ``i`` as shown ``since_open`` ms after its open:
        for a candle derived from trades, its trades so far (at least the first); else the latest x:false
        update due by then (from ``60000 * (U-1) // U`` on, the recorded candle)."""
        if c.derived is not None and c.derived[i]:
            t = int(c.open_time[i])
            close, high, low, volume = self.recording.ticks[c.symbol].candle_at(t, t + since_open)
            return close, high, low, round(volume, c.volume_decimals)
        fraction = bisect_right(self._offsets, since_open) / self.updates_per_candle
        o, h, low, close, v = (c.ohlcv[name][i].item() for name in OHLCV)
        return partial_candle(o, h, low, close, v, fraction, c.price_decimals, c.volume_decimals)

    def _candles(self, c: MinuteCandles, interval: str, lo_ms: int, now: int) -> tuple[np.ndarray, dict]:
        """``interval`` candles of the 1m candles with ``lo_ms <= open_time <= now``, as shown at ``now``.

        A 1m candle still open at ``now`` is at its latest x:false state. Aggregation is
        ``market.candles.aggregate``. Returns ``(open_time, {"open", "high", "low", "close", "volume"})``.
        """
        lo = int(np.searchsorted(c.open_time, lo_ms, "left"))
        hi = int(np.searchsorted(c.open_time, now, "right"))
        t = c.open_time[lo:hi]
        cols = {name: c.ohlcv[name][lo:hi] for name in OHLCV}
        if hi > lo and t[-1] + MINUTE_MS > now:
            cols = {name: col.copy() for name, col in cols.items()}
            partial = self._partial(c, hi - 1, now - int(t[-1]))
            cols["close"][-1], cols["high"][-1], cols["low"][-1], cols["volume"][-1] = partial
        return aggregate(t, cols, interval)

    def _bucket_so_far(self, symbol: str, length: int) -> dict[str, np.ndarray]:
        """Per 1m candle i of ``symbol``: the open of its ``length`` bucket and the high/low/volume of the
        bucket's candles before i (-inf/inf/0 for the bucket's first): the closed part of a forming
        candle. Computed once per (symbol, interval) with numpy/pandas, then O(1) per update."""
        key = (symbol, length)
        if key not in self._so_far:
            c = self.recording[symbol]
            bucket = c.open_time - c.open_time % length
            first = np.r_[True, bucket[1:] != bucket[:-1]]
            group = np.cumsum(first) - 1
            running = pd.DataFrame({name: c.ohlcv[name] for name in ("high", "low", "volume")}).groupby(group)

            def before(values: pd.Series, neutral: float) -> np.ndarray:
                values = values.to_numpy()
                return np.where(first, neutral, np.r_[neutral, values[:-1]])
            self._so_far[key] = {"open": c.ohlcv["open"][first][group],
                                 "high": before(running["high"].cummax(), -np.inf),
                                 "low": before(running["low"].cummin(), np.inf),
                                 "volume": before(running["volume"].cumsum(), 0.0)}
        return self._so_far[key]

    def _kline_event(self, st: Stream, i: int, since_open: int, event_time: int, closed: bool) -> dict:
        """The kline event of ``st``'s candle holding 1m candle ``i``, that one ``since_open`` ms into its minute.

        Same values as ``aggregate`` over the bucket's 1m candles so far (volume sums are rounded to
        the recording's decimals, i.e. the exact decimal sum, in both REST and here).
        """
        c = self.recording[st.symbol]
        so_far = self._bucket_so_far(st.symbol, st.length)
        close, high, low, volume = self._partial(c, i, since_open)
        t = int(c.open_time[i])
        bucket = t - t % st.length
        return {"e": "kline", "E": event_time, "s": st.symbol, "k": {
            "t": bucket, "T": bucket + st.length - 1, "s": st.symbol, "i": st.interval, "f": -1, "L": -1,
            "o": _num(so_far["open"][i].item()), "c": _num(close), "h": _num(max(so_far["high"][i].item(), high)),
            "l": _num(min(so_far["low"][i].item(), low)),
            "v": _num(round(so_far["volume"][i].item() + volume, c.volume_decimals)),
            "n": 0, "x": closed, "q": "0", "V": "0", "Q": "0", "B": "0"}}

    def _ticker_event(self, symbol: str, i: int, since_open: int, event_time: int) -> dict:
        """The 24hrTicker event of ``symbol`` at ``event_time``, ``since_open`` ms into its 1m candle ``i``
        (see the module doc)."""
        c = self.recording[symbol]
        close, high, low, volume = self._partial(c, i, since_open)
        lo = int(np.searchsorted(c.open_time, event_time - _DAY_MS, "right"))
        hs, ls, cs, vs = (c.ohlcv[name][lo:i] for name in ("high", "low", "close", "volume"))
        o = c.ohlcv["open"][lo].item()
        v = round(float(vs.sum()) + volume, c.volume_decimals)
        q = round(float(vs @ ((hs + ls + cs) / 3)) + volume * (high + low + close) / 3, 8)
        return {"e": "24hrTicker", "E": event_time, "s": symbol, "p": _num(round(close - o, c.price_decimals)),
                "P": f"{round(100 * (close - o) / o, 3) + 0.0:.3f}",
                "w": _num(round(q / v, c.price_decimals)) if v else "0",
                "x": _num(c.ohlcv["close"][lo - 1].item()) if lo else "0", "c": _num(close), "Q": "0",
                **self._book_at(symbol, event_time), "o": _num(o), "h": _num(float(hs.max(initial=high))),
                "l": _num(float(ls.min(initial=low))), "v": _num(v), "q": _num(q),
                "O": event_time - _DAY_MS, "C": event_time, "F": -1, "L": -1, "n": 0}

    def _book_at(self, symbol: str, at: int) -> dict[str, str]:
        """``b``/``B``/``a``/``A`` of ``symbol``'s latest recorded bookTicker at or before ``at`` while ``at``
        is within its tick recording; ``"0"`` each otherwise."""
        ticks = self.recording.ticks.get(symbol)
        if ticks is not None and ticks.start <= at < ticks.end:
            book = ticks.streams["bookTicker"]
            k = int(np.searchsorted(book.time, at, "right")) - 1
            if k >= 0:
                recorded = orjson.loads(book.payload[k])
                return {f: recorded[f] for f in "bBaA"}
        return dict.fromkeys("bBaA", "0")
