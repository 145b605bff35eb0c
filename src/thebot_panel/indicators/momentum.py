"""Momentum oscillators: RSI."""

from __future__ import annotations

import param

from .base import NAN, Indicator


class RSI(Indicator):
    """Relative strength index of ``source``, 0-100 (Wilder 1978); equals ``talib.RSI``.

    Average gain and loss are seeded with the simple mean of the first ``period`` changes, then
    smoothed as ``avg = (avg * (period - 1) + change) / period``; RSI = 100 * gain / (gain + loss).
    Where gain + loss is below 1e-8 in magnitude (flat prices, e.g. zero-volume halt candles) the
    value is 0, as TA-Lib's ``TA_IS_ZERO`` makes it.
    """

    period = param.Integer(default=14, bounds=(2, 500), doc="Number of changes in Wilder's smoothing.")
    outputs = ("rsi",)
    pane = "own"
    levels = (30.0, 70.0)

    @property
    def lookback(self) -> int:
        return self.period

    def initial_state(self) -> tuple[int, float, float, float]:
        return 0, NAN, 0.0, 0.0  # inputs seen, previous input, gain, loss (sums in the seed, then averages)

    def step(self, state, x, past):
        n, previous, gain, loss = state
        if n == 0:
            return (1, x, 0.0, 0.0), (NAN,)
        period = self.p.period
        if n > period:
            gain, loss = gain * (period - 1), loss * (period - 1)
        change = x - previous
        if change < 0:
            loss -= change
        else:
            gain += change
        if n < period:
            return (n + 1, x, gain, loss), (NAN,)
        gain, loss = gain * (1.0 / period), loss * (1.0 / period)  # as the TA-Lib binary rounds it
        total = gain + loss
        return (n + 1, x, gain, loss), (0.0 if -1e-8 < total < 1e-8 else 100.0 * (gain / total),)
