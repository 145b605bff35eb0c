# Trend: directional movement, Aroon, parabolic SAR. Included by _kernels.pyx after _volatility.pxi,
# whose helper vty_true_range these kernels use (window scans are in _kernels.pyx). Exact to the installed
# TA-Lib 0.8.1: the true range sum is tested against exactly zero (#253), SAR's step is fused.


cdef struct trend_Dm:
    # TA-Lib's smoothed directional movement and true range: +DM, -DM and TR summed over the
    # period - 1 candles after the first, then ``x - x / period + today's`` from candle ``period`` on.
    int period
    int n  # candles seen
    double high, low  # the previous candle's
    vty_TrueRange tr
    double plus, minus, range


cdef inline trend_Dm trend_dm_next(trend_Dm* d, double high, double low, double close, bint commit) noexcept:
    """The state after one more candle, stored in ``d`` only if ``commit``; its values are ready once ``n > period``."""
    cdef trend_Dm s = d[0]
    cdef double up = high - s.high, down = s.low - low, tr = vty_true_range(&s.tr, high, low, close, True)
    if s.n > 0:
        if s.n >= s.period:
            s.plus, s.minus, s.range = s.plus - s.plus / s.period, s.minus - s.minus / s.period, s.range - s.range / s.period
        if down > 0 and up < down:
            s.minus += down
        elif up > 0 and up > down:
            s.plus += up
        s.range += tr
    s.high, s.low, s.n = high, low, s.n + 1
    if commit:
        d[0] = s
    return s


cdef inline double trend_di(double dm, double tr) noexcept:
    return 100.0 * (dm / tr) if tr > 0.0 else 0.0


cdef class trend_DI(Kernel):
    # PLUS_DI or MINUS_DI: 100 × smoothed ±DM / smoothed TR (0 where TR is exactly zero, as TA-Lib).
    cdef trend_Dm dm
    cdef bint minus

    def __init__(self, inputs, int period, bint minus):
        super().__init__(inputs, 1)
        self.dm.period, self.minus = period, minus

    cdef void step(self, bint commit) noexcept:
        cdef trend_Dm s = trend_dm_next(&self.dm, self.x[0], self.x[1], self.x[2], commit)
        self.out[0] = NAN if s.n <= s.period else trend_di(s.minus if self.minus else s.plus, s.range)


cdef class PLUS_DI(trend_DI):
    def __init__(self, inputs, int period):
        super().__init__(inputs, period, False)


cdef class MINUS_DI(trend_DI):
    def __init__(self, inputs, int period):
        super().__init__(inputs, period, True)


cdef class ADX(Kernel):
    # Wilder's smoothing of DX = 100 × |-DI - +DI| / (-DI + +DI). As TA-Lib: without a DX (a DI sum
    # within 1e-8 of zero, the DIs being ratios) it counts as 0 in the seed and leaves the ADX
    # unchanged afterwards.
    cdef trend_Dm dm
    cdef Wilder adx

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.dm.period = self.adx.period = period

    cdef void step(self, bint commit) noexcept:
        cdef trend_Dm s = trend_dm_next(&self.dm, self.x[0], self.x[1], self.x[2], commit)
        cdef double minus, plus, dx = 0.0
        self.out[0] = NAN
        if s.n <= s.period:
            return
        minus, plus = trend_di(s.minus, s.range), trend_di(s.plus, s.range)
        if not -1e-8 < minus + plus < 1e-8:  # TA_IS_ZERO
            dx = 100.0 * (fabs(minus - plus) / (minus + plus))
        elif self.adx.n == self.adx.period:
            self.out[0] = self.adx.value
            return
        self.out[0] = wilder_next(&self.adx, dx, commit)


cdef class AROON(Kernel):
    # inputs: high, low. Outputs aroondown, aroonup: 100 / period × (period - candles since the
    # lowest low / highest high of the last period + 1 candles), the newest extreme on ties.
    cdef int period
    cdef Ring highs, lows  # the last ``period`` committed highs and lows

    def __init__(self, inputs, int period):
        super().__init__(inputs, 2)
        self.period = period
        ring_init(&self.highs, period)
        ring_init(&self.lows, period)

    def __dealloc__(self):
        free(self.highs.data)
        free(self.lows.data)

    cdef void step(self, bint commit) noexcept:
        cdef double high = self.x[0], low = self.x[1], factor = 100.0 / self.period
        self.out[0] = self.out[1] = NAN
        if self.highs.count == self.period:
            self.out[0] = factor * (self.period - ring_newest_max(&self.lows, low, -1.0))
            self.out[1] = factor * (self.period - ring_newest_max(&self.highs, high, 1.0))
        if commit:
            ring_push(&self.highs, high)
            ring_push(&self.lows, low)


cdef class SAR(Kernel):
    # inputs: high, low. Wilder's parabolic stop and reverse as TA-Lib starts it: the direction from
    # the directional movement of the first two candles (long on a tie), the first candle's low
    # (long) or high (short) as the first SAR, the second candle's high or low as extreme point.
    cdef double acceleration, maximum
    cdef int n
    cdef bint long
    cdef double sar, ep, af, high, low  # next SAR, extreme point, factor, previous candle's high and low

    def __init__(self, inputs, double acceleration, double maximum):
        super().__init__(inputs, 1)
        self.acceleration, self.maximum = min(acceleration, maximum), maximum

    cdef void step(self, bint commit) noexcept:
        cdef double high = self.x[0], low = self.x[1], previous_high = self.high, previous_low = self.low
        cdef double sar = self.sar, ep = self.ep, af = self.af, out
        cdef bint long = self.long
        self.out[0] = NAN
        if self.n == 0:
            if commit:
                self.high, self.low, self.n = high, low, 1
            return
        if self.n == 1:
            long = not (previous_low - low > 0 and high - previous_high < previous_low - low)
            sar, ep = (previous_low, high) if long else (previous_high, low)
            previous_high, previous_low, af = high, low, self.acceleration
        if long and low <= sar:  # reverse to short at the extreme point
            long, out, af, ep = False, max(ep, previous_high, high), self.acceleration, low
            sar = max(fma(af, ep - out, out), previous_high, high)
        elif not long and high >= sar:  # reverse to long
            long, out, af, ep = True, min(ep, previous_low, low), self.acceleration, high
            sar = min(fma(af, ep - out, out), previous_low, low)
        else:
            out = sar
            if (long and high > ep) or (not long and low < ep):
                ep, af = (high if long else low), min(af + self.acceleration, self.maximum)
            sar = fma(af, ep - sar, sar)  # sar + af * (ep - sar), fused as the TA-Lib binary computes it
            sar = min(sar, previous_low, low) if long else max(sar, previous_high, high)
        self.out[0] = out
        if commit:
            self.long, self.sar, self.ep, self.af, self.high, self.low, self.n = long, sar, ep, af, high, low, 2
