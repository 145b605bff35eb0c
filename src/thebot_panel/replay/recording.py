"""Recorded market data that the replay server plays back: 1m candles and, optionally, ticks.

**Candle files**: CSV ``SYMBOL-1m-<range>.csv`` or ``.csv.gz`` with the columns
``open_time,open,high,low,close,volume`` (header row; ``open_time`` = int ms since the Unix epoch,
UTC; microsecond timestamps, as in post-2025 spot archives, are detected and converted). Minutes
without a row stay missing: a recording is never filled in.

These files hold OHLCV only. The kline fields they lack are sent by the replay server with fixed
defaults, so nothing downstream may depend on them: quote volume ``q``, taker-buy volumes ``V``/``Q``
-> ``"0"``; trade count ``n`` -> ``0``; first/last trade ids ``f``/``L`` -> ``-1``.

**Tick files** (hftbacktest collector recordings, ``*.hftbacktest.gz``, or any gzip/plain file whose
first line looks like one): one message per line, ``<local receive time, int ns since the epoch>
<raw JSON exactly as Binance sent it>``, combined-stream envelopes ``{"stream", "data"}``. Only the
``<symbol>@trade`` and ``<symbol>@bookTicker`` events are kept (the symbol is the event's ``s``);
``@depth`` updates and REST depth snapshots (lines without ``stream``) are dropped. Each kept event
gets a time on the replay clock (int ms since the epoch, UTC):

- trade: its trade time ``T`` (the exchange's clock);
- bookTicker: spot sends no event time, so the recorder's receive time (ns -> ms) is used, moved onto
  the exchange's clock by the file's median ``E - receive time`` over its event-timed messages
  (trades and depth updates). The 2024-08-08/09 BTCUSDT recordings need +1272 ms: the recorder's
  clock ran 1.27 s behind Binance's (``E`` is *later* than the receive time), so raw receive times
  would play every bookTicker 1.27 s before the trades around it. A file without event-timed
  messages keeps the raw receive time.

Several tick files of one symbol are merged in exchange order (trade id ``t``, book update id
``u``) and de-duplicated on those ids (first kept); times are then made non-decreasing.

**Candles from trades**: a symbol with ticks gets 1m candles aggregated from its trades as the
exchange does (open = first trade price of the minute, high/low = extremes, close = last, volume =
sum of quantities, rounded to 8 decimals, i.e. the exact decimal sum; minutes without a trade have
no candle) wherever no candle file has that minute (a candle file wins). The minute in which the
tick recording starts is dropped unless it starts on the minute (its first trades are missing); the
minute in which it ends is kept as a partial candle (``MinuteCandles.until``): the replay shows it
forming until the recording's last tick and never closes it.
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import as_file, files
from pathlib import Path
from types import MappingProxyType

import numpy as np
import orjson
import pandas as pd

from ..binance.streams import MINUTE_MS
from ..market.candles import OHLCV, candle_frame

#: ``SYMBOL-1m-<anything>.csv`` or ``.csv.gz``; the symbol is taken from the file name.
FILE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]{2,20})-1m-.*\.csv(\.gz)?$")
#: Tick recordings found in directories: ``*.hftbacktest.gz`` (a named file is also recognised by content).
TICK_FILE_NAME = re.compile(r"\.hftbacktest\.gz$")
#: The start of a tick recording's line: receive time in ns, a space, a JSON object.
_TICK_LINE = re.compile(rb"^\d{16,20} \{")
#: Stream kinds kept from tick recordings (Binance's names).
TICK_KINDS = ("trade", "bookTicker")


def _decimals(values: np.ndarray, most: int = 8) -> int:
    """Fewest decimals (0..``most``) that write every value as recorded."""
    for d in range(most + 1):
        if np.array_equal(np.round(values, d), values):
            return d
    return most


@dataclass(frozen=True, eq=False)
class MinuteCandles:
    """The 1m candles of one symbol.

    ``open_time``: int64 ms, strictly increasing, on minute boundaries (gaps allowed).
    ``ohlcv``: ``{"open", "high", "low", "close", "volume"}`` -> float64 arrays of the same length
    (prices in quote currency, volume in base asset).
    ``derived``: None for candles read from files only, else a bool array, True where the candle was
    aggregated from the symbol's recorded trades (the replay then shows its forming states from them).
    ``until``: None, or (when the last candle is derived) the time of the recording's last tick, ms:
    the last minute is partial, so the replay sends no kline event after ``until``.
    """

    symbol: str
    open_time: np.ndarray
    ohlcv: dict[str, np.ndarray]
    derived: np.ndarray | None = None
    until: int | None = None

    def __len__(self) -> int:
        return len(self.open_time)

    @cached_property
    def price_decimals(self) -> int:
        """Decimals of the recorded prices (the symbol's tick size is ``10**-price_decimals``)."""
        return _decimals(self.ohlcv["close"])

    @cached_property
    def volume_decimals(self) -> int:
        """Decimals of the recorded volumes (the symbol's lot step is ``10**-volume_decimals``)."""
        return _decimals(self.ohlcv["volume"])

    def frame(self) -> pd.DataFrame:
        """The candles as a frame indexed by ``open_time`` (UTC ``DatetimeIndex``)."""
        return candle_frame(self.open_time, self.ohlcv)


def _read_csv(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    try:
        frame = pd.read_csv(path, usecols=["open_time", *OHLCV])
    except ValueError as exc:
        raise ValueError(f"{path}: expected columns open_time,{','.join(OHLCV)} ({exc})") from exc
    t = frame["open_time"].to_numpy(dtype="int64")
    if len(t) and t.max() > 10**14:  # microseconds
        t = t // 1000
    return t, {name: frame[name].to_numpy(dtype="float64") for name in OHLCV}


@dataclass(frozen=True, eq=False)
class TickStream:
    """One symbol's recorded events of one stream kind, in exchange order.

    ``time``: int64 ms since the epoch, UTC, on the replay clock, non-decreasing.
    ``ids``: int64, strictly increasing (trade id ``t`` / book update id ``u``).
    ``payload``: the event JSON as recorded (a combined envelope's ``data``), one ``bytes`` per event.
    """

    time: np.ndarray
    ids: np.ndarray
    payload: list[bytes]

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True, eq=False)
class Ticks:
    """The recorded ``trade`` and ``bookTicker`` events of one symbol.

    ``streams``: ``{"trade": TickStream, "bookTicker": TickStream}`` (either may be empty).
    ``price``/``quantity``: float64 per trade (quote currency / base asset), aligned with ``streams["trade"]``.
    """

    symbol: str
    streams: dict[str, TickStream]
    price: np.ndarray
    quantity: np.ndarray

    @property
    def start(self) -> int:
        """Time (ms) of the first recorded event."""
        return min(int(s.time[0]) for s in self.streams.values() if len(s))

    @property
    def end(self) -> int:
        """Time (ms, exclusive) just after the last recorded event."""
        return max(int(s.time[-1]) for s in self.streams.values() if len(s)) + 1

    @cached_property
    def _running(self) -> dict[str, np.ndarray]:
        """Per trade: its minute, and the high/low/volume of its minute's trades up to and including it."""
        minute = self.streams["trade"].time - self.streams["trade"].time % MINUTE_MS
        by_minute = pd.DataFrame({"p": self.price, "q": self.quantity}).groupby(minute)
        return {"minute": minute, "high": by_minute["p"].cummax().to_numpy(),
                "low": by_minute["p"].cummin().to_numpy(), "volume": by_minute["q"].cumsum().to_numpy()}

    def candle_at(self, open_time: int, at: int) -> tuple[float, float, float, float]:
        """``(close, high, low, volume)`` of the 1m candle opened at ``open_time`` (ms), from its trades
        with trade time <= ``at`` (ms), but at least its first trade. ``IndexError`` if it has no trade."""
        time, run = self.streams["trade"].time, self._running
        first, stop = np.searchsorted(time, [open_time, open_time + MINUTE_MS])
        if first == stop:
            raise IndexError(f"{self.symbol}: no trade in the minute opened at {open_time}")
        j = min(max(int(np.searchsorted(time, at, "right")), first + 1), stop) - 1
        return (self.price[j].item(), run["high"][j].item(), run["low"][j].item(),
                round(run["volume"][j].item(), 8))

    def candles(self) -> MinuteCandles:
        """The 1m candles of the trades (see the module doc), all ``derived``; ``until`` = the last tick."""
        run = self._running
        minute = run["minute"]
        starts = np.flatnonzero(np.r_[True, minute[1:] != minute[:-1]]) if len(minute) else minute
        ends = np.r_[starts[1:], len(minute)].astype("int64") - 1 if len(minute) else minute
        if len(starts) and minute[0] < self.start:  # the recording started during this minute
            starts, ends = starts[1:], ends[1:]
        ohlcv = {"open": self.price[starts], "high": run["high"][ends], "low": run["low"][ends],
                 "close": self.price[ends], "volume": np.round(run["volume"][ends], 8)}
        return MinuteCandles(self.symbol, minute[starts], ohlcv, np.ones(len(starts), dtype=bool), self.end - 1)


def is_tick_file(path: Path) -> bool:
    """True for ``*.hftbacktest.gz`` and for a (gzip or plain) file whose first line is
    ``<receive time ns> {JSON}``. ``OSError`` if the file cannot be read."""
    if TICK_FILE_NAME.search(path.name):
        return True
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gzipped else open)(path, "rb") as f:
            return bool(_TICK_LINE.match(f.readline(64)))
    except (OSError, EOFError):
        return False


