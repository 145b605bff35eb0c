"""The notebook runs top to bottom in a real kernel, and its live DataFrame has the indicator columns."""

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "live.ipynb"


def test_live_notebook_executes_without_errors(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    texts = "\n".join(o.get("data", {}).get("text/plain", "") for cell in nb.cells if cell.cell_type == "code"
                      for o in cell.outputs)
    assert "ema_12" in texts and "rsi_14" in texts and "replay" in texts
