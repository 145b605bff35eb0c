"""The candle chart's buffer: a tick redraws only what the graph buffered since the last one."""

import dataclasses

import pandas as pd

from recorded import HALT_RECORDING, klines_of
from thebot_panel.hub import FeedHub
from thebot_panel.ui.chart import CandleChart


def test_a_tick_redraws_only_when_updates_are_buffered_and_the_forming_candle_is_patched(tmp_path):
    hub = FeedHub(symbols=["BTCUSDT"], db_path=str(tmp_path / "alerts.db"))
    klines = klines_of(pd.read_csv(HALT_RECORDING).head(200))
    hub.open("BTCUSDT", "1m").load(klines[:199])
    chart = CandleChart(hub, symbol="BTCUSDT")
    assert not chart.due() and len(chart.source.data["open_time"]) == 199
    forming = dataclasses.replace(klines[199], closed=False)
    hub.source_stream.push(forming)
    assert chart.due()                                       # buffered, not drawn yet
    assert len(chart.source.data["open_time"]) == 199
    chart.tick()
    assert not chart.due() and chart.source.data["close"][-1] == forming.close
    assert len(chart.source.data["open_time"]) == 200 and chart.source.data["alpha"][-1] == 0.45
    hub.source_stream.push(dataclasses.replace(forming, close=forming.close + 1.0))
    hub.source_stream.push(klines[199])
    chart.tick()                                             # the two updates of one candle: one row, closed
    assert len(chart.source.data["open_time"]) == 200 and chart.source.data["alpha"][-1] == 1.0
    assert chart.source.data["close"][-1] == klines[199].close and not chart.due()
    chart.detach()
