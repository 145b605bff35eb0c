"""Mutations of real Binance stream frames, for fuzzing the parser and the socket: seeded with a ``random.Random``,
so a failure reproduces. ``mutated(rng, raw)`` gives one to three mutations of a frame (fields retyped, dropped,
repeated or nested; kline lies: the closed flag, off-grid or future open times, intervals, prices, volumes, the
stream; non-event shapes; truncated or flipped bytes).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import orjson

#: Binance's kline intervals and their length in ms, from its spot docs ("1M", a calendar month, has none).
INTERVAL_MS = {"1s": 1_000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
               "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
               "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000, "1M": None}

@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: ``NaN``, ``1e400``, a huge integer."""

    token: bytes


@dataclass(frozen=True)
class Pairs:
    """A JSON object that may repeat a key (``{"x": false, "x": "false"}``)."""

    items: tuple


def encode(value) -> bytes:
    """JSON of ``value``, where ``Raw`` and ``Pairs`` may appear at any depth."""
    if isinstance(value, Raw):
        return value.token
    if isinstance(value, (dict, Pairs)):
        items = value.items() if isinstance(value, dict) else value.items
        return b"{" + b",".join(orjson.dumps(k) + b":" + encode(v) for k, v in items) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(encode(v) for v in value) + b"]"
    if type(value) is int:  # also beyond 64 bits, which orjson does not write
        return str(value).encode()
    return orjson.dumps(value)


ODD_VALUES = [None, True, False, 0, -1, 1, 0.0, -0.0, 1.5, 1e308, -1e308, 2**63 - 1, -(2**63), 10**13, "", "0", "-0",
              "-1", "1e-320", "1e308", "NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "1_000", " 1 ", "0x10",
              "false", "true", "False", [], [1], {}, {"a": 1}, "BTCUSDT", "btcusdt", "1m", "5m", "\u00e9\ud7ff"]
RAW_TOKENS = [Raw(b) for b in (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"1e-400", b"-0",
                               b"123456789012345678901234567890", b"-123456789012345678901234567890", b"01", b"1.")]
STREAM_NAMES = ["btcusdt@kline_5m", "BTCUSDT@kline_1m", "ethusdt@kline_1m", "btcusdt@kline_1m ", "btcusdt@kline_",
                "btcusdt@trade", "btcusdt@kline_1M", "", 5, None, ["btcusdt@kline_1m"]]


def retyped(rng: random.Random, value):
    """``value`` as another JSON type: a number as a string and back, null, a list, a bool, an object."""
    if isinstance(value, str):
        try:
            number = float(value)
            options = [number, int(number) if math.isfinite(number) else None]
        except ValueError:
            options = [len(value)]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        options = [str(value), repr(float(value)), f"{value:e}" if isinstance(value, float) else str(value) + ".0"]
    else:
        options = [str(value).lower(), int(bool(value)) if not isinstance(value, (dict, list)) else 1]
    return rng.choice(options + [None, [value], not value, {"v": value}])


def nested(rng: random.Random, value, depth: int) -> Raw:
    """``value`` inside ``depth`` lists and objects, written as text (``encode`` would hit the recursion limit)."""
    lists = [rng.random() < 0.5 for _ in range(depth)]
    return Raw(b"".join(b"[" if is_list else b'{"a":' for is_list in lists) + encode(value)
               + b"".join(b"]" if is_list else b"}" for is_list in reversed(lists)))


def targets(message: dict) -> list[dict]:
    """The objects whose fields a mutation may change: the envelope, the event, the kline."""
    found = [message]
    data = message.get("data")
    if isinstance(data, dict):
        found.append(data)
        message = data
    if isinstance(message.get("k"), dict):
        found.append(message["k"])
    return found


def mutate_field(rng: random.Random, message: dict):
    """Change, drop or repeat one field of the envelope, event or kline, or nest it deeply."""
    target = rng.choice(targets(message))
    if not target:
        return message
    key = rng.choice(list(target))
    how = rng.randrange(7)
    if how == 0:
        target[key] = retyped(rng, target[key])
    elif how == 1:
        target[key] = rng.choice(ODD_VALUES)
    elif how == 2:
        target[key] = rng.choice(RAW_TOKENS)
    elif how == 3:
        del target[key]
    elif how == 4:
        target[key] = nested(rng, target[key], rng.choice([1, 2, 10, 100, 500, 900, 1000, 1020]))
    else:  # the key twice, the real value first or last (orjson keeps the last)
        items = list(target.items())
        items.insert(rng.randrange(len(items) + 1), (key, rng.choice(ODD_VALUES + [target[key]])))
        if target is message:
            return Pairs(tuple(items))
        replace_in(message, target, Pairs(tuple(items)))
    return message