def _read_ticks(path: Path) -> dict[str, dict[str, list]]:
    """``{symbol: {kind: [(time_ms, id, payload, price, quantity), ...]}}`` of one tick file (see the
    module doc; price/quantity are None for bookTickers).

    Raises ``ValueError`` for a line that is not ``<int ns> <JSON object>`` or a kept event lacking
    ``s``, ``t``/``T``/``p``/``q`` (trade) or ``u`` (bookTicker).
    """
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    events: dict[str, dict[str, list]] = {}
    books, offsets = [], []
    with (gzip.open if gzipped else open)(path, "rb") as f:
        for n, line in enumerate(f, 1):
            stamp, _, text = line.partition(b" ")
            if not line.strip():
                continue
            try:
                received, msg = int(stamp) // 1_000_000, orjson.loads(text)
                if "stream" not in msg:  # the REST depth snapshot
                    continue
                data, kind = msg["data"], msg["stream"].partition("@")[2]
                if kind == "trade":
                    event = (int(data["T"]), int(data["t"]), orjson.dumps(data), float(data["p"]), float(data["q"]))
                    events.setdefault(data["s"], {}).setdefault("trade", []).append(event)
                elif kind == "bookTicker":
                    books.append((data["s"], received, int(data["u"]), orjson.dumps(data)))
                if "E" in data:
                    offsets.append(int(data["E"]) - received)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}:{n}: expected '<receive time ns> <Binance combined-stream JSON>' "
                                 f"({type(exc).__name__}: {exc})") from exc
    offset = int(np.median(offsets)) if offsets else 0
    for symbol, received, u, payload in books:
        events.setdefault(symbol, {}).setdefault("bookTicker", []).append((received + offset, u, payload, None, None))
    return events


