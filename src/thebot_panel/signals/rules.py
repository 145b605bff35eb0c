"""Signal rules: conditions on indicator series that fire BUY/SELL signals on closed candles.

A rule reads named series (indicator columns such as ``"ema_9"``, ``"rsi_14"``) and compares the
previous closed candle's values with the current ones, so a signal never repaints. Streaming
(``update``) and history (``batch``) share one comparison, hence give the same signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

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


def series_label(column: str) -> str:
    """Display form of an indicator column: ``"ema_9"`` -> ``"EMA(9)"``, ``"ema_20_hl2"`` -> ``"EMA(20, hl2)"``."""
    name, *args = column.split("_")
    return f"{name.upper()}({', '.join(args)})" if args else column


class Rule(param.Parameterized):
    """Base of signal rules. A subclass names the ``columns`` it reads and writes ``check``.

    Parameters are read through ``self.p``, a plain snapshot refreshed on ``reset`` (a ``param``
    read costs ~3 µs); changing a parameter resets the rule.
    """

    def __init__(self, **params):
        super().__init__(**params)
        self.reset()
        self.param.watch(self._parameters_changed, [name for name in self.param if name != "name"])

    def _parameters_changed(self, *events) -> None:
        self.reset()

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the series the rule reads, in the order ``check`` receives them."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """The rule as a signal names it, e.g. ``"EMA(9)×EMA(21)"``."""
        raise NotImplementedError

    def check(self, previous: tuple[float, ...], current: tuple[float, ...], close: float) -> tuple[str, float] | None:
        """``(side, strength)`` if the move from ``previous`` to ``current`` fires, else None. NaN never fires."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget the previous candle's values (the next candle cannot fire)."""
        self.p = SimpleNamespace(**self.param.values())
        self._columns, self._label = self.columns, self.label
        self._previous = None

    def update(self, open_time: int, close: float, values: dict[str, float], symbol: str, interval: str,
               closed: bool = True) -> Signal | None:
        """Evaluate one candle; ``values`` maps column names to this candle's values.

        ``closed=False`` evaluates a forming candle against the last closed one without committing
        it, and flags the signal ``provisional``. Raises ``ValueError`` if a series is missing.
        """
        current = self._read(values)
        previous = self._previous
        if closed:
            self._previous = current
        return self._signal(previous, current, open_time, close, symbol, interval, not closed)

    def batch(self, frame: pd.DataFrame, symbol: str, interval: str) -> list[Signal]:
        """The signals ``update`` gives for each row of ``frame`` (a ``close`` column and the series,
        index ``open_time`` UTC), in order. Does not touch the rule's state."""
        series = [s.tolist() for s in self._read(frame)]
        times = frame.index.as_unit("ms").asi8.tolist()
        signals, previous = [], None
        for open_time, close, *values in zip(times, frame["close"].tolist(), *series):
            current = tuple(values)
            signal = self._signal(previous, current, open_time, close, symbol, interval, False)
            if signal is not None:
                signals.append(signal)
            previous = current
        return signals

    def _read(self, values) -> tuple:
        try:
            return tuple([values[c] for c in self._columns])
        except KeyError as exc:
            raise ValueError(f"rule {self._label} needs series {exc.args[0]!r}; available series: "
                             f"{sorted(values.keys())}") from None

    def _signal(self, previous, current, open_time, close, symbol, interval, provisional) -> Signal | None:
        fired = None if previous is None else self.check(previous, current, close)
        if fired is None:
            return None
        return Signal(open_time, symbol, interval, self._label, fired[0], close, fired[1], provisional)


class Crossover(Rule):
    """BUY when ``fast`` crosses above ``slow`` (previous fast <= slow, now fast > slow); SELL when it crosses below.

    Strength: ``min(1, |fast - slow| / close * 1000)`` on the crossing candle — full strength once
    the lines are 0.1 % of the price apart, weak for a marginal cross.
    """

    fast = param.String(default="ema_9", doc="Column of the fast series, e.g. ema_9.")
    slow = param.String(default="ema_21", doc="Column of the slow series, e.g. ema_21.")

    @property
    def columns(self) -> tuple[str, ...]:
        return self.p.fast, self.p.slow

    @property
    def label(self) -> str:
        return f"{series_label(self.p.fast)}×{series_label(self.p.slow)}"

    def check(self, previous, current, close):
        (fast0, slow0), (fast, slow) = previous, current
        if fast0 <= slow0 and fast > slow:
            side = "BUY"
        elif fast0 >= slow0 and fast < slow:
            side = "SELL"
        else:
            return None
        return side, min(1.0, abs(fast - slow) / close * 1000)


class LevelCross(Rule):
    """BUY when ``series`` crosses up through ``lower`` (previous < lower <= now); SELL when it crosses
    down through ``upper`` (previous > upper >= now).

    Strength: ``min(1, |now - previous| / 10)`` — a 10-point move (on RSI's 0-100 scale) is full strength.
    """

    series = param.String(default="rsi_14", doc="Column of the series, e.g. rsi_14.")
    lower = param.Number(default=30.0, softbounds=(0, 100), doc="Crossing up through it is a BUY.")
    upper = param.Number(default=70.0, softbounds=(0, 100), doc="Crossing down through it is a SELL.")

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.p.series,)

    @property
    def label(self) -> str:
        return f"{series_label(self.p.series)} {self.p.lower:g}/{self.p.upper:g}"

    def check(self, previous, current, close):
        (before,), (now,) = previous, current
        if before < self.p.lower <= now:
            side = "BUY"
        elif before > self.p.upper >= now:
            side = "SELL"
        else:
            return None
        return side, min(1.0, abs(now - before) / 10)
