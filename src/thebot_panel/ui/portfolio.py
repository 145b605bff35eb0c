"""Paper trading view: an order form, follow-signals and fee settings, positions, totals, trades and equity curve."""

from __future__ import annotations

import html

import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool, NumeralTickFormatter
from bokeh.models.widgets.tables import NumberFormatter
from bokeh.plotting import figure

from ..portfolio import BUY, PaperPortfolio
from ..prices import price_text
from . import LiveSource, LiveView
from .theme import DOWN, LINE_COLORS, UP

POSITION_DTYPES = {"symbol": str, "quantity": "float64", "average price": "float64", "last price": "float64",
                   "unrealised P&L": "float64", "realised P&L": "float64"}
TRADE_DTYPES = {"time": str, "symbol": str, "side": str, "quantity": "float64", "price": "float64", "fee": "float64",
                "realised P&L": "float64", "reason": str}


def positions_frame(portfolio: PaperPortfolio) -> pd.DataFrame:
    """One row per symbol ever traded: quantity (base asset); average price (buy fees included), last price,
    unrealised and realised P&L (quote currency). The last price is NaN before the feed sent one."""
    rows = [{"symbol": p.symbol, "quantity": p.quantity, "average price": p.average_price,
             "last price": portfolio.last_price(p.symbol), "unrealised P&L": portfolio.unrealised_pnl(p.symbol),
             "realised P&L": p.realised_pnl} for p in portfolio.positions()]
    return pd.DataFrame(rows, columns=list(POSITION_DTYPES)).astype(POSITION_DTYPES)


def trades_frame(fills) -> pd.DataFrame:
    """Fills, newest first: time (UTC, ISO text), symbol, side, quantity (base), price, fee, realised P&L (quote),
    reason (``manual`` or the followed signal's rule)."""
    rows = [{"time": f"{pd.Timestamp(f.time, unit='ms'):%Y-%m-%d %H:%M:%S} UTC", "symbol": f.symbol, "side": f.side,
             "quantity": f.quantity, "price": f.price, "fee": f.fee, "realised P&L": f.realised_pnl,
             "reason": f.reason} for f in reversed(fills)]
    return pd.DataFrame(rows, columns=list(TRADE_DTYPES)).astype(TRADE_DTYPES)


def totals_html(totals: dict, quote: str) -> str:
    """Cash, equity and P&L as one line; each figure a ``span.paper-<name>`` with its raw value in ``data-value``."""
    def figure_(name: str, label: str, signed: bool = False) -> str:
        value = totals[name]
        color = f' style="color:{UP if value >= 0 else DOWN}"' if signed else ""
        return (f'<span class="paper-{name.replace("_", "-")}" data-value="{value!r}">{label} '
                f'<b{color}>{value:{"+" if signed else ""},.2f}</b></span>')

    parts = [figure_("cash", "cash"), figure_("equity", "equity"), figure_("total_pnl", "total P&L", True),
             f'<span class="paper-return">({totals["return_pct"]:+.2f} %)</span>',
             figure_("realised_pnl", "realised", True), figure_("unrealised_pnl", "unrealised", True),
             figure_("fees", "fees")]
    return f'{" &nbsp;·&nbsp; ".join(parts)} &nbsp;<span class="paper-quote">{html.escape(quote)}</span>'


