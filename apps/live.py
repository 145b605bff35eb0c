"""Live dashboard: ``panel serve apps/live.py [--args --source replay --symbols btcusdt,ethusdt --interval 5m]``."""

import logging
import sys

import panel as pn

from thebot_panel.app import page

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
pn.extension("tabulator", notifications=True)

page(sys.argv[1:]).servable(title="thebot-panel · live")
