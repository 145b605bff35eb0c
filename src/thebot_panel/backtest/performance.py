"""Performance figures of a backtest, from its equity curve and trades (the definitions of vectorbt and empyrical).

Per-candle returns ``r_t = equity_t / equity_{t-1} − 1``; a year has 365 days (crypto trades every day), so
``periods = 365 × 86,400,000 / interval_ms`` candles. Risk-free rate 0.

- ``total_return_pct`` = (final / initial − 1) × 100; ``annual_return_pct`` = ((final / initial) ^ (periods / n)
  − 1) × 100 over the n candles.
- ``sharpe`` = mean(r) / std(r, ddof=1) × √periods; ``sortino`` = mean(r) / √mean(min(r, 0)²) × √periods
  (the downside deviation over every candle). NaN when undefined (no variation, no downside).
- ``max_drawdown_pct`` = max over t of (1 − equity_t / max_{s≤t} equity_s) × 100 (initial capital included).
- ``win_rate_pct`` = trades with pnl > 0 / trades × 100; ``profit_factor`` = Σ gains / |Σ losses| (inf with no
  loss; NaN with no trade); ``trades``; ``exposure_pct`` = candles holding a position at their close / n × 100.
- ``buy_hold_return_pct`` = (last close / first open − 1) × 100: bought at the first open, no fees.
"""

from __future__ import annotations

import numpy as np

YEAR_MS = 365 * 86_400_000


def performance(equity: np.ndarray, exposure: np.ndarray, pnl: np.ndarray, columns: dict[str, np.ndarray],
                interval_ms: int, initial_capital: float) -> dict[str, float]:
    """The figures above; ``equity`` quote currency per candle close, ``exposure`` bool per candle, ``pnl`` per
    trade (quote currency), ``columns`` the candles' open and close."""
    n = len(equity)
    curve = np.r_[initial_capital, equity]
    r = curve[1:] / curve[:-1] - 1
    periods = YEAR_MS / interval_ms
    final = float(curve[-1])
    std = r.std(ddof=1) if n > 1 else np.nan
    downside = np.sqrt(np.mean(np.minimum(r, 0) ** 2)) if n else np.nan
    gains, losses = pnl[pnl > 0].sum(), pnl[pnl < 0].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "total_return_pct": (final / initial_capital - 1) * 100,
            "annual_return_pct": ((final / initial_capital) ** (periods / n) - 1) * 100 if n else np.nan,
            "sharpe": float(r.mean() / std * np.sqrt(periods)) if std > 0 else np.nan,
            "sortino": float(r.mean() / downside * np.sqrt(periods)) if downside > 0 else np.nan,
            "max_drawdown_pct": float(np.max(1 - curve / np.maximum.accumulate(curve)) * 100),
            "win_rate_pct": float((pnl > 0).mean() * 100) if len(pnl) else np.nan,
            "profit_factor": float(gains / -losses) if losses < 0 else (np.inf if len(pnl) else np.nan),
            "trades": float(len(pnl)),
            "exposure_pct": float(exposure.mean() * 100) if n else np.nan,
            "buy_hold_return_pct": float((columns["close"][-1] / columns["open"][0] - 1) * 100) if n else np.nan,
            "final_equity": final,
        }
