"""Parsing real recorded Binance messages into typed events."""

import orjson
import pytest

from recorded import WS, ws_lines as lines
from thebot_panel.binance.events import (AggTrade, BookTicker, ControlReply, Kline, MalformedMessage, ServerShutdown,
                                         Ticker24h, Trade, kline_from_rest, parse_message)
from thebot_panel.binance.streams import interval_ms, parse_stream_name, stream_name, validate_interval



def test_trade_and_book_ticker_from_the_2024_btcusdt_recording():
    trades, tickers, rejected = [], [], 0
    for raw in lines("btcusdt_2024-08-08_combined.jsonl"):
        stream = orjson.loads(raw).get("stream", "")
        try:
            event = parse_message(raw)
        except MalformedMessage:
            rejected += 1  # depth updates and the REST snapshot are not market events we consume
            assert "depth" in stream or stream == ""
            continue
        (trades if stream.endswith("@trade") else tickers).append(event)
    assert rejected == 6
    assert len(trades) == 5 and all(type(t) is Trade for t in trades)
    first = trades[0]
    assert (first.symbol, first.trade_id, first.price, first.quantity) == ("BTCUSDT", 3735683259, 61837.63, 0.02)
    assert first.trade_time == 1723161255342 and first.buyer_is_maker is True
    assert len(tickers) == 5 and all(type(t) is BookTicker for t in tickers)
    assert tickers[0].bid_price == 61837.63 and tickers[0].ask_price == 61837.64 and tickers[0].bid_qty == 3.78826


def test_kline_and_agg_trade_from_the_2021_cryptofeed_recording():
    events = [parse_message(raw) for raw in lines("cryptofeed_2021-10-12_kline_aggTrade.jsonl")]
    klines = [e for e in events if type(e) is Kline]
    aggs = [e for e in events if type(e) is AggTrade]
    assert len(klines) == 2 and len(aggs) == 2
    k = klines[0]
    assert (k.symbol, k.interval, k.open_time, k.close_time) == ("NKNUSDT", "1m", 1633998480000, 1633998539999)
    assert (k.open, k.close, k.high, k.low, k.volume) == (0.3527, 0.3528, 0.3528, 0.3522, 25877.0)
    assert k.closed is False and k.trades == 30 and k.quote_volume == 9116.046
    assert aggs[0].agg_trade_id == 15683430 and aggs[0].first_trade_id == aggs[0].last_trade_id == 19862790


def test_raw_payloads_without_envelope():
    ticker = parse_message((WS / "24hrTicker_event_doc_example.json").read_bytes())
    assert type(ticker) is Ticker24h and ticker.symbol == "BNBBTC" and ticker.last_price == 0.0025
    assert ticker.trades == 18151
    trade = parse_message((WS / "ethusdt_trade_event.json").read_bytes())
    assert type(trade) is Trade and trade.trade_id == 705291099
    book = parse_message((WS / "ethusdt_bookTicker_event.json").read_bytes())
    assert type(book) is BookTicker and book.update_id == 12711621188 and book.event_time == 1646199228123


def test_control_replies_and_server_shutdown():
    assert parse_message('{"result":null,"id":7}') == ControlReply(7, None, None)
    assert parse_message('{"result":["btcusdt@kline_1m"],"id":3}').result == ["btcusdt@kline_1m"]
    reply = parse_message('{"error":{"code":2,"msg":"Invalid request"},"id":4}')
    assert reply.error["code"] == 2
    assert type(parse_message('{"e":"serverShutdown","E":1}')) is ServerShutdown


@pytest.mark.parametrize("raw, reason", [
    (b"not json", "not JSON"),
    (b"[1,2]", "JSON object"),
    (b'{"e":"kline","E":1,"s":"BTCUSDT"}', "invalid kline"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"abc","q":"1","T":1,"m":true}', "invalid trade"),
    (b'{"e":"weird"}', "unsupported event type"),
    (b'{"stream":"x","data":5}', "not a JSON object"),
    (b'{"result":null,"id":[1]}', "control reply id must be an integer"),  # unhashable: would break the lookup
    (b'{"result":null,"id":true}', "control reply id must be an integer"),
    (b'{"error":"bad","id":2}', "control reply error must be an object"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"5","q":"1","T":1,"m":"false"}', "'m' .buyer is maker. must be true"),
    (b'{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1,"p":"NaN","q":"1","f":1,"l":1,"T":1,"m":true}', "prices must be finite"),
    (b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"5","q":"-1","T":1,"m":true}', "quantities must be finite and"),
    (b'{"e":"trade","E":1,"s":7,"t":1,"p":"5","q":"1","T":1,"m":true}', "symbol must be a Binance symbol"),
    (b'{"u":1,"s":"BTCUSDT","b":"101","B":"1","a":"100","A":"1"}', "best bid 101.0 above best ask 100.0"),
    (b'{"stream":"ethusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"2","A":"1"}}',
     "a BTCUSDT BookTicker on stream 'ethusdt@bookTicker'"),
])
def test_malformed_messages_raise_a_clear_error(raw, reason):
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(raw)


