"""The UI's colours, by meaning (CSS hex strings, usable in Bokeh and in HTML)."""

#: A rising candle, a buy, a gain, a healthy connection.
UP = "#26a69a"
#: A falling candle, a sell, a loss, an error.
DOWN = "#ef5350"
#: Waiting: connecting, reconnecting, starting.
WARN = "#f5a623"
#: Neither: disconnected, a neutral confluence.
NEUTRAL = "#9e9e9e"
#: The app's accent: the replay badge, table headers.
ACCENT = "#7e57c2"
#: Reference lines (a zero line, an RSI level).
GUIDE = "#888888"
#: Series colours, in order of use (indicator lines, compared symbols, the equity curve).
LINE_COLORS = ("#f5a623", "#7e57c2", "#29b6f6", "#ec407a", "#8d6e63", "#66bb6a", "#26c6da", "#ffa726")
