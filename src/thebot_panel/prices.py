"""How a quote-currency price is written for people (alerts, orders, tables)."""

import math


def price_text(price: float) -> str:
    """``119,387.60`` (two decimals from 100 up), ``95.96``, ``1.1188``, ``0.06714``, ``0.00001235`` (below 100:
    six significant digits, at most 8 decimals as on Binance, at least 2, no trailing zeros beyond them), so cheap
    coins keep their ticks; ``"—"`` for NaN."""
    if math.isnan(price):
        return "—"
    if abs(price) >= 100 or price == 0:
        return f"{price:,.2f}"
    decimals = min(8, max(2, 5 - math.floor(math.log10(abs(price)))))
    whole, fraction = f"{price:.{decimals}f}".split(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"
