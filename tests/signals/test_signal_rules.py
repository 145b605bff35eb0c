"""Signal rules: streaming equals batch on real recordings, equals independent numpy/TA-Lib references,
fires on the hand-checked candle, never repaints, and rejects bad series and parameters."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from itertools import pairwise

import numpy as np
import pytest
import talib
from numpy.lib.stride_tricks import sliding_window_view

from recorded import RECORDINGS, klines, load

from thebot_panel.indicators import (
    BBANDS,
    DONCHIAN,
    EMA,
    KELTNER,
    MACD,
    RSI,
    SUPERTREND,
    with_indicators,
)
from thebot_panel.market.candles import OHLCV, candle_frame
from thebot_panel.signals import (
    BandBreakout,
    Crossover,
    Divergence,
    LevelCross,
    MACDCross,
    Signal,
    SuperTrendFlip,
)

NAN = float("nan")
SYMBOLS = {"btcusdt_2025": "BTCUSDT", "ethusdt_2023_halt": "ETHUSDT"}


def indicators():
    return [EMA(period=9), EMA(period=21), RSI(period=14), MACD(), BBANDS(period=20), KELTNER(), DONCHIAN(),
            SUPERTREND()]


@lru_cache
def table(recording: str):
    """The recording with every indicator column the rules below read (batch)."""
    return with_indicators(load(recording), *indicators())


@lru_cache
def updates(recording: str) -> tuple:
    """The recording as the graph's signal node sees it, indicators streamed: per candle two forming
    updates (partial, then final OHLCV) and the close, each ``(open_time, close, values, closed)``."""
    live, out = [(ind, ind.columns) for ind in indicators()], []
    for k in klines(load(recording)):
        for candle in (replace(k, high=k.open, low=k.open, close=k.open, volume=0.0, closed=False),
                       replace(k, closed=False), k):
            values = {c: getattr(candle, c) for c in OHLCV}
            for ind, columns in live:
                values.update(zip(columns, ind.update(candle, candle.closed)))
            out.append((k.open_time, candle.close, values, candle.closed))
    return tuple(out)


def stream(rule, recording: str, forming: bool = False) -> list[Signal]:
    """Signals of ``rule`` fed the recording's closed candles (and the forming updates if ``forming``)."""
    signals = []
    for open_time, close, values, closed in updates(recording):
        if closed or forming:
            signal = rule.update(open_time, close, values, SYMBOLS[recording], "1m", closed=closed)
            if signal is not None:
                signals.append(signal)
    return signals


def found(signals) -> list[tuple]:
    return [(s.open_time, s.side, s.price) for s in signals]


def reference(frame, buy: np.ndarray, sell: np.ndarray) -> list[tuple[int, str, float]]:
    """(open_time, side, close) of the rows where ``buy`` / ``sell`` hold (boolean arrays over the rows)."""
    times, close = frame.index.as_unit("ms").asi8, frame["close"].to_numpy()
    rows = [(i, "BUY") for i in np.flatnonzero(buy)] + [(i, "SELL") for i in np.flatnonzero(sell)]
    return [(int(times[i]), side, float(close[i])) for i, side in sorted(rows)]


def shift(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], x[:-1]])


