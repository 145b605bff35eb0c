"""Signal rules: streaming equals batch equals an independent numpy computation on TA-Lib series."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib

from thebot_panel.binance.events import Kline
from thebot_panel.indicators import EMA, RSI
from thebot_panel.pipeline.candles import OHLCV, candle_frame
from thebot_panel.signals import Crossover, LevelCross, Signal

FIXTURES = Path(__file__).parent / "fixtures"
RECORDINGS = {
    "btcusdt_2025": ("BTCUSDT", "BTCUSDT-1m-2025-3000.csv.gz"),
    "ethusdt_2023_halt": ("ETHUSDT", "ETHUSDT-1m-2023-03-23_halt_3000.csv.gz"),
}
NAN = float("nan")


def load(recording: str) -> tuple[str, pd.DataFrame, list[Kline]]:
    symbol, file = RECORDINGS[recording]
    raw = pd.read_csv(FIXTURES / file)
    frame = candle_frame(raw["open_time"].to_numpy(), {c: raw[c].to_numpy() for c in OHLCV})
    times = raw["open_time"].tolist()
    bars = [Kline(symbol, "1m", t, t + 59_999, *row, closed=True)
            for t, row in zip(times, frame[list(OHLCV)].itertuples(index=False))]
    return symbol, frame, bars


def stream(rule, indicators, symbol, bars) -> list[Signal]:
    signals = []
    for k in bars:
        values = {ind.columns[0]: ind.update(k, closed=True)[0] for ind in indicators}
        signal = rule.update(k.open_time, k.close, values, symbol, "1m")
        if signal is not None:
            signals.append(signal)
    return signals


def expected_signals(frame, buy: np.ndarray, sell: np.ndarray) -> list[tuple[int, str, float]]:
    """(open_time, side, close) where ``buy``/``sell`` (comparisons of row i-1 with row i) hold."""
    times, close = frame.index.as_unit("ms").asi8, frame["close"].to_numpy()
    rows = [(i + 1, "BUY") for i in np.flatnonzero(buy)] + [(i + 1, "SELL") for i in np.flatnonzero(sell)]
    return [(int(times[i]), side, float(close[i])) for i, side in sorted(rows)]


@pytest.mark.parametrize("recording", RECORDINGS)
def test_ema_crossover_streaming_equals_batch_equals_talib_sign_changes(recording):
    symbol, frame, bars = load(recording)
    rule = Crossover(fast="ema_9", slow="ema_21")
    streamed = stream(rule, [EMA(period=9), EMA(period=21)], symbol, bars)

    table = frame.join([EMA(period=9).batch(frame), EMA(period=21).batch(frame)])
    assert rule.batch(table, symbol, "1m") == streamed

    close = frame["close"].to_numpy()
    sign = np.sign(talib.EMA(close, 9) - talib.EMA(close, 21))
    expected = expected_signals(frame, (sign[:-1] <= 0) & (sign[1:] > 0), (sign[:-1] >= 0) & (sign[1:] < 0))
    assert [(s.open_time, s.side, s.price) for s in streamed] == expected
    assert len(streamed) > 20
    labels = {(s.symbol, s.interval, s.rule, s.provisional) for s in streamed}
    assert labels == {(symbol, "1m", "EMA(9)×EMA(21)", False)}
    assert all(0 < s.strength <= 1 for s in streamed)


@pytest.mark.parametrize("recording", RECORDINGS)
def test_rsi_level_cross_streaming_equals_batch_equals_talib_crossings(recording):
    symbol, frame, bars = load(recording)
    rule = LevelCross(series="rsi_14", lower=30, upper=70)
    streamed = stream(rule, [RSI(period=14)], symbol, bars)

    assert rule.batch(frame.join(RSI().batch(frame)), symbol, "1m") == streamed

    rsi = talib.RSI(frame["close"].to_numpy(), 14)
    expected = expected_signals(frame, (rsi[:-1] < 30) & (rsi[1:] >= 30), (rsi[:-1] > 70) & (rsi[1:] <= 70))
    assert [(s.open_time, s.side, s.price) for s in streamed] == expected
    assert len(streamed) > 10
    assert {s.rule for s in streamed} == {"RSI(14) 30/70"}
    assert all(0 < s.strength <= 1 for s in streamed)


def test_nan_warm_up_never_fires():
    crossover = Crossover(fast="ema_9", slow="ema_21")
    moves = [(NAN, NAN), (NAN, 1.0), (2.0, NAN), (0.5, 1.0), (2.0, 1.0)]
    fired = [crossover.update(t, 100.0, {"ema_9": f, "ema_21": s}, "BTCUSDT", "1m") for t, (f, s) in enumerate(moves)]
    assert fired[:4] == [None] * 4 and fired[4].side == "BUY"

    level = LevelCross(series="rsi_14")
    fired = [level.update(t, 100.0, {"rsi_14": v}, "BTCUSDT", "1m") for t, v in enumerate([NAN, 50.0, 20.0, NAN, 40.0])]
    assert fired == [None] * 5


def sides(rule, rows) -> list[str | None]:
    return [s and s.side for s in (rule.update(t, 100.0, values, "BTCUSDT", "1m") for t, values in enumerate(rows))]


def test_touching_counts_as_the_side_crossed_from():
    # crossover: previous fast == slow then apart fires; apart then touching does not
    lines = [{"ema_9": fast, "ema_21": 1.0} for fast in (1.0, 2.0, 1.0, 0.5)]
    assert sides(Crossover(), lines) == [None, "BUY", None, "SELL"]
    # level: previous < lower <= now is a BUY, previous > upper >= now a SELL; starting on the level is no cross
    assert sides(LevelCross(), [{"rsi_14": v} for v in (29.0, 30.0, 29.0, 30.5)]) == [None, "BUY", None, "BUY"]
    falling = [{"rsi_14": v} for v in (30.0, 35.0, 71.0, 70.0, 70.0, 69.0)]
    assert sides(LevelCross(), falling) == [None, None, None, "SELL", None, None]


def test_provisional_signal_is_flagged_and_commits_nothing():
    rule = Crossover(fast="ema_9", slow="ema_21")
    assert rule.update(0, 100.0, {"ema_9": 1.0, "ema_21": 2.0}, "BTCUSDT", "1m") is None
    forming = rule.update(60_000, 100.0, {"ema_9": 3.0, "ema_21": 2.0}, "BTCUSDT", "1m", closed=False)
    assert forming == Signal(60_000, "BTCUSDT", "1m", "EMA(9)×EMA(21)", "BUY", 100.0, 1.0, provisional=True)
    closed = rule.update(60_000, 100.0, {"ema_9": 2.1, "ema_21": 2.0}, "BTCUSDT", "1m")
    assert (closed.side, closed.provisional, closed.strength) == ("BUY", False, pytest.approx(1.0))


def test_rule_naming_a_missing_series_raises_naming_it_and_the_available_ones():
    rule = Crossover(fast="ema_50", slow="ema_21")
    with pytest.raises(ValueError, match=r"'ema_50'.*\['ema_21', 'rsi_14'\]"):
        rule.update(0, 100.0, {"ema_21": 1.0, "rsi_14": 50.0}, "BTCUSDT", "1m")
    _, frame, _ = load("btcusdt_2025")
    with pytest.raises(ValueError, match=r"'rsi_7'.*'close'"):
        LevelCross(series="rsi_7").batch(frame, "BTCUSDT", "1m")
