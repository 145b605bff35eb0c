"""Recorded market data that the replay server plays back: 1m candles and, optionally, ticks.

**Candle files** (``replay.candle_files``): our CSV ``SYMBOL-1m-<range>.csv[.gz]`` (header
``open_time,open,high,low,close,volume``, int ms since the Unix epoch, UTC), Binance's public kline
archives ``SYMBOL-1m-YYYY-MM[-DD].csv|.zip`` (12 columns, no header; µs timestamps, as in 2025+ spot
archives, detected per file), and freqtrade's ``BASE_QUOTE-1m.feather|.json[.gz]``. Minutes without a
row stay missing: a recording is never filled in.

These files hold OHLCV only. The kline fields they lack are sent by the replay server with fixed
defaults, so nothing downstream may depend on them: quote volume ``q``, taker-buy volumes ``V``/``Q``
-> ``"0"``; trade count ``n`` -> ``0``; first/last trade ids ``f``/``L`` -> ``-1``.

**WebSocket recordings**: ``thebot-record``'s files (``*.ws.gz``, see ``replay.recorder``), hftbacktest
collector recordings (``*.hftbacktest.gz``), or any gzip/plain file whose first line looks like one:
one frame per line, ``<local receive time, int ns since the epoch> <raw frame exactly as received>``,
combined-stream envelopes ``{"stream", "data"}``. A gzip file may hold several members (the recorder
appends one per flush); a file cut off by a crash, or still being written, is read up to its last
complete line (with a warning). What is kept, by stream (the symbol is the event's ``s``):

- ``<symbol>@kline_1m`` frames with ``x: true`` (closed): that symbol's 1m candles, exactly the
  recorded OHLCV (first kept for an open time recorded twice); forming (``x: false``) updates and other
  intervals are dropped (the replay plays its own forming states and derives 3m … 1d from 1m);
- ``<symbol>@trade``, ``<symbol>@aggTrade`` and ``<symbol>@bookTicker``: ticks (below), which the
  replay serves on the same streams, byte for byte;
- anything else (``@depth``, ``@ticker``: the replay makes its own 24hr tickers from the candles, control
  replies, REST snapshots, lines without ``stream``) is dropped.

A frame that is not JSON, or a kept event lacking a field it needs, was recorded as received: it is
skipped and counted (a warning names the file, the count and the first such line). A line that does not
start with ``<digits> `` is not a recording's: ``ValueError``.

Each kept tick gets a time on the replay clock (int ms since the epoch, UTC):

- trade and aggTrade: its trade time ``T`` (the exchange's clock);
- bookTicker: spot sends no event time, so the recorder's receive time (ns -> ms) is used, moved onto
  the exchange's clock by the file's median ``E - receive time`` over its event-timed messages
  (trades, klines, depth updates...). The 2024-08-08/09 BTCUSDT recordings need +1272 ms: the
  recorder's clock ran 1.27 s behind Binance's (``E`` is *later* than the receive time), so raw receive
  times would play every bookTicker 1.27 s before the trades around it. A file without event-timed
  messages keeps the raw receive time.

Several tick files of one symbol are merged in exchange order (trade id ``t``, aggregate trade id
``a``, book update id ``u``) and de-duplicated on those ids (first kept); times are then made
non-decreasing.

**Candles from trades**: a symbol with trades (or, lacking those, aggTrades: the same prices and
quantities, aggregated per price) gets 1m candles aggregated from them as the exchange does (open =
first trade price of the minute, high/low = extremes, close = last, volume = sum of quantities, rounded
to 8 decimals, i.e. the exact decimal sum; minutes without a trade have no candle) wherever no candle
file and no recorded closed kline has that minute (those win). The minute in which the tick recording
starts is dropped unless it starts on the minute (its first trades are missing); the minute in which it
ends is kept as a partial candle (``MinuteCandles.until``): the replay shows it forming until the
recording's last tick and never closes it.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import as_file, files
from pathlib import Path
from types import MappingProxyType

import numpy as np
import orjson
import pandas as pd

from ..binance.events import Kline, parse_event
from ..binance.streams import MINUTE_MS
from ..market.candles import OHLCV, candle_frame
from .candle_files import NAMES, CandleFile, candle_file, check_1m, read_candle_file

log = logging.getLogger(__name__)

#: WebSocket recordings found in directories: ``*.ws.gz`` (``thebot-record``) and ``*.hftbacktest.gz``
#: (a named file is also recognised by its content).
TICK_FILE_NAME = re.compile(r"\.(?:ws|hftbacktest)\.gz$")
#: The start of a recording's line: receive time in ns, a space, a JSON object.
_TICK_LINE = re.compile(rb"^\d{16,20} \{")
#: Stream kinds kept from recordings as ticks (Binance's names).
TICK_KINDS = ("trade", "aggTrade", "bookTicker")
#: Per kept tick kind: the field of its id (exchange order).
_TICK_ID = {"trade": "t", "aggTrade": "a", "bookTicker": "u"}


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


@dataclass(frozen=True, eq=False)
class TickStream:
    """One symbol's recorded events of one stream kind, in exchange order.

    ``time``: int64 ms since the epoch, UTC, on the replay clock, non-decreasing.
    ``ids``: int64, strictly increasing (trade id ``t`` / aggregate trade id ``a`` / book update id ``u``).
    ``payload``: the event JSON as recorded (a combined envelope's ``data``), one ``bytes`` per event.
    """

    time: np.ndarray
    ids: np.ndarray
    payload: list[bytes]

    def __len__(self) -> int:
        return len(self.time)


@dataclass(frozen=True, eq=False)
class Ticks:
    """The recorded ``trade``, ``aggTrade`` and ``bookTicker`` events of one symbol.

    ``streams``: ``{"trade": TickStream, "aggTrade": TickStream, "bookTicker": TickStream}`` (any may be
    empty, not all). ``price``/``quantity``: float64 per trade (quote currency / base asset), aligned with
    ``streams[trades_kind]``, the trades the 1m candles are derived from.
    """

    symbol: str
    streams: dict[str, TickStream]
    price: np.ndarray
    quantity: np.ndarray

    @property
    def trades_kind(self) -> str:
        """``"trade"`` if trades were recorded, else ``"aggTrade"`` (the same prices and quantities, grouped)."""
        return trade_kind(len(self.streams["trade"]))

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
        time = self.streams[self.trades_kind].time
        minute = time - time % MINUTE_MS
        by_minute = pd.DataFrame({"p": self.price, "q": self.quantity}).groupby(minute)
        return {"minute": minute, "high": by_minute["p"].cummax().to_numpy(),
                "low": by_minute["p"].cummin().to_numpy(), "volume": by_minute["q"].cumsum().to_numpy()}

    def candle_at(self, open_time: int, at: int) -> tuple[float, float, float, float]:
        """``(close, high, low, volume)`` of the 1m candle opened at ``open_time`` (ms), from its trades
        with trade time <= ``at`` (ms), but at least its first trade. ``IndexError`` if it has no trade."""
        time, run = self.streams[self.trades_kind].time, self._running
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


def trade_kind(trades: int) -> str:
    """The stream that 1m candles are derived from: ``"trade"`` when there are ``trades`` (a count), else
    ``"aggTrade"``."""
    return "trade" if trades else "aggTrade"


def is_tick_file(path: Path) -> bool:
    """True for ``*.ws.gz`` and ``*.hftbacktest.gz``, and for a (gzip or plain) file whose first line is
    ``<receive time ns> {JSON}``. ``OSError`` if the file cannot be read."""
    if TICK_FILE_NAME.search(path.name):
        return True
    for _, line in _read_lines(path, warn=False):
        return bool(_TICK_LINE.match(line))
    return False


def _read_lines(path: Path, warn: bool = True) -> Iterator[tuple[int, bytes]]:
    """``(line number, line without its newline)`` of a plain or gzip file, empty lines skipped.

    A gzip file may hold several members, read one after the other. A file cut off by a crash, or
    still being written, ends with an incomplete member (or bytes that are no gzip member): it is read
    up to its last complete line, and (``warn``) a warning names the file and the line.
    """
    with open(path, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            f.seek(0)
            for n, line in enumerate(f, 1):
                if line.strip():
                    yield n, line.rstrip(b"\r\n")
            return
        f.seek(0)
        n, rest, member, fed, problem = 0, b"", zlib.decompressobj(wbits=31), False, None
        while problem is None and (chunk := f.read(1 << 20)):
            out = []
            while chunk:
                try:
                    out.append(member.decompress(chunk))
                except zlib.error as exc:
                    problem = f"corrupt gzip data ({exc})"
                    break
                fed = True
                if member.eof:
                    chunk, member, fed = member.unused_data, zlib.decompressobj(wbits=31), False
                else:
                    chunk = b""
            lines = (rest + b"".join(out)).split(b"\n")
            rest = lines.pop()
            for line in lines:
                n += 1
                if line.strip():
                    yield n, line.rstrip(b"\r")
        if problem is None and fed:
            problem = "the last gzip member is incomplete"
        if problem is None and rest.strip():
            yield n + 1, rest.rstrip(b"\r")  # a complete file may lack the final newline
        elif problem is not None and warn:
            log.warning("%s: %s (cut off while being written?): read up to line %d, its last complete line%s",
                        path, problem, n, ", an incomplete line after it dropped" if rest else "")


def _read_recording(path: Path) -> tuple[dict[str, dict[str, list]], dict[str, list[Kline]]]:
    """The kept content of one WebSocket recording (see the module doc): ``({symbol: {kind: [(time_ms,
    id, payload, price, quantity), ...]}}, {symbol: [closed 1m Kline, ...]})`` (price/quantity are None
    for bookTickers).

    Raises ``ValueError`` for a line that does not start with ``<int ns> ``; frames that are not JSON or
    kept events lacking a field are skipped and counted (one warning per file).
    """
    events: dict[str, dict[str, list]] = {}
    klines: dict[str, list[Kline]] = {}
    books, offsets = [], []
    malformed, first_bad = 0, None
    for n, line in _read_lines(path):
        stamp, _, text = line.partition(b" ")
        try:
            received = int(stamp) // 1_000_000
        except ValueError:
            raise ValueError(f"{path}:{n}: expected '<receive time ns> <Binance combined-stream JSON>', "
                             f"got {line[:60]!r}") from None
        try:
            msg = orjson.loads(text)
            if not isinstance(msg, dict) or "stream" not in msg:  # a REST snapshot, a control reply
                continue
            data, kind = msg["data"], msg["stream"].partition("@")[2]
            event_time = int(data["E"]) if "E" in data else None
            if kind in ("trade", "aggTrade"):
                event = (int(data["T"]), int(data[_TICK_ID[kind]]), orjson.dumps(data),
                         float(data["p"]), float(data["q"]))
                events.setdefault(data["s"], {}).setdefault(kind, []).append(event)
            elif kind == "bookTicker":
                books.append((data["s"], received, int(data["u"]), orjson.dumps(data)))
            elif kind == "kline_1m" and data["k"]["x"] is True:
                kline = parse_event(data)
                if type(kline) is not Kline or kline.interval != "1m":
                    raise ValueError(f"a {type(kline).__name__} on stream {msg['stream']}")
                klines.setdefault(kline.symbol, []).append(kline)
            if event_time is not None:
                offsets.append(event_time - received)
        except (ValueError, KeyError, TypeError, AttributeError):  # MalformedMessage is a ValueError
            malformed += 1
            first_bad = first_bad or n
    if malformed:
        log.warning("%s: %d malformed frame(s) skipped (recorded as received), the first on line %d",
                    path, malformed, first_bad)
    offset = int(np.median(offsets)) if offsets else 0
    for symbol, received, u, payload in books:
        events.setdefault(symbol, {}).setdefault("bookTicker", []).append((received + offset, u, payload, None, None))
    return events, klines


def _ticks(symbol: str, parts: list[dict[str, list]]) -> Ticks:
    """One symbol's ticks from several files' ``_read_recording`` events: each stream sorted by id and
    de-duplicated on it (first kept), its times made non-decreasing."""
    streams, kept = {}, {}
    for kind in TICK_KINDS:
        events = [e for p in parts for e in p.get(kind, [])]
        ids = np.array([e[1] for e in events], dtype="int64")
        order = np.argsort(ids, kind="stable")
        keep = order[np.r_[True, ids[order][1:] != ids[order][:-1]]] if len(ids) else order
        kept[kind] = [events[i] for i in keep]
        time = np.array([e[0] for e in kept[kind]], dtype="int64")
        streams[kind] = TickStream(np.maximum.accumulate(time) if len(time) else time, ids[keep],
                                   [e[2] for e in kept[kind]])
    trades = kept[trade_kind(len(kept["trade"]))]
    price = np.array([e[3] for e in trades], dtype="float64")
    quantity = np.array([e[4] for e in trades], dtype="float64")
    return Ticks(symbol, streams, price, quantity)


def _kline_candles(klines: list[Kline]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(open_time, ohlcv)`` of recorded closed 1m klines, in recorded order."""
    t = np.array([k.open_time for k in klines], dtype="int64")
    return t, {name: np.array([getattr(k, name) for k in klines], dtype="float64") for name in OHLCV}


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

    ``candles``: candles read from files or recorded closed klines. ``ticks``: recorded trade, aggTrade and
    bookTicker events; a symbol with trades gets candles derived from them where ``candles`` lack the minute
    (see the module doc).
    Raises ``ValueError`` when no symbol has candles, or a symbol's ticks yield no candle (no trade
    after the recording's first, partial minute) and no candle file covers it.
    """

    def __init__(self, candles: Iterable[MinuteCandles] = (), ticks: Iterable[Ticks] = ()):
        by_symbol = {c.symbol: c for c in candles if len(c)}
        self._ticks = {t.symbol: t for t in sorted(ticks, key=lambda t: t.symbol)}
        for symbol, t in self._ticks.items():
            by_symbol[symbol] = _overlay(by_symbol.get(symbol), t.candles())
            if not len(by_symbol[symbol]):
                raise ValueError(f"{symbol}: the tick recording has no closed 1m kline and no trade (or aggTrade) "
                                 "after its first (partial) minute, so it has no 1m candle")
        self._candles = dict(sorted(by_symbol.items()))
        if not self._candles:
            raise ValueError("a recording needs at least one symbol with candles")

    @classmethod
    def bundled(cls) -> Recording:
        """The sample shipped in ``thebot_panel.data`` (BTCUSDT and ETHUSDT, 2025-07-21 -> 2025-08-18)."""
        data = files("thebot_panel.data")
        parts: dict[str, list] = {}
        for item in sorted(data.iterdir(), key=lambda i: i.name):
            named = candle_file(Path(item.name))
            if named is not None and named.interval == "1m":
                with as_file(item) as path:
                    symbol, t, ohlcv = read_candle_file(CandleFile(path, named.symbol, named.interval, named.kind))
                parts.setdefault(symbol, []).append((t, ohlcv))
        return cls(_merge(symbol, p) for symbol, p in parts.items())

    @classmethod
    def from_paths(cls, paths: str | Path | Iterable[str | Path]) -> Recording:
        """Load files and/or directories of the kinds the module doc lists: candle files (ours, Binance's
        archives, freqtrade's: ``replay.candle_files``) and WebSocket recordings (``*.ws.gz`` from
        ``thebot-record``, ``*.hftbacktest.gz``, or a named file recognised by its content). A directory
        contributes its files whose names match (not its subdirectories' files); its candle files of an
        interval other than 1m are skipped (logged), while a named one is refused.

        Several files of one symbol are merged: candles from candle files and recorded closed klines (in
        file name order, the first kept per open time), then candles derived from trades where those lack
        the minute. Raises ``FileNotFoundError`` for a missing path and ``ValueError`` naming the file for
        a name, columns or lines that do not fit, or when no file is found.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        paths = list(map(Path, paths))
        found: list[tuple[Path, CandleFile | None]] = []
        skipped: list[Path] = []
        for p in paths:
            if p.is_dir():
                for f in sorted(p.iterdir()):
                    named = candle_file(f)
                    if named is not None and f.is_file():
                        if named.interval == "1m":
                            found.append((f, named))
                        else:
                            skipped.append(f)
                    elif TICK_FILE_NAME.search(f.name) and f.is_file():
                        found.append((f, None))
            elif p.is_file():
                named = candle_file(p)
                if named is not None:
                    check_1m(named)
                elif not is_tick_file(p):
                    raise ValueError(f"{p}: not a file the replay reads: expected {NAMES}, or a tick recording of "
                                     "WebSocket frames (lines '<receive time ns> <JSON>': *.ws.gz, *.hftbacktest.gz)")
                found.append((p, named))
            else:
                raise FileNotFoundError(f"{p}: no such file or directory")
        if skipped:
            log.info("skipped candle files of intervals other than 1m (only 1m can be replayed): %s",
                     ", ".join(f.name for f in skipped))
        if not found:
            other = f"; {len(skipped)} file(s) of other intervals than 1m skipped" if skipped else ""
            raise ValueError(f"no candle file or WebSocket recording in {', '.join(map(str, paths))}: expected "
                             f"{NAMES}, or *.ws.gz / *.hftbacktest.gz recordings{other}")
        parts: dict[str, list] = {}
        tick_parts: dict[str, list] = {}
        for f, named in found:
            if named is not None:
                symbol, t, ohlcv = read_candle_file(named)
                parts.setdefault(symbol, []).append((t, ohlcv))
                continue
            events, klines = _read_recording(f)
            if not events and not klines:
                log.warning("%s: no closed 1m kline, trade, aggTrade or bookTicker frame in it", f)
            for symbol, recorded in klines.items():
                parts.setdefault(symbol, []).append(_kline_candles(recorded))
            for symbol, kinds in events.items():
                tick_parts.setdefault(symbol, []).append(kinds)
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
        """Symbol -> its recorded trade/aggTrade/bookTicker events (read-only; empty for a candle-only recording)."""
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
        ``"BTCUSDT 1m + trade/bookTicker ticks (BTCUSDT), 2024-08-08 → 2024-08-09"`` (the kinds recorded)."""
        kinds = "/".join(k for k in TICK_KINDS if any(len(t.streams[k]) for t in self._ticks.values()))
        ticks = f" + {kinds} ticks ({', '.join(self._ticks)})" if self._ticks else ""
        return f"{', '.join(self.symbols)} 1m{ticks}, {self.dates}"


def load_candles(paths: str | Path | Iterable[str | Path] | Recording, symbols: Iterable[str] | None = None
                 ) -> dict[str, pd.DataFrame]:
    """The closed 1m candles of every symbol in ``paths`` (any file or directory ``Recording.from_paths``
    reads: candle files, Binance archives, freqtrade candles, WebSocket recordings; or a ``Recording``), for a
    backtest or a sweep; only ``symbols`` (e.g. ``["BTCUSDT"]``) if given.

    Returns ``{symbol: frame}``: the frame is indexed by ``open_time`` (a UTC ``DatetimeIndex``, the
    candle's open, strictly increasing, gaps kept as gaps) with float64 columns ``open``, ``high``,
    ``low``, ``close`` (quote asset) and ``volume`` (base asset). A tick recording's last, partial minute
    is not a closed candle and is left out. Raises what ``from_paths`` raises, and ``ValueError`` naming a
    wanted symbol that is not there.
    """
    recording = paths if isinstance(paths, Recording) else Recording.from_paths(paths)
    wanted = list(recording.symbols if symbols is None else symbols)
    missing = [s for s in wanted if s not in recording]
    if missing:
        raise ValueError(f"no candles of {', '.join(missing)} in {recording.describe()}: it holds "
                         f"{', '.join(recording.symbols)}")
    frames = {}
    for symbol in wanted:
        candles = recording[symbol]
        frame = candles.frame()
        frames[symbol] = frame.iloc[:-1] if candles.until is not None else frame
    return frames
