# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The trade simulation of ``engine.simulate``, compiled: one pass over the candles, O(1) per candle.

At each candle, in the order things happen in a market: the order of the previous candle's signal fills at this
open (an exit, a reversal or an entry), then the candle's range may reach the position's stop loss or take profit,
then the equity is marked at the close and this candle's signal becomes the next open's order. The rules are in
``engine``'s module docstring; ``engine.simulate`` is the documented entry point.
"""

from libc.math cimport fabs, isnan

#: ``reason`` codes of a trade's exit, and their names.
REASONS = ("signal", "stop_loss", "take_profit", "end")
cdef enum:
    SIGNAL = 0
    STOP_LOSS = 1
    TAKE_PROFIT = 2
    END = 3


cdef struct Book:
    double cash, units, notional, entry_fee, entry_price, stop, take
    int sign, entry, count


cdef inline double fill(double price, int sign, double slip) noexcept nogil:
    """A fill against the trader: a buy (+1) pays ``slip`` more, a sell (−1) gets ``slip`` less."""
    return price * (1 + sign * slip)


cdef inline void enter(Book* b, int at, double price, int sign, double fee, double slip, double stop_pct,
                       double take_pct) noexcept nogil:
    b.entry_price = fill(price, sign, slip)
    b.notional = b.cash / (1 + fee)
    b.units = sign * b.notional / b.entry_price
    b.entry_fee = b.notional * fee
    b.cash -= b.units * b.entry_price + b.entry_fee
    b.sign, b.entry = sign, at
    b.stop = b.entry_price * (1 - sign * stop_pct / 100) if not isnan(stop_pct) else 0
    b.take = b.entry_price * (1 + sign * take_pct / 100) if not isnan(take_pct) else 0


cdef inline void leave(Book* b, int at, double price, int reason, double fee, double slip, long[:, ::1] when,
                       double[:, ::1] money, signed char[:, ::1] kind) noexcept nogil:
    cdef double exit_fill = fill(price, -b.sign, slip)
    cdef double exit_fee = fabs(b.units) * exit_fill * fee
    cdef double before = b.notional + b.entry_fee
    cdef int k = b.count
    b.cash += b.units * exit_fill - exit_fee
    when[k, 0], when[k, 1] = b.entry, at
    money[k, 0], money[k, 1], money[k, 2] = b.entry_price, exit_fill, b.units
    money[k, 3], money[k, 4], money[k, 5] = b.entry_fee + exit_fee, b.cash - before, before
    kind[k, 0], kind[k, 1] = b.sign, reason
    b.count += 1
    b.sign, b.units = 0, 0


def run(const double[::1] o, const double[::1] h, const double[::1] lo, const double[::1] c,
        const signed char[::1] side, bint long_short, double fee, double slip, double stop_pct, double take_pct,
        double capital, double[::1] equity, unsigned char[::1] exposure, long[:, ::1] when, double[:, ::1] money,
        signed char[:, ::1] kind) -> int:
    """Simulate; ``stop_pct``/``take_pct`` NaN for none. Writes ``equity`` and ``exposure`` per candle and, per
    trade, ``when`` (entry, exit candle), ``money`` (entry fill, exit fill, units, fees, pnl, equity at entry) and
    ``kind`` (sign,
    reason code); returns the number of trades (the arrays hold room for one per candle)."""
    cdef Py_ssize_t n = c.shape[0], i
    cdef Book b
    cdef int pending = 0, sign
    cdef bint has_stop = not isnan(stop_pct), has_take = not isnan(take_pct), stop_hit, take_hit
    cdef double worst, best, gap
    b.cash, b.units, b.sign, b.count = capital, 0, 0, 0
    with nogil:
        for i in range(n):
            if pending != 0:
                if b.sign != 0 and pending == -b.sign:
                    leave(&b, i, o[i], SIGNAL, fee, slip, when, money, kind)
                    if long_short:
                        enter(&b, i, o[i], pending, fee, slip, stop_pct, take_pct)
                elif b.sign == 0 and (pending > 0 or long_short):
                    enter(&b, i, o[i], pending, fee, slip, stop_pct, take_pct)
                pending = 0
            if b.sign != 0 and (has_stop or has_take):
                sign = b.sign
                if sign > 0:
                    worst, best = lo[i], h[i]
                else:
                    worst, best = -h[i], -lo[i]
                stop_hit = has_stop and worst <= sign * b.stop
                take_hit = has_take and best >= sign * b.take
                gap = sign * o[i]
                if stop_hit:  # the stop loss first when both are reached (the path within a candle is unknown)
                    leave(&b, i, o[i] if i > b.entry and gap <= sign * b.stop else b.stop, STOP_LOSS, fee, slip,
                          when, money, kind)
                elif take_hit:
                    leave(&b, i, o[i] if i > b.entry and gap >= sign * b.take else b.take, TAKE_PROFIT, fee, slip,
                          when, money, kind)
            equity[i] = b.cash + b.units * c[i]
            exposure[i] = b.sign != 0
            pending = side[i]
        if b.sign != 0:
            leave(&b, n - 1, c[n - 1], END, fee, slip, when, money, kind)
            equity[n - 1] = b.cash
    return b.count
