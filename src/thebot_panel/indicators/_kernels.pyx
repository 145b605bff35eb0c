# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Compiled recurrences of the indicators: one ``Kernel`` per indicator, O(1) per candle.

A kernel holds the committed state of one indicator and advances it with ``step(commit)``: read the
inputs in ``self.x``, write the outputs to ``self.out``, and store the new state only when
``commit`` is true. The forming candle's provisional values are the same ``step`` with ``commit``
false, so they never touch the committed state, and the batch loop (``run``) calls the very same
``step`` for every row, so batch and streaming give the same floats.

Inputs come from a candle row ``[open, high, low, close, volume, open_time]`` through field codes
(``FIELDS``), or, for a chained kernel, from an output of its ``upstream`` kernel (e.g. EMA of RSI).
Until the first input that is not NaN, a kernel outputs NaN and stays in its initial state, as
TA-Lib's wrapper skips leading NaNs.

The Python classes in ``averages``, ``momentum``, ``volatility`` and ``volume`` declare the
parameters (``param``) and build these kernels; the family files included below hold the kernels.
"""

from libc.math cimport NAN, fabs, floor, fma, isnan, sqrt
from libc.stdlib cimport free, malloc

cdef enum:
    MAX_IN = 6
    MAX_OUT = 4
    ROW = 6  # open, high, low, close, volume, open_time

#: Input field codes: candle columns, then derived prices.
FIELDS = ("open", "high", "low", "close", "volume", "open_time", "hl2", "hlc3", "ohlc4")
CANDLE = FIELDS[:ROW]
cdef tuple _NEEDS = (1, 2, 4, 8, 16, 32, 2 | 4, 2 | 4 | 8, 1 | 2 | 4 | 8)  # candle columns each field reads


cdef inline double field(const double* c, int code) noexcept:
    if code < ROW:
        return c[code]
    if code == 6:
        return (c[1] + c[2]) / 2
    if code == 7:
        return (c[1] + c[2] + c[3]) / 3
    return (c[1] + c[2] + c[3] + c[0]) / 4  # in talib.AVGPRICE's order


cdef class Kernel:
    """Base of the compiled recurrences; see the module docstring.

    ``inputs``: names from ``FIELDS``, one per input, or a pair ``(upstream, k)``: then the single
    input is output number ``k`` of the ``upstream`` kernel (chaining). ``n_out``: number of outputs.
    """

    cdef readonly int n_in, n_out, needs
    cdef int fields[MAX_IN]
    cdef bint started
    cdef readonly Kernel upstream
    cdef int upstream_output
    cdef double x[MAX_IN]
    cdef double out[MAX_OUT]

    def __init__(self, tuple inputs, int n_out):
        cdef int i
        if n_out > MAX_OUT or len(inputs) > MAX_IN:
            raise ValueError(f"a kernel has at most {MAX_IN} inputs and {MAX_OUT} outputs")
        self.n_out = n_out
        if inputs and isinstance(inputs[0], Kernel):
            self.upstream, self.upstream_output = inputs
            if not 0 <= self.upstream_output < self.upstream.n_out:
                raise ValueError(f"upstream has {self.upstream.n_out} outputs, not output {self.upstream_output}")
            self.n_in, self.needs = 1, self.upstream.needs
        else:
            self.n_in, self.needs = len(inputs), 0
            for i, name in enumerate(inputs):
                self.fields[i] = FIELDS.index(name)
                self.needs |= _NEEDS[self.fields[i]]
        for i in range(MAX_OUT):
            self.out[i] = NAN

    cdef void step(self, bint commit) noexcept:
        pass

    cdef void feed(self, const double* candle, bint commit) noexcept:
        cdef int i
        if self.upstream is not None:
            self.upstream.feed(candle, commit)
            self.x[0] = self.upstream.out[self.upstream_output]
        else:
            for i in range(self.n_in):
                self.x[i] = field(candle, self.fields[i])
        if not self.started:
            for i in range(self.n_in):
                if isnan(self.x[i]):
                    for i in range(self.n_out):
                        self.out[i] = NAN
                    return
            self.started = commit
        self.step(commit)

    cdef tuple values(self):
        if self.n_out == 1:
            return (self.out[0],)
        return tuple([self.out[i] for i in range(self.n_out)])

    def update(self, candle, bint closed):
        """Values for ``candle`` (any record with the needed attributes, e.g. a ``Kline``), a tuple of floats.

        ``closed`` commits the candle; otherwise the values are provisional and nothing is committed.
        """
        cdef double row[ROW]
        cdef int needs = self.needs
        if needs & 8:
            row[3] = candle.close
        if needs & 2:
            row[1] = candle.high
        if needs & 4:
            row[2] = candle.low
        if needs & 1:
            row[0] = candle.open
        if needs & 16:
            row[4] = candle.volume
        if needs & 32:
            row[5] = candle.open_time
        self.feed(row, closed)
        if self.n_out == 1:
            return (self.out[0],)
        return self.values()

    def run(self, const double[:, ::1] candles, double[:, ::1] out):
        """Commit every row of ``candles`` (n × 6: open, high, low, close, volume, open_time) writing the outputs to ``out`` (n × n_out)."""
        cdef Py_ssize_t i, n = candles.shape[0]
        cdef int j
        if candles.shape[1] != ROW or out.shape[0] != n or out.shape[1] != self.n_out:
            raise ValueError(f"run needs candles of shape (n, {ROW}) and out of shape (n, {self.n_out})")
        for i in range(n):
            self.feed(&candles[i, 0], True)
            for j in range(self.n_out):
                out[i, j] = self.out[j]


# ---- building blocks shared by the kernels ------------------------------------------------------

cdef struct Ring:
    # The last ``size`` committed inputs of a window, oldest at ``head``.
    double* data
    int size
    int head
    int count


cdef int ring_init(Ring* r, int size) except -1:
    r.data = <double*> malloc(max(size, 1) * sizeof(double))
    if r.data == NULL:
        raise MemoryError()
    r.size, r.head, r.count = size, 0, 0
    return 0


cdef inline void ring_push(Ring* r, double x) noexcept:
    if r.count < r.size:
        r.data[(r.head + r.count) % r.size] = x
        r.count += 1
    elif r.size:
        r.data[r.head] = x
        r.head = (r.head + 1) % r.size


cdef inline double ring_at(const Ring* r, int i) noexcept:
    """The ``i``-th oldest element (0 = oldest); ``ring_at(r, r.count - 1)`` is the newest."""
    return r.data[(r.head + i) % r.size]


cdef inline int ring_newest_max(const Ring* r, double x, double sign) noexcept:
    """Age of the newest maximum of ``sign * value`` over the ring's inputs and ``x``: 0 = ``x``, k = k inputs back.

    Ties go to the newest input, as TA-Lib's ``>=`` / ``<=`` scans (AROON) break them. O(size).
    """
    cdef int i, age = 0
    cdef double best = sign * x, v
    for i in range(r.count - 1, -1, -1):
        v = sign * ring_at(r, i)
        if v > best:
            best, age = v, r.count - i
    return age


cdef inline double ring_extreme(const Ring* r, double x, double sign) noexcept:
    """The maximum (``sign`` 1) or minimum (``sign`` -1) of the ring's inputs and ``x``."""
    cdef int age = ring_newest_max(r, x, sign)
    return x if age == 0 else ring_at(r, r.count - age)


