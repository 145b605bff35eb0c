"""Moving averages: SMA, EMA."""

from __future__ import annotations

import param

from .base import NAN, Indicator


class SMA(Indicator):
    """Simple moving average of ``source`` over ``period`` candles; equals ``talib.SMA``.

    Kept as TA-Lib keeps it: a running sum of the last ``period - 1`` inputs (add the new input,
    divide, subtract the oldest), so the float results are identical.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles averaged.")
    outputs = ("sma",)

    @property
    def lookback(self) -> int:
        return self.period - 1

    @property
    def window(self) -> int:
        return self.period - 1

    def initial_state(self) -> float:
        return 0.0

    def step(self, total, x, past):
        if len(past) < self.p.period - 1:
            return total + x, (NAN,)
        total += x
        return total - past[0], (total / self.p.period,)


class EMA(Indicator):
    """Exponential moving average of ``source``; equals ``talib.EMA``.

    Seeded with the SMA of the first ``period`` inputs, then ``ema += (x - ema) * k`` with
    ``k = 2 / (period + 1)``.
    """

    period = param.Integer(default=20, bounds=(2, 1000), doc="Number of candles; smoothing k = 2/(period+1).")
    outputs = ("ema",)

    @property
    def lookback(self) -> int:
        return self.period - 1

    def initial_state(self) -> tuple[int, float]:
        return 0, 0.0  # inputs seen; their sum during the seed, then the EMA

    def step(self, state, x, past):
        n, ema = state
        period = self.p.period
        if n < period - 1:
            return (n + 1, ema + x), (NAN,)
        ema = (ema + x) / period if n == period - 1 else (x - ema) * (2.0 / (period + 1)) + ema
        return (n + 1, ema), (ema,)
