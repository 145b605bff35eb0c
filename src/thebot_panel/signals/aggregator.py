"""Signal aggregation: the confluence of one market's recent signals, on every closed candle.

Score (a weighted mean, in [-1, 1]) over the signals whose candle is among the last ``window``
closed candles, the current one included::

    score = Σ_i w_i · s_i · strength_i / Σ_i w_i        s_i = +1 BUY, −1 SELL;  0 when Σ_i w_i = 0

``w_i`` is the weight of the signal's rule label (``weights``, else ``default_weight``); a rule
weighing 0 is muted. The direction is BUY/SELL by the sign of the score if ``|score| >= threshold``,
else NEUTRAL. The confidence is ``|score|``, multiplied by ``contra_factor`` when the trend of a
higher interval (``confirm_interval``, read through ``HigherTrend``) points the other way.

The mean measures agreement rather than count: opposite signals cancel, and one full-strength
signal alone gives full confidence. A saturating sum such as ``tanh(Σ w·s·strength)`` would reward
several signals that agree, but its scale would depend on how many rules there are and on the units
of the weights. The mean depends on neither, and the weights are only relative.

Streaming (``Aggregator.update``, one call per closed candle) and history (``Aggregator.batch``)
share one step function, so they give the same records. The ``confluence`` stream node
(``market.graph``) puts an aggregator after a branch's signal node.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import param

from ..binance.streams import INTERVALS, interval_ms
from .rules import Signal

SIDES = {"BUY": 1, "SELL": -1}


@dataclass(frozen=True, slots=True)
class Confluence:
    """Aggregated signal at one closed candle ``open_time`` (int ms UTC) of ``symbol``/``interval``.

    ``direction`` is "BUY", "SELL" or "NEUTRAL". ``score`` in [-1, 1] is signed (positive leans BUY).
    ``confidence`` in [0, 1] is ``|score|``, or ``|score| × contra_factor`` when the higher-interval
    trend disagrees. ``signals`` holds the signals counted, oldest first. ``confirmed`` is True or
    False when a higher-interval trend was compared with a BUY/SELL direction. It is None when no
    trend was consulted, the trend was unknown, or the direction is NEUTRAL.
    """

    open_time: int
    symbol: str
    interval: str
    direction: str
    confidence: float
    score: float
    signals: tuple[Signal, ...] = ()
    confirmed: bool | None = None


class Aggregator(param.Parameterized):
    """Confluence of the signals in a sliding window of closed candles (formula in the module docstring).

    The window counts candles, not milliseconds. With ``window=5``, a signal on the current candle or
    on one of the 4 closed candles before it counts. A signal 5 candles back does not. Across a gap in
    the candles (an exchange halt), the window reaches further back in time. Provisional signals are
    ignored unless ``include_provisional`` is set. Use one aggregator per stream, because ``update``
    keeps the window's signals. That state holds only ``window`` candles. Parameter changes apply to
    those candles at once. After the window grows, ``update`` sees the full window only after
    ``window`` more candles, but ``batch`` sees it at once.
    """

    symbol = param.String(default="", doc="Market of the records, e.g. BTCUSDT (the confluence node sets it).")
    interval = param.String(default="", doc="Interval of the candles, e.g. 1m (the confluence node sets it).")
    window = param.Integer(default=5, bounds=(1, 500), doc="Closed candles whose signals count, the current one included.")
    weights = param.Dict(default={}, doc="Rule label → weight ≥ 0, e.g. {'RSI(14) 30/70': 0.5}. Assign a new dict to change it.")
    default_weight = param.Number(default=1.0, bounds=(0, None), doc="Weight of rules not in weights.")
    threshold = param.Number(default=0.2, bounds=(0, 1), doc="|score| below it is NEUTRAL.")
    confirm_interval = param.Selector(default=None, objects=[None, *(i for i, ms in INTERVALS.items() if ms)],
                                      doc="Higher interval whose trend confirms the direction, e.g. 15m; None: not consulted.")
    contra_factor = param.Number(default=0.5, bounds=(0, 1), doc="Confidence multiplier when the higher trend disagrees.")
    include_provisional = param.Boolean(default=False, doc="Count signals of forming candles too.")

    def __init__(self, **params):
        super().__init__(**params)
        self._p: SimpleNamespace | None = None  # the parameters, read once per change (a param read costs µs)
        self.param.watch(self._parameters_changed, [n for n in self.param if n != "name"])
        self.reset()

    def _parameters_changed(self, *events) -> None:
        self._p = None

    def reset(self) -> None:
        """Forget the streamed candles."""
        self._recent: collections.deque[tuple[Signal, ...]] = collections.deque(maxlen=self.window)
        self._last_open_time: int | None = None

    def update(self, open_time: int, signals=(), trend: int | None = None) -> Confluence:
        """The confluence at a newly closed candle. ``signals`` are that candle's own signals, and
        ``trend`` is the higher interval's trend (+1 up, −1 down, 0 or None unknown).

        Raises ``ValueError`` if ``open_time`` is not after the last candle, or if a signal belongs to
        another candle.
        """
        open_time = int(open_time)
        if self._last_open_time is not None and open_time <= self._last_open_time:
            raise ValueError(f"candle {open_time} is not after the last one ({self._last_open_time})")
        if any(s.open_time != open_time for s in signals):
            raise ValueError(f"update({open_time}) got a signal of another candle: "
                             f"{next(s for s in signals if s.open_time != open_time)}")
        p = self._snapshot()
        if self._recent.maxlen != p.window:
            self._recent = collections.deque(self._recent, maxlen=p.window)
        self._last_open_time = open_time
        return self._step(p, self._recent, open_time, tuple(signals), trend)

    def batch(self, open_times, signals, trends=None, resume: bool = False) -> list[Confluence]:
        """The records ``update`` gives for each closed candle of a history, in order.

        ``open_times``: the candles' open times in increasing order (int ms, or a UTC ``DatetimeIndex``).
        ``signals``: the signals of that history, candles in any order (one candle's signals are
        counted in the order given, as ``update`` counts them). Signals of other candles are ignored.
        ``trends``: None, one trend per candle, or a callable ``open_time → trend`` (one with an ``at``
        method, such as ``HigherTrend``, is called once for all the candles).
        The streaming state is left alone. ``resume=True`` sets it to the end of this history, so
        ``update`` continues from there.
        """
        p = self._snapshot()
        times = _open_times(open_times)
        by_candle: dict[int, list[Signal]] = collections.defaultdict(list)
        for s in signals:
            by_candle[s.open_time].append(s)
        recent = collections.deque(maxlen=p.window)
        found = [self._step(p, recent, t, tuple(by_candle.get(t, ())), trend)
                 for t, trend in zip(times, _trend_values(trends, times))]
        if resume:
            self._recent, self._last_open_time = recent, (times[-1] if times else None)
        return found

    def _snapshot(self) -> SimpleNamespace:
        if self._p is None:
            p = SimpleNamespace(**self.param.values())
            negative = {rule: w for rule, w in p.weights.items() if w < 0}
            if negative:
                raise ValueError(f"weights must be >= 0: {negative}")
            self._p = p
        return self._p

    @staticmethod
    def _step(p, recent: collections.deque, open_time: int, signals: tuple, trend) -> Confluence:
        """Push one candle's signals into ``recent`` and compute the confluence there (update and batch share it)."""
        recent.append(signals)
        counted, total, weighted = [], 0.0, 0.0
        for s in itertools.chain.from_iterable(recent):
            w = p.weights.get(s.rule, p.default_weight)
            if w <= 0 or (s.provisional and not p.include_provisional):
                continue
            if s.side not in SIDES:
                raise ValueError(f"signal side must be BUY or SELL: {s}")
            counted.append(s)
            total += w
            weighted += w * SIDES[s.side] * s.strength
        score = weighted / total if total else 0.0
        direction = "NEUTRAL" if score == 0 or abs(score) < p.threshold else ("BUY" if score > 0 else "SELL")
        confidence, confirmed = abs(score), None
        if p.confirm_interval is not None and trend and direction != "NEUTRAL":
            confirmed = (trend > 0) == (score > 0)
            if not confirmed:
                confidence *= p.contra_factor
        return Confluence(open_time, p.symbol, p.interval, direction, confidence, score, tuple(counted), confirmed)


