"""The replay server: a local fake of Binance spot market data replaying recorded 1m candles.

``ReplayServer`` speaks Binance's WebSocket stream and REST protocol on 127.0.0.1; ``Recording``
holds the candles it plays (the bundled sample by default). Command line: ``thebot-replay`` or
``python -m thebot_panel.replay``. Modules: ``recording`` (the data), ``synthesis`` (the events and
REST rows made from it), ``clock`` (the replay clock), ``server`` (the protocol).
"""

from .recording import MinuteCandles, Recording, load_candles
from .server import ReplayServer
from .synthesis import SERVED_INTERVALS, partial_candle

__all__ = ["MinuteCandles", "Recording", "ReplayServer", "SERVED_INTERVALS", "load_candles", "partial_candle"]
