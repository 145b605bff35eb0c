"""The replay server: a local fake of Binance spot market data replaying recorded 1m candles.

``ReplayServer`` speaks Binance's WebSocket stream and REST protocol on 127.0.0.1; ``Recording``
holds the candles it plays (the bundled sample by default); ``load_candles`` gives any readable source's
closed 1m candles as frames (for a backtest). Command lines: ``thebot-replay`` (``python -m
thebot_panel.replay``) and ``thebot-record`` (``python -m thebot_panel.replay.recorder``). Modules:
``recording`` (the data), ``candle_files`` (candle files: ours, Binance's archives, freqtrade's),
``recorder`` (recording live streams), ``synthesis`` (the events and REST rows made from the data),
``clock`` (the replay clock), ``server`` (the protocol).
"""

from .recording import MinuteCandles, Recording, load_candles
from .server import ReplayServer
from .synthesis import SERVED_INTERVALS, partial_candle

__all__ = ["MinuteCandles", "Recording", "ReplayServer", "SERVED_INTERVALS", "load_candles", "partial_candle"]
