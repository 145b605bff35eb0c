"""Typed Binance market events, parsed once at the edge with orjson.

Every timestamp is int milliseconds since the Unix epoch (UTC); prices and quantities, which Binance
sends as decimal strings, become float64 (quote currency for prices, base asset for quantities).
Field letters follow Binance's spot WebSocket docs ("Kline/Candlestick Streams", "Trade Streams",
"Aggregate Trade Streams", "Individual Symbol Book Ticker Streams", "Individual Symbol Ticker Streams").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import orjson

from .streams import INTERVALS, SYMBOL

DAY_MS = 86_400_000


class MalformedMessage(ValueError):
    """A stream message that is not JSON, or lacks a field its event type requires."""


@dataclass(frozen=True, slots=True)
class Kline:
    """One kline (candle) update. ``closed`` is Binance's ``x``: a closed kline is final.

    ``quote_volume``, ``trades`` and the taker-buy volumes are NaN/-1 when the source lacks them
    (the replay of OHLCV-only recordings): nothing downstream depends on them.
    """

    symbol: str
    interval: str
    open_time: int
    close_time: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    closed: bool
    event_time: int = 0
    quote_volume: float = float("nan")
    trades: int = -1
    taker_buy_volume: float = float("nan")
    taker_buy_quote_volume: float = float("nan")


@dataclass(frozen=True, slots=True)
class Trade:
    """A single trade (``@trade``). ``buyer_is_maker`` True means the aggressor sold."""

    symbol: str
    event_time: int
    trade_id: int
    price: float
    quantity: float
    trade_time: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class AggTrade:
    """An aggregate trade (``@aggTrade``): trades ``first_trade_id``..``last_trade_id`` at one price."""

    symbol: str
    event_time: int
    agg_trade_id: int
    price: float
    quantity: float
    first_trade_id: int
    last_trade_id: int
    trade_time: int
    buyer_is_maker: bool


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid/ask (``@bookTicker``); spot sends no event time, so ``event_time`` is 0 there."""

    symbol: str
    update_id: int
    bid_price: float
    bid_qty: float
    ask_price: float
    ask_qty: float
    event_time: int = 0


@dataclass(frozen=True, slots=True)
class Ticker24h:
    """Rolling 24-hour statistics (``@ticker``)."""

    symbol: str
    event_time: int
    price_change: float
    price_change_percent: float
    weighted_avg_price: float
    last_price: float
    open_price: float
    high_price: float
    low_price: float
    volume: float
    quote_volume: float
    bid_price: float
    ask_price: float
    trades: int


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """``{"e": "serverShutdown"}``: the server is going away; reconnect now."""

    event_time: int = 0


@dataclass(frozen=True, slots=True)
class ControlReply:
    """Reply to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS: ``result`` or ``error`` for request ``id``."""

    id: int | None
    result: object = None
    error: dict | None = None


Event = Kline | Trade | AggTrade | BookTicker | Ticker24h | ServerShutdown | ControlReply


def _kline(d: dict) -> Kline:
    k = d["k"]
    kline = Kline(
        symbol=k["s"], interval=k["i"], open_time=int(k["t"]), close_time=int(k["T"]),
        open=float(k["o"]), high=float(k["h"]), low=float(k["l"]), close=float(k["c"]),
        volume=float(k["v"]), closed=_flag(k["x"], "kline 'x' (closed)"), event_time=int(d.get("E", 0)),
        quote_volume=float(k.get("q", "nan")), trades=int(k.get("n", -1)),
        taker_buy_volume=float(k.get("V", "nan")), taker_buy_quote_volume=float(k.get("Q", "nan")),
    )
    problem = kline_problem(kline)
    if problem:
        raise MalformedMessage(f"invalid kline {kline.symbol} {kline.interval} {kline.open_time}: {problem}")
    return kline


