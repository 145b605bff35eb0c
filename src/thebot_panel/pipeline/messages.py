"""The messages that travel down a market's stream graph after the candles (``pipeline.candles.CandleUpdate``):
an ``Analysis`` per candle update, a ``Recomputed`` marker when a node rewrote its history, an ``Evaluated`` marker
when the signal node is done with a closed candle. Any node or sink may read them; none imports the graph for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .candles import CandleUpdate


@dataclass(frozen=True, slots=True)
class Analysis:
    """One candle update with the indicator values of the nodes it went through (provisional if forming)."""

    candle: CandleUpdate
    values: dict[str, float]


@dataclass(frozen=True, slots=True)
class Recomputed:
    """A node recomputed its whole history (a parameter changed, history loaded): readers reload."""

    node: object  # the streamz node that recomputed


@dataclass(frozen=True, slots=True)
class Evaluated:
    """The signal node has evaluated every rule on the closed candle ``open_time``; its Signals came just before."""

    open_time: int
