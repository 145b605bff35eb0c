"""The notebooks run top to bottom in a real kernel (offline: the bundled replay), and what they compute is right:
live.ipynb's live DataFrame has the indicator columns; explore.ipynb's batch indicators equal TA-Lib; research.ipynb's
backtest, sweep and views give the figures of the library run here."""

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import talib
from nbclient import NotebookClient

from browser import ROOT
from thebot_panel.market.candles import OHLCV
from thebot_panel.replay import Recording

NOTEBOOKS = ROOT / "notebooks"
NOTEBOOK = NOTEBOOKS / "live.ipynb"
EXPLORE = NOTEBOOKS / "explore.ipynb"
RESEARCH = NOTEBOOKS / "research.ipynb"


def execute(path: Path, tmp_path: Path, *extra_cells: str):
    """Run the notebook (plus ``extra_cells`` appended to a copy) in a fresh kernel whose working dir is tmp_path."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def outputs(nb, output_type: str | None = None) -> list:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs
            if output_type is None or o.output_type == output_type]


def test_live_notebook_executes_without_errors(tmp_path):
    nb = execute(NOTEBOOK, tmp_path)
    assert outputs(nb, "error") == []
    texts = "\n".join(o.get("data", {}).get("text/plain", "") for o in outputs(nb))
    assert "ema_12" in texts and "rsi_14" in texts and "replay" in texts


def talib_columns(close: np.ndarray) -> dict[str, np.ndarray]:
    """TA-Lib's values for the explore notebook's indicator set, by its column names."""
    macd, signal, hist = talib.MACD(close, 12, 26, 9)
    upper, middle, lower = talib.BBANDS(close, 20, 2, 2)
    return {"ema_9": talib.EMA(close, 9), "ema_21": talib.EMA(close, 21), "rsi_14": talib.RSI(close, 14),
            "macd_12_26_9": macd, "signal_12_26_9": signal, "hist_12_26_9": hist,
            "upperband_20_2_2": upper, "middleband_20_2_2": middle, "lowerband_20_2_2": lower,
            "ema_9_of_rsi_14": talib.EMA(talib.RSI(close, 14), 9)}


def assert_equals_talib(frame: pd.DataFrame, expected: dict[str, np.ndarray]) -> None:
    for column, want in expected.items():
        got = frame[column].to_numpy()
        assert np.array_equal(np.isnan(got), np.isnan(want)), f"{column}: NaNs differ from TA-Lib's"
        ok = ~np.isnan(want)
        assert ok.sum() > 0.9 * len(want), column
        np.testing.assert_allclose(got[ok], want[ok], rtol=1e-9, atol=0, err_msg=column)


def test_explore_notebook_executes_and_its_batch_indicators_equal_talib(tmp_path):
    nb = execute(EXPLORE, tmp_path, "for name in ('batch', 'eth', 'live'):\n    globals()[name].to_pickle(f'{name}.pkl')")
    assert outputs(nb, "error") == []
    assert not [o.text for o in outputs(nb, "stream") if o.name == "stderr" and ("Traceback" in o.text or
                                                                                 "ERROR" in o.text)]
    # the hvplot cells drew: batch (BTCUSDT 1m), the EMA slider, REST (ETHUSDT 15m), the live frame
    assert sum("application/vnd.holoviews_exec.v0+json" in o.get("data", {}) for o in outputs(nb)) >= 5
    texts = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "") for o in outputs(nb))
    assert "replay" in texts and "ema_12" in texts and "EMA.period=1 is invalid" in texts

    # section 1-2: the bundled BTCUSDT history with every batch column equal to TA-Lib's
    batch = pd.read_pickle(tmp_path / "batch.pkl")
    history = Recording.bundled()["BTCUSDT"].frame()
    pd.testing.assert_frame_equal(batch[list(OHLCV)], history)
    assert_equals_talib(batch, talib_columns(history["close"].to_numpy()))

    # section 4: ETHUSDT 15m downloaded over REST from the replay, same batch, same equality
    eth = pd.read_pickle(tmp_path / "eth.pkl")
    assert len(eth) >= 400 and (eth.index.floor("15min") == eth.index).all()
    assert_equals_talib(eth, talib_columns(eth["close"].to_numpy()))

    # the live frame after the tweak: ema_fast recomputed at period 12 over the loaded history
    live = pd.read_pickle(tmp_path / "live.pkl")
    assert "ema_12" in live and "ema_9" not in live and len(live) >= 1000
    close = live["close"].to_numpy()
    assert_equals_talib(live, {"ema_12": talib.EMA(close, 12), "ema_21": talib.EMA(close, 21),
                               "rsi_14": talib.RSI(close, 14)})


def test_research_notebook_backtest_sweep_and_views_equal_the_library(tmp_path):
    from thebot_panel.backtest import Backtest
    from thebot_panel.backtest.history import load_history
    from thebot_panel.backtest.sweep import serial

    dump = ("import pickle\n"
            "pickle.dump({'metrics': result.metrics, 'trades': result.trades, 'table': swept.table,\n"
            "             'best': swept.best, 'view': view.result.metrics, 'view_table': sweep_view.result.table,\n"
            "             'cell': sweep_view.cell, 'cell_metrics': sweep_view.cell_result.metrics,\n"
            "             'done': (running.done, running.total), 'progress': (sweep_view.progress.value,\n"
            "             sweep_view.progress.max)}, open('research.pkl', 'wb'))")
    nb = execute(RESEARCH, tmp_path, dump)
    assert outputs(nb, "error") == []
    assert not [o.text for o in outputs(nb, "stream") if o.name == "stderr" and ("Traceback" in o.text or
                                                                                 "ERROR" in o.text)]
    got = pd.read_pickle(tmp_path / "research.pkl")

    # section 1: the week's backtest, as the library computes it here
    candles = load_history("BTCUSDT", "1m", start="2025-08-01", end="2025-08-07 23:59")
    backtest = Backtest(rules=["Crossover"], fee_bps=5)
    expected = backtest.run(candles)
    assert len(candles) == 7 * 1440 and got["metrics"] == expected.metrics and expected.metrics["trades"] > 100
    pd.testing.assert_frame_equal(got["trades"], expected.trades)
    # section 2: the 3×3 sweep on Dask, equal to the same sweep run serially (walk-forward included)
    space = {"ema_fast.period": [5, 9, 13], "ema_slow.period": [21, 38, 55]}
    swept = serial(candles, space, backtest, folds=2)
    pd.testing.assert_frame_equal(got["table"], swept.table)
    pd.testing.assert_frame_equal(got["best"], swept.best)
    assert got["done"] == (9, 9)
    # section 3: the views on the same week and settings show the same figures; the tapped cell its own backtest
    assert got["view"] == expected.metrics
    pd.testing.assert_frame_equal(got["view_table"], swept.table)
    assert got["progress"] == (9, 9) and got["cell"] == {"ema_fast.period": 9, "ema_slow.period": 38}
    assert got["cell_metrics"]["sharpe"] == swept.table.set_index(list(space)).loc[(9, 38), "sharpe"]

    # what the cells showed: the metrics table, the equity curve, Dask's progress widget, the heatmap, the views
    data = [o.get("data", {}) for o in outputs(nb)]
    texts = "\n".join(d.get("text/plain", "") for d in data) + "\n".join(o.get("text", "") for o in outputs(nb))
    assert "EMA(9)×EMA(21), long, 5 bps" in texts and "9 of 9 cells" in texts
    assert "HoloViews(NdOverlay" in texts and "HoloViews(HeatMap" in texts
    assert any("application/vnd.jupyter.widget-view+json" in d for d in data)   # dask's progress bar
    assert "BacktestView(" in texts and "SweepView(" in texts
    assert sum("application/vnd.holoviews_exec.v0+json" in d for d in data) >= 4
