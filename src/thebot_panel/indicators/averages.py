"""Moving averages, drawn over the price: SMA, EMA, WMA, DEMA, TEMA, TRIMA, KAMA, T3, HMA."""

from __future__ import annotations

import math

import param

from . import _kernels
from .base import PriceIndicator


class SMA(PriceIndicator):
    """Simple moving average of the input over ``period`` candles; equals ``talib.SMA``.

    Kept as TA-Lib keeps it: a running total of the window (add the new input, divide, subtract the
    oldest), so the float results are identical.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles averaged.")
    outputs = ("sma",)

    def kernel(self, inputs):
        return _kernels.SMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class EMA(PriceIndicator):
    """Exponential moving average of the input; equals ``talib.EMA``.

    Seeded with the SMA of the first ``period`` inputs, then ``ema += (x - ema) * k`` with
    ``k = 2 / (period + 1)``.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles; smoothing k = 2/(period+1).")
    outputs = ("ema",)

    def kernel(self, inputs):
        return _kernels.EMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class WMA(PriceIndicator):
    """Linearly weighted moving average of the input, in its units; equals ``talib.WMA``.

    ``Σ w_i x_i / Σ w_i`` with weights 1 (oldest) ... ``period`` (newest). Kept as TA-Lib keeps it:
    the weighted and plain window sums carried from candle to candle and re-summed from the window every
    8 × period candles, so the floats are identical.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles averaged (newest weighs period, oldest 1).")
    outputs = ("wma",)

    def kernel(self, inputs):
        return _kernels.WMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class DEMA(PriceIndicator):
    """Double exponential moving average, in the input's units (Mulloy 1994); equals ``talib.DEMA``.

    ``2 * EMA - EMA(EMA)``, both EMAs of ``period`` seeded with the mean of their first ``period`` inputs
    and stepped as TA-Lib 0.8 rounds it, ``fma(x - ema, k, ema)``.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles of each EMA; k = 2/(period+1).")
    outputs = ("dema",)

    def kernel(self, inputs):
        return _kernels.DEMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return 2 * (self.period - 1)


class TEMA(PriceIndicator):
    """Triple exponential moving average, in the input's units (Mulloy 1994); equals ``talib.TEMA``.

    ``3 * EMA1 - 3 * EMA2 + EMA3``, each EMA the EMA of the previous one (EMA1 of the input).
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles of each EMA; k = 2/(period+1).")
    outputs = ("tema",)

    def kernel(self, inputs):
        return _kernels.TEMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return 3 * (self.period - 1)


class TRIMA(PriceIndicator):
    """Triangular moving average, in the input's units; equals ``talib.TRIMA``.

    Weights 1, 2, ..., 2, 1 peaking mid-window (an SMA of an SMA), computed with TA-Lib's running
    numerator so the floats are identical.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles in the triangular window.")
    outputs = ("trima",)

    def kernel(self, inputs):
        return _kernels.TRIMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class KAMA(PriceIndicator):
    """Kaufman adaptive moving average, in the input's units (Kaufman 1995); equals ``talib.KAMA``.

    An EMA whose factor follows the efficiency ratio ``er = |x - x[-period]| / Σ|1-candle changes|``:
    ``kama += (x - kama) * (er * (2/3 - 2/31) + 2/31) ** 2`` (fast 2, slow 30 as TA-Lib), seeded with the
    previous input. As TA-Lib 0.8 computes it: the change sum is kept running, the ratio is capped at 1,
    and after ``period`` flat candles (e.g. a halt) the sum is exactly 0 and the ratio 1.
    """

    period = param.Integer(default=30, bounds=(2, 1000), doc="Number of candles of the efficiency ratio.")
    outputs = ("kama",)

    def kernel(self, inputs):
        return _kernels.KAMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class T3(PriceIndicator):
    """Tillson T3 moving average, in the input's units (Tillson 1998); equals ``talib.T3``.

    Six chained EMAs (``k * x + (1 - k) * ema``, each seeded with the mean of its first ``period``
    inputs) combined as ``c1*e6 + c2*e5 + c3*e4 + c4*e3`` with the volume factor ``v``:
    ``c1 = -v³, c2 = 3v² + 3v³, c3 = -6v² - 3v - 3v³, c4 = 1 + 3v + v³ + 3v²``.
    """

    period = param.Integer(default=5, bounds=(2, 1000), doc="Number of candles of each of the six EMAs.")
    vfactor = param.Number(default=0.7, bounds=(0.0, 1.0),
                           doc="Volume factor: 0 gives a triple EMA, 1 the most overshoot (Tillson's 0.7).")
    outputs = ("t3",)

    def kernel(self, inputs):
        return _kernels.T3(inputs, self.period, self.vfactor)

    @property
    def lookback(self) -> int:
        return 6 * (self.period - 1)


class HMA(PriceIndicator):
    """Hull moving average, in the input's units (Hull 2005); no TA-Lib twin.

    ``WMA(2 * WMA(x, period // 2) - WMA(x, period), int(sqrt(period)))``, the WMAs being ``talib.WMA``'s.
    """

    period = param.Integer(default=20, bounds=(4, 1000), doc="Number of candles of the slow WMA (half of it for the fast one).")
    outputs = ("hma",)

    def kernel(self, inputs):
        return _kernels.HMA(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1 + math.isqrt(self.period) - 1
