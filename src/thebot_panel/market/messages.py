"""The messages that travel down a market's stream graph after the candles (``market.candles.CandleUpdate``):
an ``Analysis`` per candle update, a ``Recomputed`` marker when a node rewrote its history, an ``Evaluated`` marker
when the signal node is done with a closed candle. Any node or sink may read them; none imports the graph for it.

They are read-only by convention, not ``frozen``: a frozen dataclass costs 3× as much to create, and several are
created per event (the events parsed at the edge, ``binance.events``, are frozen).
"""

from __future__ import annotations

from dataclasses import dataclass

from .candles import CandleUpdate


@dataclass(slots=True)
class Analysis:
    """One candle update with the market's indicator values by column name (``{"ema_9": …, "rsi_14": …}``;
    provisional if the candle is forming). A branch's ``labels()`` maps its keys to these names."""

    candle: CandleUpdate
    values: dict[str, float]


@dataclass(slots=True)
class Recomputed:
    """A node recomputed its whole history (a parameter changed, history loaded): readers reload."""

    node: object  # the streamz node that recomputed


@dataclass(slots=True)
class Evaluated:
    """The signal node has evaluated every rule on the closed candle ``open_time``; its Signals came just before."""

    open_time: int
