"""Volatility: bands over the price (BBANDS, KELTNER, DONCHIAN, SUPERTREND) and ranges on their own pane (ATR, NATR, TRANGE)."""

from __future__ import annotations

import param

from . import _kernels
from .base import PRICE_SOURCES, Indicator, PriceIndicator


class TRANGE(Indicator):
    """True range of each candle, in price units (Wilder 1978); equals ``talib.TRANGE``.

    ``max(high - low, |high - previous close|, |low - previous close|)``; none for the first candle.
    """

    outputs = ("trange",)
    fields = ("high", "low", "close")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.TRANGE(inputs)

    @property
    def lookback(self) -> int:
        return 1


class ATR(Indicator):
    """Average true range, in price units (Wilder 1978); equals ``talib.ATR``.

    Wilder's smoothing of ``TRANGE``: the mean of the first ``period`` true ranges (from the second
    candle), then ``atr = atr * (period - 1) / period + tr / period``, computed as TA-Lib 0.8.1 does
    (#338: ``fma(beta, atr, alpha * tr)`` with ``beta = (period - 1) / period``, ``alpha = 1 - beta``).
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of true ranges in Wilder's smoothing.")
    outputs = ("atr",)
    fields = ("high", "low", "close")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.ATR(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class NATR(Indicator):
    """Normalized average true range, in percent of the close (Forman, TASC 2006); equals ``talib.NATR``.

    ``ATR / close * 100`` with the ``ATR`` above; 0 where the close is exactly 0, as TA-Lib 0.8.1.
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of true ranges in Wilder's smoothing.")
    outputs = ("natr",)
    fields = ("high", "low", "close")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.NATR(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class BBANDS(PriceIndicator):
    """Bollinger bands, in price units (Bollinger 1980s); equals ``talib.BBANDS`` with its default SMA.

    Outputs upperband, middleband, lowerband: ``SMA(period) ± nbdev × σ``, σ the population standard
    deviation of the window computed as TA-Lib 0.8.1 does (#118, #243): running sums of the inputs
    minus a shift, re-seeded on the window mean every 32 × period candles or when cancellation
    threatens. 20/2/2, Bollinger's setting, is both our and TA-Lib 0.8.1's default (it was 5 before).
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles of the SMA and the deviation.")
    nbdevup = param.Number(default=2.0, bounds=(0.0, 10.0), doc="Standard deviations above the middle band.")
    nbdevdn = param.Number(default=2.0, bounds=(0.0, 10.0), doc="Standard deviations below the middle band.")
    outputs = ("upperband", "middleband", "lowerband")

    def kernel(self, inputs):
        return _kernels.BBANDS(inputs, self.period, self.nbdevup, self.nbdevdn)

    @property
    def lookback(self) -> int:
        return self.period - 1


class KELTNER(Indicator):
    """Keltner channels, in price units, as TradingView's default (Raschke's EMA/ATR form).

    Outputs upper, middle, lower: ``EMA(source, period) ± multiplier × ATR(atr_period)``, the EMA
    and ATR being ``talib.EMA`` and ``talib.ATR`` over the whole history. ``talib.KC`` is this on
    hlc3 but seeds both legs at its own lookback, so it agrees (within 1e-9) only after ~130 candles;
    TradingView's ATR also counts the first candle's high - low: its first values differ slightly too.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles of the EMA middle line.")
    multiplier = param.Number(default=2.0, bounds=(0.0, 10.0), doc="ATRs between the middle line and each band.")
    atr_period = param.Integer(default=10, bounds=(2, 500), doc="Number of true ranges in the ATR.")
    source = param.Selector(default="close", objects=list(PRICE_SOURCES), doc="Candle price of the EMA middle line.")
    outputs = ("upper", "middle", "lower")
    fields = ("high", "low", "close")

    def kernel(self, inputs):
        return _kernels.KELTNER(inputs, self.period, self.multiplier, self.atr_period)

    @property
    def lookback(self) -> int:
        return max(self.period - 1, self.atr_period)


class DONCHIAN(Indicator):
    """Donchian channels, in price units (Donchian 1960s); equals ``talib.DONCHIAN`` (TA-Lib 0.8.1).

    Outputs upper, middle, lower: the highest high and the lowest low of the last ``period`` candles
    (``talib.MAX(high)``, ``talib.MIN(low)``) and their midpoint ``(upper + lower) / 2``.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles of the channel.")
    outputs = ("upper", "middle", "lower")
    fields = ("high", "low")

    def kernel(self, inputs):
        return _kernels.DONCHIAN(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period - 1


class SUPERTREND(Indicator):
    """Supertrend, in price units, and its direction (+1 up / -1 down); equals ``talib.SUPERTREND`` (TA-Lib 0.8.1).

    Basic bands ``hl2 ± multiplier × ATR(atr_period)`` (``ATR``). The final upper band only moves
    down, unless the previous close was above the previous final upper band (then it takes the basic
    band); the final lower band likewise only moves up. The trend turns up when the close rises above
    the final upper band and down when it falls below the final lower band; the supertrend is the
    final lower band in an up trend, the upper band in a down trend. As TA-Lib (and ta4j) the first
    value is an up trend; TradingView's ``ta.supertrend`` starts down, so the two differ until the
    first flip, then agree.
    """

    atr_period = param.Integer(default=10, bounds=(2, 500), doc="Number of true ranges in the ATR.")
    multiplier = param.Number(default=3.0, bounds=(0.1, 20.0), doc="ATRs between hl2 and each basic band.")
    outputs = ("supertrend", "direction")
    styles = {"direction": "hidden"}  # ±1: in the hover and the frame, not drawn on the price scale
    fields = ("high", "low", "close")

    def kernel(self, inputs):
        return _kernels.SUPERTREND(inputs, self.atr_period, self.multiplier)

    @property
    def lookback(self) -> int:
        return self.atr_period
