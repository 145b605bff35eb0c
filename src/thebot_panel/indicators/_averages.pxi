# Moving averages. Included by _kernels.pyx; see its docstring for the kernel contract.


cdef class SMA(Kernel):
    cdef Sma sma

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        sma_init(&self.sma, period)

    def __dealloc__(self):
        free(self.sma.window.data)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = sma_next(&self.sma, self.x[0], commit)


cdef class EMA(Kernel):
    cdef Ema ema

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        ema_init(&self.ema, period)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = ema_next(&self.ema, self.x[0], commit)


# ---- weighted averages --------------------------------------------------------------------------

cdef struct avg_Wma:
    # TA-Lib's WMA: ``total`` is the weighted sum (newest input × period ... oldest × 1) and ``sub``
    # the plain sum, carried from candle to candle as TA_WMA does (add the new input, subtract the
    # one leaving the window) and, as the TA-Lib binary does, recomputed from the window every
    # 8 × period values (bounding the drift), so the floats are TA-Lib's.
    int period
    int countdown  # values until the next recomputation
    double total
    double sub
    Ring window  # the last ``period`` inputs


cdef int avg_wma_init(avg_Wma* w, int period) except -1:
    w.period, w.countdown, w.total, w.sub = period, 8 * period, 0.0, 0.0
    return ring_init(&w.window, period)


cdef inline double avg_wma_next(avg_Wma* w, double x, bint commit) noexcept:
    cdef int i, n = w.window.count, period = w.period, countdown = w.countdown
    cdef double total = w.total, sub = w.sub, v = NAN
    if n < period - 1:
        sub += x
        total += x * (n + 1)
    else:
        countdown -= 1
        if countdown == 0:  # the window is full by now: in[t - period + 1 .. t]
            countdown, total, sub = 8 * period, 0.0, 0.0
            for i in range(1, period + 1):
                v = ring_at(&w.window, i) if i < period else x
                sub += v
                total += <double> i * v
        else:
            sub += x
            if n == period:
                sub -= ring_at(&w.window, 0)
            total += x * period
        v = total / ((period * (period + 1)) >> 1)
        total -= sub
    if commit:
        w.countdown, w.total, w.sub = countdown, total, sub
        ring_push(&w.window, x)
    return v


cdef class WMA(Kernel):
    cdef avg_Wma wma

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        avg_wma_init(&self.wma, period)

    def __dealloc__(self):
        free(self.wma.window.data)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = avg_wma_next(&self.wma, self.x[0], commit)


