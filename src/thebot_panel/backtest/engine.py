"""Backtest: a market's signal graph over a history, and the trades its signals make.

``evaluate`` runs the graph's history path — what the live graph itself runs when it loads a history or a parameter
changes: each indicator's ``recompute_arrays``, each rule's ``recompute_arrays`` over those columns, the signals in
the order the signal node emits them (candle order; one candle's in rule order), and the ``Aggregator``'s
``batch``. Streaming and history are the same computation (the indicator and rule tests hold them equal bit for
bit), so a backtest gives the signals the live graph gave over the same candles (``tests/backtest``: parity).

``simulate`` turns a side per candle into trades, in the conventions of freqtrade's and vectorbt's backtests:

- A signal is known when its candle closes, so it is acted on at the **next candle's open** (never its own close).
- One position per market, all of the equity in it: ``direction="long"`` enters on BUY and exits on SELL;
  ``"long_short"`` also enters a short on SELL, and an opposite signal reverses the position at one open.
- Fills pay ``slippage_bps`` against the trader (buy higher, sell lower) and ``fee_bps`` of the notional per fill.
- ``stop_loss_pct`` / ``take_profit_pct`` (of the entry fill) are watched on every candle's high and low from the
  entry candle on; a stop fills at its price, or at the candle's open if the price gapped through it. When one
  candle reaches both, the stop loss is taken (the candle's path is unknown: the conservative choice).
- A position still open after the last candle is closed at its close (``exit_reason="end"``).
"""

from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
import param

from ..binance.streams import interval_ms, validate_interval
from ..market.candles import OHLCV
from ..market.graph import indicator_spec
from ..presets import default_indicators, default_rules
from ..signals.aggregator import Aggregator, Confluence
from ..signals.rules import SIDE_CODES, Signal
from . import _simulate
from ._simulate import REASONS
from .performance import performance

#: ``BacktestResult.trades`` columns and dtypes.
TRADE_COLUMNS = {"entry_time": "datetime64[ns, UTC]", "exit_time": "datetime64[ns, UTC]", "side": "object",
                 "entry_price": "float64", "exit_price": "float64", "units": "float64", "fees": "float64",
                 "pnl": "float64", "return_pct": "float64", "candles": "int64", "exit_reason": "object"}


@dataclass
class Evaluation:
    """What the graph gives over a history: ``open_time`` (int64 ms, the candles'), ``columns`` (float64 arrays by
    name: open, high, low, close, volume and the indicator columns such as ``ema_9``), ``signals`` (candle order; a
    candle's in rule order) and ``confluence`` (one record per candle, or [] when not asked for)."""

    open_time: np.ndarray
    columns: dict[str, np.ndarray]
    signals: list[Signal]
    confluence: list[Confluence] = field(default_factory=list)


def copy(obj: param.Parameterized, **changes):
    """A new object of ``obj``'s class with its parameters (but ``name``), some of them ``changes``d."""
    return type(obj)(**{**{k: v for k, v in obj.param.values().items() if k != "name"}, **changes})


