"""Signals: rules that fire BUY/SELL on closed candles (later: aggregation, alerts, notifications)."""

from __future__ import annotations

from .rules import Crossover, LevelCross, Rule, Signal

__all__ = ["Crossover", "LevelCross", "Rule", "Signal"]