RULES = {  # name -> (make, label)
    "ema_crossover": (lambda: Crossover(fast="ema_9", slow="ema_21"), "EMA(9)×EMA(21)"),
    "close_over_ema": (lambda: Crossover(fast="close", slow="ema_21"), "close×EMA(21)"),
    "macd_cross": (MACDCross, "MACD(12, 26, 9) signal cross"),
    "macd_cross_zero_filter": (lambda: MACDCross(zero_filter=True), "MACD(12, 26, 9) signal cross (zero filter)"),
    "rsi_levels": (lambda: LevelCross(series="rsi_14", lower=30, upper=70), "RSI(14) 30/70"),
    "rsi_levels_no_hysteresis": (lambda: LevelCross(lower=25, upper=75, hysteresis=0), "RSI(14) 25/75"),
    "bbands_breakout": (BandBreakout, "BBANDS(20, 2, 2) breakout"),
    "bbands_reentry": (lambda: BandBreakout(mode="reentry"), "BBANDS(20, 2, 2) reentry"),
    "keltner_breakout": (lambda: BandBreakout(upper="upper_20_2_10", lower="lower_20_2_10"),
                         "KELTNER(20, 2, 10) breakout"),
    "donchian_breakout": (lambda: BandBreakout(upper="upper_20", lower="lower_20"), "DONCHIAN(20) breakout"),
    "donchian_reentry": (lambda: BandBreakout(upper="upper_20", lower="lower_20", mode="reentry"),
                         "DONCHIAN(20) reentry"),
    "supertrend_flip": (SuperTrendFlip, "SUPERTREND(10, 3) flip"),
    "rsi_divergence": (Divergence, "RSI(14) divergence"),
    "rsi_hidden_divergence": (lambda: Divergence(kind="hidden"), "RSI(14) hidden divergence"),
    "macd_hist_divergence": (lambda: Divergence(series="hist_12_26_9", left=3, right=3), "HIST(12, 26, 9) divergence"),
}


# --- every rule: batch == streaming, no repainting, provisional mode ---------------------------------

@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("name", RULES)
def test_streaming_equals_batch_on_real_recordings(name, recording):
    make, label = RULES[name]
    streamed = stream(make(), recording)
    assert make().batch(table(recording), SYMBOLS[recording], "1m") == streamed
    assert len(streamed) >= 5 and {s.side for s in streamed} == {"BUY", "SELL"}
    assert {(s.symbol, s.interval, s.rule, s.provisional) for s in streamed} == {(SYMBOLS[recording], "1m", label, False)}
    assert all(0 <= s.strength <= 1 for s in streamed) and max(s.strength for s in streamed) > 0.05


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("name", RULES)
def test_forming_updates_never_change_closed_candle_signals(name, recording):
    make, _ = RULES[name]
    closes_only = stream(make(), recording)
    assert stream(make(), recording, forming=True) == closes_only   # default: forming candles not evaluated

    rule = make()
    rule.provisional = True
    provisional = stream(rule, recording, forming=True)
    assert [s for s in provisional if not s.provisional] == closes_only
    forming = [s for s in provisional if s.provisional]
    assert forming and {s.rule for s in forming} == {closes_only[0].rule}


def test_recompute_continues_streaming_from_the_end_of_the_history():
    frame, recording = table("btcusdt_2025"), "btcusdt_2025"
    for name, (make, _) in RULES.items():
        rule = make()
        head = rule.recompute(frame.iloc[:1500], "BTCUSDT", "1m")
        tail = [s for open_time, close, values, closed in updates(recording)[3 * 1500:] if closed
                for s in [rule.update(open_time, close, values, "BTCUSDT", "1m")] if s is not None]
        assert head + tail == make().batch(frame, "BTCUSDT", "1m"), name


# --- independent references on the recordings ---------------------------------------------------------

@pytest.mark.parametrize("recording", RECORDINGS)
def test_ema_crossover_equals_talib_sign_changes(recording):
    frame = table(recording)
    close = frame["close"].to_numpy()
    sign = np.sign(talib.EMA(close, 9) - talib.EMA(close, 21))
    expected = reference(frame, (shift(sign) <= 0) & (sign > 0), (shift(sign) >= 0) & (sign < 0))
    assert found(stream(Crossover(fast="ema_9", slow="ema_21"), recording)) == expected and len(expected) > 20


@pytest.mark.parametrize("recording", RECORDINGS)
def test_macd_cross_equals_talib_with_zero_filter(recording):
    frame = table(recording)
    macd, signal, _ = talib.MACD(frame["close"].to_numpy(), 12, 26, 9)
    up, down = (shift(macd) <= shift(signal)) & (macd > signal), (shift(macd) >= shift(signal)) & (macd < signal)
    assert found(stream(MACDCross(), recording)) == reference(frame, up, down)
    filtered = found(stream(MACDCross(zero_filter=True), recording))
    assert filtered == reference(frame, up & (macd < 0), down & (macd > 0))
    assert 10 < len(filtered) < len(reference(frame, up, down))


