"""The screener: one live row per market of the hub (its symbols at its interval) in a sortable table with
header filters: last price, 24 h change, RSI(14), EMA trend, latest signal and confluence.

Rows come from each market's read API (``MarketGraph.price``, ``day``, ``last``, ``latest_signal``,
``latest_confluence``: the hub's own indicators and rules), read on a periodic callback (``period_ms``, only while
the view is visible) that replaces the table's value when a row changed. The price and the 24 h change are read on
every tick; the columns of committed values (RSI, trend, signal, confluence) only when the market's latest
confluence is another record, i.e. after a closed candle or a recompute.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from bokeh.models.widgets.tables import DateFormatter, NumberFormatter

from ..hub import FeedHub
from ..market.graph import MarketGraph
from ..signals.aggregator import Confluence
from ..signals.rules import Signal
from . import LiveView

#: ``frame()`` columns and their dtypes (the index is ``symbol``, str).
COLUMNS = {"price": "float64", "change_pct": "float64", "rsi": "float64", "trend": "object", "signal": "object",
           "signal_at": "datetime64[ns, UTC]", "confluence": "object", "confidence_pct": "float64"}
TITLES = {"price": "last price", "change_pct": "24 h %", "rsi": "RSI(14)", "trend": "trend",
          "signal": "latest signal", "signal_at": "signal candle", "confluence": "confluence",
          "confidence_pct": "confidence %"}
#: The columns that only change with a market's last closed candle (``committed_row``).
COMMITTED = ("rsi", "trend", "signal", "signal_at", "confluence", "confidence_pct")
#: The table's height bound (px, about 18 rows): Tabulator then draws only the rows in view. Without one it lays
#: out every row, measuring each in turn: with 200 rows, 0.6 s of the page's main thread per second while shown
#: and 0.9 s to clear a filter (``benchmarks/screener.py``).
MAX_HEIGHT = 600


def trend_state(close: float, fast: float, slow: float) -> str:
    """``"up"`` when fast > slow and close > slow, ``"down"`` when fast < slow and close < slow, else
    ``"mixed"``; ``""`` while either average is NaN (too few candles)."""
    if np.isnan(fast) or np.isnan(slow):
        return ""
    if fast > slow and close > slow:
        return "up"
    if fast < slow and close < slow:
        return "down"
    return "mixed"


def signal_text(signal: Signal | None) -> str:
    """``"BUY · EMA(9)×EMA(21)"`` (side · rule), ``""`` for None."""
    return "" if signal is None else f"{signal.side} · {signal.rule}"


def committed_row(market: MarketGraph) -> dict:
    """The columns of ``COMMITTED`` (``signal_at`` in ms here) from the market's read API: the hub branch's
    committed values at the last closed candle, its latest signal and its latest confluence."""
    signal, confluence, last = market.latest_signal, market.latest_confluence, market.last()
    return {"rsi": last.get("rsi", np.nan),
            "trend": trend_state(last["close"], last["ema_fast"], last["ema_slow"]) if last else "",
            "signal": signal_text(signal),
            "signal_at": np.nan if signal is None else signal.open_time,  # ms; frame() makes it a UTC time
            "confluence": "" if confluence is None else confluence.direction,
            "confidence_pct": np.nan if confluence is None else confluence.confidence * 100}


def patch_table(table: pn.widgets.Tabulator, frame: pd.DataFrame) -> None:
    """Show ``frame`` in ``table`` when it changed. The whole value is replaced: a ``patch`` reaching a table
    whose view was just removed (a dynamic tab left) breaks Tabulator in the browser."""
    old = table.value
    if old is None or not old.equals(frame):
        table.value = frame


class Screener(LiveView):
    """Every market of the hub (its symbols at its interval), one row each, refreshed every ``period_ms``.

    ``frame()`` gives the rows: index ``symbol``; ``price`` (float64, quote currency: the forming candle's
    close, else the last closed one), ``change_pct`` (float64, % over 24 h: ``@ticker``'s, else from the candles,
    see ``MarketMetrics.day``),
    ``rsi`` (float64, the hub's RSI(14) of the last closed candle), ``trend`` (``"up"``/``"down"``/
    ``"mixed"``/``""``, see ``trend_state``), ``signal`` (latest signal as ``"SIDE · rule"``, ``""`` if
    none), ``signal_at`` (its candle's open time, UTC, NaT if none), ``confluence`` (``BUY``/``SELL``/
    ``NEUTRAL``, ``""`` before the first closed candle) and ``confidence_pct`` (float64, 0–100).
    """

    tables = ("table",)

    def __init__(self, hub: FeedHub, **params):
        super().__init__(**params)
        self.hub = hub
        self._committed: dict[str, tuple[Confluence, dict]] = {}  # symbol -> (the latest confluence, its row)
        price = NumberFormatter(format="0,0.[00000000]")
        self.table = pn.widgets.Tabulator(
            self.frame(), disabled=True, header_filters=True, sizing_mode="stretch_width", layout="fit_columns",
            max_height=MAX_HEIGHT, css_classes=["screener-table"],
            titles=TITLES, formatters={"price": price, "change_pct": NumberFormatter(format="+0.00"),
                                       "rsi": NumberFormatter(format="0.0"),
                                       "signal_at": DateFormatter(format="%m-%d %H:%M"),
                                       "confidence_pct": NumberFormatter(format="0")})

    def frame(self) -> pd.DataFrame:
        """The rows now, one per hub symbol in the hub's order (columns and dtypes in the class doc)."""
        symbols = list(self.hub.symbols)
        markets = [self.hub.get(symbol, self.hub.interval) for symbol in symbols]
        committed = [self._committed_row(symbol, market) for symbol, market in zip(symbols, markets)]
        columns = {"price": [market.price for market in markets],
                   "change_pct": [market.day()[0] for market in markets],  # as the metrics strip shows it
                   **{name: [row[name] for row in committed] for name in COMMITTED}}
        columns["signal_at"] = pd.to_datetime(np.array(columns["signal_at"], dtype="float64"), unit="ms", utc=True)
        return pd.DataFrame(columns, index=pd.Index(symbols, name="symbol")).astype(COLUMNS)

    def _committed_row(self, symbol: str, market: MarketGraph) -> dict:
        """``committed_row(market)``, read again only when ``market.latest_confluence`` is another record: the
        confluence node makes one for every closed candle and on every recompute, after the indicators and
        signals it follows."""
        latest = market.latest_confluence
        held = self._committed.get(symbol)
        if held is not None and latest is not None and held[0] is latest:
            return held[1]
        row = committed_row(market)
        self._committed[symbol] = (latest, row)
        return row

    def refresh(self) -> None:
        """Patch the table with the rows now."""
        patch_table(self.table, self.frame())

    def __panel__(self):
        return self.live(pn.Column(f"### Screener · {self.hub.interval}", self.table, sizing_mode="stretch_width",
                                   name="screener"))
