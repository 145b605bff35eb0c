# Momentum oscillators. Included by _kernels.pyx; see its docstring for the kernel contract.

cdef class RSI(Kernel):
    cdef int period, n
    cdef double previous, gain, loss  # sums while seeding, then Wilder averages

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.period = period

    cdef void step(self, bint commit) noexcept:
        cdef double x = self.x[0], gain = self.gain, loss = self.loss, change, total
        cdef int period = self.period, n = self.n
        self.out[0] = NAN
        if n == 0:
            if commit:
                self.previous, self.n = x, 1
            return
        if n > period:
            gain, loss = gain * (period - 1), loss * (period - 1)
        change = x - self.previous
        if change < 0:
            loss -= change
        else:
            gain += change
        if n >= period:
            gain, loss = gain * (1.0 / period), loss * (1.0 / period)  # as the TA-Lib binary rounds it
            total = gain + loss
            # zero when flat (and from a NaN candle on), as TA-Lib
            self.out[0] = 100.0 * (gain / total) if total > 0.0 else 0.0
        if commit:
            self.previous, self.gain, self.loss = x, gain, loss
            self.n = n + 1 if n <= period else n


# ---- shared parts (prefix ``mom_``) -----------------------------------------------------------

cdef inline bint mom_is_flat(double high, double low) noexcept:
    # TA-Lib's TA_IS_ZERO_SCALED(high - low, |high| + |low|): a range within 1e-14 of the prices is flat.
    return fabs(high - low) <= 1e-14 * (fabs(high) + fabs(low))


cdef struct mom_Range:
    # Highest high and lowest low over ``period`` candles: the committed period - 1 plus the current one.
    Ring highs
    Ring lows


cdef int mom_range_init(mom_Range* r, int period) except -1:
    ring_init(&r.highs, period - 1)
    return ring_init(&r.lows, period - 1)


cdef inline void mom_range_free(mom_Range* r) noexcept:
    free(r.highs.data)
    free(r.lows.data)


cdef inline bint mom_range_next(mom_Range* r, double high, double low, double* highest, double* lowest,
                                bint commit) noexcept:
    """Window extremes in ``highest``/``lowest``; false while the window is not full. O(period), as TA-Lib's rescan."""
    cdef bint full = r.highs.count == r.highs.size
    highest[0] = ring_extreme(&r.highs, high, 1.0) if full else high
    lowest[0] = ring_extreme(&r.lows, low, -1.0) if full else low
    if commit:
        ring_push(&r.highs, high)
        ring_push(&r.lows, low)
    return full


cdef inline double mom_fastk(mom_Range* r, double high, double low, double close, bint commit) noexcept:
    # TA-Lib's raw %K: (close - lowest) / ((highest - lowest) / 100), 0 over a flat window.
    cdef double h, l
    if not mom_range_next(r, high, low, &h, &l, commit):
        return NAN
    return 0.0 if mom_is_flat(h, l) else (close - l) / ((h - l) / 100.0)


cdef struct mom_Stochf:
    # TA-Lib's STOCHF: raw %K and its SMA %D; STOCH smooths this %D once more, STOCHRSI runs it on RSI.
    mom_Range range
    Sma d


cdef int mom_stochf_init(mom_Stochf* s, int k_period, int d_period) except -1:
    mom_range_init(&s.range, k_period)
    return sma_init(&s.d, d_period)


cdef inline void mom_stochf_free(mom_Stochf* s) noexcept:
    mom_range_free(&s.range)
    free(s.d.window.data)


cdef inline void mom_stochf_next(mom_Stochf* s, double high, double low, double close, double* out,
                                 bint commit) noexcept:
    """``out[0]`` = %K, ``out[1]`` = %D; both NaN until %D has a value (TA-Lib aligns the outputs)."""
    cdef double k = mom_fastk(&s.range, high, low, close, commit), d = NAN
    if not isnan(k):
        d = sma_next(&s.d, k, commit)
    out[0] = NAN if isnan(d) else k
    out[1] = d


