"""Candle files the replay (and a backtest) reads: ours, Binance's public archives and freqtrade's data.

Every kind is recognised by its file name, which also gives the symbol and the interval; only 1m candles
are read (the replay derives 3m … 1d from them, and 1m cannot be recovered from longer candles), so a
file named with another interval is refused, naming it.

- **Ours**: ``SYMBOL-1m-<anything>.csv`` or ``.csv.gz`` with a header row holding at least
  ``open_time,open,high,low,close,volume``.
- **Binance's public archives** (data.binance.vision klines): ``SYMBOL-1m-YYYY-MM.csv`` (monthly) or
  ``SYMBOL-1m-YYYY-MM-DD.csv`` (daily), also ``.zip`` as downloaded (one CSV inside) or ``.csv.gz``.
  12 columns, no header row: ``open_time, open, high, low, close, volume, close_time, quote_volume,
  count, taker_buy_base_volume, taker_buy_quote_volume, ignore`` (futures archives add a header row,
  which is read as ours). **Timestamps**: spot archives are in microseconds from 2025-01-01 on, in
  milliseconds before (futures stay in ms); the unit is detected per file: open times above 1e14 are µs.
  ``close_time - open_time`` must be one minute less one unit (a 1m candle), else the file is refused.
- **freqtrade** (``user_data/data/<exchange>/``): ``BASE_QUOTE-1m.feather`` (columns ``date``, a UTC
  datetime, ``open, high, low, close, volume``; reading it needs pyarrow) and ``BASE_QUOTE-1m.json`` or
  ``.json.gz`` (a list of ``[ms, open, high, low, close, volume]``). The symbol is ``BASE`` + ``QUOTE``
  (``BTC_USDT`` -> ``BTCUSDT``); futures files (``BTC_USDT_USDT-1m-futures.feather``) are not read.

``read_candle_file`` returns ``(symbol, open_time, ohlcv)``: open times as int64 ms since the epoch, UTC,
in file order; ``ohlcv`` float64 arrays (prices in the quote asset, volume in the base asset). Columns
beyond OHLCV (quote volume, trade count, taker-buy volumes) are not kept: the replay sends fixed
defaults for them (see ``replay.recording``). Errors are ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pandas as pd

from ..binance.streams import INTERVALS, MINUTE_MS
from ..market.candles import OHLCV

#: Ours and Binance's archives: ``SYMBOL-<interval>-<anything>.csv[.gz]`` or ``.zip``.
KLINE_FILE = re.compile(r"^(?P<symbol>[A-Z0-9]{2,20})-(?P<interval>[0-9]+[smhdwM])-.+\.(?:csv|csv\.gz|zip)$")
#: freqtrade's spot candles: ``BASE_QUOTE-<interval>.feather|json|json.gz``.
FREQTRADE_FILE = re.compile(r"^(?P<base>[A-Z0-9]{1,15})_(?P<quote>[A-Z0-9]{1,10})-(?P<interval>[0-9]+[smhdwM])"
                            r"\.(?:feather|json|json\.gz)$")
#: Binance's archive columns, in order.
ARCHIVE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time", "quote_volume", "count",
                   "taker_buy_base_volume", "taker_buy_quote_volume", "ignore")
#: Open times above this are microseconds (2025+ spot archives); ms stay below it until the year 5138.
MICROSECONDS_ABOVE = 10**14
NAMES = ("SYMBOL-1m-<range>.csv[.gz] (header open_time,open,high,low,close,volume), Binance archives "
         "SYMBOL-1m-YYYY-MM[-DD].csv|.zip, freqtrade BASE_QUOTE-1m.feather|.json[.gz]")


@dataclass(frozen=True)
class CandleFile:
    """What a candle file's name says: its ``symbol`` (e.g. ``BTCUSDT``), ``interval`` and ``kind``
    (``"csv"``, ``"zip"``, ``"feather"`` or ``"json"``)."""

    path: Path
    symbol: str
    interval: str
    kind: str


def candle_file(path: Path) -> CandleFile | None:
    """The ``CandleFile`` that ``path``'s name describes, or None if the name is not a candle file's
    (any interval: the caller decides what to do with non-1m files)."""
    name = path.name
    if match := KLINE_FILE.match(name):
        return CandleFile(path, match["symbol"], match["interval"], "zip" if name.endswith(".zip") else "csv")
    if match := FREQTRADE_FILE.match(name):
        kind = "feather" if name.endswith(".feather") else "json"
        return CandleFile(path, match["base"] + match["quote"], match["interval"], kind)
    return None


def check_1m(f: CandleFile) -> None:
    """``ValueError`` unless ``f`` holds 1m candles (the only interval that can be replayed)."""
    if f.interval != "1m":
        what = "an unknown interval" if f.interval not in INTERVALS else f"{f.interval} candles"
        raise ValueError(f"{f.path}: the name says {what} ({f.interval!r}): only 1m candle files can be replayed "
                         "(longer intervals are derived from 1m, not the other way round)")


def read_candle_file(f: CandleFile) -> tuple[str, np.ndarray, dict[str, np.ndarray]]:
    """``(symbol, open_time int64 ms, {"open", "high", "low", "close", "volume": float64})`` of a 1m
    candle file (see the module doc), in file order. ``ValueError`` naming the file for any other interval,
    columns that do not fit, missing values, open times off the minute grid, a zip without exactly one CSV,
    or a file that cannot be parsed."""
    check_1m(f)
    try:
        if f.kind == "feather":
            t, ohlcv = _read_feather(f.path)
        elif f.kind == "json":
            t, ohlcv = _read_json(f.path)
        elif f.kind == "zip":
            with zipfile.ZipFile(f.path) as archive:
                members = [n for n in archive.namelist() if n.lower().endswith(".csv")]
                if len(members) != 1:
                    raise ValueError(f"a Binance archive zip holds one CSV file, this one holds {len(members)}: "
                                     f"{', '.join(archive.namelist()) or 'nothing'}")
                t, ohlcv = _read_csv(archive.read(members[0]))
        else:
            t, ohlcv = _read_csv(f.path.read_bytes())
    except (ValueError, KeyError, zipfile.BadZipFile, gzip.BadGzipFile, EOFError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{f.path}: {exc}") from exc
    off = np.flatnonzero(t % MINUTE_MS)
    if len(off):
        raise ValueError(f"{f.path}: open time {t[off[0]]} (candle {off[0] + 1}) is not on a minute boundary: "
                         "1m candles open at whole minutes (ms since the epoch, UTC)")
    return f.symbol, t, ohlcv


def _read_csv(data: bytes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Our CSV (header row) or Binance's archive CSV (no header, 12 columns, ms or µs); gzip detected."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    first = data.split(b"\n", 1)[0].split(b",")[0].strip()
    if not first.isdigit():  # a header row: ours, or a futures archive
        try:
            frame = pd.read_csv(io.BytesIO(data), usecols=["open_time", *OHLCV])
        except ValueError as exc:
            raise ValueError(f"expected a header row with the columns open_time,{','.join(OHLCV)} "
                             f"(or no header and Binance's 12 archive columns) ({exc})") from None
        t, ohlcv = _columns(frame, first_line=2)
        return _in_ms(t), ohlcv
    try:
        frame = pd.read_csv(io.BytesIO(data), header=None)
    except pd.errors.ParserError as exc:
        raise ValueError(f"a Binance archive CSV has 12 columns on every line ({str(exc).strip()})") from None
    if frame.shape[1] != len(ARCHIVE_COLUMNS):
        raise ValueError(f"a headerless kline CSV must have Binance's 12 archive columns "
                         f"({', '.join(ARCHIVE_COLUMNS)}), line 1 has {frame.shape[1]}")
    frame.columns = list(ARCHIVE_COLUMNS)
    t, ohlcv = _columns(frame, extra=ARCHIVE_COLUMNS[6:], first_line=1)
    close = frame["close_time"].to_numpy(dtype="int64")
    micro = len(t) and t.max() > MICROSECONDS_ABOVE
    minute = MINUTE_MS * (1000 if micro else 1)
    wrong = np.flatnonzero(close - t != minute - 1)
    if len(wrong):
        raise ValueError(f"line {wrong[0] + 1}: close_time - open_time is {close[wrong[0]] - t[wrong[0]]}, "
                         f"not {minute - 1} ({'µs' if micro else 'ms'}): not a 1m candle")
    return _in_ms(t), ohlcv


def _columns(frame: pd.DataFrame, extra: tuple[str, ...] = (), first_line: int = 1
             ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``open_time`` (int64) and the OHLCV columns (float64) of ``frame``; ``ValueError`` naming the first
    line with a missing or non-numeric value in them or in ``extra`` (the file's line ``first_line`` is the
    frame's first row)."""
    needed = ["open_time", *OHLCV, *extra]
    values = frame[needed].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        column = next(c for c in needed if pd.isna(values[c].iloc[row]))
        raise ValueError(f"line {row + first_line}: missing or non-numeric {column} ({frame[column].iloc[row]!r})")
    return (values["open_time"].to_numpy(dtype="int64"),
            {name: values[name].to_numpy(dtype="float64") for name in OHLCV})


