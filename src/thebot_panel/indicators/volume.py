"""Volume indicators: OBV, AD, ADOSC (each on its own pane) and the anchored VWAP (over the price)."""

from __future__ import annotations

import param

from . import _kernels
from .base import PRICE_SOURCES, Indicator


class OBV(Indicator):
    """On-balance volume, in volume units (Granville 1963); equals ``talib.OBV(close, volume)``.

    Starts at the first candle's volume, then adds the volume of each candle closing above the
    previous close and subtracts that of each closing below (unchanged on an equal close).
    """

    outputs = ("obv",)
    fields = ("close", "volume")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.OBV(inputs)

    @property
    def lookback(self) -> int:
        return 0


class AD(Indicator):
    """Chaikin accumulation/distribution line, in volume units; equals ``talib.AD``.

    Cumulative ``((close - low) - (high - close)) / (high - low) * volume``; a candle with
    high == low (e.g. a flat halt candle) adds nothing, as TA-Lib.
    """

    outputs = ("ad",)
    fields = ("high", "low", "close", "volume")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.AD(inputs)

    @property
    def lookback(self) -> int:
        return 0


class ADOSC(Indicator):
    """Chaikin A/D oscillator, in volume units; equals ``talib.ADOSC``.

    ``EMA(AD, fast) - EMA(AD, slow)`` of the ``AD`` line, both EMAs seeded with the first A/D value
    (as TA-Lib and Metastock), values from candle ``max(fast, slow) - 1`` on.
    """

    fast = param.Integer(default=3, bounds=(2, 500), doc="Number of candles of the fast EMA of the A/D line.")
    slow = param.Integer(default=10, bounds=(2, 500), doc="Number of candles of the slow EMA of the A/D line.")
    outputs = ("adosc",)
    fields = ("high", "low", "close", "volume")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.ADOSC(inputs, self.fast, self.slow)

    @property
    def lookback(self) -> int:
        return max(self.fast, self.slow) - 1


class VWAP(Indicator):
    """Anchored volume-weighted average price, in price units; no TA-Lib twin.

    ``Σ price × volume / Σ volume`` over the candles since the start of the anchor period (UTC day,
    Monday 00:00 UTC week or UTC calendar month, read from each candle's open time); NaN while the
    period's volume is still 0. ``price`` is the ``source`` (typical price hlc3 by default).
    """

    anchor = param.Selector(default="session", objects=list(_kernels.VWAP_ANCHORS),
                            doc="Period whose start restarts the sums: session = UTC day, week = from Monday "
                                "00:00 UTC, month = UTC calendar month.")
    source = param.Selector(default="hlc3", objects=list(PRICE_SOURCES),
                            doc="Candle price weighted by the volume: hlc3 = (high+low+close)/3 (typical price).")
    outputs = ("vwap",)
    fields = ("volume", "open_time")

    def kernel(self, inputs):
        return _kernels.VWAP(inputs, self.anchor)

    @property
    def lookback(self) -> int:
        return 0