def kline_problem(kline: Kline) -> str | None:
    """Why ``kline`` cannot be a Binance kline, or None: a Binance symbol (``streams.SYMBOL``); an event time ≥ 0 (0:
    none given); a known interval; an open time ≥ 0, on the interval's grid
    (intervals up to 1d start at multiples of their length since the epoch, UTC) and not after the event that
    reports it; a close time after it; finite positive prices with low ≤ open, close ≤ high; finite volumes ≥ 0."""
    if type(kline.symbol) is not str or not SYMBOL.match(kline.symbol) or type(kline.interval) is not str:
        return f"symbol {kline.symbol!r:.30} or interval {kline.interval!r:.30} is not Binance's"
    if kline.event_time < 0:
        return f"negative event time {kline.event_time}"
    length = INTERVALS.get(kline.interval, 0)
    if length == 0:
        return f"unknown interval {kline.interval!r}"
    if kline.open_time < 0 or kline.close_time <= kline.open_time:
        return f"open time {kline.open_time} and close time {kline.close_time} are not a candle's"
    if length is not None and length <= DAY_MS and kline.open_time % length:
        return f"open time is not on the {kline.interval} grid"
    if kline.event_time > 0 and kline.open_time > kline.event_time:
        return f"opens after its event time {kline.event_time}"
    prices = (kline.open, kline.high, kline.low, kline.close)
    if not all(math.isfinite(p) and p > 0 for p in prices):
        return f"prices must be finite and positive: {prices}"
    if not kline.low <= min(kline.open, kline.close) <= max(kline.open, kline.close) <= kline.high:
        return f"open/close outside low..high: {prices}"
    volumes = (kline.volume, kline.quote_volume, kline.taker_buy_volume, kline.taker_buy_quote_volume)
    optional = volumes[1:]  # NaN when the source lacks them
    if not (math.isfinite(kline.volume) and kline.volume >= 0
            and all(math.isnan(v) or (math.isfinite(v) and v >= 0) for v in optional)):
        return f"volumes must be finite and ≥ 0: {volumes}"
    return None


def _flag(value, what: str) -> bool:
    if type(value) is not bool:
        raise MalformedMessage(f"{what} must be true or false, not {value!r:.40}")
    return value


def _checked(event, prices: tuple, quantities: tuple):
    """``event`` if its symbol is a string, its ``prices`` finite and positive and its ``quantities`` finite and ≥ 0."""
    if type(event.symbol) is not str or not SYMBOL.match(event.symbol):
        raise MalformedMessage(f"symbol must be a Binance symbol (e.g. BTCUSDT), not {event.symbol!r:.40}")
    if not all(math.isfinite(p) and p > 0 for p in prices):
        raise MalformedMessage(f"{event.symbol}: prices must be finite and positive: {prices}")
    if not all(math.isfinite(q) and q >= 0 for q in quantities):
        raise MalformedMessage(f"{event.symbol}: quantities must be finite and ≥ 0: {quantities}")
    return event


def _trade(d: dict) -> Trade:
    t = Trade(d["s"], int(d["E"]), int(d["t"]), float(d["p"]), float(d["q"]), int(d["T"]), _flag(d["m"], "'m' (buyer is maker)"))
    return _checked(t, (t.price,), (t.quantity,))


def _agg_trade(d: dict) -> AggTrade:
    t = AggTrade(d["s"], int(d["E"]), int(d["a"]), float(d["p"]), float(d["q"]),
                 int(d["f"]), int(d["l"]), int(d["T"]), _flag(d["m"], "'m' (buyer is maker)"))
    return _checked(t, (t.price,), (t.quantity,))


def _book_ticker(d: dict) -> BookTicker:
    b = BookTicker(d["s"], int(d["u"]), float(d["b"]), float(d["B"]), float(d["a"]), float(d["A"]),
                   int(d.get("E", 0)))
    if b.bid_price > b.ask_price:
        raise MalformedMessage(f"{b.symbol}: best bid {b.bid_price} above best ask {b.ask_price}")
    return _checked(b, (b.bid_price, b.ask_price), (b.bid_qty, b.ask_qty))


def _ticker(d: dict) -> Ticker24h:
    t = Ticker24h(
        d["s"], int(d["E"]), float(d["p"]), float(d["P"]), float(d["w"]), float(d["c"]), float(d["o"]),
        float(d["h"]), float(d["l"]), float(d["v"]), float(d["q"]), float(d["b"]), float(d["a"]), int(d["n"]),
    )
    if not (math.isfinite(t.price_change) and math.isfinite(t.price_change_percent)):
        raise MalformedMessage(f"{t.symbol}: price change must be finite")
    return _checked(t, (t.last_price, t.open_price, t.high_price, t.low_price),
                    (t.volume, t.quote_volume, t.weighted_avg_price, t.bid_price, t.ask_price, t.trades))