def _in_ms(t: np.ndarray) -> np.ndarray:
    """Open times in ms: a file whose open times exceed 1e14 is in µs (2025+ spot archives)."""
    return t // 1000 if len(t) and t.max() > MICROSECONDS_ABOVE else t


def _read_feather(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    try:
        frame = pd.read_feather(path)
    except ImportError as exc:
        raise ValueError(f"reading freqtrade's feather files needs pyarrow (pip install pyarrow): {exc}") from None
    except Exception as exc:  # pyarrow's own errors (ArrowInvalid...) for a file that is not feather
        raise ValueError(f"not a feather file ({type(exc).__name__}: {exc})") from None
    missing = [c for c in ("date", *OHLCV) if c not in frame.columns]
    if missing:
        raise ValueError(f"freqtrade feather candles need the columns date,{','.join(OHLCV)}; "
                         f"missing {', '.join(missing)} (has {', '.join(map(str, frame.columns))})")
    if not isinstance(frame["date"].dtype, pd.DatetimeTZDtype):
        raise ValueError(f"column date must be a UTC datetime, not {frame['date'].dtype}")
    t = pd.DatetimeIndex(frame["date"]).tz_convert("UTC").as_unit("ms").asi8
    _, ohlcv = _columns(frame.assign(open_time=t))
    return t.astype("int64"), ohlcv


def _read_json(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    data = path.read_bytes()
    rows = orjson.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    shape = "a list of [ms, open, high, low, close, volume] rows"
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == 6 for r in rows):
        bad = next((i for i, r in enumerate(rows) if not (isinstance(r, list) and len(r) == 6)), 0) \
            if isinstance(rows, list) else None
        raise ValueError(f"freqtrade json candles are {shape}" +
                         ("" if bad is None else f"; row {bad + 1} is {str(rows[bad])[:80]}"))
    try:
        values = np.array(rows, dtype="float64").reshape(len(rows), 6)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"freqtrade json candles are {shape} of numbers ({exc})") from None
    if np.isnan(values).any():
        raise ValueError(f"row {int(np.flatnonzero(np.isnan(values).any(axis=1))[0]) + 1} has a missing value")
    t = values[:, 0].astype("int64")
    return _in_ms(t), {name: values[:, i + 1].copy() for i, name in enumerate(OHLCV)}
