"""Incremental indicators (``param.Parameterized``, O(1) per candle) with batch twins for history.

For notebooks: ``available()`` lists the names, ``create("EMA", period=50)`` builds one.
"""

from __future__ import annotations

from .averages import EMA, SMA
from .base import Indicator
from .momentum import RSI

_CLASSES = {cls.__name__.lower(): cls for cls in (SMA, EMA, RSI)}


def available() -> list[str]:
    """Names of the indicator classes, e.g. ``["EMA", "RSI", "SMA"]``."""
    return sorted(cls.__name__ for cls in _CLASSES.values())


def create(name: str, **params) -> Indicator:
    """An indicator by class name (case-insensitive) with ``params``; ``ValueError`` for an unknown name."""
    try:
        cls = _CLASSES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown indicator {name!r}; available: {available()}") from None
    return cls(**params)


__all__ = ["EMA", "RSI", "SMA", "Indicator", "available", "create"]
