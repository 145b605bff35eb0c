"""Signals: rules that fire BUY/SELL on closed candles (later: aggregation, alerts, notifications)."""

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
