"""Recorded 1m candles that the replay server plays back.

A recording is one or more CSV files ``SYMBOL-1m-<range>.csv`` or ``.csv.gz`` with the columns
``open_time,open,high,low,close,volume`` (header row; ``open_time`` = int ms since the Unix epoch,
UTC; microsecond timestamps, as in post-2025 spot archives, are detected and converted). Minutes
without a row stay missing: a recording is never filled in.

These files hold OHLCV only. The kline fields they lack are sent by the replay server with fixed
defaults, so nothing downstream may depend on them: quote volume ``q``, taker-buy volumes ``V``/``Q``
-> ``"0"``; trade count ``n`` -> ``0``; first/last trade ids ``f``/``L`` -> ``-1``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pandas as pd

from ..binance.streams import MINUTE_MS
from ..pipeline.candles import OHLCV, candle_frame

#: ``SYMBOL-1m-<anything>.csv`` or ``.csv.gz``; the symbol is taken from the file name.
FILE_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]{2,20})-1m-.*\.csv(\.gz)?$")


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
    """

    symbol: str
    open_time: np.ndarray
    ohlcv: dict[str, np.ndarray]

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
    """Symbol -> its recorded 1m candles (a read-only mapping), e.g. ``recording["BTCUSDT"]``."""

    def __init__(self, candles: Iterable[MinuteCandles]):
        self._candles = {c.symbol: c for c in sorted(candles, key=lambda c: c.symbol) if len(c)}
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
        """Load files and/or directories (a directory contributes its ``SYMBOL-1m-*.csv[.gz]`` files).

        Several files of one symbol are merged. Raises ``FileNotFoundError`` for a missing path and
        ``ValueError`` for a file whose name or columns do not fit, or when no file is found.
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        found: list[Path] = []
        for p in map(Path, paths):
            if p.is_dir():
                found += sorted(f for f in p.iterdir() if FILE_NAME.match(f.name))
            elif p.is_file():
                if not FILE_NAME.match(p.name):
                    raise ValueError(f"{p}: cannot tell the symbol: expected a file named SYMBOL-1m-<range>.csv[.gz]")
                found.append(p)
            else:
                raise FileNotFoundError(f"{p}: no such file or directory")
        if not found:
            raise ValueError(f"no SYMBOL-1m-<range>.csv[.gz] file in {', '.join(map(str, paths))}")
        parts: dict[str, list] = {}
        for f in found:
            parts.setdefault(FILE_NAME.match(f.name)["symbol"], []).append(_read_csv(f))
        return cls(_merge(symbol, p) for symbol, p in parts.items())

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
    def start(self) -> int:
        """Open time (ms) of the earliest candle of any symbol."""
        return min(int(c.open_time[0]) for c in self._candles.values())

    @property
    def end(self) -> int:
        """Close of the recording (ms, exclusive): open time of the latest candle + 1 minute."""
        return max(int(c.open_time[-1]) for c in self._candles.values()) + MINUTE_MS

    @property
    def dates(self) -> str:
        """UTC dates of the first and last candle, e.g. ``"2025-07-21 → 2025-08-18"``."""
        first, last = pd.to_datetime([self.start, self.end - MINUTE_MS], unit="ms", utc=True)
        return f"{first:%Y-%m-%d} → {last:%Y-%m-%d}"

    def describe(self) -> str:
        """E.g. ``"BTCUSDT, ETHUSDT 1m, 2025-07-21 → 2025-08-18"``."""
        return f"{', '.join(self.symbols)} 1m, {self.dates}"