@pytest.mark.parametrize("recording", RECORDINGS)
def test_rsi_level_cross_equals_talib_crossings_with_hysteresis_rearming(recording):
    frame = table(recording)
    rsi = talib.RSI(frame["close"].to_numpy(), 14)
    buy, sell = (shift(rsi) < 30) & (rsi >= 30), (shift(rsi) > 70) & (rsi <= 70)
    crossings = reference(frame, buy, sell)
    assert found(stream(LevelCross(hysteresis=0), recording)) == crossings

    # with hysteresis h: a crossing fires if its side has not fired yet, or the RSI reached 30 + h
    # (a SELL: 70 - h) on some candle from the last firing of that side until just before it
    h, expected = 5.0, []
    last = {"BUY": None, "SELL": None}
    for i in sorted([*np.flatnonzero(buy), *np.flatnonzero(sell)]):
        side = "BUY" if buy[i] else "SELL"
        j = last[side]
        if j is None or (rsi[j:i].max() >= 30 + h if side == "BUY" else rsi[j:i].min() <= 70 - h):
            expected.append(i)
            last[side] = i
    streamed = stream(LevelCross(hysteresis=h), recording)
    assert [s.open_time for s in streamed] == [int(t) for t in frame.index.as_unit("ms").asi8[expected]]
    assert len(streamed) < len(crossings)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("bands", [("upperband_20_2_2", "lowerband_20_2_2"), ("upper_20", "lower_20")])
def test_band_rules_compare_the_close_with_the_previous_candles_bands(recording, bands):
    frame = table(recording)
    close, upper, lower = (frame[c].to_numpy() for c in ("close", *bands))
    up0, low0 = shift(upper), shift(lower)
    position = np.where(close > up0, 1.0, np.where(close < low0, -1.0, 0.0))
    position[np.isnan(up0) | np.isnan(low0)] = np.nan
    before = shift(position)
    change = (position != before) & ~np.isnan(position) & ~np.isnan(before)
    breakout = found(stream(BandBreakout(upper=bands[0], lower=bands[1]), recording))
    assert breakout == reference(frame, change & (position == 1), change & (position == -1))
    reentry = found(stream(BandBreakout(upper=bands[0], lower=bands[1], mode="reentry"), recording))
    assert reentry == reference(frame, change & (position == 0) & (before == -1), change & (position == 0) & (before == 1))
    if bands[0] == "upper_20":  # the current Donchian band holds the current high: a close never passes it
        assert (close <= upper)[19:].all() and len(breakout) > 50


@pytest.mark.parametrize("recording", RECORDINGS)
def test_supertrend_flip_equals_direction_changes(recording):
    frame = table(recording)
    direction = frame["direction_10_3"].to_numpy()
    streamed = stream(SuperTrendFlip(), recording)
    assert found(streamed) == reference(frame, (shift(direction) == -1) & (direction == 1),
                                        (shift(direction) == 1) & (direction == -1))
    rows = np.searchsorted(frame.index.as_unit("ms").asi8, [s.open_time for s in streamed])
    close, line = frame["close"].to_numpy()[rows], frame["supertrend_10_3"].to_numpy()[rows]
    np.testing.assert_allclose([s.strength for s in streamed], np.minimum(1, np.abs(close - line) / close * 200),
                               rtol=1e-12)


def divergence_reference(frame, series: str, left: int, right: int, max_gap: int, kind: str):
    """(open_time, side, strength) by brute force over sliding windows of the recording."""
    osc, times = frame[series].to_numpy(), frame.index.as_unit("ms").asi8
    width, fired = left + right + 1, {}
    for field, side, sign in (("low", "BUY", -1), ("high", "SELL", 1)):
        price = sign * frame[field].to_numpy()   # a swing is the strict maximum of sign × price
        windows = sliding_window_view(price, width)
        swings = np.flatnonzero((windows[:, [left]] > np.delete(windows, left, axis=1)).all(axis=1)) + left
        m = 1 if kind == "regular" else -1
        for a, b in pairwise(swings):
            if b - a <= max_gap and m * (price[b] - price[a]) > 0 > m * sign * (osc[b] - osc[a]):
                strength = min(1.0, abs(osc[b] - osc[a]) / max(abs(osc[a]), abs(osc[b])))
                fired.setdefault(b + right, []).append((side, strength))
    return [(int(times[i]), *s[0]) for i, s in sorted(fired.items()) if len(s) == 1]


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("series, left, right, kind", [("rsi_14", 5, 5, "regular"), ("rsi_14", 5, 5, "hidden"),
                                                       ("hist_12_26_9", 3, 2, "regular")])
