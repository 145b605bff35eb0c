# Volatility: ranges and bands. Included by _kernels.pyx; see its docstring for the kernel contract.
# The helpers here (prefix ``vty_``: true range, ATR, variance) are shared with _trend.pxi.
# Exactness is to the installed TA-Lib (C library 0.8.1), whose ATR, SAR and BBANDS differ from the
# older public sources: fused Wilder step, shifted-data variance, exact zero tests (TA-Lib #253).

from libc.math cimport fma


cdef struct vty_TrueRange:
    # The previous close, for TA-Lib's true range (none on the first candle).
    bint started
    double close


cdef inline double vty_true_range(vty_TrueRange* t, double high, double low, double close, bint commit) noexcept:
    """max(high - low, |previous close - high|, |previous close - low|) compared in TA-Lib's order; NaN on the first candle."""
    cdef double tr = NAN, d
    if t.started:
        tr = high - low
        d = fabs(t.close - high)
        if d > tr:
            tr = d
        d = fabs(t.close - low)
        if d > tr:
            tr = d
    if commit:
        t.started, t.close = True, close
    return tr


cdef struct vty_Atr:
    # TA-Lib 0.8.1's ATR (#338): the mean of the first ``period`` true ranges, then the fused
    # two-coefficient Wilder step ``atr = fma(beta, atr, alpha * tr)``, beta = (period - 1) / period,
    # alpha = 1 - beta. ``value`` holds the running sum while seeding.
    vty_TrueRange tr
    int period, n
    double alpha, beta, value


cdef inline void vty_atr_init(vty_Atr* a, int period) noexcept:
    a.tr.started, a.period, a.n, a.value = False, period, 0, 0.0
    a.beta = <double> (period - 1) / <double> period
    a.alpha = 1.0 - a.beta


cdef inline double vty_atr_next(vty_Atr* a, double high, double low, double close, bint commit) noexcept:
    cdef double tr = vty_true_range(&a.tr, high, low, close, commit), v = NAN
    if isnan(tr):
        return NAN
    if a.n < a.period - 1:
        if commit:
            a.value, a.n = a.value + tr, a.n + 1
        return NAN
    v = (a.value + tr) / a.period if a.n == a.period - 1 else fma(a.beta, a.value, a.alpha * tr)
    if commit:
        a.value, a.n = v, a.period
    return v


cdef inline double vty_window_at(const Ring* window, double x, int i) noexcept:
    # The ``i``-th oldest input of the window made of the ring and then ``x``.
    return ring_at(window, i) if i < window.count else x


cdef struct vty_Variance:
    # TA-Lib 0.8.1's population variance of a window (var.c and BBANDS, #118 #243): running sums
    # of the inputs minus a ``shift``, re-seeded on the window's mean (an O(period) pass) every
    # 32 × period candles, or when cancellation or an outlier threatens the sums.
    bint started
    int countdown  # candles until the periodic re-seed
    double shift, sum, squares


cdef inline double vty_variance_next(vty_Variance* v, const Ring* window, double x, bint commit) noexcept:
    """Variance of the last period - 1 committed inputs (``window``, full) and ``x``; NaN until the window is full."""
    cdef vty_Variance s = v[0]
    cdef int i, period = window.size + 1
    cdef double inverse = 1.0 / period, d, removed, mean, variance = NAN
    if not s.started:
        s.started, s.shift, s.countdown = True, x, 32 * period
    d = x - s.shift
    s.sum, s.squares = s.sum + d, s.squares + d * d
    if window.count == window.size:
        mean = s.sum * inverse
        variance = s.squares * inverse - mean * mean
        d = ring_at(window, 0) - s.shift  # the oldest input leaves the sums
        removed = d * d
        s.sum, s.squares, s.countdown = s.sum - d, s.squares - removed, s.countdown - 1
        if variance < 0.000001 * (s.squares * inverse) or removed > 1000000.0 * s.squares or s.countdown <= 0:
            d = 0.0
            for i in range(period):
                d += vty_window_at(window, x, i)
            s.shift, s.sum, s.squares, s.countdown = d * inverse, 0.0, 0.0, 32 * period
            for i in range(period):
                d = vty_window_at(window, x, i) - s.shift
                s.sum, s.squares = s.sum + d, s.squares + d * d
            mean = s.sum * inverse
            variance = s.squares * inverse - mean * mean
            if variance < 0.000000000001 * (s.squares * inverse):
                variance = 0.0
            d = ring_at(window, 0) - s.shift
            s.sum, s.squares = s.sum - d, s.squares - d * d
    if commit:
        v[0] = s
    return variance


cdef class TRANGE(Kernel):
    cdef vty_TrueRange tr

    def __init__(self, inputs):
        super().__init__(inputs, 1)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = vty_true_range(&self.tr, self.x[0], self.x[1], self.x[2], commit)


