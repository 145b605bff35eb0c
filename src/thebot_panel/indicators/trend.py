"""Trend indicators: ADX, PLUS_DI, MINUS_DI, AROON (own pane) and SAR (dots over the price)."""

from __future__ import annotations

import param

from . import _kernels
from .base import Indicator

class PLUS_DI(Indicator):
    """Plus directional indicator, 0-100 (Wilder 1978); equals ``talib.PLUS_DI``.

    ``100 * +DM / TR``; +DM is the rise of the high when it exceeds the fall of the low, TR the true
    range. Both are smoothed as TA-Lib does: summed over the first ``period - 1`` changes, then
    ``x = x - x / period + today's``. 0 where the smoothed true range is exactly 0 (flat candles since
    the start; TA-Lib 0.8.1 tests it exactly, #253, so tiny-priced coins are not zeroed).
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of candles in Wilder's smoothing.")
    outputs = ("plus_di",)
    fields = ("high", "low", "close")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.PLUS_DI(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class MINUS_DI(Indicator):
    """Minus directional indicator, 0-100 (Wilder 1978); equals ``talib.MINUS_DI``.

    ``100 * -DM / TR``, smoothed as in ``PLUS_DI``; -DM is the fall of the low when it exceeds the
    rise of the high. 0 where the smoothed true range is exactly 0, as TA-Lib 0.8.1.
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of candles in Wilder's smoothing.")
    outputs = ("minus_di",)
    fields = ("high", "low", "close")
    pane = "own"

    def kernel(self, inputs):
        return _kernels.MINUS_DI(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class ADX(Indicator):
    """Average directional index, 0-100: trend strength regardless of direction (Wilder 1978); equals ``talib.ADX``.

    ``DX = 100 * |+DI - -DI| / (+DI + -DI)`` with the DIs of ``PLUS_DI``/``MINUS_DI``; the ADX is
    Wilder's smoothing of DX (mean of the first ``period`` DX, then ``(adx * (period - 1) + dx) / period``).
    As TA-Lib: a DX whose DI sum is below 1e-8 (flat candles) counts as 0 in the seed and leaves the
    ADX unchanged afterwards. Levels: Wilder's 20 (no trend below) and 25 (trending above).
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of candles of the DIs and of the DX smoothing.")
    outputs = ("adx",)
    fields = ("high", "low", "close")
    pane = "own"
    levels = (20.0, 25.0)

    def kernel(self, inputs):
        return _kernels.ADX(inputs, self.period)

    @property
    def lookback(self) -> int:
        return 2 * self.period - 1


class AROON(Indicator):
    """Aroon down and up, 0-100 (Chande 1995); equals ``talib.AROON`` (outputs in its order).

    ``aroonup = 100 * (period - candles since the highest high) / period`` over the last
    ``period + 1`` candles, ``aroondown`` likewise with the lowest low; on a tie the newest extreme
    counts, as in TA-Lib. Levels 30/70: above 70 a strong trend, below 30 a weak one.
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of candles looked back for the extremes.")
    outputs = ("aroondown", "aroonup")
    fields = ("high", "low")
    pane = "own"
    levels = (30.0, 70.0)

    def kernel(self, inputs):
        return _kernels.AROON(inputs, self.period)

    @property
    def lookback(self) -> int:
        return self.period


class SAR(Indicator):
    """Parabolic stop and reverse, in price units, drawn as dots (Wilder 1978); equals ``talib.SAR``.

    Each candle ``sar += af * (ep - sar)``, kept outside the last two candles' range; ``ep`` is the
    extreme of the trend and ``af`` grows by ``acceleration`` at each new extreme up to ``maximum``.
    When a low (high) touches the SAR the trend reverses and the SAR jumps to the extreme point.
    Started as TA-Lib: the direction from the directional movement of the first two candles (long
    on a tie), the first candle's low (long) or high (short) as the first SAR. The step is computed
    fused (``fma``), as the TA-Lib 0.8.1 binary does, so the values are bit-identical.
    """

    acceleration = param.Number(default=0.02, bounds=(0.001, 1.0),
                                doc="Step of the acceleration factor (its start and its increment at each new extreme).")
    maximum = param.Number(default=0.2, bounds=(0.001, 1.0),
                           doc="Cap of the acceleration factor (an acceleration above it is lowered to it, as TA-Lib).")
    outputs = ("sar",)
    fields = ("high", "low")
    styles = {"sar": "dots"}

    def kernel(self, inputs):
        return _kernels.SAR(inputs, self.acceleration, self.maximum)

    @property
    def lookback(self) -> int:
        return 1
