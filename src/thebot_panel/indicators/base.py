"""The incremental indicator: one pure recurrence, from which the base derives live, provisional and batch values.

A subclass declares its parameters with ``param`` and writes its recurrence once, as ``step``::

    class EMA(Indicator):
        period = param.Integer(default=20, bounds=(2, 1000))
        outputs = ("ema",)

        def initial_state(self):
            return 0, 0.0

        def step(self, state, x, past):
            n, ema = state
            ...
            return (n + 1, ema), (ema,)

The base class then gives ``update(candle, closed)`` (O(1) per candle; provisional for a forming
candle), ``batch(frame)`` (the same loop over a history, hence the same numbers) and ``recompute``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import param

from ..pipeline.candles import OHLCV

NAN = math.nan

#: Candle prices an indicator can take as its input. Each works on a ``Kline`` (floats) and on the
#: batch twin of a frame (float64 arrays), with the same float operations in the same order.
SOURCES = {
    "open": lambda c: c.open,
    "high": lambda c: c.high,
    "low": lambda c: c.low,
    "close": lambda c: c.close,
    "hl2": lambda c: (c.high + c.low) / 2,
    "hlc3": lambda c: (c.high + c.low + c.close) / 3,
    "ohlc4": lambda c: (c.open + c.high + c.low + c.close) / 4,
}


@dataclass(slots=True)
class _Committed:
    """What closed candles have built: the recurrence state and the last ``window`` inputs."""

    state: Any
    inputs: deque


class Indicator(param.Parameterized):
    """Base of all incremental indicators.

    A subclass provides:

    - parameters (``param.Integer(default, bounds=..., doc=...)``), which are also its widgets;
    - ``outputs``: names of its values, e.g. ``("ema",)`` or ``("macd", "signal", "hist")``;
    - ``pane``: where a chart draws it, ``"price"`` (over the candles) or ``"own"`` (a sub-pane);
    - ``levels`` (optional): reference lines of an own pane, e.g. RSI's ``(30.0, 70.0)``;
    - ``initial_state()``: the state before any candle;
    - ``step(state, x, past) -> (new_state, values)``: pure; ``x`` is this candle's input (see
      ``take``), ``past`` a read-only deque of the last ``window`` committed inputs (oldest first,
      ``past[-1]`` the previous one), ``values`` a tuple with one float per output (NaN in warm-up);
    - ``lookback``: inputs before the first non-NaN value (TA-Lib's lookback);
    - ``window`` (default 0): how many past inputs ``step`` reads.

    Inside ``step`` read parameters from ``self.p``, a plain snapshot of their values taken at
    ``reset``: a ``param`` descriptor read costs ~3 µs, which would dominate an update.

    Changing a parameter resets the committed state (values are NaN again until a new warm-up):
    call ``recompute(history)`` to refill it; the graph node does so on a parameter watch (the reset
    watcher is registered at construction, so it runs before any later watcher's recompute).
    An invalid parameter value raises ``ValueError`` naming the parameter, the value and the bounds.
    """

    source = param.Selector(default="close", objects=list(SOURCES),
                            doc="Candle price the indicator is computed on: hl2 = (high+low)/2, "
                                "hlc3 = (high+low+close)/3, ohlc4 = (open+high+low+close)/4.")

    outputs: ClassVar[tuple[str, ...]] = ()
    pane: ClassVar[str] = "price"
    levels: ClassVar[tuple[float, ...]] = ()

    def __init__(self, **params):
        super().__init__(**params)
        self.reset()
        self.param.watch(self._parameters_changed, [name for name in self.param if name != "name"])

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValueError as exc:
            spec = self.param[name]
            allowed = f"bounds {spec.bounds}" if hasattr(spec, "bounds") else f"one of {spec.objects}"
            raise ValueError(f"{type(self).__name__}.{name}={value!r} is invalid; allowed: {allowed} ({exc})") from None

    def _parameters_changed(self, *events) -> None:
        self.reset()

    # --- what a subclass writes -------------------------------------------------------------
    def initial_state(self) -> Any:
        """The recurrence state before any candle."""
        raise NotImplementedError

    def step(self, state: Any, x: Any, past: deque) -> tuple[Any, tuple[float, ...]]:
        """Pure recurrence: committed ``state`` + input ``x`` -> ``(new_state, values)``."""
        raise NotImplementedError

    @property
    def lookback(self) -> int:
        """Number of inputs before the first non-NaN value (equals TA-Lib's lookback)."""
        raise NotImplementedError

    @property
    def window(self) -> int:
        """Number of committed inputs ``step`` reads through ``past``."""
        return 0

    def take(self, candle) -> Any:
        """This indicator's input from ``candle``: a ``Kline`` (a float) or the batch twin (an array).

        Multi-input indicators override it to return a tuple, e.g. ``candle.high, candle.low,
        candle.close``; ``step`` then receives a tuple of floats.
        """
        return SOURCES[self.p.source](candle)

    # --- what the base gives -----------------------------------------------------------------
    @property
    def label(self) -> str:
        """Display name: class and parameter values, e.g. ``"EMA(20)"``, ``"EMA(20, hl2)"``."""
        return f"{type(self).__name__}({', '.join(map(str, self._key()))})"

    def column(self, output: str) -> str:
        """Column name of one output: the output and the parameter values joined by ``_``.

        E.g. ``"ema_20"``, ``"ema_20_hl2"``, ``"macd_12_26_9"``: parameters in declaration order,
        ``source`` last and only when it is not ``close``.
        """
        return "_".join([output, *map(str, self._key())])

    @property
    def columns(self) -> list[str]:
        """Column names of all outputs, in ``outputs`` order."""
        return [self.column(output) for output in self.outputs]

    def _key(self) -> list:
        values = self.param.values()
        source = [values["source"]] if values["source"] != "close" else []
        return [v for k, v in values.items() if k not in ("name", "source")] + source

    def reset(self) -> None:
        """Forget all committed candles and snapshot the parameters into ``self.p``."""
        self.p = SimpleNamespace(**self.param.values())
        self._committed = _Committed(self.initial_state(), deque(maxlen=self.window))

    def update(self, candle, closed: bool) -> tuple[float, ...]:
        """Values for ``candle`` (any record with open/high/low/close/volume, e.g. a ``Kline``).

        ``closed=True`` commits the candle (O(1) time and memory). ``closed=False`` gives the
        provisional values of a forming candle, as if it closed now, and commits nothing.
        """
        x = self.take(candle)
        committed = self._committed
        state, values = self.step(committed.state, x, committed.inputs)
        if closed:
            committed.state = state
            committed.inputs.append(x)
        return values

    def batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Values over a candle frame, exactly as ``update`` would give them one closed candle at a time.

        Returns a frame with the same index and one float64 column per output (``columns``), NaN
        during the warm-up. Does not touch the committed state.
        """
        return self._run(frame)[0]

    def recompute(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``batch(frame)``, leaving the committed state at the end of ``frame`` so updates continue from there."""
        out, self._committed = self._run(frame)
        return out

    def _run(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, _Committed]:
        committed = _Committed(self.initial_state(), deque(maxlen=self.window))
        xs = self.take(SimpleNamespace(**{c: frame[c].to_numpy("float64") for c in OHLCV if c in frame.columns}))
        inputs = xs.tolist() if isinstance(xs, np.ndarray) else list(zip(*(a.tolist() for a in xs)))
        step, state, past, rows = self.step, committed.state, committed.inputs, []
        for x in inputs:
            state, values = step(state, x, past)
            past.append(x)
            rows.append(values)
        committed.state = state
        values = np.array(rows, dtype="float64").reshape(len(rows), len(self.outputs))
        return pd.DataFrame(values, index=frame.index, columns=self.columns), committed