def candle_arrays(candles: pd.DataFrame) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Open times (int64 ms) and the OHLCV float64 arrays of a candle frame (index ``open_time``, UTC, increasing;
    columns open, high, low, close, volume). ``ValueError`` naming what is missing or out of order."""
    missing = [c for c in OHLCV if c not in candles.columns]
    if missing or not isinstance(candles.index, pd.DatetimeIndex):
        raise ValueError(f"a candle frame needs a DatetimeIndex open_time and columns {list(OHLCV)}; "
                         f"missing {missing or ['the DatetimeIndex']}")
    index = candles.index if candles.index.tz is not None else candles.index.tz_localize("UTC")
    open_time = index.asi8.astype(f"datetime64[{index.unit}]").astype("datetime64[ms]").astype(np.int64)
    if len(open_time) > 1 and not np.all(np.diff(open_time) > 0):
        raise ValueError("candle open times must be strictly increasing")
    return open_time, {c: candles[c].to_numpy(dtype="float64") for c in OHLCV}


def evaluate(candles: pd.DataFrame, indicators: dict, rules, symbol: str, interval: str,
             aggregator: Aggregator | None = None, cache: dict | None = None) -> Evaluation:
    """The graph's history path over ``candles`` (see the module docstring): ``indicators`` by key (computed on
    copies), ``rules`` reading their columns (copies too: the caller's keep their state), the confluence of
    ``aggregator`` (a copy with ``symbol``/``interval``; no higher-interval confirmation) if given. ``cache``: a
    dict kept across calls on the same candles (a sweep's), so each distinct indicator is computed once.
    ``ValueError`` for a rule naming a series the indicators do not give."""
    open_time, columns = candle_arrays(candles)
    for indicator in indicators.values():
        spec = indicator_spec(indicator)
        values = None if cache is None else cache.get(spec)
        if values is None:
            values = indicator.copy().recompute_arrays(open_time, columns)
            if cache is not None:
                cache[spec] = values
        columns.update(zip(indicator.columns, values.T))
    found = [copy(rule).recompute_arrays(open_time, columns, symbol, interval) for rule in rules]
    signals = sorted(itertools.chain.from_iterable(found), key=operator.attrgetter("open_time"))  # stable
    confluence = []
    if aggregator is not None:
        aggregator = copy(aggregator, symbol=symbol, interval=interval, confirm_interval=None)
        confluence = aggregator.batch(open_time, signals)
    return Evaluation(open_time, columns, signals, confluence)


def signal_sides(open_time: np.ndarray, signals, rules=None) -> np.ndarray:
    """The side per candle (int8: +1 BUY, −1 SELL, 0 none) of ``signals`` (of the rules labelled in ``rules``, or
    all): a candle's BUYs and SELLs net out (a BUY and a SELL on one candle give none)."""
    side = np.zeros(len(open_time), dtype=np.int64)
    chosen = [s for s in signals if rules is None or s.rule in rules]
    if chosen:
        rows = np.searchsorted(open_time, [s.open_time for s in chosen])
        np.add.at(side, rows, [SIDE_CODES[s.side] for s in chosen])
    return np.sign(side).astype(np.int8)


def confluence_sides(confluence: list[Confluence]) -> np.ndarray:
    """The side per candle of the confluence records (+1 BUY, −1 SELL, 0 NEUTRAL)."""
    return np.array([SIDE_CODES.get(c.direction, 0) for c in confluence], dtype=np.int8)


@dataclass
class Simulation:
    """Trades and equity of ``simulate``: ``equity`` (float64 per candle at its close, quote currency), ``exposure``
    (bool per candle: a position held at its close), and per trade (arrays, oldest first) ``entry``/``exit`` (candle
    rows of the fills), ``side`` (+1 long, −1 short), ``reason`` (index into ``REASONS``) and ``money`` (columns
    entry fill, exit fill, units, fees, pnl, equity at entry). ``trades`` is the frame of ``TRADE_COLUMNS``."""

    open_time: np.ndarray
    equity: np.ndarray
    exposure: np.ndarray
    entry: np.ndarray
    exit: np.ndarray
    side: np.ndarray
    reason: np.ndarray
    money: np.ndarray

    @property
    def pnl(self) -> np.ndarray:
        return self.money[:, 4]

    @cached_property
    def trades(self) -> pd.DataFrame:
        entry_price, exit_price, units, fees, pnl, equity_at_entry = self.money.T
        return pd.DataFrame({
            "entry_time": pd.to_datetime(self.open_time[self.entry], unit="ms", utc=True),
            "exit_time": pd.to_datetime(self.open_time[self.exit], unit="ms", utc=True),
            "side": np.where(self.side > 0, "long", "short").astype(object), "entry_price": entry_price,
            "exit_price": exit_price, "units": units, "fees": fees, "pnl": pnl,
            "return_pct": np.divide(pnl * 100, equity_at_entry, out=np.full(len(pnl), np.nan),
                                    where=equity_at_entry > 0),  # NaN once nothing was left to trade
            "candles": (self.exit - self.entry + 1).astype("int64"),
            "exit_reason": np.array(REASONS, dtype=object)[self.reason]}).astype(TRADE_COLUMNS)


def simulate(open_time: np.ndarray, columns: dict[str, np.ndarray], side: np.ndarray, *, direction: str = "long",
             fee_bps: float = 10.0, slippage_bps: float = 0.0, stop_loss_pct: float | None = None,
             take_profit_pct: float | None = None, initial_capital: float = 10_000.0) -> Simulation:
    """Trades of ``side`` (per candle, the signal at its close) on the candles' ``columns`` (open, high, low, close
    float64), as the module docstring says. Prices in quote currency. One compiled pass over the candles
    (``_simulate.run``)."""
    n = len(open_time)
    equity, exposure = np.empty(n), np.empty(n, np.uint8)
    when, money, kind = np.empty((n, 2), np.int64), np.empty((n, 6)), np.empty((n, 2), np.int8)
    count = _simulate.run(*(np.ascontiguousarray(columns[k], dtype="float64") for k in ("open", "high", "low", "close")),
                          np.ascontiguousarray(side, dtype=np.int8), direction == "long_short", fee_bps / 1e4,
                          slippage_bps / 1e4, np.nan if stop_loss_pct is None else stop_loss_pct,
                          np.nan if take_profit_pct is None else take_profit_pct, initial_capital, equity, exposure,
                          when, money, kind)
    return Simulation(np.asarray(open_time), equity, exposure.view(bool), when[:count, 0], when[:count, 1],
                      kind[:count, 0], kind[:count, 1], money[:count])


@dataclass
class BacktestResult:
    """A backtest's outcome.

    ``trades``: one row per closed trade (``TRADE_COLUMNS``: times UTC; prices quote currency per base unit;
    ``units`` base asset, negative when short; ``fees`` and ``pnl`` quote currency; ``return_pct`` of the equity at
    entry; ``candles`` held; ``exit_reason`` signal, stop_loss, take_profit or end). ``equity``: quote currency at
    each candle's close (index ``open_time``, UTC). ``metrics``: ``backtest.performance`` figures. ``signals``: the
    graph's signals over the history. ``parameters``: the backtest's and the indicators'/rules' parameters.
    """

    trades: pd.DataFrame
    equity: pd.Series
    metrics: dict[str, float]
    signals: list[Signal]
    parameters: dict


class Backtest(param.Parameterized):
    """A backtest of one market: its graph (``indicators`` and ``rules``, the hub's defaults unless given) over a
    candle history, and the trades its signals make (``engine.simulate``). ``ValueError`` for a parameter out of
    its bounds (naming it) or a candle frame that is not one."""

    symbol = param.String(default="BTCUSDT", doc="Symbol, e.g. BTCUSDT (labels the signals)")
    interval = param.String(default="1m", doc="Interval of the candles, e.g. 1m, 15m")
    direction = param.Selector(default="long", objects=["long", "long_short"],
                               doc="long: BUY enters, SELL exits; long_short: SELL also enters a short")
    trade_on = param.Selector(default="signals", objects=["signals", "confluence"],
                              doc="signals: the chosen rules' signals; confluence: the confluence direction")
    rules = param.List(default=None, allow_None=True, item_type=str,
                       doc="Rule classes whose signals trade (e.g. ['Crossover']); None: every rule")
    fee_bps = param.Number(default=10.0, bounds=(0, 1000), doc="Fee per fill, basis points of the notional")
    slippage_bps = param.Number(default=0.0, bounds=(0, 1000), doc="Slippage per fill against the trader, bps")
    stop_loss_pct = param.Number(default=None, allow_None=True, bounds=(0.01, 99.99),
                                 doc="Stop loss, % below a long's entry (above a short's); None: none")
    take_profit_pct = param.Number(default=None, allow_None=True, bounds=(0.01, 10_000),
                                   doc="Take profit, % above a long's entry (below a short's); None: none")
    initial_capital = param.Number(default=10_000.0, bounds=(1e-6, None), doc="Starting equity, quote currency")

    def __init__(self, **params):
        super().__init__(**params)
        validate_interval(self.interval)

    def evaluate(self, candles: pd.DataFrame, indicators: dict | None = None, rules=None,
                 cache: dict | None = None) -> tuple[Evaluation, np.ndarray]:
        """The graph over ``candles`` and the side per candle that trades (+1 BUY, −1 SELL, 0 none). With
        ``trade_on="signals"`` and ``rules`` named, only those rules and the indicators they read are run."""
        indicators = default_indicators() if indicators is None else indicators
        rules = default_rules(indicators) if rules is None else list(rules)
        unknown = set(self.rules or ()) - {type(rule).__name__ for rule in rules}
        if unknown:
            raise ValueError(f"no rule of class {', '.join(sorted(unknown))} in this backtest; its rules are "
                             f"{[type(rule).__name__ for rule in rules]}")
        if self.trade_on == "confluence":
            found = evaluate(candles, indicators, rules, self.symbol, self.interval, Aggregator(), cache)
            return found, confluence_sides(found.confluence)
        if self.rules is not None:
            rules = [rule for rule in rules if type(rule).__name__ in self.rules]
            read = {column for rule in rules for column in rule.columns}
            indicators = {key: ind for key, ind in indicators.items() if read & set(ind.columns)}
        found = evaluate(candles, indicators, rules, self.symbol, self.interval, cache=cache)
        return found, signal_sides(found.open_time, found.signals)

    def run(self, candles: pd.DataFrame, indicators: dict | None = None, rules=None) -> BacktestResult:
        """The backtest over ``candles`` (index ``open_time`` UTC; float64 open, high, low, close, volume) with
        ``indicators`` (by key) and ``rules`` (default: ``presets.default_indicators()`` and
        ``default_rules(indicators)``; with ``rules`` named, the result's signals are those rules')."""
        indicators = default_indicators() if indicators is None else indicators
        rules = default_rules(indicators) if rules is None else list(rules)
        found, side = self.evaluate(candles, indicators, rules)
        return self.result(found, side, {
            "indicators": {key: ind.param.values() for key, ind in indicators.items()},
            "rules": [{"class": type(rule).__name__, **rule.param.values()} for rule in rules]})

    def simulate(self, found: Evaluation, side: np.ndarray, rows: slice = slice(None)) -> Simulation:
        """``simulate`` with this backtest's settings over the candles ``rows`` of ``found``."""
        return simulate(found.open_time[rows], {k: v[rows] for k, v in found.columns.items()}, side[rows],
                        direction=self.direction, fee_bps=self.fee_bps, slippage_bps=self.slippage_bps,
                        stop_loss_pct=self.stop_loss_pct, take_profit_pct=self.take_profit_pct,
                        initial_capital=self.initial_capital)

    def figures(self, found: Evaluation, sim: Simulation, rows: slice = slice(None)) -> dict[str, float]:
        """``performance`` of ``sim`` (over the candles ``rows`` of ``found``)."""
        return performance(sim.equity, sim.exposure, sim.pnl, {k: found.columns[k][rows] for k in ("open", "close")},
                           interval_ms(self.interval), self.initial_capital)

    def result(self, found: Evaluation, side: np.ndarray, parameters: dict) -> BacktestResult:
        """Simulate ``side`` on ``found``'s candles and gather the result."""
        sim = self.simulate(found, side)
        index = pd.DatetimeIndex(pd.to_datetime(found.open_time, unit="ms", utc=True), name="open_time")
        metrics = self.figures(found, sim)
        own = {name: value for name, value in self.param.values().items() if name != "name"}
        return BacktestResult(sim.trades, pd.Series(sim.equity, index=index, name="equity"), metrics, found.signals,
                              {"backtest": own, **parameters})
