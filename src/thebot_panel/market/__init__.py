"""The market layer: one (symbol, interval) from klines to signals.

- ``candles``: the candle book and the exchange's interval aggregation;
- ``messages``: what flows down the graph after the candles (``Analysis``, ``Recomputed``, ``Evaluated``);
- ``node``: the graph's cheap streamz node base and the router by key;
- ``graph``: the per-market graph (candles → shared indicator computations → per-branch signal nodes), the
  branches sessions hang off it, and the read API views use (``MarketGraph.tail``, ``latest_signal``, …).

Import the modules, not this package (it imports nothing): ``graph`` builds on the indicator and signal layers,
which know nothing of this one.
"""