def test_divergence_equals_brute_force_swings(recording, series, left, right, kind):
    rule = Divergence(series=series, left=left, right=right, kind=kind, max_gap=40)
    streamed = stream(rule, recording)
    expected = divergence_reference(table(recording), series, left, right, 40, kind)
    assert [(s.open_time, s.side) for s in streamed] == [e[:2] for e in expected] and len(expected) > 5
    assert [s.strength for s in streamed] == pytest.approx([e[2] for e in expected], rel=1e-12)


# --- hand-checked synthetic cases -----------------------------------------------------------------

def run(rule, rows: list[dict], closes=None) -> list[tuple[int, str, float] | None]:
    """Feed ``rows`` (series values per candle, open_time = row number) as closed candles; check batch agrees."""
    closes = closes or [100.0] * len(rows)
    out = [rule.update(t, c, row, "BTCUSDT", "1m") for t, (c, row) in enumerate(zip(closes, rows))]
    frame = candle_frame(np.arange(len(rows)), {"close": closes, **{k: [r[k] for r in rows] for k in rows[0]}})
    assert rule.batch(frame, "BTCUSDT", "1m") == [s for s in out if s is not None]
    return [s and (s.open_time, s.side, round(s.strength, 6)) for s in out]


def sides(rule, rows) -> list[str | None]:
    return [s and s[1] for s in run(rule, rows)]


def test_touching_counts_as_the_side_crossed_from():
    # crossover: previous fast == slow then apart fires; apart then touching does not
    lines = [{"ema_9": fast, "ema_21": 1.0} for fast in (1.0, 2.0, 1.0, 0.5)]
    assert sides(Crossover(), lines) == [None, "BUY", None, "SELL"]
    # level: previous < lower <= now is a BUY, previous > upper >= now a SELL; starting on the level is no cross
    assert sides(LevelCross(hysteresis=0), [{"rsi_14": v} for v in (29.0, 30.0, 29.0, 30.5)]) == [None, "BUY", None, "BUY"]
    falling = [{"rsi_14": v} for v in (30.0, 35.0, 71.0, 70.0, 70.0, 69.0)]
    assert sides(LevelCross(), falling) == [None, None, None, "SELL", None, None]


def test_crossover_of_the_price_and_strength_from_how_sharply_the_gap_moves():
    rows = [{"close": c, "ema_21": 100.0} for c in (99.999, 100.001, 100.0, 99.0)]
    # the gap moves by 0.002 (BUY) then by 1.0 (SELL): |Δgap| / close × 5000, capped at 1
    assert run(Crossover(fast="close", slow="ema_21"), rows, [r["close"] for r in rows]) == [
        None, (1, "BUY", round(0.002 / 100.001 * 5000, 6)), None, (3, "SELL", 1.0)]


def test_nan_warm_up_never_fires():
    moves = [(NAN, NAN), (NAN, 1.0), (2.0, NAN), (0.5, 1.0), (2.0, 1.0)]
    assert sides(Crossover(), [{"ema_9": f, "ema_21": s} for f, s in moves]) == [None] * 4 + ["BUY"]
    assert sides(LevelCross(), [{"rsi_14": v} for v in [NAN, 50.0, 20.0, NAN, 40.0]]) == [None] * 5
    directions = [{"direction_10_3": d, "supertrend_10_3": 99.0} for d in (NAN, 1.0, -1.0)]
    assert sides(SuperTrendFlip(), directions) == [None, None, "SELL"]


