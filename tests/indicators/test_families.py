"""Every indicator family through the same checks: one closed candle at a time and in batch it equals its
reference on both recordings, its provisional value equals the committed one, and its lookback is TA-Lib's.

The cases are in ``indicator_families``; what only one family needs (zero guards in the halt, bit-for-bit
arithmetic, anchors...) is in that family's own module, ``test_<family>.py``.
"""

import pytest
from talib import abstract

from indicator_checks import (check_batch_equals_streaming, check_provisional_equals_committed,
                              check_streaming_matches_reference)
from indicator_families import CASES, LOOKBACKS
from recorded import RECORDINGS

EVERY_CASE = [pytest.param(make, reference, id=f"{family}-{case}")
              for family, cases in CASES.items() for case, (make, reference) in cases.items()]
EVERY_LOOKBACK = [pytest.param(indicator, function, parameters, id=f"{family}-{indicator.label}")
                  for family, rows in LOOKBACKS.items() for indicator, function, parameters in rows]


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("make, reference", EVERY_CASE)
def test_streaming_one_candle_at_a_time_matches_reference(make, reference, recording):
    check_streaming_matches_reference(make, reference, recording)


@pytest.mark.parametrize("recording", RECORDINGS)
@pytest.mark.parametrize("make, reference", EVERY_CASE)
def test_batch_equals_streaming_exactly(make, reference, recording):
    check_batch_equals_streaming(make, recording)


@pytest.mark.parametrize("make, reference", EVERY_CASE)
def test_provisional_value_equals_committed_value_and_commits_nothing(make, reference):
    check_provisional_equals_committed(make)


@pytest.mark.parametrize("indicator, function, parameters", EVERY_LOOKBACK)
def test_lookback_equals_talib_lookback(indicator, function, parameters):
    reference = abstract.Function(function)
    reference.parameters = parameters
    assert indicator.lookback == indicator.warmup == reference.lookback