def _open_times(open_times) -> list[int]:
    if isinstance(open_times, pd.DatetimeIndex):
        times = open_times.as_unit("ms").asi8.tolist()
    else:
        times = np.asarray(open_times, dtype="int64").tolist()
    if any(b <= a for a, b in zip(times, times[1:])):
        raise ValueError("open_times must be strictly increasing")
    return times


def _trend_values(trends, times: list[int]):
    if trends is None:
        return itertools.repeat(None)
    if callable(trends):
        at = getattr(trends, "at", None)
        return at(times).tolist() if at is not None else [trends(t) for t in times]
    trends = list(trends)
    if len(trends) != len(times):
        raise ValueError(f"{len(trends)} trends for {len(times)} candles")
    return trends


class HigherTrend:
    """Trend of a higher interval seen from a lower interval's closed candle. +1 when ``fast`` > ``slow``,
    −1 when ``fast`` < ``slow``, 0 when they are equal or NaN or no higher candle has closed yet.

    ``source`` is a ``Branch`` of the higher interval, read live from its indicator columns, or a frame
    indexed by ``open_time`` (UTC) that holds the columns. ``fast`` and ``slow`` are column names such
    as ``"ema_9"``, or the branch's keys such as ``"ema_fast"``, which follow parameter changes.
    ``interval`` is the source's interval (a branch supplies its own) and ``lower`` is the asking
    candles' interval.

    No look-ahead: the lower candle ``[t, t + l)`` reads the last higher candle ``[h, h + L)`` that
    closed no later than it, ``h + L <= t + l``. A 1m candle at 10:07 reads the 15m candle
    09:45–10:00, not the forming 10:00–10:15. The 1m candle at 10:14 is the first to read
    10:00–10:15, because both close at 10:15. Live, a higher candle closing at the same instant
    is read only once its closed kline has been applied. Until then the one before it is read. A
    later candle is never read.
    """

    def __init__(self, source, fast: str = "ema_9", slow: str = "ema_21", lower: str = "1m",
                 interval: str | None = None):
        if interval is None:
            if isinstance(source, pd.DataFrame):
                raise ValueError("HigherTrend over a frame needs its interval, e.g. interval='15m'")
            interval = source.book.interval
        self.source, self.fast, self.slow = source, fast, slow
        self.length, self.lower = interval_ms(interval), interval_ms(lower)

    def at(self, open_times) -> np.ndarray:
        """Trends (int array of +1/−1/0) seen from the lower candles opening at ``open_times`` (int ms)."""
        t = np.asarray(open_times, dtype="int64") + self.lower
        higher, fast, slow = self._series()
        if len(higher) == 0:
            return np.zeros(len(t), dtype=int)
        i = np.searchsorted(higher + self.length, t, side="right") - 1
        diff = np.where(i >= 0, fast[i] - slow[i], np.nan)
        return np.sign(np.nan_to_num(diff, nan=0.0)).astype(int)

    def _series(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open times (int64 ms), fast and slow values of the closed higher candles.

        A branch is read through its computations' histories (``Branch.column``), not ``frame()``, which builds a whole frame
        (~30 ms) on every call.
        """
        if isinstance(self.source, pd.DataFrame):
            frame = self.source
            missing = [c for c in (self.fast, self.slow) if c not in frame.columns]
            if missing:
                raise ValueError(f"HigherTrend needs columns {missing}; available: {list(frame.columns)}")
            return frame.index.as_unit("ms").asi8, frame[self.fast].to_numpy(), frame[self.slow].to_numpy()
        branch = self.source
        by_column = {column: key for key, column in branch.labels().items()}
        fast, slow = (name if name in branch.keys else by_column.get(name) for name in (self.fast, self.slow))
        if fast is None or slow is None:
            raise ValueError(f"HigherTrend needs {self.fast!r} and {self.slow!r}; the branch has keys "
                             f"{branch.keys} (columns {list(by_column)})")
        return branch.open_time(fast), branch.column(fast), branch.column(slow)

    def __call__(self, open_time: int) -> int:
        """Trend seen from the lower candle opening at ``open_time`` (int ms)."""
        return int(self.at([open_time])[0])