def test_level_cross_rearms_a_side_only_past_the_level_by_the_hysteresis():
    rsi = [25, 31, 29, 31, 34, 29, 31, 36, 28, 32, 75, 69, 71, 69, 66, 64, 71, 68]
    #          BUY     no  (34 < 35)  no  re-armed  BUY     SELL    no  (66 > 65) re-armed SELL
    got = run(LevelCross(hysteresis=5), [{"rsi_14": float(v)} for v in rsi])
    assert [(s[0], s[1]) for s in got if s] == [(1, "BUY"), (9, "BUY"), (11, "SELL"), (17, "SELL")]
    assert [s[2] for s in got if s] == [0.6, 0.4, 0.6, 0.3]   # |now - previous| / 10
    no_hysteresis = run(LevelCross(hysteresis=0), [{"rsi_14": float(v)} for v in rsi])
    assert [s[0] for s in no_hysteresis if s] == [1, 3, 6, 9, 11, 13, 17]
    # a jump straight past lower + h re-arms on the firing candle itself
    assert sides(LevelCross(), [{"rsi_14": v} for v in (20.0, 40.0, 29.0, 31.0)]) == [None, "BUY", None, "BUY"]


def test_macd_cross_zero_filter_keeps_crosses_on_the_stretched_side():
    pairs = [(-2.0, -1.0), (-0.5, -1.0), (-1.5, -1.0), (1.0, 0.5), (0.2, 0.5), (0.4, 0.5), (-0.05, -0.1)]
    rows, closes = [{"macd_12_26_9": m, "signal_12_26_9": s} for m, s in pairs], [10_000.0] * len(pairs)
    assert sides(MACDCross(), rows) == [None, "BUY", "SELL", "BUY", "SELL", None, "BUY"]
    # strength |Δ(macd - signal)| / close × 5000; the SELL at -1.5 and the BUY at +1 are on the wrong side of zero
    assert run(MACDCross(zero_filter=True), rows, closes) == [None, (1, "BUY", 0.75), None, None, (4, "SELL", 0.4),
                                                              None, (6, "BUY", 0.075)]


def donchian_frame():
    """Closes 30, 30, 30, 30, 37, 38, 20, 17 with high = close + 5, low = close - 5; Donchian(3) bands."""
    close = np.array([30, 30, 30, 30, 37, 38, 20, 17], dtype=float)
    frame = candle_frame(np.arange(len(close)) * 60_000, {"open": close, "high": close + 5, "low": close - 5,
                                                          "close": close, "volume": np.ones_like(close)})
    return with_indicators(frame, DONCHIAN(period=3))


def test_donchian_breakout_compares_with_the_previous_band():
    frame = donchian_frame()
    # from candle 2: upper_3 = 35, 35, 42, 43, 43, 43 and lower_3 = 25, 25, 25, 25, 15, 12; the close never
    # passes the current upper band, but candle 4's close 37 passes candle 3's upper 35 (width 10): BUY,
    # strength 4 × 2 / 10; candle 6's close 20 falls below candle 5's lower 25 (width 18): SELL, min(1, 4 × 5 / 18)
    assert list(frame["upper_3"])[2:] == [35, 35, 42, 43, 43, 43] and list(frame["lower_3"])[2:] == [25, 25, 25, 25, 15, 12]
    assert (frame["close"] <= frame["upper_3"]).iloc[2:].all()
    signals = BandBreakout(upper="upper_3", lower="lower_3").batch(frame, "BTCUSDT", "1m")
    assert [(s.open_time, s.side, s.price, s.strength) for s in signals] == [
        (240_000, "BUY", 37.0, pytest.approx(0.8)), (360_000, "SELL", 20.0, 1.0)]
    # reentry: candle 5's close 38 is back under candle 4's upper 42 (width 17): SELL, 4 × 4 / 17;
    # candle 7's close 17 is back above candle 6's lower 15 (width 28): BUY, 4 × 2 / 28
    signals = BandBreakout(upper="upper_3", lower="lower_3", mode="reentry").batch(frame, "BTCUSDT", "1m")
    assert [(s.open_time, s.side, s.price, s.strength) for s in signals] == [
        (300_000, "SELL", 38.0, pytest.approx(16 / 17)), (420_000, "BUY", 17.0, pytest.approx(8 / 28))]