KLINE = {"t": 1753660800000, "T": 1753660859999, "s": "BTCUSDT", "i": "1m", "o": "119415.56", "c": "119365.49",
         "h": "119457.67", "l": "119365.48", "v": "5.7973", "q": "692277.1", "V": "2.1", "Q": "250000.2", "x": False}


def kline_frame(stream="btcusdt@kline_1m", event_time=1753660830000, **changes) -> bytes:
    return orjson.dumps({"stream": stream, "data": {"e": "kline", "E": event_time, "s": "BTCUSDT",
                                                    "k": {**KLINE, **changes}}})


def test_a_valid_kline_passes_the_edge_checks():
    kline = parse_message(kline_frame())
    assert (kline.open_time, kline.closed, kline.high) == (1753660800000, False, 119457.67)
    assert parse_message(kline_frame(x=True, q="NaN", V="NaN", Q="NaN")).closed  # optional volumes may be missing


@pytest.mark.parametrize("frame, reason", [
    (kline_frame(x="false"), "'x' .closed. must be true or false"),
    (kline_frame(x=1), "'x' .closed. must be true or false"),
    (kline_frame(c="NaN"), "prices must be finite and positive"),
    (kline_frame(h="Infinity"), "prices must be finite and positive"),
    (kline_frame(o="-1"), "prices must be finite and positive"),
    (kline_frame(h="119000"), "open/close outside low..high"),
    (kline_frame(v="-2"), "volumes must be finite"),
    (kline_frame(q="Infinity"), "volumes must be finite"),
    (kline_frame(i="7m"), "unknown interval '7m'"),
    (kline_frame(stream="btcusdt@kline_5m", i="1m"), "a BTCUSDT 1m kline on stream 'btcusdt@kline_5m'"),
    (kline_frame(stream="ethusdt@kline_1m"), "a BTCUSDT 1m kline on stream 'ethusdt@kline_1m'"),
    (kline_frame(t=1753660800001), "not on the 1m grid"),
    (kline_frame(T=1753660800000), "are not a candle's"),
    (kline_frame(t=4102444800000, T=4102444859999), "opens after its event time"),  # 2100, reported in 2025
])
def test_klines_that_cannot_be_binance_klines_are_malformed(frame, reason):
    with pytest.raises(MalformedMessage, match=reason):
        parse_message(frame)


def test_rest_kline_row_fields():
    row = [1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815",
           1499644799999, "2434.19055334", 308, "1756.87402397", "28.46694368", "0"]
    kline = kline_from_rest("BTCUSDT", "1m", row, closed=False)
    assert (kline.open_time, kline.close_time, kline.high, kline.volume) == (1499040000000, 1499644799999, 0.8,
                                                                               148976.11427815)
    assert kline.closed is False and kline.trades == 308 and kline.quote_volume == 2434.19055334


def test_stream_names_and_intervals():
    assert stream_name("BTCUSDT", "kline", "5m") == "btcusdt@kline_5m"
    assert parse_stream_name("ethusdt@kline_1h") == ("ETHUSDT", "kline", "1h")
    assert parse_stream_name("btcusdt@bookTicker") == ("BTCUSDT", "bookTicker", None)
    assert interval_ms("4h") == 4 * 3_600_000
    with pytest.raises(ValueError, match="valid intervals are 1s 1m 3m"):
        validate_interval("7m")
    with pytest.raises(ValueError, match="unknown stream"):
        parse_stream_name("btcusdt@depth5")
    with pytest.raises(ValueError, match="invalid symbol"):
        stream_name("BTC-USDT", "trade")