def replace_in(message: dict, old: dict, new) -> None:
    """Put ``new`` where ``message`` (envelope, event or kline) holds ``old``."""
    for holder in targets(message):
        for key, value in holder.items():
            if value is old:
                holder[key] = new
                return


def mutate_kline(rng: random.Random, message: dict):
    """A kline-specific lie: the closed flag, the open time, the interval, the prices, the volume, the stream."""
    event = message.get("data", message)
    k = event.get("k") if isinstance(event, dict) else None
    if not isinstance(k, dict) or type(k.get("t")) is not int:
        return mutate_field(rng, message)
    length = INTERVAL_MS.get(str(k.get("i"))) or 60_000
    how = rng.randrange(9)
    if how == 0:
        k["x"] = rng.choice(["false", "true", 0, 1, None, "False", [False], {}])
    elif how == 1:  # off the grid, negative, or far in the future (with or without an event time to match)
        t = rng.choice([k["t"] + rng.choice([1, -1, 999, length // 2, -length]), -length, -1,
                        10**13 - 10**13 % length, 2**53 - 2**53 % length])
        k["t"], k["T"] = t, t + length - 1
        if rng.random() < 0.5:
            event["E"] = t + length
    elif how == 2:
        k["T"] = rng.choice([k["t"], k["t"] - 1, -1, 0])
    elif how == 3:
        k["i"] = rng.choice([*INTERVAL_MS, "2m", "1m ", "1H", "", "1w2"])
    elif how == 4:
        k["h"], k["l"] = k.get("l"), k.get("h")
    elif how == 5:
        k[rng.choice("ohlc")] = rng.choice(["0", "-1", "0.0000000001", "1e12", "-0", f"{rng.uniform(1, 200_000):.2f}"])
    elif how == 6:
        k[rng.choice("vqVQ")] = rng.choice(["-1", "-0.00000001", "NaN", "inf", "1e400", "0", "1e308"])
    elif how == 7:
        event["E"] = rng.choice([0, -1, k["t"] - 1, k["t"], "x", None, 1e300])
    else:
        message["stream"] = rng.choice(STREAM_NAMES)
    return message


def mutate_shape(rng: random.Random, message: dict):
    """Not an event at all: a non-object payload or ``data``, deep nesting, an empty or foreign object."""
    how = rng.randrange(5)
    if how == 0:
        return rng.choice([[message], "kline", 42, None, True, [], ""])
    if how == 1 and "data" in message:
        message["data"] = rng.choice([[message["data"]], "x", 1, None, False])
        return message
    if how == 2:
        return nested(rng, message, rng.choice([10, 200, 900, 1000, 1020, 1030]))
    if how == 3:
        return rng.choice([{}, {"stream": "btcusdt@kline_1m"}, {"data": {}}, {"e": None}, {"id": 1}, {"result": 1}])
    return {"stream": rng.choice(STREAM_NAMES), "data": message.get("data", message)}


def mutate_bytes(rng: random.Random, raw: bytes) -> bytes:
    """Truncated, flipped, inserted or deleted bytes."""
    how = rng.randrange(4)
    i = rng.randrange(len(raw) + 1)
    if how == 0:
        return raw[:i]
    data = bytearray(raw)
    if how == 1:
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(len(data))
            data[j] ^= 1 << rng.randrange(8)
    elif how == 2:
        data[i:i] = rng.choice([b"\xff", b"\xc3", b"\x00", b"{", b"]", b'"', b",", b"\\", b"\xed\xa0\x80"])
    else:
        del data[i:i + rng.randint(1, 8)]
    return bytes(data)


def mutated(rng: random.Random, raw: bytes) -> bytes | str:
    """One to three mutations of a real frame; sometimes as a ``str`` (websockets' text frames)."""
    value = orjson.loads(raw)
    for _ in range(rng.choice([1, 1, 2, 3])):
        if not isinstance(value, dict):
            break
        value = rng.choices([mutate_field, mutate_kline, mutate_shape], weights=[5, 4, 1])[0](rng, value)
    frame = encode(value)
    if rng.random() < 0.15:
        frame = mutate_bytes(rng, frame)
    if rng.random() < 0.3:
        return frame.decode("utf-8", errors="surrogateescape")
    return frame