cdef struct Ema:
    # TA-Lib's EMA: seeded with the SMA of the first ``period`` inputs, then
    # ``ema = (x - ema) * k + ema``, fused (one rounding, C ``fma``) as the TA-Lib binary computes it.
    # ``value`` holds the running sum while seeding.
    int period
    int n
    double k
    double value


cdef inline void ema_init(Ema* e, int period) noexcept:
    e.period, e.n, e.k, e.value = period, 0, 2.0 / (period + 1), 0.0


cdef inline double ema_next(Ema* e, double x, bint commit) noexcept:
    cdef double v
    if e.n < e.period - 1:
        if commit:
            e.value += x
            e.n += 1
        return NAN
    if e.n == e.period - 1:
        v = (e.value + x) / e.period
    else:
        v = fma(x - e.value, e.k, e.value)
    if commit:
        e.value = v
        e.n = e.period
    return v


cdef struct Sma:
    # TA-Lib's SMA: a running total of the window (add the new input, divide, drop the oldest).
    int period
    double total
    Ring window  # the last period - 1 inputs


cdef int sma_init(Sma* s, int period) except -1:
    s.period, s.total = period, 0.0
    return ring_init(&s.window, period - 1)


cdef inline double sma_next(Sma* s, double x, bint commit) noexcept:
    cdef double total = s.total + x, v = NAN
    if s.window.count == s.period - 1:
        v = total / s.period
        total -= ring_at(&s.window, 0) if s.period > 1 else x
    if commit:
        s.total = total
        ring_push(&s.window, x)
    return v


cdef struct Wilder:
    # Wilder's smoothing as TA-Lib seeds it: the mean of the first ``period`` inputs, then
    # ``avg = (avg * (period - 1) + x) / period``. ``value`` holds the running sum while seeding.
    int period
    int n
    double value


cdef inline double wilder_next(Wilder* w, double x, bint commit) noexcept:
    cdef double v
    if w.n < w.period - 1:
        if commit:
            w.value += x
            w.n += 1
        return NAN
    if w.n == w.period - 1:
        v = (w.value + x) / w.period
    else:
        v = (w.value * (w.period - 1) + x) / w.period
    if commit:
        w.value = v
        w.n = w.period
    return v


include "_averages.pxi"
include "_momentum.pxi"
include "_volatility.pxi"
include "_trend.pxi"
include "_volume.pxi"