class PortfolioView(LiveView):
    """Paper trading on ``portfolio`` for ``symbols``: market orders at the last price, refreshed every
    ``period_ms`` (only when the portfolio changed).

    A refused order (bad quantity, no price yet, not enough cash or position) is explained under the form
    (``message``, starting with ⚠) and changes nothing else. CSS hooks: ``.paper-quantity input``, ``.paper-buy
    button``, ``.paper-sell button``, ``.paper-message`` holding ``span.paper-message-text[data-refused]``, the totals'
    ``span.paper-<figure>[data-value]``, the tables ``.paper-positions`` (named ``"positions"``) and
    ``.paper-trades``; the equity Bokeh figure is named ``"equity"``, its source ``"equity curve"``.
    """

    tables = ("positions", "trades")

    message = param.String(default="", doc="The last order's outcome, or why it was refused (starts with ⚠)")

    def __init__(self, portfolio: PaperPortfolio, symbols, **params):
        super().__init__(**params)
        self.portfolio = portfolio
        self.symbol = pn.widgets.Select(name="Symbol", options=list(symbols), width=130, css_classes=["paper-symbol"])
        self.quantity = pn.widgets.FloatInput(name="Quantity (base asset)", value=None, width=160,
                                              css_classes=["paper-quantity"])
        self.buy_button = pn.widgets.Button(name="Buy", button_type="success", width=80, css_classes=["paper-buy"])
        self.sell_button = pn.widgets.Button(name="Sell", button_type="danger", width=80, css_classes=["paper-sell"])
        self.buy_button.on_click(lambda _: self.order("BUY"))
        self.sell_button.on_click(lambda _: self.order("SELL"))
        self.message_pane = pn.pane.HTML(self._message_html, css_classes=["paper-message"],
                                         sizing_mode="stretch_width")
        quote = portfolio.quote
        self.settings = pn.Row(
            pn.widgets.Checkbox.from_param(portfolio.param.follow_signals, name="Follow signals",
                                           css_classes=["paper-follow"]),
            pn.widgets.FloatInput.from_param(portfolio.param.order_fraction, name="Order size (share of equity)",
                                             step=0.01, width=190),
            pn.widgets.FloatInput.from_param(portfolio.param.fee_rate, name="Fee rate (0.001 = 0.1 %)", step=0.0001,
                                             width=170, css_classes=["paper-fee"]))
        self.totals = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["paper-totals"])
        formats = {**{c: NumberFormatter(format="0,0.[00000000]") for c in ("average price", "last price", "price")},
                   **{c: NumberFormatter(format="0,0.00") for c in ("unrealised P&L", "realised P&L", "fee")}}
        self.positions = pn.widgets.Tabulator(positions_frame(portfolio), show_index=False, disabled=True, height=180,
                                              sizing_mode="stretch_width", name="positions", formatters=formats,
                                              css_classes=["paper-positions"])
        self.trades = pn.widgets.Tabulator(trades_frame([]), show_index=False, disabled=True, height=260,
                                           sizing_mode="stretch_width", pagination="local", page_size=50,
                                           name="paper trades", formatters=formats, css_classes=["paper-trades"])
        self.equity_source = LiveSource({"time": [], "equity": []}, name="equity curve")
        self.figure = figure(name="equity", x_axis_type="datetime", height=220, sizing_mode="stretch_width",
                             tools="xpan,xwheel_zoom,reset", active_scroll="xwheel_zoom",
                             title=f"Equity ({quote})")
        self.figure.line("time", "equity", source=self.equity_source, line_width=2, color=LINE_COLORS[2])
        self.figure.yaxis.formatter = NumeralTickFormatter(format="0,0.00")
        self.figure.add_tools(HoverTool(tooltips=[("time", "@time{%F %H:%M} UTC"), ("equity", "@equity{0,0.00}")],
                                        formatters={"@time": "datetime"}, mode="vline"))
        self._tables_version = self._curve_version = self._drawn_fill = None
        self.refresh()

    def order(self, side: str) -> None:
        """Send a market order of the form's quantity; the outcome (or why it was refused) shows under the form."""
        try:
            if side == BUY:
                fill = self.portfolio.buy(self.symbol.value, self.quantity.value)
            else:
                fill = self.portfolio.sell(self.symbol.value, self.quantity.value)
        except ValueError as exc:
            self.message = f"⚠ {exc}"
            return
        verb = "Bought" if fill.side == BUY else "Sold"
        pnl = "" if fill.side == BUY else f" · realised P&L {fill.realised_pnl:+,.2f} {self.portfolio.quote}"
        self.message = (f"{verb} {fill.quantity:g} {fill.symbol} at {price_text(fill.price)} · fee {fill.fee:,.2f} "
                        f"{self.portfolio.quote}{pnl}")
        self._draw_tables()  # at once; the equity curve follows on the next tick

    @param.depends("message")
    def _message_html(self) -> str:
        refused = self.message.startswith("⚠")
        color = f' style="color:{DOWN}"' if refused else ""
        return (f'<span class="paper-message-text" data-refused="{str(refused).lower()}"{color}>'
                f'{html.escape(self.message)}</span>')

    def refresh(self) -> None:
        """Redraw positions, totals, trades and the equity curve if the portfolio changed since the last redraw.

        Served, call it from the session's own callbacks (the periodic one holds Bokeh's document lock, which the
        equity source's ``patch``/``stream`` need; a button's handler does not)."""
        if self.portfolio.version != self._tables_version:
            self._draw_tables()
        if self.portfolio.version != self._curve_version:
            self._draw_equity()

    def _draw_tables(self) -> None:
        """Positions, totals and (when a fill came) trades: Panel objects, safe from any session callback."""
        portfolio = self.portfolio
        self._tables_version = portfolio.version
        self.positions.value = positions_frame(portfolio)
        self.totals.object = totals_html(portfolio.totals(), portfolio.quote)
        last = (len(portfolio.history), portfolio.history[-1] if portfolio.history else None)
        if last != self._drawn_fill:
            self._drawn_fill = last
            self.trades.value = trades_frame(portfolio.history)

    def _draw_equity(self) -> None:
        """Patch the last point and stream the newer ones; reload when the drawn points left the curve."""
        self._curve_version = self.portfolio.version
        drawn = self.equity_source.data["time"]
        tail = self.portfolio.equity_curve(since=drawn[-1]) if len(drawn) else []
        if not tail or tail[0][0] != drawn[-1]:
            points = self.portfolio.equity_curve()
            self.equity_source.data = {"time": [t for t, _ in points], "equity": [e for _, e in points]}
            return
        if tail[0][1] != self.equity_source.data["equity"][-1]:
            self.equity_source.patch({"equity": [(len(drawn) - 1, tail[0][1])]})
        if len(tail) > 1:
            self.equity_source.stream({"time": [t for t, _ in tail[1:]], "equity": [e for _, e in tail[1:]]},
                                      rollover=self.portfolio.max_points)

    def __panel__(self):
        form = pn.Row(self.symbol, self.quantity, self.buy_button, self.sell_button, sizing_mode="stretch_width")
        return self.live(pn.Column("#### Paper order (market, at the last price)", form, self.message_pane,
                                   self.settings, self.totals, "#### Positions", self.positions,
                                   pn.pane.Bokeh(self.figure, sizing_mode="stretch_width"),
                                   "#### Paper trades", self.trades, sizing_mode="stretch_width", name="paper trading"))