def test_supertrend_flip_sides_and_strength():
    directions = [1.0, 1.0, -1.0, -1.0, 1.0, 1.0]
    lines = [95.0, 96.0, 100.2, 100.1, 99.6, 99.5]
    got = run(SuperTrendFlip(), [{"direction_10_3": d, "supertrend_10_3": x} for d, x in zip(directions, lines)])
    assert got == [None, None, (2, "SELL", 0.4), None, (4, "BUY", 0.8), None]   # |close - line| / close × 200


def swing_rows(lows, osc):
    return [{"low": lo, "high": lo + 1, "rsi_14": o} for lo, o in zip(lows, osc)]


#          candle: 0   1  2  3   4  5  6  7   8   9
SWING_LOWS = [10, 9, 8, 9, 10, 9, 7, 9, 10, 11]   # swing lows at 2 and 6 (left = right = 2), a swing high at 4
SWING_OSC = [40, 30, 20, 30, 40, 35, 25, 30, 40, 45]


def test_divergence_fires_on_the_candle_confirming_the_second_swing():
    rule = Divergence(left=2, right=2)
    # price: lower low 8 -> 7; RSI: higher low 20 -> 25: BUY when candle 8 confirms the swing at 6
    assert run(rule, swing_rows(SWING_LOWS, SWING_OSC)) == [None] * 8 + [(8, "BUY", 0.2), None]
    # mirrored: higher high 92 -> 93 with RSI lower high 80 -> 75: SELL
    mirrored = [{"low": 99 - lo, "high": 100 - lo, "rsi_14": 100 - o} for lo, o in zip(SWING_LOWS, SWING_OSC)]
    assert run(rule, mirrored) == [None] * 8 + [(8, "SELL", round(5 / 80, 6)), None]
    # the oscillator confirming the price (lower low too) is no divergence; swings further apart than max_gap neither
    assert sides(rule, swing_rows(SWING_LOWS, [40, 30, 20, 30, 40, 35, 15, 30, 40, 45])) == [None] * 10
    assert sides(Divergence(left=2, right=2, max_gap=3), swing_rows(SWING_LOWS, SWING_OSC)) == [None] * 10
    # a longer right side delays the confirmation: swing 6 needs lows 7..9 above it, confirmed at 9
    assert sides(Divergence(left=2, right=3), swing_rows(SWING_LOWS, SWING_OSC)) == [None] * 9 + ["BUY"]


def test_divergence_swings_are_strict_and_hidden_divergence_reverses_the_test():
    flat = list(SWING_LOWS)
    flat[5] = 7   # lows 7, 7 at 5 and 6: no strict minimum, no swing
    assert sides(Divergence(left=2, right=2), swing_rows(flat, SWING_OSC)) == [None] * 10
    higher_low = [10, 9, 8, 9, 10, 9.5, 8.5, 9, 10, 11]   # price higher low 8 -> 8.5, RSI lower low 20 -> 15
    osc = [40, 30, 20, 30, 40, 35, 15, 30, 40, 45]
    assert run(Divergence(left=2, right=2, kind="hidden"), swing_rows(higher_low, osc)) == [None] * 8 + [(8, "BUY", 0.25), None]
    assert sides(Divergence(left=2, right=2), swing_rows(higher_low, osc)) == [None] * 10


# --- modes, state, errors, labels -------------------------------------------------------------------

def test_provisional_signal_is_flagged_and_commits_nothing():
    rule = LevelCross(provisional=True)
    assert rule.update(0, 100.0, {"rsi_14": 25.0}, "BTCUSDT", "1m") is None
    state = rule.state
    forming = rule.update(60_000, 100.0, {"rsi_14": 31.0}, "BTCUSDT", "1m", closed=False)
    assert forming == Signal(60_000, "BTCUSDT", "1m", "RSI(14) 30/70", "BUY", 100.0, 0.6, provisional=True)
    assert rule.state == state   # the BUY side is still armed
    assert rule.update(60_000, 100.0, {"rsi_14": 29.0}, "BTCUSDT", "1m", closed=False) is None
    closed = rule.update(60_000, 101.0, {"rsi_14": 32.0}, "BTCUSDT", "1m")
    assert closed == Signal(60_000, "BTCUSDT", "1m", "RSI(14) 30/70", "BUY", 101.0, 0.7, provisional=False)


