"""Trend family (ADX, PLUS_DI, MINUS_DI, AROON, SAR) beyond the shared checks of ``test_families.py``: TA-Lib's
zero guards when the flat halt comes first, instruments quoted below 1e-8, outputs and panes."""

import pytest

from indicator_checks import assert_close_after_warmup, check_streaming_matches_reference, stream
from indicator_families import TREND
from recorded import HALT_START, RECORDINGS, load

from thebot_panel.indicators import ADX, AROON, MINUS_DI, PLUS_DI, SAR


@pytest.mark.parametrize("case", ["ADX(14)=talib default", "ADX(7)", "PLUS_DI(14)=talib default",
                                  "MINUS_DI(9)", "AROON(14)=talib default", "SAR(0.02, 0.2)=talib default"])
def test_zero_guards_when_the_halt_is_the_first_candles(case):
    """From the halt on, the first 72 candles are flat: TR and the DI sum are 0, as TA-Lib guards them."""
    make, reference = TREND[case]
    indicator = make()
    got = check_streaming_matches_reference(make, reference, load("ethusdt_2023_halt").iloc[HALT_START:])
    if case.startswith(("ADX", "PLUS_DI", "MINUS_DI")):
        assert (got[indicator.warmup:72] == 0.0).all()


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("case", ["ADX(14)=talib default", "PLUS_DI(14)=talib default", "MINUS_DI(9)"])
def test_an_instrument_quoted_below_1e_8_is_not_zeroed_like_talib(case, recording):
    """Prices scaled by 1e-13 (true ranges, closes and variances below 1e-8): TA-Lib 0.8.1 tests the true-range sum against exactly 0 (#253), not 1e-8."""
    make, reference = TREND[case]
    frame = load(recording)
    frame[["open", "high", "low", "close"]] *= 1e-13
    indicator = make()
    got, expected = stream(indicator, frame)[:, 0], reference(frame)
    assert_close_after_warmup(got, expected, indicator.warmup)
    assert (got[indicator.warmup:] != 0).mean() > 0.9


def test_outputs_panes_and_styles():
    assert AROON.outputs == ("aroondown", "aroonup") and AROON().columns == ["aroondown_14", "aroonup_14"]
    assert (ADX.pane, PLUS_DI.pane, MINUS_DI.pane, AROON.pane, SAR.pane) == ("own",) * 4 + ("price",)
    assert SAR.styles == {"sar": "dots"} and SAR().label == "SAR(0.02, 0.2)"
    assert ADX().needs == ["high", "low", "close"] and SAR().needs == ["high", "low"]
