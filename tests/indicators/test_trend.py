"""Trend family (ADX, PLUS_DI, MINUS_DI, AROON, SAR): equal to TA-Lib streaming and in batch, on both recordings."""

import numpy as np
import pytest
import talib
from indicator_cases import (HALT_START, RECORDINGS, assert_close_after_warmup, check_batch_equals_streaming,
                             check_provisional_equals_committed, check_streaming_matches_reference, hlcv, load, stream)
from talib import abstract

from thebot_panel.indicators import ADX, AROON, MINUS_DI, PLUS_DI, SAR


def hlc(frame):
    _, high, low, close, _ = hlcv(frame)
    return high, low, close


CASES = {  # case -> (make, reference); TA-Lib's defaults equal ours (14; 0.02/0.2)
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


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_streaming_one_candle_at_a_time_matches_talib(case, recording):
    check_streaming_matches_reference(*CASES[case], recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", CASES)
def test_batch_equals_streaming_exactly(case, recording):
    check_batch_equals_streaming(CASES[case][0], recording)


@pytest.mark.parametrize("case", ["ADX(14)=talib default", "ADX(7)", "PLUS_DI(14)=talib default",
                                  "MINUS_DI(9)", "AROON(14)=talib default", "SAR(0.02, 0.2)=talib default"])
def test_zero_guards_when_the_halt_is_the_first_candles(case):
    """From the halt on, the first 72 candles are flat: TR and the DI sum are 0, as TA-Lib guards them."""
    make, reference = CASES[case]
    frame = load("ethusdt_2023_halt").iloc[HALT_START:]
    indicator = make()
    got, expected = stream(indicator, frame), reference(frame)
    expected = expected if isinstance(expected, tuple) else (expected,)
    for i in range(len(indicator.outputs)):
        assert_close_after_warmup(got[:, i], np.asarray(expected[i]), indicator.warmup)
    if case.startswith(("ADX", "PLUS_DI", "MINUS_DI")):
        assert (got[indicator.warmup:72] == 0.0).all()


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", ["ADX(14)=talib default", "PLUS_DI(14)=talib default", "MINUS_DI(9)"])
def test_an_instrument_quoted_below_1e_8_is_not_zeroed_like_talib(case, recording):
    """Prices scaled by 1e-13 (true ranges, closes and variances below 1e-8): TA-Lib 0.8.1 tests the true-range sum against exactly 0 (#253), not 1e-8."""
    make, reference = CASES[case]
    frame = load(recording)
    frame[["open", "high", "low", "close"]] *= 1e-13
    indicator = make()
    got, expected = stream(indicator, frame)[:, 0], reference(frame)
    assert_close_after_warmup(got, expected, indicator.warmup)
    assert (got[indicator.warmup:] != 0).mean() > 0.9


@pytest.mark.parametrize("make", [ADX, PLUS_DI, MINUS_DI, AROON, SAR])
def test_provisional_value_equals_committed_value_and_commits_nothing(make):
    check_provisional_equals_committed(make)


@pytest.mark.parametrize("indicator, function, parameters", [
    (ADX(period=14), "ADX", {"timeperiod": 14}),
    (ADX(period=7), "ADX", {"timeperiod": 7}),
    (PLUS_DI(period=9), "PLUS_DI", {"timeperiod": 9}),
    (MINUS_DI(period=21), "MINUS_DI", {"timeperiod": 21}),
    (AROON(period=25), "AROON", {"timeperiod": 25}),
    (SAR(acceleration=0.01, maximum=0.1), "SAR", {"acceleration": 0.01, "maximum": 0.1}),
])
def test_lookback_equals_talib_lookback(indicator, function, parameters):
    reference = abstract.Function(function)
    reference.parameters = parameters
    assert indicator.lookback == indicator.warmup == reference.lookback


def test_outputs_panes_and_styles():
    assert AROON.outputs == ("aroondown", "aroonup") and AROON().columns == ["aroondown_14", "aroonup_14"]
    assert (ADX.pane, PLUS_DI.pane, MINUS_DI.pane, AROON.pane, SAR.pane) == ("own",) * 4 + ("price",)
    assert SAR.styles == {"sar": "dots"} and SAR().label == "SAR(0.02, 0.2)"
    assert ADX().needs == ["high", "low", "close"] and SAR().needs == ["high", "low"]
