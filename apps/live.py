"""Live dashboard: ``panel serve apps/live.py [--args --source replay --symbols btcusdt,ethusdt --interval 5m]``."""

import logging
import sys

import panel as pn

from thebot_panel.app import page

logging.getLogger("thebot_panel").setLevel(logging.INFO)  # panel serve's log handler shows our INFO lines too
pn.extension("tabulator", "echarts", notifications=True)

page(sys.argv[1:]).servable(title="thebot-panel · live")