def _control_reply(d: dict) -> ControlReply:
    request_id, error = d.get("id"), d.get("error")
    if request_id is not None and (type(request_id) is not int):
        raise MalformedMessage(f"control reply id must be an integer, not {request_id!r:.60}")
    if error is not None and not isinstance(error, dict):
        raise MalformedMessage(f"control reply error must be an object, not {error!r:.60}")
    return ControlReply(request_id, d.get("result"), error)


_BY_EVENT_TYPE = {
    "kline": _kline,
    "trade": _trade,
    "aggTrade": _agg_trade,
    "24hrTicker": _ticker,
    "serverShutdown": lambda d: ServerShutdown(int(d.get("E", 0))),
}


def parse_event(data: dict) -> Event:
    """Turn one decoded event object (raw-stream payload or a combined envelope's ``data``) into a record.

    Raises ``MalformedMessage`` for an unknown event type or a missing/invalid field.
    """
    try:
        kind = data.get("e")
        if kind is None:
            if "result" in data or "error" in data:
                return _control_reply(data)
            if "u" in data and "b" in data and "a" in data:
                return _book_ticker(data)
            raise MalformedMessage(f"message has no event type 'e' and is not a bookTicker: {str(data)[:120]}")
        parser = _BY_EVENT_TYPE.get(kind)
        if parser is None:
            raise MalformedMessage(f"unsupported event type {kind!r}")
        return parser(data)
    except MalformedMessage:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedMessage(f"invalid {data.get('e', 'event') if isinstance(data, dict) else 'event'}: "
                               f"{type(exc).__name__}: {exc}") from exc


def parse_message(raw: str | bytes) -> Event:
    """Parse one WebSocket text frame, raw (``/ws/...``) or combined (``{"stream": ..., "data": ...}``).

    Raises ``MalformedMessage`` if the frame is not a JSON object or not a known event.
    """
    try:
        return _parse(raw)
    except RecursionError as exc:  # orjson reads 1024 levels; a message about such a value cannot even be written
        raise MalformedMessage("JSON nested too deeply") from exc


def _parse(raw: str | bytes) -> Event:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise MalformedMessage(f"expected a JSON object, got {type(data).__name__}")
    stream = None
    if "stream" in data and "data" in data:
        stream, data = data["stream"], data["data"]
        if not isinstance(data, dict):
            raise MalformedMessage("combined-stream 'data' is not a JSON object")
    event = parse_event(data)
    if stream is not None and not _on_its_stream(event, stream):
        what = f"{event.symbol} {event.interval} kline" if type(event) is Kline else f"{event.symbol} {type(event).__name__}"
        raise MalformedMessage(f"a {what} on stream {stream!r:.60}")
    return event


def _on_its_stream(event: Event, stream) -> bool:
    """Whether a combined-stream envelope's name matches its event: a kline's symbol and interval, another
    market event's symbol (control replies and ``serverShutdown`` come without an envelope)."""
    if type(event) is Kline:
        return stream == f"{event.symbol.lower()}@kline_{event.interval}"
    symbol = getattr(event, "symbol", None)
    return symbol is None or (type(stream) is str and stream.startswith(f"{symbol.lower()}@"))


def kline_from_rest(symbol: str, interval: str, row: list, closed: bool, event_time: int = 0) -> Kline:
    """A kline from one ``GET /api/v3/klines`` row ``[t, o, h, l, c, v, T, q, n, V, Q, ignore]``.

    The REST row has no ``x`` flag: the caller knows whether it is closed (see ``RestClient.klines``).
    """
    return Kline(
        symbol=symbol, interval=interval, open_time=int(row[0]), close_time=int(row[6]),
        open=float(row[1]), high=float(row[2]), low=float(row[3]), close=float(row[4]), volume=float(row[5]),
        closed=closed, event_time=event_time,
        quote_volume=float(row[7]), trades=int(row[8]),
        taker_buy_volume=float(row[9]), taker_buy_quote_volume=float(row[10]),
    )
