"""The messages that travel down a market's stream graph after the candles (``market.candles.CandleUpdate``):
an ``Analysis`` per candle update, a ``Recomputed`` marker when a node rewrote its history, an ``Evaluated`` marker
when the signal node is done with a closed candle. Any node or sink may read them; none imports the graph for it.

They are read-only by convention, not ``frozen``: a frozen dataclass costs 3× as much to create, and several are
created per event (the events parsed at the edge, ``binance.events``, are frozen).
"""

from __future__ import annotations

from dataclasses import dataclass

from .candles import CandleUpdate


class Analysis:
    """One candle update with the market's indicator values by column name (``{"ema_9": …, "rsi_14": …}``).
    A branch's ``labels()`` maps its keys to these names.

    A closed candle's values are committed and computed before the message is sent. A forming candle's are
    provisional and computed on the first read of ``values`` (most forming updates are read by nobody: a view
    shows the newest one per frame), by ``indicators`` (the market's ``indicate`` node) for this message's kline;
    a message still held when the next candle closes gets them then. Either way they equal what computing them
    at once would have given.
    """

    __slots__ = ("candle", "_values", "_indicators", "__weakref__")

    def __init__(self, candle: CandleUpdate, values: dict[str, float] | None = None, indicators=None):
        self.candle, self._values, self._indicators = candle, values, indicators

    @property
    def values(self) -> dict[str, float]:
        if self._values is None:
            self._values = self._indicators.forming_values(self.candle.kline)
        return self._values

    def __repr__(self) -> str:
        return f"Analysis({self.candle!r}, {self.values!r})"


@dataclass(slots=True)
class Recomputed:
    """A node recomputed its whole history (a parameter changed, history loaded): readers reload.

    ``node`` says why: the branch key whose indicator changed (``"ema_fast"``), or the node that recomputed (the
    market's ``indicate`` node after a history load, a ``signal`` or ``confluence`` node after a rule or
    aggregator parameter changed)."""

    node: object


@dataclass(slots=True)
class Evaluated:
    """The signal node has evaluated every rule on the closed candle ``open_time``; its Signals came just before."""

    open_time: int