cdef class ATR(Kernel):
    cdef vty_Atr atr

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        vty_atr_init(&self.atr, period)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = vty_atr_next(&self.atr, self.x[0], self.x[1], self.x[2], commit)


cdef class NATR(Kernel):
    cdef vty_Atr atr

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        vty_atr_init(&self.atr, period)

    cdef void step(self, bint commit) noexcept:
        cdef double atr = vty_atr_next(&self.atr, self.x[0], self.x[1], self.x[2], commit), close = self.x[2]
        self.out[0] = atr if isnan(atr) else ((atr / close) * 100.0 if close != 0.0 else 0.0)


cdef class BBANDS(Kernel):
    # TA-Lib's SMA middle band ± nbdev × the population standard deviation of the window.
    cdef Sma sma
    cdef vty_Variance variance
    cdef double up, down

    def __init__(self, inputs, int period, double nbdevup, double nbdevdn):
        super().__init__(inputs, 3)
        sma_init(&self.sma, period)
        self.up, self.down = nbdevup, nbdevdn

    def __dealloc__(self):
        free(self.sma.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef double x = self.x[0], variance = vty_variance_next(&self.variance, &self.sma.window, x, commit)
        cdef double middle = sma_next(&self.sma, x, commit)  # after the variance: it reads the window before x is pushed
        cdef double deviation = sqrt(variance) if variance != 0.0 else 0.0
        self.out[0], self.out[1], self.out[2] = middle + deviation * self.up, middle, middle - deviation * self.down


cdef class KELTNER(Kernel):
    # inputs: source, high, low, close. EMA of the source ± multiplier × ATR.
    cdef Ema ema
    cdef vty_Atr atr
    cdef double multiplier

    def __init__(self, inputs, int period, double multiplier, int atr_period):
        super().__init__(inputs, 3)
        ema_init(&self.ema, period)
        vty_atr_init(&self.atr, atr_period)
        self.multiplier = multiplier

    cdef void step(self, bint commit) noexcept:
        cdef double middle = ema_next(&self.ema, self.x[0], commit)
        cdef double span = vty_atr_next(&self.atr, self.x[1], self.x[2], self.x[3], commit) * self.multiplier
        if isnan(span):
            middle = NAN
        self.out[0], self.out[1], self.out[2] = middle + span, middle, middle - span


cdef class DONCHIAN(Kernel):
    # inputs: high, low. Highest high and lowest low of the last ``period`` candles and their midpoint.
    cdef Ring highs, lows  # the last period - 1 committed highs and lows

    def __init__(self, inputs, int period):
        super().__init__(inputs, 3)
        ring_init(&self.highs, period - 1)
        ring_init(&self.lows, period - 1)

    def __dealloc__(self):
        free(self.highs.data)
        free(self.lows.data)

    cdef void step(self, bint commit) noexcept:
        cdef double high = self.x[0], low = self.x[1], upper = NAN, lower = NAN
        if self.highs.count == self.highs.size:
            upper, lower = ring_extreme(&self.highs, high, 1.0), ring_extreme(&self.lows, low, -1.0)
        if commit:
            ring_push(&self.highs, high)
            ring_push(&self.lows, low)
        self.out[0], self.out[1], self.out[2] = upper, (upper + lower) / 2, lower


cdef class SUPERTREND(Kernel):
    # inputs: high, low, close. Bands hl2 ± multiplier × ATR; the final upper band only moves down
    # (the lower only up) unless the previous close was beyond it; the trend turns up when the close
    # rises above the final upper band, down when it falls below the final lower band. Starts up.
    cdef vty_Atr atr
    cdef double multiplier, upper, lower, close  # the previous candle's final bands and close
    cdef int direction  # 0 before the first value, then +1 up / -1 down

    def __init__(self, inputs, int atr_period, double multiplier):
        super().__init__(inputs, 2)
        vty_atr_init(&self.atr, atr_period)
        self.multiplier = multiplier

    cdef void step(self, bint commit) noexcept:
        cdef double high = self.x[0], low = self.x[1], close = self.x[2]
        cdef double span = self.multiplier * vty_atr_next(&self.atr, high, low, close, commit)
        cdef double upper = (high + low) / 2.0 + span, lower = (high + low) / 2.0 - span
        cdef int direction = self.direction
        if isnan(span):
            self.out[0] = self.out[1] = NAN
            return
        if direction == 0:
            direction = 1
        else:
            if not (upper < self.upper or self.close > self.upper):
                upper = self.upper
            if not (lower > self.lower or self.close < self.lower):
                lower = self.lower
            if direction > 0 and close < lower:
                direction = -1
            elif direction < 0 and close > upper:
                direction = 1
        self.out[0], self.out[1] = (lower if direction > 0 else upper), direction
        if commit:
            self.upper, self.lower, self.close, self.direction = upper, lower, close, direction
