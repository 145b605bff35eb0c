"""Live dashboard: ``panel serve apps/live.py --address 127.0.0.1 [--args --source replay --symbols btcusdt,ethusdt
--interval 5m]`` (without ``--address``, Bokeh listens on every network interface)."""

import logging
import sys

import panel as pn

from thebot_panel.app import page

logging.getLogger("thebot_panel").setLevel(logging.INFO)  # panel serve's log handler shows our INFO lines too
pn.extension("tabulator", "echarts", notifications=True)

page(sys.argv[1:]).servable(title="thebot-panel · live")
