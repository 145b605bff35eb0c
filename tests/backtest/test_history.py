"""The candle histories backtests read: aggregated as the exchange does, cut to a range, bad input refused."""

import numpy as np
import pandas as pd
import pytest

from thebot_panel.backtest.history import load_history
from thebot_panel.replay import Recording


def test_a_15m_history_is_the_exchanges_aggregation_of_the_1m_candles_without_a_partial_last_one():
    minute, quarter = load_history("btcusdt", "1m"), load_history("BTCUSDT", "15m")
    first = minute.iloc[:15]
    assert quarter.index[0] == minute.index[0] and quarter.iloc[0].tolist() == pytest.approx([
        first.open.iloc[0], first.high.max(), first.low.min(), first.close.iloc[-1], first.volume.sum()], rel=1e-12)
    last_end = quarter.index[-1] + np.timedelta64(14, "m")
    assert last_end <= minute.index[-1] < quarter.index[-1] + np.timedelta64(30, "m")


def test_a_range_is_cut_by_open_time_and_paths_read_as_the_replay_reads_them(tmp_path):
    cut = load_history("ETHUSDT", "1m", start="2025-08-01", end="2025-08-01 00:59")
    assert len(cut) == 60 and str(cut.index[0]) == "2025-08-01 00:00:00+00:00"
    recording = Recording.bundled()
    path = tmp_path / "ETHUSDT-1m-2025-08.csv"
    recording["ETHUSDT"].frame().loc["2025-08-01":"2025-08-01 00:59"].reset_index().assign(
        open_time=lambda f: (f.open_time - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)).to_csv(
            path, index=False)
    assert load_history("ETHUSDT", data=[path]).equals(cut)


@pytest.mark.parametrize("args, message", [
    (("XRPUSDT",), "no candles of XRPUSDT in BTCUSDT, ETHUSDT 1m, 2025-07-21 → 2025-08-18: it holds BTCUSDT, ETHUSDT"),
    (("BTCUSDT", "7m"), "unknown interval '7m'"),
    (("BTCUSDT", "1m", None, "2030-01-01"), "no BTCUSDT 1m candles between 2030-01-01 and the end"),
])
def test_what_the_data_does_not_hold_is_refused_naming_it(args, message):
    with pytest.raises(ValueError, match=message):
        load_history(*args)
