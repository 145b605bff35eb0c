"""Incremental indicators (``param.Parameterized``, O(1) per candle, exact to TA-Lib) with batch twins.

Notebook entry points:

- ``available()``: the indicator names, e.g. ``["ADX", "AD", ...]``;
- ``create("EMA", period=50)``: one indicator by name;
- ``compute("RSI", frame, period=7)`` or ``compute(RSI(period=7), frame)``: its values over an OHLCV
  frame (index = open time, columns open/high/low/close/volume) as a frame of float64 columns;
- ``with_indicators(frame, "EMA", RSI(period=7), ...)``: ``frame`` with the indicator columns appended.
"""

from __future__ import annotations

import pandas as pd

from . import averages, momentum, trend, volatility, volume
from .base import Indicator, PriceIndicator

FAMILIES = (averages, momentum, trend, volatility, volume)
_CLASSES = {cls.__name__.lower(): cls for family in FAMILIES for cls in vars(family).values()
            if isinstance(cls, type) and issubclass(cls, Indicator) and cls.__module__ == family.__name__}
globals().update({cls.__name__: cls for cls in _CLASSES.values()})


def available() -> list[str]:
    """Names of the indicator classes, sorted, e.g. ``["AD", "ADOSC", "ADX", ...]``."""
    return sorted(cls.__name__ for cls in _CLASSES.values())


def create(name: str, **params) -> Indicator:
    """An indicator by class name (case-insensitive) with ``params``.

    Raises ``ValueError`` for an unknown name (listing the available ones) or an invalid parameter.
    """
    try:
        cls = _CLASSES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r}; available: {available()}") from None
    return cls(**params)


def compute(indicator: Indicator | str, frame: pd.DataFrame, **params) -> pd.DataFrame:
    """Values of ``indicator`` (an instance, or a name plus ``params``) over ``frame``; see ``Indicator.batch``."""
    if isinstance(indicator, str):
        indicator = create(indicator, **params)
    elif params:
        raise TypeError("parameters go with an indicator name, not with an instance")
    return indicator.batch(frame)


def with_indicators(frame: pd.DataFrame, *indicators: Indicator | str) -> pd.DataFrame:
    """A copy of ``frame`` with the columns of each indicator (instance or name with its defaults) appended."""
    return frame.join([compute(ind, frame) for ind in indicators]) if indicators else frame.copy()


__all__ = ["FAMILIES", "Indicator", "PriceIndicator", "available", "compute", "create", "with_indicators",
           *(cls.__name__ for cls in _CLASSES.values())]
