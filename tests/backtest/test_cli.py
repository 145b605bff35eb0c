"""thebot-backtest: the figures and tables of a run and a sweep, and bad options refused with the reason."""

import pandas as pd
import pytest

from thebot_panel.backtest import Backtest
from thebot_panel.backtest.__main__ import main
from thebot_panel.backtest.history import load_history
from thebot_panel.backtest.sweep import serial


def test_run_prints_the_backtests_figures_and_writes_its_trades(tmp_path, capsys):
    out = tmp_path / "trades.csv"
    assert main(["run", "--interval", "15m", "--rules", "Crossover", "--stop-loss-pct", "2", "--csv", str(out)]) == 0
    printed = capsys.readouterr().out
    want = Backtest(interval="15m", rules=["Crossover"], stop_loss_pct=2).run(load_history("BTCUSDT", "15m"))
    assert printed.startswith("BTCUSDT 15m, 2,761 candles 2025-07-21 00:00:00+00:00")
    figures = dict(line.split() for line in printed.splitlines()[1:])
    assert figures == {name: f"{value:,.4g}" for name, value in want.metrics.items()}
    trades = pd.read_csv(out)
    assert len(trades) == len(want.trades) and trades.pnl.sum() == pytest.approx(want.trades.pnl.sum())


def test_sweep_ranks_the_grid_on_dask_as_the_serial_sweep_does(tmp_path, capsys):
    out = tmp_path / "table.csv"
    args = ["sweep", "--interval", "5m", "--param", "ema_fast.period=5:13:4", "--param", "ema_slow.period=21,34",
            "--rules", "Crossover", "--metric", "total_return_pct", "--folds", "1", "--csv", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    want = serial(load_history("BTCUSDT", "5m"), {"ema_fast.period": [5, 9, 13], "ema_slow.period": [21, 34]},
                  Backtest(interval="5m", rules=["Crossover"]), metric="total_return_pct", folds=1)
    table = pd.read_csv(out)
    pd.testing.assert_frame_equal(table, want.table, check_dtype=False)
    assert "6 backtests on " in printed and "walk-forward: the in-sample best of each fold" in printed


@pytest.mark.parametrize("argv, message", [
    (["sweep", "--param", "ema_fast=1:3"], "invalid --param 'ema_fast=1:3'"),
    (["run", "--interval", "7m"], "unknown interval '7m'"),
    (["run", "--symbol", "XRPUSDT"], "no candles of XRPUSDT in BTCUSDT, ETHUSDT 1m"),
    (["run", "--fee-bps", "-3"], "fee_bps"),
])
def test_bad_options_exit_2_with_the_reason(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_sweep_screens_several_markets_with_the_same_backtest(capsys):
    assert main(["sweep", "--symbols", "btcusdt,ethusdt", "--interval", "15m", "--rules", "Crossover",
                 "--metric", "total_return_pct"]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1] for line in printed[2:4]}
    for symbol in ("BTCUSDT", "ETHUSDT"):
        want = Backtest(symbol=symbol, interval="15m", rules=["Crossover"]).run(load_history(symbol, "15m"))
        assert rows[symbol] == f"{want.metrics['total_return_pct']:,.4g}"
    assert "2 backtests on " in printed[0]