cdef struct mom_Lag:
    # The last ``period`` committed inputs, for MOM and ROC.
    Ring window


cdef inline double mom_lag_next(mom_Lag* g, double x, bint commit) noexcept:
    """The input ``period`` candles before ``x``; NaN until there is one."""
    cdef double previous = ring_at(&g.window, 0) if g.window.count == g.window.size else NAN
    if commit:
        ring_push(&g.window, x)
    return previous


# ---- kernels ----------------------------------------------------------------------------------

cdef class STOCHF(Kernel):
    cdef mom_Stochf stoch

    def __init__(self, inputs, int fastk_period, int fastd_period):
        super().__init__(inputs, 2)
        mom_stochf_init(&self.stoch, fastk_period, fastd_period)

    def __dealloc__(self):
        mom_stochf_free(&self.stoch)

    cdef void step(self, bint commit) noexcept:
        mom_stochf_next(&self.stoch, self.x[0], self.x[1], self.x[2], self.out, commit)


cdef class STOCH(Kernel):
    cdef mom_Stochf fast  # its %D is the slow %K
    cdef Sma slowd

    def __init__(self, inputs, int fastk_period, int slowk_period, int slowd_period):
        super().__init__(inputs, 2)
        mom_stochf_init(&self.fast, fastk_period, slowk_period)
        sma_init(&self.slowd, slowd_period)

    def __dealloc__(self):
        mom_stochf_free(&self.fast)
        free(self.slowd.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef double fast[2]
        cdef double slowd = NAN
        mom_stochf_next(&self.fast, self.x[0], self.x[1], self.x[2], fast, commit)
        if not isnan(fast[1]):
            slowd = sma_next(&self.slowd, fast[1], commit)
        self.out[0] = NAN if isnan(slowd) else fast[1]
        self.out[1] = slowd


cdef class STOCHRSI(Kernel):
    cdef RSI rsi
    cdef mom_Stochf stoch

    def __init__(self, inputs, int timeperiod, int fastk_period, int fastd_period):
        super().__init__(inputs, 2)
        self.rsi = RSI(("close",), timeperiod)  # fed by hand below
        mom_stochf_init(&self.stoch, fastk_period, fastd_period)

    def __dealloc__(self):
        mom_stochf_free(&self.stoch)

    cdef void step(self, bint commit) noexcept:
        cdef double r
        self.rsi.x[0] = self.x[0]
        self.rsi.step(commit)
        r = self.rsi.out[0]
        if isnan(r):
            self.out[0] = self.out[1] = NAN
        else:
            mom_stochf_next(&self.stoch, r, r, r, self.out, commit)


cdef class MACD(Kernel):
    cdef Ema fast, slow, signal
    cdef int skip  # inputs before the fast EMA starts, so that both EMAs are seeded on the same candle

    def __init__(self, inputs, int fast_period, int slow_period, int signal_period):
        super().__init__(inputs, 3)
        ema_init(&self.fast, fast_period)
        ema_init(&self.slow, slow_period)
        ema_init(&self.signal, signal_period)
        self.skip = slow_period - fast_period

    cdef void step(self, bint commit) noexcept:
        cdef double slow = ema_next(&self.slow, self.x[0], commit), fast = NAN, macd, signal
        if self.skip > 0:
            if commit:
                self.skip -= 1
        else:
            fast = ema_next(&self.fast, self.x[0], commit)
        self.out[0] = self.out[1] = self.out[2] = NAN
        if not isnan(fast):
            macd = fast - slow
            signal = ema_next(&self.signal, macd, commit)
            if not isnan(signal):
                self.out[0], self.out[1], self.out[2] = macd, signal, macd - signal


cdef class MOM(Kernel):
    cdef mom_Lag lag

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        ring_init(&self.lag.window, period)

    def __dealloc__(self):
        free(self.lag.window.data)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = self.x[0] - mom_lag_next(&self.lag, self.x[0], commit)


cdef class ROC(Kernel):
    cdef mom_Lag lag

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        ring_init(&self.lag.window, period)

    def __dealloc__(self):
        free(self.lag.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef double previous = mom_lag_next(&self.lag, self.x[0], commit)
        self.out[0] = ((self.x[0] / previous) - 1.0) * 100.0 if previous != 0.0 else 0.0


cdef class WILLR(Kernel):
    cdef mom_Range range

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        mom_range_init(&self.range, period)

    def __dealloc__(self):
        mom_range_free(&self.range)

    cdef void step(self, bint commit) noexcept:
        cdef double h, l
        self.out[0] = NAN
        if mom_range_next(&self.range, self.x[0], self.x[1], &h, &l, commit):
            self.out[0] = 0.0 if mom_is_flat(h, l) else (h - self.x[2]) / ((h - l) / (-100.0))


cdef class CCI(Kernel):
    cdef int period
    cdef Ring window  # typical prices, stored where TA-Lib's circular buffer holds them (its sums run in that order)

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.period = period
        ring_init(&self.window, period)

    def __dealloc__(self):
        free(self.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef double last = (self.x[0] + self.x[1] + self.x[2]) / 3, average = 0.0, deviation = 0.0, v
        cdef int j, period = self.period, slot = (self.window.head + self.window.count) % period
        self.out[0] = NAN
        if self.window.count >= period - 1:
            for j in range(period):
                average += last if j == slot else self.window.data[j]
            average /= period
            for j in range(period):
                v = last if j == slot else self.window.data[j]
                deviation += fabs(v - average)
            deviation /= period
            v = last - average
            # TA-Lib's flatness tests, scaled to the price level (TA_IS_ZERO_SCALED against |average|)
            if fabs(v) <= 1e-14 * fabs(average) or fabs(deviation) <= 1e-14 * fabs(average):
                self.out[0] = 0.0
            else:
                self.out[0] = v / (0.015 * deviation)
        if commit:
            ring_push(&self.window, last)


cdef class MFI(Kernel):
    cdef int period, null_run
    cdef bint seen
    cdef double previous, positive, negative  # previous typical price; money-flow sums of the window
    cdef Ring up, down  # each candle's positive and negative money flow

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.period = period
        ring_init(&self.up, period)
        ring_init(&self.down, period)

    def __dealloc__(self):
        free(self.up.data)
        free(self.down.data)

    cdef void step(self, bint commit) noexcept:
        cdef double typical = (self.x[0] + self.x[1] + self.x[2]) / 3.0, change, flow, up, down, total
        cdef double positive = self.positive, negative = self.negative
        cdef int period = self.period, null_run = self.null_run
        self.out[0] = NAN
        if not self.seen:
            if commit:
                self.seen, self.previous = True, typical
            return
        if self.up.count == period:
            positive -= ring_at(&self.up, 0)
            negative -= ring_at(&self.down, 0)
        change = typical - self.previous
        # no flow when the typical price did not move (TA_IS_ZERO_SCALED) or there was no volume
        flow = 0.0 if fabs(change) <= 1e-14 * (fabs(typical) + fabs(self.previous)) else typical * self.x[3]
        up = 0.0 if change < 0.0 else flow
        down = flow if change < 0.0 else 0.0
        positive += up
        negative += down
        null_run = null_run + 1 if flow == 0.0 else 0
        if null_run >= period:  # a window without any flow: the sums are exactly zero, drop their residue
            null_run, positive, negative = period, 0.0, 0.0
        if self.up.count >= period - 1:
            total = positive + negative
            if total <= 0.0:
                self.out[0] = 0.0
            else:
                self.out[0] = 100.0 * ((0.0 if positive < 0.0 else total if positive > total else positive) / total)
        if commit:
            ring_push(&self.up, up)
            ring_push(&self.down, down)
            self.previous, self.positive, self.negative, self.null_run = typical, positive, negative, null_run
