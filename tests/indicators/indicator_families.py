"""The cases of each indicator family: what every indicator must equal, and TA-Lib's lookback of each.

``CASES[family]`` maps a case name to ``(make, reference)``: ``make()`` builds the indicator and
``reference(frame)`` returns the expected outputs in ``outputs`` order (``talib`` wherever TA-Lib has the
indicator, else a numpy/pandas computation of its definition on TA-Lib building blocks). Every indicator runs
at TA-Lib's defaults, at our user defaults and at other settings; chained cases belong to the family of the
outer indicator. ``LOOKBACKS[family]`` lists ``(indicator, talib function, its parameters)``.
``test_families.py`` runs the shared checks of ``indicator_checks`` over all of them; each family's own
tests pick cases by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import talib

from thebot_panel.indicators import (AD, ADOSC, ADX, AROON, ATR, BBANDS, CCI, DEMA, DONCHIAN, EMA, HMA, KAMA, KELTNER,
                                     MACD, MFI, MINUS_DI, MOM, NATR, OBV, PLUS_DI, ROC, RSI, SAR, SMA, STOCH, STOCHF,
                                     STOCHRSI, SUPERTREND, T3, TEMA, TRANGE, TRIMA, VWAP, WILLR, WMA)
from thebot_panel.market.candles import OHLCV


def hlcv(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """open, high, low, close, volume arrays of ``frame``, for ``talib`` calls."""
    return tuple(frame[c].to_numpy() for c in OHLCV)


def hlc(frame: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """high, low, close arrays of ``frame``."""
    _, high, low, close_, _ = hlcv(frame)
    return high, low, close_


def close(frame: pd.DataFrame) -> np.ndarray:
    return frame["close"].to_numpy()


PRICES = {  # source -> the candle price, as TA-Lib computes it
    "close": close,
    "hl2": lambda f: (f["high"] + f["low"]).to_numpy() / 2,
    "hlc3": lambda f: (f["high"] + f["low"] + f["close"]).to_numpy() / 3,
    "ohlc4": lambda f: talib.AVGPRICE(*(f[c].to_numpy() for c in ("open", "high", "low", "close"))),
}


def ta(function: str, source: str = "close", **params):
    """Reference: ``talib.<function>`` of the ``source`` price."""
    return lambda f: getattr(talib, function)(PRICES[source](f), **params)


def ta_columns(function: str, *columns: str, **params):
    """Reference: ``talib.<function>`` of the frame's ``columns``."""
    return lambda f: getattr(talib, function)(*(f[c].to_numpy() for c in columns), **params)


