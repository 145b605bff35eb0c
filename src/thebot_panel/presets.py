"""The default indicator set and signal rules: what the chart shows and the hub's alerts evaluate unless told
otherwise. One place, so the chart, the screener, the hub and the tests agree on the keys."""

from __future__ import annotations

from .indicators import BBANDS, EMA, MACD, RSI
from .signals.rules import BandBreakout, Crossover, Divergence, LevelCross, MACDCross


def default_indicators() -> dict:
    """The chart's default set, by key: EMA(9), EMA(21) and Bollinger Bands(20, 2) over the price, RSI(14) and
    MACD(12, 26, 9) in their own panes. Users add and remove indicators from there."""
    return {"ema_fast": EMA(period=9), "ema_slow": EMA(period=21), "bbands": BBANDS(period=20),
            "rsi": RSI(period=14), "macd": MACD()}


def default_rules(indicators: dict) -> list:
    """On ``default_indicators()``, evaluated on closed candles: EMA fast/slow crossover, RSI crossing 30/70,
    MACD crossing its signal line, close breaking out of the Bollinger Bands, and regular RSI divergence."""
    column = {key: indicator.columns for key, indicator in indicators.items()}
    return [Crossover(fast=column["ema_fast"][0], slow=column["ema_slow"][0]),
            LevelCross(series=column["rsi"][0], lower=30, upper=70),
            MACDCross(macd=column["macd"][0], signal=column["macd"][1]),
            BandBreakout(upper=column["bbands"][0], lower=column["bbands"][2]),
            Divergence(series=column["rsi"][0])]
