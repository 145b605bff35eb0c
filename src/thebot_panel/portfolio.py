"""Paper trading: a simulated spot account that fills market orders at the last kline price, with a taker fee,
long-only positions, an equity curve, optionally following the hub's signals, kept in SQLite across restarts.

Units: money in the quote currency (``quote``, USDT), quantities in the base asset, times int ms UTC.
Formulas, for a fill of quantity ``q`` at price ``p`` with ``fee_rate`` ``f``:

- fee = q·p·f (taker fee on the notional, paid in the quote currency);
- a buy costs q·p + fee in cash, a sell pays q·p − fee;
- average entry price **includes the buy fees**: avg = Σ(q·p + fee) over the buys of the open position / its
  quantity; a sell leaves it unchanged, closing the position resets it;
- realised P&L of a sell = (p − avg)·q − fee; of a buy 0 (its fee is in avg);
- unrealised P&L = (last − avg)·quantity;
- equity = cash + Σ quantity·last; total P&L = equity − starting balance = Σ realised + Σ unrealised.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import numbers
from dataclasses import astuple, dataclass, fields, replace

import param

from .binance.streams import interval_ms, normalize_symbol
from .prices import price_text
from .signals.rules import Signal
from .signals.store import SQLiteFile

log = logging.getLogger(__name__)

BUY, SELL = "BUY", "SELL"
#: Absolute slack (quote currency / base asset) for float rounding in the cash and position checks.
EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Fill:
    """One paper trade: ``quantity`` of ``symbol`` (base asset) bought or sold (``side``) at ``price`` (quote
    currency) at ``time`` (ms UTC, the time of the price it filled at). ``fee`` (quote) = quantity·price·fee rate;
    ``realised_pnl`` (quote) = (price − average entry)·quantity − fee for a sell, 0 for a buy. ``reason``:
    ``"manual"`` or the rule of the signal it followed."""

    time: int
    symbol: str
    side: str
    quantity: float
    price: float
    fee: float
    realised_pnl: float = 0.0
    reason: str = "manual"

    @property
    def notional(self) -> float:
        """quantity·price, quote currency."""
        return self.quantity * self.price

    @property
    def cash_change(self) -> float:
        """What the fill does to the cash: −(notional + fee) for a buy, notional − fee for a sell."""
        return -(self.notional + self.fee) if self.side == BUY else self.notional - self.fee


@dataclass(frozen=True, slots=True)
class Position:
    """A long spot position: ``quantity`` (base asset), ``average_price`` (quote, buy fees included; 0 when
    flat) and ``realised_pnl`` (quote, every sell of the symbol so far, net of fees)."""

    symbol: str
    quantity: float = 0.0
    average_price: float = 0.0
    realised_pnl: float = 0.0

    def apply(self, fill: Fill) -> Position:
        """The position after ``fill`` (see the module's formulas)."""
        if fill.side == BUY:
            quantity = self.quantity + fill.quantity
            cost = self.quantity * self.average_price + fill.notional + fill.fee
            return replace(self, quantity=quantity, average_price=cost / quantity)
        quantity = self.quantity - fill.quantity
        if quantity <= EPSILON:
            quantity = 0.0
        return replace(self, quantity=quantity, average_price=self.average_price if quantity else 0.0,
                       realised_pnl=self.realised_pnl + fill.realised_pnl)


_FILL_COLUMNS = [f.name for f in fields(Fill)]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS paper_trades (
    id INTEGER PRIMARY KEY, time INTEGER NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL,
    quantity REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL, realised_pnl REAL NOT NULL, reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS paper_account (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class PaperStore(SQLiteFile):
    """Paper trades and account settings in an SQLite file (by default the alerts' file; ``":memory:"`` keeps
    them in memory only).

    Table ``paper_trades``: one row per fill, in fill order (``id``). Table ``paper_account``: name → JSON value
    (``starting_balance``, ``fee_rate``, ``follow_signals``, ``order_fraction``, ``follow_symbols``). Cash and
    positions are not stored: they are rebuilt from the trades. Safe to call from any thread. Raises
    ``sqlite3.Error`` if the file cannot be opened.
    """

    schema = _SCHEMA

    def add_fill(self, fill: Fill) -> None:
        self._execute(f"INSERT INTO paper_trades ({', '.join(_FILL_COLUMNS)}) "
                      f"VALUES ({', '.join('?' * len(_FILL_COLUMNS))})", astuple(fill))

    def fills(self) -> list[Fill]:
        """Every stored fill, oldest first."""
        rows = self._execute(f"SELECT {', '.join(_FILL_COLUMNS)} FROM paper_trades ORDER BY id").fetchall()
        return [Fill(*row) for row in rows]

    def account(self) -> dict:
        """The stored account settings (empty for a new file)."""
        return {name: json.loads(value) for name, value in self._execute("SELECT * FROM paper_account")}

    def save_account(self, values: dict) -> None:
        with self._lock:
            self._db.executemany("INSERT OR REPLACE INTO paper_account VALUES (?, ?)",
                                 [(name, json.dumps(value)) for name, value in values.items()])

    def clear(self) -> None:
        """Forget every trade and the account."""
        with self._lock:
            self._db.execute("DELETE FROM paper_trades")
            self._db.execute("DELETE FROM paper_account")


class PaperPortfolio(param.Parameterized):
    """A paper spot account in the quote currency (see the module's formulas).

    - **Prices**: ``on_price(symbol, price, time_ms)`` (or ``on_kline``) records the last price of a symbol;
      a price older than the last one known is ignored. Orders fill at that last price, at its time.
    - **Orders**: ``buy(symbol, quantity)`` / ``sell(symbol, quantity)`` return the ``Fill``. ``ValueError``,
      with a message for people, for: a quantity that is not a positive number; a symbol not quoted in
      ``quote`` or without a price yet; a buy costing more than the cash (fee included); a sell larger than
      the position (spot is long-only).
    - **Following signals**: with ``follow_signals``, ``on_signal(signal)`` buys ``order_fraction`` of the
      equity (fee included, at most the cash) on a BUY when flat, and sells the whole position on a SELL.
      Provisional signals, other symbols than ``follow_symbols`` (when set) and non-Signal items are ignored.
    - **Reading**: ``position(symbol)``, ``positions()``, ``unrealised_pnl(symbol)``, ``equity()``,
      ``totals()``, ``history`` (the newest ``max_history`` fills), ``equity_curve()``: (time ms, equity)
      sampled on each price update, one point per ``sample_ms`` bucket (the last value in it), at most
      ``max_points``. A position without a price yet (after a restart) is valued at its average price.
    - **Persistence**: with a ``PaperStore``, every fill and setting change is saved; a new portfolio on the
      same store reloads the account: **stored settings win over the constructor's**, cash and positions are
      rebuilt from the trades. ``reset()`` starts over. The equity curve is not stored.

    ``version`` grows on every change (views redraw when it moved); ``counters`` count buys, sells, refused
    orders, followed and skipped signals.
    """

    starting_balance = param.Number(default=10_000.0, bounds=(0, None), inclusive_bounds=(False, True),
                                    constant=True, doc="Cash a new account opens with, quote currency")
    quote = param.String(default="USDT", constant=True, doc="Quote currency of the account; symbols must end in it")
    fee_rate = param.Number(default=0.001, bounds=(0, 0.05),
                            doc="Taker fee on the notional of each fill, as a fraction (0.001 = 0.1 %)")
    follow_signals = param.Boolean(default=False, doc="Buy on BUY signals when flat, sell all on SELL signals")
    order_fraction = param.Number(default=0.1, bounds=(0.001, 1),
                                  doc="Share of the equity a followed BUY spends, fee included (0.1 = 10 %)")
    follow_symbols = param.List(default=[], item_type=str,
                                doc="Symbols whose signals are followed; empty: every symbol")
    sample_ms = param.Integer(default=60_000, bounds=(1, None), constant=True,
                              doc="Equity curve bucket, ms: at most one point per bucket")
    max_points = param.Integer(default=10_000, bounds=(2, None), constant=True, doc="Equity curve points kept")
    max_history = param.Integer(default=1000, bounds=(1, None), constant=True, doc="Fills kept in memory")

    _SETTINGS = ("starting_balance", "fee_rate", "follow_signals", "order_fraction", "follow_symbols")

    def __init__(self, store: PaperStore | None = None, **params):
        super().__init__(**params)
        self.store = store
        self.counters = collections.Counter()
        self.version = 0
        self._prices: dict[str, tuple[float, int]] = {}  # symbol -> (last price, its time ms)
        self._curve: collections.deque[tuple[int, float]] = collections.deque(maxlen=self.max_points)
        self._open(store.account() if store is not None else {}, store.fills() if store is not None else [])
        self.param.watch(self._save_settings, [n for n in self._SETTINGS if n != "starting_balance"])

    def _open(self, account: dict, fills: list[Fill]) -> None:
        with param.edit_constant(self), param.discard_events(self):
            self.param.update({k: v for k, v in account.items() if k in self._SETTINGS})
        self.cash = self.starting_balance
        self.fees = 0.0  # paid since the account opened, quote currency
        self._positions: dict[str, Position] = {}
        self.history: collections.deque[Fill] = collections.deque(maxlen=self.max_history)
        for fill in fills:
            self._book(fill)
        if not account:
            self._save_settings()
        self.version += 1

    def _save_settings(self, *events) -> None:
        if self.store is not None:
            self.store.save_account({name: getattr(self, name) for name in self._SETTINGS})

    def reset(self, starting_balance: float | None = None) -> None:
        """Forget every trade and position and open a new account with ``starting_balance`` (default: the
        current one), keeping the other settings and the prices. ``ValueError`` for a balance that is not > 0."""
        balance = self.starting_balance if starting_balance is None else starting_balance
        if not _positive(balance):
            raise ValueError(f"the starting balance must be a positive amount of {self.quote}, got {balance!r}")
        settings = {name: getattr(self, name) for name in self._SETTINGS} | {"starting_balance": float(balance)}
        if self.store is not None:
            self.store.clear()
            self.store.save_account(settings)
        self._curve.clear()
        self._open(settings, [])

    # --- prices ---------------------------------------------------------------------------------
    def on_price(self, symbol: str, price: float, time_ms: int) -> None:
        """Record ``symbol``'s last ``price`` (quote currency) at ``time_ms`` (ms UTC) and sample the equity.
        A price older than the last one known is ignored; ``ValueError`` for a price that is not > 0."""
        if not _positive(price):
            raise ValueError(f"a price must be a positive number, got {price!r}")
        last = self._prices.get(symbol)
        if last is not None and time_ms < last[1]:
            return
        self._prices[symbol] = (float(price), int(time_ms))
        self._sample(time_ms)

    def on_kline(self, kline) -> None:
        """``on_price`` from a kline update: its close, at its event time (else close time if closed, else open)."""
        time_ms = kline.event_time or (kline.close_time if kline.closed else kline.open_time)
        self.on_price(kline.symbol, kline.close, time_ms)

    def last_price(self, symbol: str) -> float | None:
        """The last price of ``symbol`` (quote currency), None before the first."""
        last = self._prices.get(symbol)
        return None if last is None else last[0]

    # --- orders ---------------------------------------------------------------------------------
    def buy(self, symbol: str, quantity: float, reason: str = "manual") -> Fill:
        """Buy ``quantity`` (base asset) at the last price; costs quantity·price·(1 + fee_rate) of cash."""
        symbol, quantity, price, time_ms = self._order(symbol, quantity)
        fee = quantity * price * self.fee_rate
        cost = quantity * price + fee
        if cost > self.cash + EPSILON:
            self.counters["refused"] += 1
            raise ValueError(f"buying {quantity:g} {symbol} at {price_text(price)} costs {cost:,.2f} {self.quote} with the "
                             f"{self.fee_rate * 100:g} % fee; the cash is {self.cash:,.2f} {self.quote}")
        return self._fill(Fill(time_ms, symbol, BUY, quantity, price, fee, 0.0, reason))

    def sell(self, symbol: str, quantity: float, reason: str = "manual") -> Fill:
        """Sell ``quantity`` (base asset) of the position at the last price; pays quantity·price·(1 − fee_rate)."""
        symbol, quantity, price, time_ms = self._order(symbol, quantity)
        position = self.position(symbol)
        if quantity > position.quantity + EPSILON:
            self.counters["refused"] += 1
            raise ValueError(f"cannot sell {quantity:g} {symbol}: the position is {position.quantity:g} "
                             f"(spot paper trading is long-only)")
        quantity = min(quantity, position.quantity)
        fee = quantity * price * self.fee_rate
        realised = (price - position.average_price) * quantity - fee
        return self._fill(Fill(time_ms, symbol, SELL, quantity, price, fee, realised, reason))

    def _order(self, symbol: str, quantity) -> tuple[str, float, float, int]:
        """Validated (symbol, quantity, last price, its time); ``ValueError`` for a bad order."""
        try:
            if not _positive(quantity):
                raise ValueError(f"the quantity must be a positive number (base asset), got {quantity!r}")
            symbol = normalize_symbol(symbol or "")
            if not symbol.endswith(self.quote):
                raise ValueError(f"{symbol} is not quoted in {self.quote}, the currency of this account")
            if symbol not in self._prices:
                raise ValueError(f"no price yet for {symbol}: orders fill at the last kline price, "
                                 f"wait for the feed to send one")
        except ValueError:
            self.counters["refused"] += 1
            raise
        price, time_ms = self._prices[symbol]
        return symbol, float(quantity), price, time_ms

    def _fill(self, fill: Fill) -> Fill:
        self._book(fill)
        if self.store is not None:
            self.store.add_fill(fill)
        self.counters["buys" if fill.side == BUY else "sells"] += 1
        self._sample(fill.time)
        log.info("paper %s %g %s at %.8g (fee %.8g %s)", fill.side, fill.quantity, fill.symbol, fill.price, fill.fee,
                 self.quote)
        return fill

    def _book(self, fill: Fill) -> None:
        self._positions[fill.symbol] = self.position(fill.symbol).apply(fill)
        self.cash = max(self.cash + fill.cash_change, 0.0)  # 0, not -1e-12, after spending it all
        self.fees += fill.fee
        self.history.append(fill)
        self.version += 1

    # --- following signals ----------------------------------------------------------------------
    def on_signal(self, signal) -> Fill | None:
        """With ``follow_signals``: on a BUY when flat, buy ``order_fraction``·equity worth (fee included, at most
        the cash); on a SELL, sell the whole position; both at the signal's close (its candle's close time).
        Returns the fill, or None when nothing is done (see the class docstring; refused orders are logged)."""
        if not self.follow_signals or type(signal) is not Signal or signal.provisional:
            return None
        if self.follow_symbols and signal.symbol not in self.follow_symbols:
            return None
        self.on_price(signal.symbol, signal.price, signal.open_time + interval_ms(signal.interval) - 1)
        price = self.last_price(signal.symbol)
        held = self.position(signal.symbol).quantity
        try:
            if signal.side == BUY and held == 0:
                spend = min(self.order_fraction * self.equity(), self.cash)
                fill = self.buy(signal.symbol, spend / (price * (1 + self.fee_rate)), reason=signal.rule)
            elif signal.side == SELL and held > 0:
                fill = self.sell(signal.symbol, held, reason=signal.rule)
            else:
                self.counters["skipped"] += 1
                return None
        except ValueError as exc:
            log.warning("paper trading did not follow %s %s (%s): %s", signal.side, signal.symbol, signal.rule, exc)
            return None
        self.counters["followed"] += 1
        return fill

    def follow(self, market) -> list:
        """Sink a market's klines (a ``MarketGraph``) into ``on_kline`` and its hub branch's signals into
        ``on_signal``. Returns the sinks (``destroy()`` them to stop)."""
        return [market.klines.sink(self.on_kline), market.branch.signals.sink(self.on_signal)]

    # --- reading --------------------------------------------------------------------------------
    def position(self, symbol: str) -> Position:
        """The position in ``symbol`` (a flat one if it was never traded)."""
        return self._positions.get(symbol) or Position(symbol)

    def positions(self) -> list[Position]:
        """Every symbol ever traded (flat ones keep their realised P&L), by symbol."""
        return [self._positions[s] for s in sorted(self._positions)]

    def mark(self, symbol: str) -> float:
        """The price a position is valued at: the last price, else its average price."""
        return self.last_price(symbol) or self.position(symbol).average_price

    def unrealised_pnl(self, symbol: str) -> float:
        """(last − average entry)·quantity, quote currency; 0 when flat."""
        position = self.position(symbol)
        return (self.mark(symbol) - position.average_price) * position.quantity if position.quantity else 0.0

    def equity(self) -> float:
        """cash + Σ quantity·last price, quote currency."""
        return self.cash + sum(p.quantity * self.mark(p.symbol) for p in self._positions.values() if p.quantity)

    def totals(self) -> dict[str, float]:
        """Quote currency: cash, market_value (Σ quantity·last), equity, realised_pnl, unrealised_pnl, total_pnl
        (equity − starting balance), fees (every fee paid); and return_pct (total P&L / starting
        balance × 100)."""
        equity = self.equity()
        total = equity - self.starting_balance
        return {"cash": self.cash, "market_value": equity - self.cash, "equity": equity,
                "realised_pnl": sum(p.realised_pnl for p in self._positions.values()),
                "unrealised_pnl": sum(self.unrealised_pnl(s) for s in self._positions),
                "total_pnl": total, "fees": self.fees,
                "return_pct": total / self.starting_balance * 100}

    def equity_curve(self, since: int | None = None) -> list[tuple[int, float]]:
        """(bucket start ms UTC, equity) points, oldest first; from ``since`` on if given."""
        points = list(self._curve)
        if since is not None:
            points = [p for p in points if p[0] >= since]
        return points

    def _sample(self, time_ms: int) -> None:
        start = int(time_ms) - int(time_ms) % self.sample_ms
        if self._curve and self._curve[-1][0] == start:
            self._curve[-1] = (start, self.equity())
        elif not self._curve or start > self._curve[-1][0]:
            self._curve.append((start, self.equity()))
        self.version += 1

    def stats(self) -> dict[str, int]:
        """Counters: buys, sells, refused, followed, skipped."""
        return {name: self.counters[name] for name in ("buys", "sells", "refused", "followed", "skipped")}


def _positive(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) and x > 0