cdef class HMA(Kernel):
    # Hull: WMA(2 * WMA(x, period // 2) - WMA(x, period), int(sqrt(period))).
    cdef avg_Wma half, full, hull

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        avg_wma_init(&self.half, period // 2)
        avg_wma_init(&self.full, period)
        avg_wma_init(&self.hull, <int> sqrt(period))

    def __dealloc__(self):
        free(self.half.window.data)
        free(self.full.window.data)
        free(self.hull.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef double half = avg_wma_next(&self.half, self.x[0], commit)
        cdef double full = avg_wma_next(&self.full, self.x[0], commit)
        self.out[0] = NAN if isnan(full) else avg_wma_next(&self.hull, 2.0 * half - full, commit)


cdef class TRIMA(Kernel):
    # TA_TRIMA's recurrence: the triangular weights (1, 2, ..., 2, 1) as a numerator adjusted by
    # two running sums, the older half (``sub``) and the newer half (``add``) of the window, times
    # 1 / (sum of the weights).
    cdef int period, half
    cdef double factor, numerator, sub, add
    cdef Ring window  # the last ``period`` inputs

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.period, self.half = period, period >> 1
        self.factor = 1.0 / ((self.half + 1) * (self.half + 1) if period % 2 else self.half * (self.half + 1))
        ring_init(&self.window, period)

    def __dealloc__(self):
        free(self.window.data)

    cdef double seed(self, double x, bint commit) noexcept:
        # The first value, summed over the whole window in TA-Lib's order (once, O(period)).
        cdef int i, middle = self.half if self.period % 2 else self.half - 1
        cdef double numerator = 0.0, sub = 0.0, add = 0.0
        for i in range(middle, -1, -1):
            sub += ring_at(&self.window, i)
            numerator += sub
        for i in range(middle + 1, self.period):
            add += ring_at(&self.window, i) if i < self.period - 1 else x
            numerator += add
        if commit:
            self.numerator, self.sub, self.add = numerator, sub, add
        return numerator

    cdef void step(self, bint commit) noexcept:
        cdef int n = self.window.count, period = self.period, half = self.half
        cdef double x = self.x[0], numerator = self.numerator, sub = self.sub, add = self.add, middle
        self.out[0] = NAN
        if n == period - 1:
            numerator = self.seed(x, commit)
        elif n == period:
            middle = ring_at(&self.window, period - half)
            numerator -= sub
            sub -= ring_at(&self.window, 0)
            sub += middle
            if period % 2:
                numerator += add
                add -= middle
            else:
                add -= middle
                numerator += add
            add += x
            numerator += x
            if commit:
                self.numerator, self.sub, self.add = numerator, sub, add
        if n >= period - 1:
            self.out[0] = numerator * self.factor
        if commit:
            ring_push(&self.window, x)


# ---- EMA compositions ---------------------------------------------------------------------------
# The TA-Lib in use (0.8) computes its EMA steps with an explicit fused multiply-add (C ``fma``,
# one rounding), so these do too (``ema_next`` included).

ctypedef double (*avg_ema_step)(Ema*, double, bint) noexcept


cdef inline double avg_settle(Ema* e, double value, bint commit) noexcept:
    if commit:
        e.value = value
    return value


cdef inline double avg_blend(double k, double ema, double x) noexcept:
    """TA_T3 / TA_ADOSC's EMA step ``k * x + (1 - k) * ema``, as TA-Lib rounds it: ``fma(1 - k, ema, k * x)``."""
    return fma(1.0 - k, ema, k * x)


cdef double avg_tillson_next(Ema* e, double x, bint commit) noexcept:
    # TA_T3's step: seeded as ``ema_next`` (mean of the first ``period`` inputs), then ``avg_blend``.
    return ema_next(e, x, commit) if e.n < e.period else avg_settle(e, avg_blend(e.k, e.value, x), commit)


cdef inline bint avg_emas_next(Ema* emas, int count, avg_ema_step next_, double x, double* values, bint commit) noexcept:
    """Feed ``x`` through ``count`` chained EMAs (EMA of EMA of ...) into ``values``; false while one still seeds."""
    cdef int i
    for i in range(count):
        x = next_(&emas[i], x, commit)
        if isnan(x):
            return False
        values[i] = x
    return True


cdef class DEMA(Kernel):
    # Mulloy 1994: 2 * EMA1 - EMA2, EMA2 being the EMA of EMA1 (TA_DEMA).
    cdef Ema emas[2]

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        ema_init(&self.emas[0], period)
        ema_init(&self.emas[1], period)

    cdef void step(self, bint commit) noexcept:
        cdef double e[2]
        self.out[0] = 2.0 * e[0] - e[1] if avg_emas_next(self.emas, 2, ema_next, self.x[0], e, commit) else NAN


cdef class TEMA(Kernel):
    # Mulloy 1994: 3 * EMA1 - 3 * EMA2 + EMA3 in TA_TEMA's grouping.
    cdef Ema emas[3]

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        cdef int i
        for i in range(3):
            ema_init(&self.emas[i], period)

    cdef void step(self, bint commit) noexcept:
        cdef double e[3]
        if avg_emas_next(self.emas, 3, ema_next, self.x[0], e, commit):
            self.out[0] = e[2] + (3.0 * e[0] - 3.0 * e[1])
        else:
            self.out[0] = NAN


cdef class T3(Kernel):
    # Tillson 1998: six chained EMAs combined as c1*e6 + c2*e5 + c3*e4 + c4*e3, fused as TA_T3.
    cdef Ema emas[6]
    cdef double c1, c2, c3, c4

    def __init__(self, inputs, int period, double vfactor):
        super().__init__(inputs, 1)
        cdef int i
        cdef double square = vfactor * vfactor
        for i in range(6):
            ema_init(&self.emas[i], period)
        self.c1 = 0 - square * vfactor
        self.c2 = 3.0 * (square - self.c1)
        self.c3 = (0 - 6.0) * square - 3.0 * (vfactor - self.c1)
        self.c4 = fma(3.0, square, fma(3.0, vfactor, 1.0) - self.c1)

    cdef void step(self, bint commit) noexcept:
        cdef double e[6]
        if avg_emas_next(self.emas, 6, avg_tillson_next, self.x[0], e, commit):
            self.out[0] = fma(self.c4, e[2], fma(self.c3, e[3], fma(self.c1, e[5], self.c2 * e[4])))
        else:
            self.out[0] = NAN


# ---- adaptive -----------------------------------------------------------------------------------

cdef double AVG_KAMA_SLOWEST = 2.0 / (30.0 + 1.0)
cdef double AVG_KAMA_SPREAD = 2.0 / (2.0 + 1.0) - AVG_KAMA_SLOWEST


cdef class KAMA(Kernel):
    # Kaufman 1995 as TA_KAMA: efficiency ratio |x - x[-period]| / sum of the |1-candle changes|
    # (that sum kept running: subtract the change leaving, add the newest), smoothing
    # ``(er * (2/3 - 2/31) + 2/31) ** 2`` fused as TA-Lib does; ratio 1 where the sum is not above
    # |change| (TA-Lib 0.8 caps it at 1 against the sum's rounding residue). Seeded with the previous
    # input. As TA-Lib 0.8: once ``period`` changes in a row are exactly 0 (a flat window, e.g. halt
    # candles) the running sum is reset to exactly 0, dropping its residue, so the ratio there is 1.
    cdef int period, flat  # flat: trailing run of exactly-zero changes, capped at period
    cdef double changes, kama
    cdef Ring window  # the last period + 1 inputs

    def __init__(self, inputs, int period):
        super().__init__(inputs, 1)
        self.period, self.changes = period, 0.0
        ring_init(&self.window, period + 1)

    def __dealloc__(self):
        free(self.window.data)

    cdef void step(self, bint commit) noexcept:
        cdef Ring* w = &self.window
        cdef int n = w.count, period = self.period, flat = self.flat
        cdef double x = self.x[0], changes = self.changes, kama = NAN, previous, change, ratio, smoothing
        if n > period:
            changes -= fabs(ring_at(w, 0) - ring_at(w, 1))
        if n > 0:
            previous = ring_at(w, n - 1)
            changes += fabs(previous - x)
            flat = flat + 1 if x - previous == 0.0 else 0
            if n > period and flat >= period:
                flat, changes = period, 0.0
        if n >= period:
            change = x - ring_at(w, n - period)
            previous = ring_at(w, n - 1) if n == period else self.kama
            ratio = 1.0 if changes <= fabs(change) else fabs(change / changes)
            smoothing = fma(ratio, AVG_KAMA_SPREAD, AVG_KAMA_SLOWEST)
            smoothing *= smoothing
            kama = fma(x - previous, smoothing, previous)
        self.out[0] = kama
        if commit:
            self.flat, self.changes, self.kama = flat, changes, kama
            ring_push(w, x)
