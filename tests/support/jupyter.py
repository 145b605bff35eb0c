"""Helpers for tests that drive a real JupyterLab / Notebook 7 server on 127.0.0.1 in headless Chromium."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from browser import free_port, served_process


@contextlib.contextmanager
def jupyter_server(root: Path, app: str = "lab"):
    """``jupyter lab`` (or ``jupyter notebook``: Notebook 7) serving ``root`` on 127.0.0.1, no token, nothing
    fetched from the internet (no news, no update check, no extension manager listing); yields (base URL, log path)."""
    port = free_port()
    settings = root / ".settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)  # no "get Jupyter news?" toast over the last cell
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    args = [sys.executable, "-m", "jupyter", app, "--no-browser", "--ip", "127.0.0.1", "--port", str(port),
            f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True", "--allow-root", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly", f"--LabApp.workspaces_dir={root / '.workspaces'}",
            f"--LabApp.user_settings_dir={root / '.settings'}"]
    url = f"http://127.0.0.1:{port}"
    with served_process(args, f"{url}/api/status", f"jupyter-{app}-{port}", timeout=90, cwd=root,
                        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}) as log_path:
        yield url, log_path


def watch_requests(page) -> tuple[list[str], list[str]]:
    """Watch ``page``: returns (the URLs it requested outside 127.0.0.1, its console and page errors).

    Requests are only recorded, not intercepted (routing every request stalls JupyterLab's kernel connection);
    this machine has no internet, so such a request fails anyway, as it would on a user's offline laptop."""
    outside, errors = [], []
    local = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
    page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return outside, errors


def wait_kernel_idle(page, timeout: float = 90.0) -> None:
    """Until the notebook's kernel is started and idle (the toolbar's execution indicator)."""
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').first.wait_for(timeout=timeout * 1000)


def run_all(page) -> None:
    """Run → Run All Cells from the menu bar, as a user does (JupyterLab and Notebook 7 share the menu); clicked
    again if no cell started within 15 s (a click that lands while the page still connects its kernel is lost,
    as it is for a user, who then clicks again)."""
    started = "() => [...document.querySelectorAll('.jp-InputPrompt')].some(p => /[*\\d]/.test(p.textContent))"
    for attempt in range(3):
        try:
            page.get_by_role("menuitem", name="Run", exact=True).click(timeout=30_000)
        except Exception:  # say what is in the way (a dialog of JupyterLab's: its text is the diagnosis)
            dialog = page.locator(".jp-Dialog")
            if dialog.count():
                raise AssertionError(f"a dialog blocks the Run menu: {dialog.first.inner_text()!r}") from None
            raise
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        try:
            page.wait_for_function(started, timeout=15_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells started no cell")


def wait_idle(page, timeout: float = 240.0) -> None:
    """Until no cell shows ``[*]`` (queued or running)."""
    page.wait_for_function("""() => {
      const prompts = [...document.querySelectorAll('.jp-InputPrompt')].map(p => p.textContent);
      return prompts.length > 0 && prompts.every(p => !p.includes('*')) && prompts.some(p => /\\d/.test(p));
    }""", timeout=timeout * 1000)


def run_new_cell(page, code: str) -> None:
    """``code`` (one line) run with Shift+Enter in a new cell at the end of the notebook: the empty cell that the
    last Shift+Enter added, else one added with the toolbar's "insert a cell below" (after Run All the last cell
    is the active one); the code is typed into its editor."""
    editor = page.locator(".jp-Notebook .jp-Cell").last.locator(".cm-content")
    if editor.inner_text().strip():
        page.locator('.jp-NotebookPanel-toolbar [data-command="notebook:insert-cell-below"]').click()
    editor.click()
    page.keyboard.insert_text(code)
    page.keyboard.press("Shift+Enter")

