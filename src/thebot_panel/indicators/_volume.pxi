# Volume: on-balance volume, accumulation/distribution and its oscillator, anchored VWAP.
# Included by _kernels.pyx; see its docstring for the kernel contract.


cdef class OBV(Kernel):
    # Granville 1963 as TA_OBV: starts at the first candle's volume, then adds the volume of a
    # candle closing higher than the previous one and subtracts that of one closing lower.
    # Inputs: price, volume.
    cdef bint seen
    cdef double price, obv

    def __init__(self, inputs):
        super().__init__(inputs, 1)

    cdef void step(self, bint commit) noexcept:
        cdef double price = self.x[0], obv = self.obv
        if not self.seen:
            obv = self.x[1]
        elif price > self.price:
            obv += self.x[1]
        elif price < self.price:
            obv -= self.x[1]
        self.out[0] = obv
        if commit:
            self.seen, self.price, self.obv = True, price, obv


cdef inline double vol_ad_next(double ad, const double* x) noexcept:
    """The A/D line after a candle ``x`` = (high, low, close, volume), as TA_AD: unchanged when high == low."""
    cdef double high = x[0], low = x[1], close = x[2], span = high - low
    if span > 0.0:
        ad += (close - low - (high - close)) / span * x[3]
    return ad


cdef class AD(Kernel):
    # Chaikin accumulation/distribution line: cumulative ((close - low) - (high - close)) / (high - low) × volume.
    cdef double ad

    def __init__(self, inputs):
        super().__init__(inputs, 1)

    cdef void step(self, bint commit) noexcept:
        self.out[0] = vol_ad_next(self.ad, self.x)
        if commit:
            self.ad = self.out[0]


cdef class ADOSC(Kernel):
    # Chaikin oscillator as TA_ADOSC: EMA(fast) - EMA(slow) of the A/D line, both EMAs seeded with
    # the first A/D value and stepped as ``k * ad + (1 - k) * ema`` (``avg_blend``); values from candle max(fast, slow) - 1.
    cdef int n, lookback
    cdef double ad, fast, slow, fast_k, slow_k

    def __init__(self, inputs, int fast, int slow):
        super().__init__(inputs, 1)
        self.lookback = max(fast, slow) - 1
        self.fast_k, self.slow_k = 2.0 / (fast + 1.0), 2.0 / (slow + 1.0)

    cdef void step(self, bint commit) noexcept:
        cdef double ad = vol_ad_next(self.ad, self.x), fast = ad, slow = ad
        if self.n > 0:
            fast = avg_blend(self.fast_k, self.fast, ad)
            slow = avg_blend(self.slow_k, self.slow, ad)
        self.out[0] = fast - slow if self.n >= self.lookback else NAN
        if commit:
            self.ad, self.fast, self.slow = ad, fast, slow
            self.n = min(self.n + 1, self.lookback)


#: VWAP anchors: the period whose start restarts the sums.
VWAP_ANCHORS = ("session", "week", "month")


cdef inline long long vol_anchor_period(double open_time, int anchor) noexcept:
    """Number of the UTC day (0), Monday-started week (1) or calendar month (2) holding ``open_time`` (ms)."""
    cdef long long day = <long long> floor(open_time / 86400000.0), z, era, doe, yoe, doy, mp
    if anchor == 0:
        return day
    if anchor == 1:
        return <long long> floor((day + 3) / 7.0)  # 1970-01-01 was a Thursday
    # civil-from-days (H. Hinnant's algorithm): year * 12 + month - 1
    z = day + 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    return (yoe + era * 400 + (mp >= 10)) * 12 + (mp + 2) % 12


cdef class VWAP(Kernel):
    # Volume-weighted average price since the start of the anchor period: Σ price × volume / Σ volume,
    # NaN while Σ volume is 0. Inputs: price, volume, open_time (ms since the epoch, UTC).
    cdef int anchor
    cdef long long period
    cdef double weighted, volume

    def __init__(self, inputs, str anchor):
        super().__init__(inputs, 1)
        self.anchor = VWAP_ANCHORS.index(anchor)
        self.period = -(1 << 62)

    cdef void step(self, bint commit) noexcept:
        cdef long long period = vol_anchor_period(self.x[2], self.anchor)
        cdef double weighted = self.weighted, volume = self.volume
        if period != self.period:
            weighted, volume = 0.0, 0.0
        weighted += self.x[0] * self.x[1]
        volume += self.x[1]
        self.out[0] = weighted / volume if volume != 0.0 else NAN
        if commit:
            self.period, self.weighted, self.volume = period, weighted, volume