def hull(x: np.ndarray, n: int) -> np.ndarray:
    """Hull's definition with TA-Lib's WMA, independent of our kernels."""
    return talib.WMA(2 * talib.WMA(x, n // 2) - talib.WMA(x, n), int(np.sqrt(n)))


def keltner(frame, period, multiplier, atr_period, source=None):
    """TradingView's Keltner channels: EMA(source) ± multiplier × ATR (here talib's), NaN until both exist."""
    high, low, close_ = hlc(frame)
    middle = talib.EMA(close_ if source is None else source(frame), period)
    span = multiplier * talib.ATR(high, low, close_, atr_period)
    middle = np.where(np.isnan(span), np.nan, middle)
    return middle + span, middle, middle - span


def donchian(frame, period):
    """Highest high, midpoint, lowest low from talib.MAX / talib.MIN (the definition)."""
    high, low, _ = hlc(frame)
    upper, lower = talib.MAX(high, period), talib.MIN(low, period)
    return upper, (upper + lower) / 2, lower


def supertrend_arrays(high, low, close_, atr_period, multiplier):
    """talib.SUPERTREND, its integer trend (0 in the warm-up) as a float direction (NaN in the warm-up)."""
    value, trend = talib.SUPERTREND(high, low, close_, atr_period, multiplier)
    return value, np.where(np.isnan(value), np.nan, trend.astype("float64"))


def supertrend(frame, atr_period, multiplier):
    return supertrend_arrays(*hlc(frame), atr_period, multiplier)


VWAP_PRICES = {  # VWAP source -> the candle price, by its definition
    "hlc3": lambda f: (f["high"] + f["low"] + f["close"]) / 3,
    "close": lambda f: f["close"],
    "ohlc4": lambda f: (f["open"] + f["high"] + f["low"] + f["close"]) / 4,
}


def anchor_periods(index: pd.DatetimeIndex, anchor: str) -> np.ndarray:
    """A key of each candle's UTC day, Monday-started week or calendar month (pandas, not our kernel)."""
    day = index.normalize()
    if anchor == "session":
        return day.asi8
    if anchor == "week":
        return (day - pd.to_timedelta(index.day_of_week, unit="D")).asi8
    return (index.year * 12 + index.month - 1).to_numpy()


def vwap_reference(anchor="session", source="hlc3"):
    """Reference: the cumulative volume-weighted ``source`` price within each anchor period (NaN until it has volume)."""
    def reference(f):
        key = anchor_periods(f.index, anchor)
        weighted = (VWAP_PRICES[source](f) * f["volume"]).groupby(key).cumsum()
        volume = f["volume"].groupby(key).cumsum()
        return (weighted / volume).where(volume != 0).to_numpy()
    return reference


AVERAGES = {  # TA-Lib's defaults, ours, other settings (HMA: its definition over talib.WMA)
    "SMA(20)": (lambda: SMA(), lambda f: talib.SMA(close(f), 20)),
    "SMA(30)=talib default": (lambda: SMA(period=30), lambda f: talib.SMA(close(f))),
    "SMA(50, hlc3)": (lambda: SMA(period=50, source="hlc3"), lambda f: talib.SMA(talib.TYPPRICE(*hlcv(f)[1:4]), 50)),
    "EMA(20)": (lambda: EMA(), lambda f: talib.EMA(close(f), 20)),
    "EMA(30)=talib default": (lambda: EMA(period=30), lambda f: talib.EMA(close(f))),
    "EMA(9)": (lambda: EMA(period=9), lambda f: talib.EMA(close(f), 9)),
    "EMA(9, hl2)": (lambda: EMA(period=9, source="hl2"), lambda f: talib.EMA(talib.MEDPRICE(*hlcv(f)[1:3]), 9)),
    "WMA(30)=talib default": (lambda: WMA(period=30), ta("WMA")),
    "WMA(20)=default": (lambda: WMA(), ta("WMA", timeperiod=20)),
    "WMA(9)": (lambda: WMA(period=9), ta("WMA", timeperiod=9)),
    "WMA(9, hl2)": (lambda: WMA(period=9, source="hl2"), ta("WMA", "hl2", timeperiod=9)),
    "DEMA(30)=talib default": (lambda: DEMA(period=30), ta("DEMA")),
    "DEMA(20)=default": (lambda: DEMA(), ta("DEMA", timeperiod=20)),
    "DEMA(9)": (lambda: DEMA(period=9), ta("DEMA", timeperiod=9)),
    "DEMA(9, hlc3)": (lambda: DEMA(period=9, source="hlc3"), ta("DEMA", "hlc3", timeperiod=9)),
    "TEMA(30)=talib default": (lambda: TEMA(period=30), ta("TEMA")),
    "TEMA(20)=default": (lambda: TEMA(), ta("TEMA", timeperiod=20)),
    "TEMA(7)": (lambda: TEMA(period=7), ta("TEMA", timeperiod=7)),
    "TEMA(9, ohlc4)": (lambda: TEMA(period=9, source="ohlc4"), ta("TEMA", "ohlc4", timeperiod=9)),
    "TRIMA(30)=talib default": (lambda: TRIMA(period=30), ta("TRIMA")),
    "TRIMA(20)=default": (lambda: TRIMA(), ta("TRIMA", timeperiod=20)),
    "TRIMA(10)": (lambda: TRIMA(period=10), ta("TRIMA", timeperiod=10)),
    "TRIMA(9, hl2)": (lambda: TRIMA(period=9, source="hl2"), ta("TRIMA", "hl2", timeperiod=9)),
    "TRIMA(2)": (lambda: TRIMA(period=2), ta("TRIMA", timeperiod=2)),
    "KAMA(30)=defaults": (lambda: KAMA(), ta("KAMA")),
    "KAMA(10)": (lambda: KAMA(period=10), ta("KAMA", timeperiod=10)),
    "KAMA(21, hlc3)": (lambda: KAMA(period=21, source="hlc3"), ta("KAMA", "hlc3", timeperiod=21)),
    "T3(5, 0.7)=defaults": (lambda: T3(), ta("T3")),
    "T3(10, 0.5, hl2)": (lambda: T3(period=10, vfactor=0.5, source="hl2"), ta("T3", "hl2", timeperiod=10, vfactor=0.5)),
    "T3(20, 0.0)": (lambda: T3(period=20, vfactor=0.0), ta("T3", timeperiod=20, vfactor=0.0)),
    "HMA(20)=default": (lambda: HMA(), lambda f: hull(PRICES["close"](f), 20)),
    "HMA(9, hl2)": (lambda: HMA(period=9, source="hl2"), lambda f: hull(PRICES["hl2"](f), 9)),
    "HMA(16)": (lambda: HMA(period=16), lambda f: hull(PRICES["close"](f), 16)),
    "EMA(9) of RSI(14)": (lambda: EMA(period=9, of=RSI()), lambda f: talib.EMA(talib.RSI(close(f)), 9)),
    "DEMA(10) of RSI(14)": (lambda: DEMA(period=10, of=RSI(period=14)),
                            lambda f: talib.DEMA(talib.RSI(PRICES["close"](f), 14), 10)),
    "KAMA(10) of EMA(5)": (lambda: KAMA(period=10, of=EMA(period=5)),
                           lambda f: talib.KAMA(talib.EMA(PRICES["close"](f), 5), 10)),
    "HMA(9) of TEMA(5)": (lambda: HMA(period=9, of=TEMA(period=5)), lambda f: hull(talib.TEMA(PRICES["close"](f), 5), 9)),
    "TRIMA(9) of DEMA(5)": (lambda: TRIMA(period=9, of=DEMA(period=5)), lambda f: talib.TRIMA(talib.DEMA(close(f), 5), 9)),
}

MOMENTUM = {  # TA-Lib's defaults, ours (TradingView's for the stochastics), other settings
    "RSI(14)=talib default": (lambda: RSI(), lambda f: talib.RSI(close(f))),
    "RSI(7)": (lambda: RSI(period=7), lambda f: talib.RSI(close(f), 7)),
    "RSI(14, ohlc4)": (lambda: RSI(source="ohlc4"), lambda f: talib.RSI(talib.AVGPRICE(*hlcv(f)[:4]), 14)),
    "STOCH(5,3,3)=talib default": (lambda: STOCH(fastk_period=5, slowk_period=3, slowd_period=3),
                                   lambda f: talib.STOCH(*hlc(f))),
    "STOCH(14,3,3)=ours": (lambda: STOCH(),
                           lambda f: talib.STOCH(*hlc(f), fastk_period=14, slowk_period=3, slowd_period=3)),
    "STOCH(21,5,4)": (lambda: STOCH(fastk_period=21, slowk_period=5, slowd_period=4),
                      lambda f: talib.STOCH(*hlc(f), fastk_period=21, slowk_period=5, slowd_period=4)),
    "STOCH(9,1,1)": (lambda: STOCH(fastk_period=9, slowk_period=1, slowd_period=1),
                     lambda f: talib.STOCH(*hlc(f), fastk_period=9, slowk_period=1, slowd_period=1)),
    "STOCHF(5,3)=talib default": (lambda: STOCHF(fastk_period=5, fastd_period=3), lambda f: talib.STOCHF(*hlc(f))),
    "STOCHF(14,3)=ours": (lambda: STOCHF(), lambda f: talib.STOCHF(*hlc(f), fastk_period=14, fastd_period=3)),
    "STOCHF(21,5)": (lambda: STOCHF(fastk_period=21, fastd_period=5),
                     lambda f: talib.STOCHF(*hlc(f), fastk_period=21, fastd_period=5)),
    "STOCHRSI(14,5,3)=talib default": (lambda: STOCHRSI(fastk_period=5), lambda f: talib.STOCHRSI(close(f))),
    "STOCHRSI(14,14,3)=ours": (lambda: STOCHRSI(),
                               lambda f: talib.STOCHRSI(close(f), timeperiod=14, fastk_period=14, fastd_period=3)),
    "STOCHRSI(7,9,4, hlc3)": (lambda: STOCHRSI(timeperiod=7, fastk_period=9, fastd_period=4, source="hlc3"),
                              lambda f: talib.STOCHRSI(talib.TYPPRICE(*hlc(f)), timeperiod=7, fastk_period=9,
                                                       fastd_period=4)),
    "MACD(12,26,9)=talib default=ours": (lambda: MACD(), lambda f: talib.MACD(close(f))),
    "MACD(8,21,5)": (lambda: MACD(fast=8, slow=21, signal=5),
                     lambda f: talib.MACD(close(f), fastperiod=8, slowperiod=21, signalperiod=5)),
    "MACD(26,12,1) swapped like talib": (lambda: MACD(fast=26, slow=12, signal=1),
                                         lambda f: talib.MACD(close(f), fastperiod=26, slowperiod=12, signalperiod=1)),
    "MOM(10)=talib default=ours": (lambda: MOM(), lambda f: talib.MOM(close(f))),
    "MOM(3, hl2)": (lambda: MOM(period=3, source="hl2"),
                    lambda f: talib.MOM(talib.MEDPRICE(f["high"].to_numpy(), f["low"].to_numpy()), 3)),
    "ROC(10)=talib default=ours": (lambda: ROC(), lambda f: talib.ROC(close(f))),
    "ROC(20)": (lambda: ROC(period=20), lambda f: talib.ROC(close(f), 20)),
    "WILLR(14)=talib default=ours": (lambda: WILLR(), lambda f: talib.WILLR(*hlc(f))),
    "WILLR(7)": (lambda: WILLR(period=7), lambda f: talib.WILLR(*hlc(f), 7)),
    "CCI(14)=talib default=ours": (lambda: CCI(), lambda f: talib.CCI(*hlc(f))),
    "CCI(40)": (lambda: CCI(period=40), lambda f: talib.CCI(*hlc(f), 40)),
    "MFI(14)=talib default=ours": (lambda: MFI(), lambda f: talib.MFI(*hlcv(f)[1:])),
    "MFI(7)": (lambda: MFI(period=7), lambda f: talib.MFI(*hlcv(f)[1:], 7)),
    "SMA(9) of MACD hist": (lambda: SMA(period=9, of=MACD(), output="hist"),
                            lambda f: talib.SMA(talib.MACD(close(f))[2], 9)),
    "RSI(5) of SMA(10)": (lambda: RSI(period=5, of=SMA(period=10)), lambda f: talib.RSI(talib.SMA(close(f), 10), 5)),
}

TREND = {  # TA-Lib's defaults equal ours (14; 0.02/0.2)
    "ADX(14)=talib default": (lambda: ADX(), lambda f: talib.ADX(*hlc(f))),
    "ADX(7)": (lambda: ADX(period=7), lambda f: talib.ADX(*hlc(f), 7)),
    "ADX(30)": (lambda: ADX(period=30), lambda f: talib.ADX(*hlc(f), 30)),
    "ADX(2): TR < 1e-8 within the halt": (lambda: ADX(period=2), lambda f: talib.ADX(*hlc(f), 2)),
    "PLUS_DI(14)=talib default": (lambda: PLUS_DI(), lambda f: talib.PLUS_DI(*hlc(f))),
    "PLUS_DI(9)": (lambda: PLUS_DI(period=9), lambda f: talib.PLUS_DI(*hlc(f), 9)),
    "PLUS_DI(3): TR < 1e-8 within the halt": (lambda: PLUS_DI(period=3), lambda f: talib.PLUS_DI(*hlc(f), 3)),
    "MINUS_DI(14)=talib default": (lambda: MINUS_DI(), lambda f: talib.MINUS_DI(*hlc(f))),
    "MINUS_DI(9)": (lambda: MINUS_DI(period=9), lambda f: talib.MINUS_DI(*hlc(f), 9)),
    "AROON(14)=talib default": (lambda: AROON(), lambda f: talib.AROON(*hlc(f)[:2])),
    "AROON(25)": (lambda: AROON(period=25), lambda f: talib.AROON(*hlc(f)[:2], 25)),
    "AROON(5)": (lambda: AROON(period=5), lambda f: talib.AROON(*hlc(f)[:2], 5)),
    "SAR(0.02, 0.2)=talib default": (lambda: SAR(), lambda f: talib.SAR(*hlc(f)[:2])),
    "SAR(0.01, 0.1)": (lambda: SAR(acceleration=0.01, maximum=0.1),
                       lambda f: talib.SAR(*hlc(f)[:2], acceleration=0.01, maximum=0.1)),
    "SAR(0.3, 0.2): acceleration capped": (lambda: SAR(acceleration=0.3, maximum=0.2),
                                           lambda f: talib.SAR(*hlc(f)[:2], acceleration=0.3, maximum=0.2)),
}

VOLATILITY = {  # TA-Lib 0.8.1 has DONCHIAN and SUPERTREND; KELTNER and DONCHIAN also by their definition
    "BBANDS()=talib default": (lambda: BBANDS(), lambda f: talib.BBANDS(close(f))),
    "BBANDS(20, 2, 2)": (lambda: BBANDS(period=20), lambda f: talib.BBANDS(close(f), 20, 2.0, 2.0)),
    "BBANDS(5, 2, 2)": (lambda: BBANDS(period=5), lambda f: talib.BBANDS(close(f), 5, 2.0, 2.0)),
    "BBANDS(10, 1.5, 2.5, hlc3)": (lambda: BBANDS(period=10, nbdevup=1.5, nbdevdn=2.5, source="hlc3"),
                                   lambda f: talib.BBANDS(talib.TYPPRICE(*hlc(f)), 10, 1.5, 2.5)),
    "BBANDS(20, 1, 1)": (lambda: BBANDS(nbdevup=1.0, nbdevdn=1.0), lambda f: talib.BBANDS(close(f), 20, 1.0, 1.0)),
    "ATR(14)=talib default": (lambda: ATR(), lambda f: talib.ATR(*hlc(f))),
    "ATR(7)": (lambda: ATR(period=7), lambda f: talib.ATR(*hlc(f), 7)),
    "NATR(14)=talib default": (lambda: NATR(), lambda f: talib.NATR(*hlc(f))),
    "NATR(21)": (lambda: NATR(period=21), lambda f: talib.NATR(*hlc(f), 21)),
    "TRANGE": (lambda: TRANGE(), lambda f: talib.TRANGE(*hlc(f))),
    "KELTNER(20, 2, 10)": (lambda: KELTNER(), lambda f: keltner(f, 20, 2.0, 10)),
    "KELTNER(10, 1.5, 14, hlc3)": (lambda: KELTNER(period=10, multiplier=1.5, atr_period=14, source="hlc3"),
                                   lambda f: keltner(f, 10, 1.5, 14, lambda f: talib.TYPPRICE(*hlc(f)))),
    "DONCHIAN(20)": (lambda: DONCHIAN(), lambda f: donchian(f, 20)),
    "DONCHIAN(55)": (lambda: DONCHIAN(period=55), lambda f: donchian(f, 55)),
    "DONCHIAN(20)=talib default": (lambda: DONCHIAN(), lambda f: talib.DONCHIAN(*hlc(f)[:2])),
    "DONCHIAN(10)=talib": (lambda: DONCHIAN(period=10), lambda f: talib.DONCHIAN(*hlc(f)[:2], 10)),
    "SUPERTREND(10, 3)=talib default": (lambda: SUPERTREND(), lambda f: supertrend(f, 10, 3.0)),
    "SUPERTREND(7, 2)": (lambda: SUPERTREND(atr_period=7, multiplier=2.0), lambda f: supertrend(f, 7, 2.0)),
    "SUPERTREND(10, 0.5)": (lambda: SUPERTREND(multiplier=0.5), lambda f: supertrend(f, 10, 0.5)),  # closes beyond the basic band
}

VOLUME = {  # OBV, AD, ADOSC: TA-Lib; VWAP: its pandas definition
    "OBV": (lambda: OBV(), ta_columns("OBV", "close", "volume")),
    "AD": (lambda: AD(), ta_columns("AD", "high", "low", "close", "volume")),
    "ADOSC(3, 10)=defaults": (lambda: ADOSC(), ta_columns("ADOSC", "high", "low", "close", "volume")),
    "ADOSC(4, 12)": (lambda: ADOSC(fast=4, slow=12),
                     ta_columns("ADOSC", "high", "low", "close", "volume", fastperiod=4, slowperiod=12)),
    "ADOSC(5, 20)": (lambda: ADOSC(fast=5, slow=20),
                     ta_columns("ADOSC", "high", "low", "close", "volume", fastperiod=5, slowperiod=20)),
    "ADOSC(10, 3)": (lambda: ADOSC(fast=10, slow=3),
                     ta_columns("ADOSC", "high", "low", "close", "volume", fastperiod=10, slowperiod=3)),
    "VWAP(session)=default": (lambda: VWAP(), vwap_reference()),
    "VWAP(session, close)": (lambda: VWAP(source="close"), vwap_reference(source="close")),
    "VWAP(week)": (lambda: VWAP(anchor="week"), vwap_reference("week")),
    "VWAP(week, ohlc4)": (lambda: VWAP(anchor="week", source="ohlc4"), vwap_reference("week", "ohlc4")),
    "VWAP(month)": (lambda: VWAP(anchor="month"), vwap_reference("month")),
}

CASES = {"averages": AVERAGES, "momentum": MOMENTUM, "trend": TREND, "volatility": VOLATILITY, "volume": VOLUME}

LOOKBACKS = {  # family -> (indicator, the talib function, its parameters): lookback == warmup == TA-Lib's lookback
    "averages": [
        (SMA(period=20), "SMA", {"timeperiod": 20}), (EMA(period=50), "EMA", {"timeperiod": 50}),
        (WMA(), "WMA", {"timeperiod": 20}), (WMA(period=7), "WMA", {"timeperiod": 7}),
        (DEMA(), "DEMA", {"timeperiod": 20}), (DEMA(period=30), "DEMA", {}),
        (TEMA(), "TEMA", {"timeperiod": 20}), (TEMA(period=30), "TEMA", {}),
        (TRIMA(), "TRIMA", {"timeperiod": 20}), (TRIMA(period=9), "TRIMA", {"timeperiod": 9}),
        (KAMA(), "KAMA", {}), (KAMA(period=10), "KAMA", {"timeperiod": 10}),
        (T3(), "T3", {}), (T3(period=10, vfactor=0.5), "T3", {"timeperiod": 10, "vfactor": 0.5}),
    ],
    "momentum": [
        (RSI(period=7), "RSI", {"timeperiod": 7}),
        (STOCH(), "STOCH", {"fastk_period": 14, "slowk_period": 3, "slowd_period": 3}),
        (STOCH(fastk_period=21, slowk_period=5, slowd_period=4), "STOCH",
         {"fastk_period": 21, "slowk_period": 5, "slowd_period": 4}),
        (STOCHF(), "STOCHF", {"fastk_period": 14, "fastd_period": 3}),
        (STOCHF(fastk_period=5, fastd_period=1), "STOCHF", {"fastk_period": 5, "fastd_period": 1}),
        (STOCHRSI(), "STOCHRSI", {"timeperiod": 14, "fastk_period": 14, "fastd_period": 3}),
        (STOCHRSI(timeperiod=7, fastk_period=9, fastd_period=4), "STOCHRSI",
         {"timeperiod": 7, "fastk_period": 9, "fastd_period": 4}),
        (MACD(), "MACD", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
        (MACD(fast=26, slow=12, signal=1), "MACD", {"fastperiod": 26, "slowperiod": 12, "signalperiod": 1}),
        (MOM(period=3), "MOM", {"timeperiod": 3}),
        (ROC(period=20), "ROC", {"timeperiod": 20}),
        (WILLR(period=7), "WILLR", {"timeperiod": 7}),
        (CCI(period=40), "CCI", {"timeperiod": 40}),
        (MFI(period=7), "MFI", {"timeperiod": 7}),
    ],
    "trend": [
        (ADX(period=14), "ADX", {"timeperiod": 14}),
        (ADX(period=7), "ADX", {"timeperiod": 7}),
        (PLUS_DI(period=9), "PLUS_DI", {"timeperiod": 9}),
        (MINUS_DI(period=21), "MINUS_DI", {"timeperiod": 21}),
        (AROON(period=25), "AROON", {"timeperiod": 25}),
        (SAR(acceleration=0.01, maximum=0.1), "SAR", {"acceleration": 0.01, "maximum": 0.1}),
    ],
    "volatility": [
        (BBANDS(), "BBANDS", {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0}),
        (BBANDS(period=5, nbdevup=1.5), "BBANDS", {"timeperiod": 5, "nbdevup": 1.5, "nbdevdn": 2.0}),
        (ATR(), "ATR", {"timeperiod": 14}),
        (ATR(period=7), "ATR", {"timeperiod": 7}),
        (NATR(period=21), "NATR", {"timeperiod": 21}),
        (TRANGE(), "TRANGE", {}),
        (KELTNER(period=10, atr_period=14), "KC", {"timeperiod": 10, "atrperiod": 14, "nbdev": 2.0}),
        (KELTNER(), "KC", {"timeperiod": 20, "atrperiod": 10, "nbdev": 2.0}),
        (DONCHIAN(period=55), "DONCHIAN", {"timeperiod": 55}),
        (SUPERTREND(atr_period=7, multiplier=2.0), "SUPERTREND", {"timeperiod": 7, "multiplier": 2.0}),
    ],
    "volume": [
        (OBV(), "OBV", {}), (AD(), "AD", {}), (ADOSC(), "ADOSC", {}),
        (ADOSC(fast=5, slow=20), "ADOSC", {"fastperiod": 5, "slowperiod": 20}),
        (ADOSC(fast=10, slow=3), "ADOSC", {"fastperiod": 10, "slowperiod": 3}),
    ],
}
