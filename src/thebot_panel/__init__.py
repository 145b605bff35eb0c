"""thebot-panel: real-time Binance market analytics on the HoloViz stack.

Notebook entry points (imported lazily, so ``python -m thebot_panel.replay`` stays light)::

    from thebot_panel import FeedHub, CandleChart, Dashboard
    hub = FeedHub.shared(source="replay", symbols=["BTCUSDT"], speed=60)
    await hub.start()
    chart = CandleChart(hub); chart            # live chart in the cell
    chart.frame().tail()                       # candles + indicator columns as a DataFrame
"""

import logging
from importlib import import_module

# A library logs, the application decides where to: without a handler of its own (a notebook, a script), nothing
# of ours reaches stderr; `panel serve apps/live.py` and `thebot-replay` configure logging and show our lines.
logging.getLogger(__name__).addHandler(logging.NullHandler())

_EXPORTS = {
    "FeedHub": "thebot_panel.hub",
    "CandleChart": "thebot_panel.ui.chart",
    "Dashboard": "thebot_panel.ui.dashboard",
    "ReplayServer": "thebot_panel.replay",
    "Recording": "thebot_panel.replay",
    "MarketSocket": "thebot_panel.binance.client",
    "RestClient": "thebot_panel.binance.rest",
    "CandleBook": "thebot_panel.market.candles",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'thebot_panel' has no attribute {name!r}")
