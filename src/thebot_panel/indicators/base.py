"""The indicator: parameters declared with ``param``, one compiled recurrence, everything else from the base.

A subclass declares its parameters (which are also its widgets), its outputs and where it is drawn,
and names the kernel holding its recurrence (``_kernels.pyx``)::

    class EMA(PriceIndicator):
        \"\"\"Exponential moving average ...; equals talib.EMA.\"\"\"
        period = param.Integer(default=20, bounds=(2, 1000), doc="...")
        outputs = ("ema",)

        def kernel(self, inputs):
            return _kernels.EMA(inputs, self.period)

        @property
        def lookback(self):
            return self.period - 1

The base class then gives ``update(candle, closed)`` (O(1) per candle; provisional for a forming
candle), ``batch(frame)`` (the same recurrence over a history, hence the same numbers),
``recompute(frame)`` and chaining (``EMA(period=9, of=RSI(14))``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import param

from . import _kernels

#: Prices a single-input indicator can take from each candle (``source``).
PRICE_SOURCES = ("close", "open", "high", "low", "hl2", "hlc3", "ohlc4")
_COLUMNS = _kernels.CANDLE  # open, high, low, close, volume, open_time


class Indicator(param.Parameterized):
    """Base of all incremental indicators.

    A subclass provides:

    - parameters (``param.Integer(default, bounds=..., doc=...)``), which are also its widgets;
    - ``outputs``: names of its values, e.g. ``("ema",)`` or ``("macd", "signal", "hist")``;
    - ``fields``: the candle fields it reads, e.g. ``("high", "low", "close")`` (``PriceIndicator``
      reads one, chosen by its ``source`` parameter, or another indicator's output);
    - ``pane``: where a chart draws it, ``"price"`` (over the candles) or ``"own"`` (a sub-pane);
      ``levels`` (optional): reference lines of an own pane, e.g. RSI's ``(30.0, 70.0)``;
      ``styles`` (optional): output → ``"line"`` (default), ``"histogram"``, ``"dots"`` or ``"hidden"``
      (a value shown in the hover and the frame but not drawn, e.g. SuperTrend's ±1 direction);
    - ``kernel(inputs)``: its compiled recurrence (a ``_kernels.Kernel``) for the current parameters;
    - ``lookback``: candles before the first non-NaN value (TA-Lib's lookback).

    ``update(candle, closed)`` is the kernel's own method (no Python in between): it returns a tuple
    with one float per output, NaN in the warm-up; a forming candle (``closed=False``) gets
    provisional values and commits nothing. Changing a parameter resets the committed state: call
    ``recompute(history)`` to refill it (the graph does so for a new parameter set).
    An invalid parameter value raises ``ValueError`` naming the parameter, the value and the bounds.
    """

    outputs: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ("close",)
    pane: ClassVar[str] = "price"
    levels: ClassVar[tuple[float, ...]] = ()
    styles: ClassVar[dict[str, str]] = {}

    def __init__(self, **params):
        super().__init__(**params)
        self.reset()
        self.param.watch(self._parameters_changed, self._parameter_names())

    def __setattr__(self, name, value):
        try:
            super().__setattr__(name, value)
        except ValueError as exc:
            spec = self.param[name]
            if getattr(spec, "bounds", None) is not None:
                allowed = f"bounds {spec.bounds}"
            elif hasattr(spec, "objects"):
                allowed = f"one of {list(spec.objects)}"
            else:
                allowed = str(exc)
            raise ValueError(f"{type(self).__name__}.{name}={value!r} is invalid; allowed: {allowed} ({exc})") from None

    def _parameter_names(self) -> list[str]:
        return [name for name in self.param if name != "name"]

    def copy(self) -> Indicator:
        """A new indicator with the same parameters (a chained ``of`` indicator copied too) and fresh state."""
        params = {name: getattr(self, name) for name in self._parameter_names()}
        return type(self)(**{k: v.copy() if isinstance(v, Indicator) else v for k, v in params.items()})

    def _parameters_changed(self, *events) -> None:
        self.reset()

    # --- what a subclass writes -------------------------------------------------------------
    def kernel(self, inputs) -> _kernels.Kernel:
        """The compiled recurrence for the current parameters, reading ``inputs`` (see ``_kernels.Kernel``)."""
        raise NotImplementedError

    @property
    def lookback(self) -> int:
        """Inputs before the first non-NaN value (equals TA-Lib's lookback of the same function)."""
        raise NotImplementedError

    @property
    def warmup(self) -> int:
        """Candles before the first non-NaN value: ``lookback``, plus the upstream's warm-up when chained."""
        return self.lookback

    # --- what the base gives -----------------------------------------------------------------
    def _inputs(self):
        """The kernel's inputs: a ``source`` parameter's price first (e.g. KELTNER, VWAP), then ``fields``."""
        return (self.source, *self.fields) if "source" in self.param else self.fields

    def _new_kernel(self) -> _kernels.Kernel:
        return self.kernel(self._inputs())

    def reset(self) -> None:
        """Forget all committed candles (values are NaN again until the next warm-up)."""
        self._live = self._new_kernel()
        self.update = self._live.update

    def update(self, candle, closed: bool) -> tuple[float, ...]:  # replaced per instance by the kernel's method
        """Values for ``candle`` (a ``Kline`` or any record with the needed attributes); see the class docstring."""
        return self._live.update(candle, closed)

    @property
    def needs(self) -> list[str]:
        """Candle columns the indicator reads, e.g. ``["high", "low", "close"]``."""
        mask = self._live.needs
        return [c for i, c in enumerate(_COLUMNS) if mask & (1 << i)]

    def batch(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Values over a candle frame, exactly as ``update`` gives them one closed candle at a time.

        ``frame``: index = open time (``DatetimeIndex``, UTC), float columns open/high/low/close/volume
        (only those the indicator ``needs``). Returns a frame with the same index and one float64
        column per output (``columns``), NaN during the warm-up. Does not touch the committed state.
        Raises ``ValueError`` naming a needed column that ``frame`` lacks.
        """
        out = self._run(self._new_kernel(), _open_time_ms(frame.index), frame, len(frame))
        return pd.DataFrame(out, index=frame.index, columns=self.columns)

    def recompute(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``batch(frame)``, leaving the committed state at the end of ``frame`` so updates continue from there."""
        out = self._recompute(_open_time_ms(frame.index), frame, len(frame))
        return pd.DataFrame(out, index=frame.index, columns=self.columns)

    def recompute_arrays(self, open_time: np.ndarray, columns) -> np.ndarray:
        """``recompute`` on arrays, no frame: ``open_time`` int64 ms, ``columns`` maps the candle fields the
        indicator ``needs`` to float64 arrays (a dict, or a frame); returns (len(open_time), outputs) float64."""
        return self._recompute(open_time, columns, len(open_time))

    def _recompute(self, open_time, columns, n: int) -> np.ndarray:
        kernel = self._new_kernel()
        out = self._run(kernel, open_time, columns, n)
        self._live, self.update = kernel, kernel.update
        return out

    def _run(self, kernel: _kernels.Kernel, open_time: np.ndarray | None, columns, n: int) -> np.ndarray:
        candles = np.zeros((n, len(_COLUMNS)))
        for i, column in enumerate(_COLUMNS):
            if not kernel.needs & (1 << i):
                continue
            if column == "open_time":
                if open_time is None:
                    raise ValueError(f"{self.label} needs the candles' open times: a frame indexed by open_time (UTC)")
                candles[:, i] = open_time
            elif column in columns:
                candles[:, i] = np.asarray(columns[column], dtype="float64")
            else:
                raise ValueError(f"{self.label} needs a {column!r} column; the frame has {list(columns)}")
        out = np.empty((n, len(self.outputs)))
        kernel.run(candles, out)
        return out

    @property
    def label(self) -> str:
        """Display name: class and parameter values, e.g. ``"EMA(20)"``, ``"EMA(20, hl2)"``, ``"EMA(9) of RSI(14)"``."""
        return f"{type(self).__name__}({', '.join(map(str, self._key()))})"

    def column(self, output: str) -> str:
        """Column name of one output: the output and the parameter values joined by ``_``.

        E.g. ``"ema_20"``, ``"ema_20_hl2"``, ``"macd_12_26_9"``, ``"ema_9_of_rsi_14"``: parameters in
        declaration order, ``source`` only when it is not ``close``.
        """
        return "_".join([output, *self._key()])

    @property
    def columns(self) -> list[str]:
        """Column names of all outputs, in ``outputs`` order."""
        return [self.column(output) for output in self.outputs]

    def _shown(self) -> list[str]:
        """Parameters a label shows: in declaration order, ``source`` last and only when not at its default."""
        names = [k for k in self._parameter_names() if k not in ("source", "of", "output")]
        if "source" in self.param and self.source != self.param["source"].default:
            names.append("source")
        return names

    def _key(self) -> list[str]:
        return [f"{v:g}" if isinstance(v, float) else str(v) for v in (getattr(self, k) for k in self._shown())]


def _open_time_ms(index: pd.Index) -> np.ndarray | None:
    """A frame index's open times as int64 ms, None if it is not a ``DatetimeIndex``."""
    return index.as_unit("ms").asi8 if isinstance(index, pd.DatetimeIndex) else None


class PriceIndicator(Indicator):
    """An indicator of one series: a candle price (``source``) or another indicator's output (``of``).

    ``of`` chains indicators: ``EMA(period=9, of=RSI(period=14))`` is the EMA of the RSI, and
    ``SMA(period=9, of=MACD(), output="hist")`` a signal line of the MACD histogram. The upstream is
    owned: it is computed inside this indicator's kernel, and a change of its parameters resets
    this one (and notifies ``of``'s watchers, e.g. the graph node).
    """

    source = param.Selector(default="close", objects=list(PRICE_SOURCES),
                            doc="Candle price the indicator is computed on: hl2 = (high+low)/2, "
                                "hlc3 = (high+low+close)/3, ohlc4 = (open+high+low+close)/4.")
    of = param.ClassSelector(class_=Indicator, default=None,
                             doc="Indicator whose output this one is computed on (chaining); None = the candle's source.")
    output = param.String(default="", doc="Which output of `of` (default: its first).")

    def __init__(self, **params):
        super().__init__(**params)
        self._watch_upstream()

    def _parameters_changed(self, *events) -> None:
        watched = getattr(self, "_upstream_watch", None)
        if (watched[0] if watched else None) is not self.of:
            self._watch_upstream()
        super()._parameters_changed(*events)

    def _watch_upstream(self) -> None:
        previous = getattr(self, "_upstream_watch", None)
        if previous is not None:
            previous[0].param.unwatch(previous[1])
        self._upstream_watch = None
        if self.of is not None:
            watcher = self.of.param.watch(lambda *_: self.param.trigger("of"), self.of._parameter_names())
            self._upstream_watch = (self.of, watcher)

    def _inputs(self):
        if self.of is None:
            return (self.source,)
        outputs = self.of.outputs
        if self.output and self.output not in outputs:
            raise ValueError(f"{self.of.label} has outputs {list(outputs)}, not {self.output!r}")
        return self.of._new_kernel(), outputs.index(self.output) if self.output else 0

    @property
    def warmup(self) -> int:
        return self.lookback if self.of is None else self.of.warmup + self.lookback

    def _shown(self) -> list[str]:
        names = super()._shown()
        return names if self.of is None else [k for k in names if k != "source"]  # the input is `of`'s output

    def _key(self) -> list[str]:
        key = super()._key()
        return key if self.of is None else key + [f"of {self.of.label}" + (f" {self.output}" if self.output else "")]

    @property
    def label(self) -> str:
        own = self._key()
        if self.of is None:
            return f"{type(self).__name__}({', '.join(own)})"
        return f"{type(self).__name__}({', '.join(own[:-1])}) {own[-1]}"

    def column(self, output: str) -> str:
        if self.of is None:
            return super().column(output)
        upstream = self.of.column(self.output or self.of.outputs[0])
        return "_".join([output, *self._key()[:-1], "of", upstream])
