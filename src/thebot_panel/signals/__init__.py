"""Signals: rules that fire BUY/SELL on closed candles (``rules``), their confluence (``aggregator``), the alerts
they raise (``alerts``, persisted by ``store``) and the channels that deliver them (``notify``)."""

from __future__ import annotations

from .rules import (
    BandBreakout,
    Crossover,
    Divergence,
    LevelCross,
    MACDCross,
    Rule,
    Signal,
    SuperTrendFlip,
)

__all__ = ["BandBreakout", "Crossover", "Divergence", "LevelCross", "MACDCross", "Rule", "Signal", "SuperTrendFlip"]
