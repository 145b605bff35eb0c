"""Signal rules: conditions on named series that fire BUY/SELL signals on closed candles.

A rule reads series by name: indicator columns (``"ema_9"``, ``"rsi_14"``, ``"macd_12_26_9"``) and
the candle fields (``"open"``, ``"high"``, ``"low"``, ``"close"``, ``"volume"``). Its memory of past
candles is an explicit, immutable ``state`` and its condition a pure ``check(state, current, close)
-> (state, fired)``; the base class runs it candle by candle (``update``) or over a history
(``batch``), so streaming and batch give the same signals by construction. State advances on
closed candles only, so a signal never appears, changes or vanishes after its candle closed.

A parameter change re-derives a rule's history (``recompute``): a rule whose condition allows it
overrides ``fire_arrays`` with the same condition over the whole history in NumPy, which gives exactly
the signals and end state of ``check`` candle by candle (``check_arrays``), the definition.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from itertools import repeat
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import param


@dataclass(frozen=True, slots=True)
class Signal:
    """One signal: ``open_time`` of its candle (int ms UTC), ``price`` the candle close, ``strength`` in [0, 1].

    ``provisional`` marks a signal computed on a forming candle: it may vanish when the candle closes.
    """

    open_time: int
    symbol: str
    interval: str
    rule: str
    side: str
    price: float
    strength: float
    provisional: bool = False


#: What ``check`` reports on a candle that fires: ``(side, strength)``, side ``"BUY"`` or ``"SELL"``.
Fired = tuple[str, float]

#: Side codes of ``fire_arrays`` / ``check_arrays``, and back.
SIDE_CODES, SIDES = {"BUY": 1, "SELL": -1}, {1: "BUY", -1: "SELL"}


def closed_signals(times: list[int], symbol: str, interval: str, rule: str, sides: list[str], prices: list[float],
                   strengths: list[float]) -> list[Signal]:
    """``[Signal(t, symbol, interval, rule, side, price, strength) for ...]`` (not provisional), each field set
    for all signals at once by ``map`` over its slot's setter: a third of the time of the frozen ``__init__``
    (an ``object.__setattr__`` per field from Python), which would be most of a vectorised ``recompute``.
    Lists every field of ``Signal`` (the tests compare with signals built by ``Signal(...)``)."""
    signals = list(map(object.__new__, repeat(Signal, len(times))))
    fields = {"open_time": times, "symbol": repeat(symbol), "interval": repeat(interval), "rule": repeat(rule),
              "side": sides, "price": prices, "strength": strengths, "provisional": repeat(False)}
    for name, values in fields.items():
        deque(map(getattr(Signal, name).__set__, signals, values), maxlen=0)
    return signals


def series_label(column: str) -> str:
    """Display form of a series name: ``"ema_9"`` -> ``"EMA(9)"``, ``"ema_20_hl2"`` -> ``"EMA(20, hl2)"``,
    ``"close"`` -> ``"close"``."""
    name, *args = column.split("_")
    return f"{name.upper()}({', '.join(args)})" if args else column


class Rule(param.Parameterized):
    """Base of signal rules.

    A subclass declares its parameters (``series_params`` lists those naming series; the graph
    renames them when an indicator's parameters change) and writes:

    - ``label``: the rule as its signals name it, e.g. ``"EMA(9)×EMA(21)"``;
    - ``initial_state()``: the state before the first candle (immutable: ``None``, tuples, floats);
    - ``check(state, current, close) -> (state, fired)``: pure; ``current`` holds this candle's
      values of ``columns`` (floats, NaN in an indicator's warm-up), ``close`` its close; ``fired``
      is ``(side, strength)`` or ``None``. NaN never fires.
    - optionally ``fire_arrays(columns, close)``: what ``check_arrays`` gives, without a loop in Python
      (see there); ``batch`` and ``recompute`` use it.

    The base gives ``update`` (one candle), ``batch`` / ``recompute`` (a history, by ``fire_arrays``),
    ``check_arrays`` and ``validate``.
    Parameters are read through ``self.p``, a plain snapshot refreshed on every change (a ``param``
    read costs ~3 µs). Changing a parameter other than ``provisional`` resets the state: call
    ``recompute(history, ...)`` to continue from the end of the history. An invalid value raises
    ``ValueError`` naming the parameter, the value and the bounds.
    """

    enabled = param.Boolean(default=True, doc="Evaluate the rule; a disabled rule never fires.")
    provisional = param.Boolean(default=False, doc=(
        "Also evaluate the forming candle: its signal is flagged provisional and may vanish when the "
        "candle closes. Off: only closed candles are evaluated, so signals never repaint."))

    series_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params):
        super().__init__(**params)
        self.reset()
        self.param.watch(self._parameters_changed, [name for name in self.param if name != "name"])

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValueError as exc:
            spec = self.param[name]
            allowed = (f"bounds {spec.bounds}" if getattr(spec, "bounds", None) is not None
                       else f"one of {list(spec.objects)}" if hasattr(spec, "objects") else str(exc))
            raise ValueError(f"{type(self).__name__}.{name}={value!r} is invalid; allowed: {allowed} ({exc})") from None

    def _parameters_changed(self, *events) -> None:
        if all(event.name == "provisional" for event in events):
            self.p = SimpleNamespace(**self.param.values())
        else:
            self.reset()

    # --- what a subclass writes -------------------------------------------------------------
    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the series the rule reads, in the order ``check`` receives them."""
        return tuple(getattr(self.p, name) for name in self.series_params)

    @property
    def label(self) -> str:
        """The rule as a signal names it, e.g. ``"EMA(9)×EMA(21)"``."""
        raise NotImplementedError

    def initial_state(self) -> Any:
        """State before the first candle."""
        return None

    def check(self, state: Any, current: tuple[float, ...], close: float) -> tuple[Any, Fired | None]:
        """``(next state, (side, strength) or None)`` for one candle; pure (``state`` is not modified)."""
        raise NotImplementedError

    def fire_arrays(self, columns: tuple[np.ndarray, ...], close: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """What ``check_arrays(columns, close)`` returns (the strength read only where a side fires). The base
        runs ``check_arrays``; a rule whose condition allows it overrides this with NumPy."""
        return self.check_arrays(columns, close)

    # --- what the base gives -----------------------------------------------------------------
    def reset(self) -> None:
        """Take the current parameters and forget every candle (back to ``initial_state()``)."""
        self.p = SimpleNamespace(**self.param.values())
        self._columns, self._label = self.columns, self.label
        self.state = self.initial_state()

    def validate(self, available) -> None:
        """``ValueError`` naming each series the rule reads that is not in ``available`` (names) and listing those."""
        missing = [c for c in self._columns if c not in available]
        if missing:
            raise ValueError(f"rule {self._label} needs series {', '.join(map(repr, missing))}; "
                             f"available series: {sorted(available)}")

    def update(self, open_time: int, close: float, values, symbol: str, interval: str,
               closed: bool = True) -> Signal | None:
        """Evaluate one candle (``open_time`` int ms UTC, ``close`` its close); ``values`` maps series names
        (candle fields and indicator columns) to this candle's floats.

        A closed candle advances the state. A forming one (``closed=False``) is evaluated only when
        ``provisional`` is on, against the committed state, and commits nothing; its signal is
        flagged ``provisional``. Raises ``ValueError`` (see ``validate``) if a series is missing.
        """
        if not (self.p.enabled and (closed or self.p.provisional)):
            return None
        try:
            current = tuple([values[c] for c in self._columns])
        except KeyError:
            self.validate(values.keys())
            raise
        state, fired = self.check(self.state, current, close)
        if closed:
            self.state = state
        if fired is None:
            return None
        return Signal(open_time, symbol, interval, self._label, fired[0], close, fired[1], not closed)

    def batch(self, frame: pd.DataFrame, symbol: str, interval: str) -> list[Signal]:
        """The signals ``update`` gives for each row of ``frame`` as a closed candle, in order.

        ``frame``: index ``open_time`` (UTC), a ``close`` column and the series the rule reads.
        Does not touch the rule's state. Raises ``ValueError`` (see ``validate``) if a series is missing.
        """
        return self._run(frame, symbol, interval)[0]

    def recompute(self, frame: pd.DataFrame, symbol: str, interval: str) -> list[Signal]:
        """``batch(frame, ...)``, leaving the state at the end of ``frame`` so ``update`` continues from there."""
        signals, self.state = self._run(frame, symbol, interval)
        return signals

    def check_arrays(self, columns: tuple[np.ndarray, ...], close: np.ndarray) -> tuple[np.ndarray, np.ndarray, Any]:
        """``check`` over a history of n >= 1 candles, from ``initial_state()``: ``side`` (int8 per candle: 1 BUY,
        -1 SELL, 0 none), ``strength`` (float per candle, 0 where none) and the state after the last candle.

        ``columns``: one float array per series of ``columns``; ``close``: the closes.
        """
        side, strength, state = np.zeros(len(close), np.int8), np.zeros(len(close)), self.initial_state()
        for i, (price, *current) in enumerate(zip(close.tolist(), *(c.tolist() for c in columns))):
            state, fired = self.check(state, tuple(current), price)
            if fired is not None:
                side[i], strength[i] = SIDE_CODES[fired[0]], fired[1]
        return side, strength, state

    def recompute_arrays(self, open_time: np.ndarray, columns, symbol: str, interval: str) -> list[Signal]:
        """``recompute`` on arrays, no frame: ``open_time`` int64 ms, ``columns`` maps ``close`` and the series
        the rule reads to float arrays (a dict, or a frame). Raises ``ValueError`` (see ``validate``) if one is
        missing."""
        signals, self.state = self._run_arrays(open_time, columns, symbol, interval)
        return signals

    def _run(self, frame, symbol, interval, vectorised: bool = True) -> tuple[list[Signal], Any]:
        index = frame.index   # its open_time in ms by NumPy: pandas' as_unit costs ~10 times more
        open_time = index.asi8.astype(f"datetime64[{index.unit}]").astype("datetime64[ms]").astype(np.int64)
        return self._run_arrays(open_time, frame, symbol, interval, vectorised)

    def _run_arrays(self, open_time, columns, symbol, interval, vectorised: bool = True) -> tuple[list[Signal], Any]:
        """The signals of a history and the state after its last candle, by ``fire_arrays`` (``vectorised``) or
        by ``check_arrays``."""
        self.validate(list(columns))
        if "close" not in columns:
            raise ValueError(f"rule {self._label} needs a 'close' column; the frame has {list(columns)}")
        if not self.p.enabled or not len(open_time):
            return [], self.initial_state()
        close = np.asarray(columns["close"], dtype=float)
        series = tuple(np.asarray(columns[c], dtype=float) for c in self._columns)
        side, strength, state = (self.fire_arrays if vectorised else self.check_arrays)(series, close)
        rows = np.flatnonzero(side)
        return closed_signals(open_time[rows].tolist(), symbol, interval, self._label,
                              [SIDES[s] for s in side[rows].tolist()], close[rows].tolist(),
                              strength[rows].tolist()), state


def lagged(x: np.ndarray, first: Any = math.nan) -> np.ndarray:
    """``x`` shifted one candle later: each candle's view of the candle before, ``first`` before the first
    (NaN: like an initial state of None or NaN, it compares false and never fires)."""
    return np.concatenate(([first], x[:-1]))


def crossing(previous: tuple[float, float] | None, current: tuple[float, float]) -> str | None:
    """``"BUY"`` when ``a`` crosses above ``b`` from ``(a0, b0)`` to ``(a, b)`` (a0 <= b0, a > b), ``"SELL"``
    when it crosses below (a0 >= b0, a < b), else None (also with no previous candle or any NaN)."""
    if previous is None:
        return None
    (a0, b0), (a, b) = previous, current
    if a0 <= b0 and a > b:
        return "BUY"
    if a0 >= b0 and a < b:
        return "SELL"
    return None


def cross_strength(previous: tuple[float, float], current: tuple[float, float], close: float) -> float:
    """How sharply two price-unit lines cross: ``min(1, |Δ(a - b)| / close × 5000)``, the change of their gap over
    the crossing candle; full strength when it is 0.02 % of the price (the gap itself is about 0 at a cross)."""
    (a0, b0), (a, b) = previous, current
    return min(1.0, abs((a - b) - (a0 - b0)) / close * 5000)


def crossings(a: np.ndarray, b: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """``crossing`` and ``cross_strength`` on every candle of a history (the same comparisons and arithmetic,
    element-wise), as ``fire_arrays`` returns them; the state is the last ``(a, b)``."""
    a0, b0 = lagged(a), lagged(b)
    side = ((a0 <= b0) & (a > b)).astype(np.int8) - ((a0 >= b0) & (a < b))
    return side, np.minimum(1.0, np.abs((a - b) - (a0 - b0)) / close * 5000), (float(a[-1]), float(b[-1]))


class Crossover(Rule):
    """BUY when ``fast`` crosses above ``slow`` (previous fast <= slow, now fast > slow); SELL when it
    crosses below (previous fast >= slow, now fast < slow). Any two series: ``"close"``, ``"ema_9"``, ...

    Strength: ``cross_strength`` — how much the gap between the lines moved on the crossing candle
    relative to the price (full at 0.02 %), weak for lines that merely touch. State: the previous (fast, slow).
    """

    fast = param.String(default="ema_9", doc="Series that crosses, e.g. ema_9 or close.")
    slow = param.String(default="ema_21", doc="Series crossed, e.g. ema_21.")
    series_params = ("fast", "slow")

    @property
    def label(self) -> str:
        return f"{series_label(self.p.fast)}×{series_label(self.p.slow)}"

    def check(self, state, current, close):
        side = crossing(state, current)
        return current, side and (side, cross_strength(state, current, close))

    def fire_arrays(self, columns, close):
        """``crossings`` of fast and slow."""
        return crossings(*columns, close)


class MACDCross(Rule):
    """BUY when the MACD line crosses above its signal line, SELL when it crosses below (as ``Crossover``).

    With ``zero_filter`` a BUY fires only while the MACD line is below zero and a SELL only while it
    is above (crosses against the stretched side). Strength: ``cross_strength``, as ``Crossover``.
    """

    macd = param.String(default="macd_12_26_9", doc="MACD line column, e.g. macd_12_26_9.")
    signal = param.String(default="signal_12_26_9", doc="Signal line column, e.g. signal_12_26_9.")
    zero_filter = param.Boolean(default=False, doc="BUY only below zero, SELL only above zero.")
    series_params = ("macd", "signal")

    @property
    def label(self) -> str:
        return f"{series_label(self.p.macd)} signal cross" + (" (zero filter)" if self.p.zero_filter else "")

    def check(self, state, current, close):
        side = crossing(state, current)
        if self.p.zero_filter and side is not None and not (current[0] < 0 if side == "BUY" else current[0] > 0):
            side = None
        return current, side and (side, cross_strength(state, current, close))

    def fire_arrays(self, columns, close):
        """``crossings`` of the MACD and signal lines, then the zero filter element-wise."""
        side, strength, state = crossings(*columns, close)
        if self.p.zero_filter:
            macd = columns[0]
            side[~np.where(side > 0, macd < 0, macd > 0)] = 0
        return side, strength, state


class LevelCross(Rule):
    """BUY when ``series`` crosses up through ``lower`` (previous < lower <= now); SELL when it crosses
    down through ``upper`` (previous > upper >= now) — e.g. RSI leaving oversold / overbought.

    Hysteresis: after a BUY, the next BUY is armed only once the series has reached
    ``lower + hysteresis`` (a SELL, once it is back to ``upper - hysteresis``), so a series wobbling
    around a level fires once. ``hysteresis=0`` fires on every crossing. State: (previous value,
    BUY armed, SELL armed).

    Strength: ``min(1, |now - previous| / 10)`` — a 10-point move (on RSI's 0-100 scale) is full strength.
    """

    series = param.String(default="rsi_14", doc="Series, e.g. rsi_14.")
    lower = param.Number(default=30.0, softbounds=(0, 100), doc="Crossing up through it is a BUY.")
    upper = param.Number(default=70.0, softbounds=(0, 100), doc="Crossing down through it is a SELL.")
    hysteresis = param.Number(default=5.0, bounds=(0, None), softbounds=(0, 20), doc=(
        "How far past the level (into the signal's direction) the series must go before the same side fires again."))
    series_params = ("series",)

    @property
    def label(self) -> str:
        return f"{series_label(self.p.series)} {self.p.lower:g}/{self.p.upper:g}"

    def initial_state(self):
        return math.nan, True, True

    def check(self, state, current, close):
        (before, buy_armed, sell_armed), (now,), p = state, current, self.p
        fired = None
        if buy_armed and before < p.lower <= now:
            fired, buy_armed = ("BUY", min(1.0, abs(now - before) / 10)), False
        elif sell_armed and before > p.upper >= now:
            fired, sell_armed = ("SELL", min(1.0, abs(now - before) / 10)), False
        return (now, buy_armed or now >= p.lower + p.hysteresis, sell_armed or now <= p.upper - p.hysteresis), fired

    def fire_arrays(self, columns, close):
        """``check`` element-wise but for the arming, which ``armed_after`` resolves without a loop. The two
        crossings exclude each other (both need upper < previous < lower <= now <= upper), so the ``elif``
        never matters and each side arms on its own."""
        (now,), p = columns, self.p
        before = lagged(now)
        buy_cross, sell_cross = (before < p.lower) & (p.lower <= now), (before > p.upper) & (p.upper >= now)
        buy_armed = armed_after(buy_cross, now >= p.lower + p.hysteresis)
        sell_armed = armed_after(sell_cross, now <= p.upper - p.hysteresis)
        side = (buy_cross & lagged(buy_armed, True)).astype(np.int8) - (sell_cross & lagged(sell_armed, True))
        strength = np.minimum(1.0, np.abs(now - before) / 10)
        return side, strength, (float(now[-1]), bool(buy_armed[-1]), bool(sell_armed[-1]))


def armed_after(crosses: np.ndarray, rearms: np.ndarray) -> np.ndarray:
    """Whether a ``LevelCross`` side is armed after each candle (boolean arrays over the candles: ``crosses``
    where its crossing condition holds and it is evaluated, ``rearms`` where the series is past the level
    by the hysteresis; armed before the first candle).

    A re-arming candle leaves the side armed; a crossing one that does not re-arm leaves it disarmed (it
    fires and disarms if armed, else stays disarmed); any other candle keeps it. So the side is armed after
    candle t iff the last candle up to t that crosses or re-arms re-arms, or there is none.
    """
    last = np.maximum.accumulate(np.where(crosses | rearms, np.arange(len(rearms)), -1))
    return np.where(last >= 0, rearms[last], True)


class BandBreakout(Rule):
    """Close against a channel (Bollinger, Keltner, Donchian): ``upper`` and ``lower`` band columns.

    The close of candle t is compared with the bands of candle t-1 (the state holds them): a
    Donchian band includes the current candle's high/low, so a close can never pass the current
    band; every channel is treated alike. Position of candle t: above (close > upper[t-1]),
    below (close < lower[t-1]) or inside (between, bands included); none while the bands of t-1
    are NaN (warm-up), and a change from or to none never fires.

    - mode ``"breakout"``: BUY when the position becomes above, SELL when it becomes below;
    - mode ``"reentry"``: SELL when it goes from above to inside, BUY from below to inside.

    Strength: ``min(1, 4 × |close - band| / (upper - lower))`` with the bands of t-1 and ``band`` the
    one crossed: full strength a quarter of the channel width beyond it (breakout) or back inside
    it (reentry); 1 for a zero-width channel. State: (upper, lower, position) of t-1.
    """

    upper = param.String(default="upperband_20_2_2", doc="Upper band column, e.g. upperband_20_2_2, upper_20.")
    lower = param.String(default="lowerband_20_2_2", doc="Lower band column, e.g. lowerband_20_2_2, lower_20.")
    mode = param.Selector(default="breakout", objects=["breakout", "reentry"], doc=(
        "breakout: close leaves the channel (BUY up, SELL down); reentry: close comes back inside (SELL from above, BUY from below)."))
    series_params = ("upper", "lower")

    @property
    def label(self) -> str:
        (up, *args), (low, *low_args) = self.p.upper.split("_"), self.p.lower.split("_")
        # the channel by its columns: BBANDS' upperband/lowerband, KELTNER's upper/lower with 3 parameters, DONCHIAN's with 1
        family = {("upperband", "lowerband"): "BBANDS", ("upper", "lower"): {3: "KELTNER", 1: "DONCHIAN"}.get(len(args))}
        name = family.get((up, low)) if args == low_args else None
        bands = (f"{name}({', '.join(args)})" if name else f"{series_label(self.p.upper)}/{series_label(self.p.lower)}")
        return f"{bands} {self.p.mode}"

    def initial_state(self):
        return math.nan, math.nan, None

    def check(self, state, current, close):
        upper0, lower0, position0 = state
        known = not (math.isnan(upper0) or math.isnan(lower0))  # the bands of t-1 (NaN in their warm-up)
        position = (1 if close > upper0 else -1 if close < lower0 else 0) if known else None
        state = (*current, position)
        if position is None or position0 is None or position == position0:
            return state, None
        if self.p.mode == "breakout" and position != 0:
            side, band = ("BUY", upper0) if position > 0 else ("SELL", lower0)
        elif self.p.mode == "reentry" and position == 0:
            side, band = ("SELL", upper0) if position0 > 0 else ("BUY", lower0)
        else:
            return state, None
        width = upper0 - lower0
        return state, (side, min(1.0, 4 * abs(close - band) / width) if width > 0 else 1.0)

    def fire_arrays(self, columns, close):
        """``check`` element-wise, the position NaN where ``check`` has None (the bands of t-1 unknown)."""
        upper0, lower0 = (lagged(band) for band in columns)
        position = np.where(close > upper0, 1.0, np.where(close < lower0, -1.0, 0.0))
        position[np.isnan(upper0) | np.isnan(lower0)] = np.nan
        position0 = lagged(position)
        change = (position != position0) & ~np.isnan(position) & ~np.isnan(position0)
        if self.p.mode == "breakout":
            side, upper_crossed = np.where(change & (position != 0), position, 0), position > 0
        else:
            side, upper_crossed = np.where(change & (position == 0), -position0, 0), position0 > 0
        band, width = np.where(upper_crossed, upper0, lower0), upper0 - lower0
        with np.errstate(divide="ignore", invalid="ignore"):   # only candles with width > 0 divide in check
            strength = np.where(width > 0, np.minimum(1.0, 4 * np.abs(close - band) / width), 1.0)
        last = position[-1]
        return side.astype(np.int8), strength, (float(columns[0][-1]), float(columns[1][-1]),
                                                None if math.isnan(last) else int(last))


class SuperTrendFlip(Rule):
    """BUY when the SuperTrend ``direction`` turns from -1 to +1, SELL when it turns from +1 to -1.

    Strength: ``min(1, |close - line| / close × 200)`` with ``line`` the SuperTrend on the flip candle —
    full strength when the close is 0.5 % away from the new trailing stop. State: the previous direction.
    """

    direction = param.String(default="direction_10_3", doc="Direction column (+1 / -1), e.g. direction_10_3.")
    line = param.String(default="supertrend_10_3", doc="SuperTrend line column, e.g. supertrend_10_3.")
    series_params = ("direction", "line")

    @property
    def label(self) -> str:
        return f"{series_label(self.p.line)} flip"

    def check(self, state, current, close):
        direction, line = current
        if not (abs(direction) == 1 and state == -direction):  # no flip (also NaN in the warm-up)
            return direction, None
        return direction, ("BUY" if direction > 0 else "SELL", min(1.0, abs(close - line) / close * 200))

    def fire_arrays(self, columns, close):
        """``check`` element-wise, the previous direction lagged (NaN before the first, like the initial None)."""
        direction, line = columns
        flip = (np.abs(direction) == 1) & (lagged(direction) == -direction)
        strength = np.minimum(1.0, np.abs(close - line) / close * 200)
        return np.where(flip, direction, 0).astype(np.int8), strength, float(direction[-1])


class Divergence(Rule):
    """Price against an oscillator (``series``: e.g. ``rsi_14`` or the MACD histogram ``hist_12_26_9``)
    between the last two swings of a kind.

    Swing low at candle i: ``low[i]`` is the strict minimum of the lows of candles ``[i-left, i+right]``;
    it is confirmed at candle ``i+right`` (swing high likewise on the highs, strict maximum). Two
    consecutive swing lows (or highs) at most ``max_gap`` candles apart are compared, with the
    oscillator taken at the swing candles:

    - ``kind="regular"``: lower low in price, higher low in the oscillator → BUY; higher high in price,
      lower high in the oscillator → SELL;
    - ``kind="hidden"``: higher low in price, lower low in the oscillator → BUY; lower high in price,
      higher high in the oscillator → SELL.

    The signal is dated at the confirming candle (i+right) with its close, so it never repaints; if a
    swing low and a swing high both diverge on one candle, neither fires. Strength:
    ``min(1, |osc2 - osc1| / max(|osc1|, |osc2|))`` (osc1, osc2 the oscillator at the older and newer
    swing), e.g. 0.17 for RSI lows 25 → 30, 1 for a MACD histogram changing sign. State: candle
    count, the last left+right+1 (low, high, oscillator), and the last swing low and high
    (candle number, price, oscillator).
    """

    series = param.String(default="rsi_14", doc="Oscillator column, e.g. rsi_14 or hist_12_26_9.")
    kind = param.Selector(default="regular", objects=["regular", "hidden"], doc=(
        "regular: reversal divergence (price and oscillator extremes disagree at the turn); hidden: continuation."))
    left = param.Integer(default=5, bounds=(1, 50), doc="Candles before a swing that must be beyond it.")
    right = param.Integer(default=5, bounds=(1, 50), doc="Candles after a swing that must be beyond it: the confirmation delay.")
    max_gap = param.Integer(default=60, bounds=(2, 1000), doc="Most candles between the two swings compared.")
    series_params = ("series",)

    @property
    def columns(self) -> tuple[str, ...]:
        return "low", "high", self.p.series

    @property
    def label(self) -> str:
        return f"{series_label(self.p.series)} {'hidden ' if self.p.kind == 'hidden' else ''}divergence"

    def initial_state(self):
        return 0, (), (None, None)

    def check(self, state, current, close):
        n, window, swings = state
        p = self.p
        window = (*window, current)[-(p.left + p.right + 1):]
        state, found = (n + 1, window, swings), []
        if len(window) < p.left + p.right + 1:
            return state, None
        swings, center = list(swings), window[p.left]
        for k, (side, sign) in enumerate((("BUY", -1), ("SELL", 1))):  # k: 0 lows, 1 highs; sign: extreme is -min/+max
            if not all(sign * center[k] > sign * other[k] for j, other in enumerate(window) if j != p.left):
                continue
            swing, previous = (n - p.right, center[k], center[2]), swings[k]
            swings[k] = swing
            if previous is None or swing[0] - previous[0] > p.max_gap:
                continue
            m = sign if p.kind == "regular" else -sign
            osc1, osc2 = previous[2], swing[2]
            if m * (swing[1] - previous[1]) > 0 > m * (osc2 - osc1):
                found.append((side, min(1.0, abs(osc2 - osc1) / max(abs(osc1), abs(osc2)))))
        return (n + 1, window, tuple(swings)), found[0] if len(found) == 1 else None

    def fire_arrays(self, columns, close):
        """The swings of the whole history at once (``strict_extremes``), then ``check``'s comparison on each
        pair of consecutive swings of a kind, element-wise. A BUY (+1) and a SELL (-1) confirmed on one
        candle add up to 0: neither fires, as in ``check``."""
        p, n, osc = self.p, len(close), columns[2]
        side, strength, swings = np.zeros(n, np.int8), np.zeros(n), []
        for price, sign in ((columns[0], -1), (columns[1], 1)):   # lows: BUY, the extreme is -min; highs: SELL, +max
            rows = strict_extremes(sign * price, p.left, p.right)
            swings.append((int(rows[-1]), float(price[rows[-1]]), float(osc[rows[-1]])) if len(rows) else None)
            older, newer = rows[:-1], rows[1:]
            m = sign if p.kind == "regular" else -sign
            osc1, osc2 = osc[older], osc[newer]
            hit = (newer - older <= p.max_gap) & (m * (price[newer] - price[older]) > 0) & (0 > m * (osc2 - osc1))
            osc1, osc2, confirmed = osc1[hit], osc2[hit], newer[hit] + p.right
            side[confirmed] -= sign
            strength[confirmed] = np.minimum(1.0, np.abs(osc2 - osc1) / np.maximum(np.abs(osc1), np.abs(osc2)))
        window = tuple(zip(*(c[-(p.left + p.right + 1):].tolist() for c in columns)))
        return side, strength, (n, window, tuple(swings))


def strict_extremes(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Rows i (ascending) where ``x[i]`` is greater than each other value of ``x[i-left : i+right+1]``, for the
    windows inside ``x`` (NaN is never greater); one comparison of whole arrays per window position."""
    count = max(0, len(x) - left - right)   # rows with a whole window
    centre, strict = x[left:left + count], np.ones(count, bool)
    for j in (*range(left), *range(left + 1, left + right + 1)):
        strict &= centre > x[j:j + count]
    return np.flatnonzero(strict) + left