def _ticks(symbol: str, parts: list[dict[str, list]]) -> Ticks:
    """One symbol's ticks from several files' ``_read_ticks`` results: each stream sorted by id and
    de-duplicated on it (first kept), its times made non-decreasing."""
    streams, kept = {}, {}
    for kind in TICK_KINDS:
        events = [e for p in parts for e in p.get(kind, [])]
        ids = np.array([e[1] for e in events], dtype="int64")
        order = np.argsort(ids, kind="stable")
        keep = order[np.r_[True, ids[order][1:] != ids[order][:-1]]] if len(ids) else order
        kept[kind] = [events[i] for i in keep]
        time = np.array([e[0] for e in kept[kind]], dtype="int64")
        streams[kind] = TickStream(np.maximum.accumulate(time), ids[keep], [e[2] for e in kept[kind]])
    price = np.array([e[3] for e in kept["trade"]], dtype="float64")
    quantity = np.array([e[4] for e in kept["trade"]], dtype="float64")
    return Ticks(symbol, streams, price, quantity)


def _overlay(recorded: MinuteCandles | None, derived: MinuteCandles) -> MinuteCandles:
    """``recorded`` candles with ``derived`` ones filling the minutes they lack."""
    if recorded is None:
        return derived
    t = np.concatenate([recorded.open_time, derived.open_time])
    order = np.argsort(t, kind="stable")
    keep = np.r_[True, t[order][1:] != t[order][:-1]]
    was_derived = np.r_[np.zeros(len(recorded), dtype=bool), derived.derived][order][keep]
    ohlcv = {name: np.concatenate([recorded.ohlcv[name], derived.ohlcv[name]])[order][keep] for name in OHLCV}
    return MinuteCandles(recorded.symbol, t[order][keep], ohlcv, was_derived,
                         derived.until if was_derived[-1] else None)