def test_default_mode_never_evaluates_forming_candles():
    rule = Crossover()
    rule.update(0, 100.0, {"ema_9": 1.0, "ema_21": 2.0}, "BTCUSDT", "1m")
    state = rule.state
    assert rule.update(60_000, 100.0, {"ema_9": 3.0, "ema_21": 2.0}, "BTCUSDT", "1m", closed=False) is None
    assert rule.update(60_000, 100.0, {}, "BTCUSDT", "1m", closed=False) is None   # not even read
    assert rule.state == state
    assert rule.update(60_000, 100.0, {"ema_9": 3.0, "ema_21": 2.0}, "BTCUSDT", "1m").side == "BUY"


def test_disabled_rule_never_fires_and_parameter_changes_reset_the_state():
    rows = [{"ema_9": f, "ema_21": 1.0} for f in (0.5, 2.0)]
    assert sides(Crossover(enabled=False), rows) == [None, None]
    rule = Crossover()
    rule.update(0, 100.0, rows[0], "BTCUSDT", "1m")
    rule.provisional = True                      # a mode switch keeps the state
    assert rule.state == (0.5, 1.0)
    rule.fast = "ema_12"                          # any other change starts over
    assert rule.state is None and rule.columns == ("ema_12", "ema_21") and rule.label == "EMA(12)×EMA(21)"


def test_rule_naming_a_missing_series_raises_naming_it_and_the_available_ones():
    rule = Crossover(fast="ema_50", slow="ema_21")
    with pytest.raises(ValueError, match=r"EMA\(50\)×EMA\(21\) needs series 'ema_50'; available series: \['ema_21', 'rsi_14'\]"):
        rule.update(0, 100.0, {"ema_21": 1.0, "rsi_14": 50.0}, "BTCUSDT", "1m")
    with pytest.raises(ValueError, match=r"needs series 'rsi_7'; available series: \['close', 'high', 'low', 'open'"):
        LevelCross(series="rsi_7").batch(load("btcusdt_2025"), "BTCUSDT", "1m")
    with pytest.raises(ValueError, match=r"needs series 'hist_12_26_9'; available series: \['close', 'high', 'low'\]"):
        Divergence(series="hist_12_26_9").validate(["close", "high", "low"])
    BandBreakout(upper="upper_20", lower="lower_20").validate(table("btcusdt_2025").columns)   # no error


@pytest.mark.parametrize("make, message", [
    (lambda: Divergence(left=0), r"Divergence.left=0 is invalid; allowed: bounds \(1, 50\)"),
    (lambda: Divergence(max_gap=5000), r"Divergence.max_gap=5000 is invalid; allowed: bounds \(2, 1000\)"),
    (lambda: LevelCross(hysteresis=-1.0), r"LevelCross.hysteresis=-1.0 is invalid; allowed: bounds \(0, None\)"),
    (lambda: BandBreakout(mode="squeeze"), r"BandBreakout.mode='squeeze' is invalid; allowed: one of \['breakout', 'reentry'\]"),
])
def test_out_of_range_parameter_raises_naming_it_and_the_bounds(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_labels_follow_the_parameters():
    assert [make().label for make, _ in RULES.values()] == [label for _, label in RULES.values()]
    assert Divergence(series="hist_12_26_9").label == "HIST(12, 26, 9) divergence"
    assert BandBreakout(upper="upper_20", lower="lowerband_20_2_2").label == "UPPER(20)/LOWERBAND(20, 2, 2) breakout"
    assert Divergence().columns == ("low", "high", "rsi_14") and SuperTrendFlip().columns == ("direction_10_3", "supertrend_10_3")
