"""Momentum oscillators, each on its own pane: RSI, STOCH, STOCHF, STOCHRSI, MACD, MOM, ROC, WILLR, CCI, MFI."""

from __future__ import annotations

import param

from . import _kernels
from .base import Indicator, PriceIndicator


class RSI(PriceIndicator):
    """Relative strength index of the input, 0-100 (Wilder 1978); equals ``talib.RSI``.

    Average gain and loss are seeded with the simple mean of the first ``period`` changes, then
    smoothed as ``avg = (avg * (period - 1) + change) / period``; RSI = 100 * gain / (gain + loss).
    Where gain + loss is 0 (flat prices, e.g. zero-volume halt candles) the value is 0, as TA-Lib
    gives it; so it is from a NaN candle on.
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of changes in Wilder's smoothing.")
    outputs = ("rsi",)
    pane = "own"
    levels = (30.0, 70.0)

    def kernel(self, inputs):
        return _kernels.RSI(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class STOCHF(Indicator):
    """Fast stochastic oscillator, 0-100 (Lane, 1950s); equals ``talib.STOCHF`` with SMA smoothing.

    ``fastk`` = 100 * (close - lowest low) / (highest high - lowest low) over ``fastk_period`` candles,
    computed as TA-Lib does: ``(close - low) / ((high - low) / 100)``, and 0 where the window is flat
    (range within 1e-14 of the prices, TA-Lib's ``TA_IS_ZERO_SCALED``, e.g. halt candles).
    ``fastd`` = SMA of ``fastk`` over ``fastd_period``. Defaults are TradingView's (14, 3); TA-Lib's are (5, 3).
    """

    fastk_period = param.Integer(default=14, bounds=(1, 1000), doc="Candles of the high/low window of %K.")
    fastd_period = param.Integer(default=3, bounds=(1, 1000), doc="Candles of the SMA of %K giving %D.")
    outputs = ("fastk", "fastd")
    fields = ("high", "low", "close")
    pane = "own"
    levels = (20.0, 80.0)

    def kernel(self, inputs):
        return _kernels.STOCHF(inputs, self.fastk_period, self.fastd_period)

    @property
    def lookback(self) -> int:
        return self.fastk_period - 1 + self.fastd_period - 1


class STOCH(Indicator):
    """Slow stochastic oscillator, 0-100 (Lane, 1950s); equals ``talib.STOCH`` with SMA smoothing (its default).

    ``slowk`` = SMA over ``slowk_period`` of the fast %K (see ``STOCHF``, 0 over a flat window);
    ``slowd`` = SMA of ``slowk`` over ``slowd_period``. Defaults are TradingView's (14, 3, 3); TA-Lib's
    are (5, 3, 3).
    """

    fastk_period = param.Integer(default=14, bounds=(1, 1000), doc="Candles of the high/low window of the fast %K.")
    slowk_period = param.Integer(default=3, bounds=(1, 1000), doc="Candles of the SMA of the fast %K giving %K.")
    slowd_period = param.Integer(default=3, bounds=(1, 1000), doc="Candles of the SMA of %K giving %D.")
    outputs = ("slowk", "slowd")
    fields = ("high", "low", "close")
    pane = "own"
    levels = (20.0, 80.0)

    def kernel(self, inputs):
        return _kernels.STOCH(inputs, self.fastk_period, self.slowk_period, self.slowd_period)

    @property
    def lookback(self) -> int:
        return self.fastk_period - 1 + self.slowk_period - 1 + self.slowd_period - 1


class STOCHRSI(PriceIndicator):
    """Stochastic RSI, 0-100 (Chande & Kroll 1994); equals ``talib.STOCHRSI`` with SMA smoothing.

    The fast stochastic (``STOCHF``) of ``RSI(timeperiod)`` taken as high, low and close:
    ``fastk`` = 100 * (RSI - lowest RSI) / (highest RSI - lowest RSI) over ``fastk_period``, 0 where
    the RSI is flat; ``fastd`` = SMA of ``fastk`` over ``fastd_period``. Defaults 14/14/3 (TradingView's
    RSI and stochastic lengths); TA-Lib's are 14/5/3.
    """

    timeperiod = param.Integer(default=14, bounds=(2, 500), doc="Period of the RSI.")
    fastk_period = param.Integer(default=14, bounds=(1, 1000), doc="RSI values in the high/low window of %K.")
    fastd_period = param.Integer(default=3, bounds=(1, 1000), doc="Candles of the SMA of %K giving %D.")
    outputs = ("fastk", "fastd")
    pane = "own"
    levels = (20.0, 80.0)

    def kernel(self, inputs):
        return _kernels.STOCHRSI(inputs, self.timeperiod, self.fastk_period, self.fastd_period)

    @property
    def lookback(self) -> int:
        return self.timeperiod + self.fastk_period - 1 + self.fastd_period - 1


class MACD(PriceIndicator):
    """Moving average convergence/divergence, in price units (Appel 1979); equals ``talib.MACD``.

    ``macd`` = EMA(fast) - EMA(slow) of the input, ``signal`` = EMA(signal) of ``macd``, ``hist`` =
    macd - signal. As TA-Lib does, the fast EMA starts ``slow - fast`` candles late so that both EMAs
    are seeded (with the SMA of their first inputs) on the same candle; a standalone EMA(fast) differs
    from it for a while. A fast period above the slow one is swapped, as TA-Lib does.
    """

    fast = param.Integer(default=12, bounds=(2, 1000), doc="Period of the fast EMA.")
    slow = param.Integer(default=26, bounds=(2, 1000), doc="Period of the slow EMA.")
    signal = param.Integer(default=9, bounds=(1, 1000), doc="Period of the EMA of the MACD line (signal line).")
    outputs = ("macd", "signal", "hist")
    pane = "own"
    levels = (0.0,)
    styles = {"hist": "histogram"}

    def kernel(self, inputs):
        return _kernels.MACD(inputs, min(self.fast, self.slow), max(self.fast, self.slow), self.signal)

    @property
    def lookback(self) -> int:
        return max(self.fast, self.slow) - 1 + self.signal - 1


class MOM(PriceIndicator):
    """Momentum: the input minus the input ``period`` candles earlier, in input units; equals ``talib.MOM``."""

    period = param.Integer(default=10, bounds=(1, 1000), doc="Candles back to the compared input.")
    outputs = ("mom",)
    pane = "own"
    levels = (0.0,)

    def kernel(self, inputs):
        return _kernels.MOM(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class ROC(PriceIndicator):
    """Rate of change in percent: ``(x / x[period back] - 1) * 100``; equals ``talib.ROC``.

    0 where the earlier input is 0, as TA-Lib guards the division.
    """

    period = param.Integer(default=10, bounds=(1, 1000), doc="Candles back to the compared input.")
    outputs = ("roc",)
    pane = "own"
    levels = (0.0,)

    def kernel(self, inputs):
        return _kernels.ROC(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class WILLR(Indicator):
    """Williams' %R, -100 to 0 (Williams 1973); equals ``talib.WILLR``.

    -100 * (highest high - close) / (highest high - lowest low) over ``period`` candles, computed as
    TA-Lib does: ``(high - close) / ((high - low) / -100)``, and 0 where the window is flat (range
    within 1e-14 of the prices, TA-Lib's ``TA_IS_ZERO_SCALED``).
    """

    period = param.Integer(default=14, bounds=(2, 1000), doc="Candles of the high/low window.")
    outputs = ("willr",)
    fields = ("high", "low", "close")
    pane = "own"
    levels = (-80.0, -20.0)

    def kernel(self, inputs):
        return _kernels.WILLR(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class CCI(Indicator):
    """Commodity channel index, unitless, usually within ±100..±300 (Lambert 1980); equals ``talib.CCI``.

    With tp = (high + low + close) / 3 over ``period`` candles: (tp - mean) / (0.015 * mean absolute
    deviation). 0 where tp - mean or the deviation is within 1e-14 of the mean (TA-Lib's scaled flatness
    test, e.g. halt candles). The O(period) mean and deviation are summed in TA-Lib's order.
    """

    period = param.Integer(default=14, bounds=(2, 1000), doc="Candles of the typical-price window.")
    outputs = ("cci",)
    fields = ("high", "low", "close")
    pane = "own"
    levels = (-100.0, 100.0)

    def kernel(self, inputs):
        return _kernels.CCI(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class MFI(Indicator):
    """Money flow index, 0-100 (Quong & Soudack 1989); equals ``talib.MFI``.

    Money flow = tp * volume with tp = (high + low + close) / 3, positive when tp rose from the previous
    candle, negative when it fell, none when it moved less than 1e-14 of the prices (TA-Lib's
    ``TA_IS_ZERO_SCALED``). MFI = 100 * positive / (positive + negative) over ``period`` candles, 0 for a
    window without any flow (e.g. zero-volume halt candles), as TA-Lib computes it (running sums reset
    once a whole window had no flow, ratio clamped to 0-100).
    """

    period = param.Integer(default=14, bounds=(2, 1000), doc="Candles of the money-flow window.")
    outputs = ("mfi",)
    fields = ("high", "low", "close", "volume")
    pane = "own"
    levels = (20.0, 80.0)

    def kernel(self, inputs):
        return _kernels.MFI(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period