def _merge(symbol: str, parts: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> MinuteCandles:
    """One symbol's candles from several files: sorted by open time, duplicates dropped (first kept)."""
    t = np.concatenate([p[0] for p in parts])
    order = np.argsort(t, kind="stable")
    t = t[order]
    keep = np.r_[True, t[1:] != t[:-1]]
    if np.any(t % MINUTE_MS):
        raise ValueError(f"{symbol}: open times must be on minute boundaries (int ms since the epoch, UTC)")
    ohlcv = {name: np.concatenate([p[1][name] for p in parts])[order][keep] for name in OHLCV}
    return MinuteCandles(symbol, t[keep], ohlcv)


class Recording(Mapping[str, MinuteCandles]):
    """Symbol -> its 1m candles (a read-only mapping), e.g. ``recording["BTCUSDT"]``; plus ``ticks``.

    ``candles``: candles read from files. ``ticks``: recorded trade/bookTicker events; a symbol with
    ticks gets candles derived from its trades where ``candles`` lack the minute (see the module doc).
    Raises ``ValueError`` when no symbol has candles, or a symbol's ticks yield no candle (no trade
    after the recording's first, partial minute) and no candle file covers it.
    """

    def __init__(self, candles: Iterable[MinuteCandles] = (), ticks: Iterable[Ticks] = ()):
        by_symbol = {c.symbol: c for c in candles if len(c)}
        self._ticks = {t.symbol: t for t in sorted(ticks, key=lambda t: t.symbol)}
        for symbol, t in self._ticks.items():
            by_symbol[symbol] = _overlay(by_symbol.get(symbol), t.candles())
            if not len(by_symbol[symbol]):
                raise ValueError(f"{symbol}: the tick recording has no trade after its first (partial) minute, "
                                 "so no 1m candle can be derived from it")
        self._candles = dict(sorted(by_symbol.items()))
        if not self._candles:
            raise ValueError("a recording needs at least one symbol with candles")

    @classmethod
    def bundled(cls) -> Recording:
        """The sample shipped in ``thebot_panel.data`` (BTCUSDT and ETHUSDT, 2025-07-21 -> 2025-08-18)."""
        data = files("thebot_panel.data")
        parts: dict[str, list] = {}
        for item in sorted(data.iterdir(), key=lambda i: i.name):
            if match := FILE_NAME.match(item.name):
                with as_file(item) as path:
                    parts.setdefault(match["symbol"], []).append(_read_csv(path))
        return cls(_merge(symbol, p) for symbol, p in parts.items())

    @classmethod
    def from_paths(cls, paths: str | Path | Iterable[str | Path]) -> Recording:
        """Load files and/or directories: candle files ``SYMBOL-1m-*.csv[.gz]`` and tick recordings
        (``*.hftbacktest.gz``, or a named file recognised by its content); a directory contributes the
        files whose names match those patterns.

        Several files of one symbol are merged. Raises ``FileNotFoundError`` for a missing path and
        ``ValueError`` for a file whose name, columns or lines do not fit, or when no file is found.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        paths = list(map(Path, paths))
        found: list[Path] = []
        for p in paths:
            if p.is_dir():
                found += sorted(f for f in p.iterdir() if FILE_NAME.match(f.name) or TICK_FILE_NAME.search(f.name))
            elif p.is_file():
                if not FILE_NAME.match(p.name) and not is_tick_file(p):
                    raise ValueError(f"{p}: cannot tell the symbol: expected a file named SYMBOL-1m-<range>.csv[.gz] "
                                     "or a tick recording (lines '<receive time ns> <JSON>', *.hftbacktest.gz)")
                found.append(p)
            else:
                raise FileNotFoundError(f"{p}: no such file or directory")
        if not found:
            raise ValueError(f"no SYMBOL-1m-<range>.csv[.gz] or *.hftbacktest.gz file in {', '.join(map(str, paths))}")
        parts: dict[str, list] = {}
        tick_parts: dict[str, list] = {}
        for f in found:
            if match := FILE_NAME.match(f.name):
                parts.setdefault(match["symbol"], []).append(_read_csv(f))
            else:
                for symbol, events in _read_ticks(f).items():
                    tick_parts.setdefault(symbol, []).append(events)
        return cls((_merge(symbol, p) for symbol, p in parts.items()),
                   (_ticks(symbol, p) for symbol, p in tick_parts.items()))

    def __getitem__(self, symbol: str) -> MinuteCandles:
        return self._candles[symbol]

    def __iter__(self) -> Iterator[str]:
        return iter(self._candles)

    def __len__(self) -> int:
        return len(self._candles)

    @property
    def symbols(self) -> tuple[str, ...]:
        """Upper-case symbols, sorted."""
        return tuple(self._candles)

    @property
    def ticks(self) -> Mapping[str, Ticks]:
        """Symbol -> its recorded trade/bookTicker events (read-only; empty for a candle-only recording)."""
        return MappingProxyType(self._ticks)

    @property
    def ticks_only(self) -> bool:
        """True if every candle was derived from ticks (no candle file contributed)."""
        return all(c.derived is not None and c.derived.all() for c in self._candles.values())

    @property
    def start(self) -> int:
        """Time (ms) of the earliest candle open or tick of any symbol."""
        return min([int(c.open_time[0]) for c in self._candles.values()] + [t.start for t in self._ticks.values()])

    @property
    def end(self) -> int:
        """End of the recording (ms, exclusive): the latest candle's open + 1 minute, or just after the
        last tick when that candle is partial (``MinuteCandles.until``), whichever is latest."""
        return max([c.until + 1 if c.until is not None else int(c.open_time[-1]) + MINUTE_MS
                    for c in self._candles.values()] + [t.end for t in self._ticks.values()])

    @property
    def dates(self) -> str:
        """UTC dates of the first and last candle, e.g. ``"2025-07-21 → 2025-08-18"``."""
        first, last = pd.to_datetime([self.start, self.end - 1], unit="ms", utc=True)
        return f"{first:%Y-%m-%d} → {last:%Y-%m-%d}"

    def describe(self) -> str:
        """E.g. ``"BTCUSDT, ETHUSDT 1m, 2025-07-21 → 2025-08-18"``; tick symbols are named, e.g.
        ``"BTCUSDT 1m + trade/bookTicker ticks (BTCUSDT), 2024-08-08 → 2024-08-09"``."""
        ticks = f" + trade/bookTicker ticks ({', '.join(self._ticks)})" if self._ticks else ""
        return f"{', '.join(self.symbols)} 1m{ticks}, {self.dates}"
