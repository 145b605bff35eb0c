"""SQLite persistence of signals and alerts (standard library ``sqlite3``), so a restart loses nothing."""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import astuple, fields
from pathlib import Path

import platformdirs

from .alerts import Alert
from .rules import Signal

_SIGNAL_COLUMNS = [f.name for f in fields(Signal)]
_ALERT_COLUMNS = [f.name for f in fields(Alert)]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS signals (
    open_time INTEGER NOT NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL, rule TEXT NOT NULL,
    side TEXT NOT NULL, price REAL NOT NULL, strength REAL NOT NULL, provisional INTEGER NOT NULL,
    PRIMARY KEY (symbol, interval, rule, open_time)
);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, symbol TEXT NOT NULL, interval TEXT NOT NULL, rule TEXT NOT NULL,
    side TEXT NOT NULL, price REAL NOT NULL, strength REAL NOT NULL, open_time INTEGER NOT NULL,
    created INTEGER NOT NULL, provisional INTEGER NOT NULL, state TEXT NOT NULL, ended INTEGER
);
"""


def default_path() -> Path:
    """``<user data dir>/thebot-panel/thebot.sqlite`` (e.g. ``~/.local/share/thebot-panel/thebot.sqlite`` on Linux)."""
    return Path(platformdirs.user_data_dir("thebot-panel")) / "thebot.sqlite"


class SQLiteFile:
    """One SQLite file (``path``, default ``default_path()``; ``":memory:"`` keeps it in memory), its tables made
    from the subclass's ``schema``, in WAL mode and safe to use from any thread. ``sqlite3.Error`` if it cannot
    be opened."""

    schema = ""

    def __init__(self, path: str | Path | None = None):
        self.path = str(path) if path is not None else str(default_path())
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(self.schema)

    def _execute(self, sql: str, args=()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class AlertStore(SQLiteFile):
    """Signals and alerts in one SQLite file (``path``; ``":memory:"`` keeps them in memory only).

    Tables ``signals`` (one row per symbol, interval, rule and candle open time; a repeat is ignored)
    and ``alerts`` (one row per alert ``id``; state changes update it). Times are int ms since the
    epoch, UTC. Safe to call from any thread. Raises ``sqlite3.Error`` if the file cannot be opened.
    """

    schema = _SCHEMA

    def add_signal(self, signal: Signal) -> None:
        self._execute(f"INSERT OR IGNORE INTO signals VALUES ({', '.join('?' * len(_SIGNAL_COLUMNS))})",
                      astuple(signal))

    def signals(self, limit: int = 1000) -> list[Signal]:
        """The newest ``limit`` signals, oldest first."""
        rows = self._execute("SELECT * FROM (SELECT * FROM signals ORDER BY open_time DESC LIMIT ?) ORDER BY open_time",
                             (limit,)).fetchall()
        return [Signal(*row[:-1], provisional=bool(row[-1])) for row in rows]

    def next_id(self) -> int:
        """An alert id above every stored one."""
        return (self._execute("SELECT MAX(id) FROM alerts").fetchone()[0] or 0) + 1

    def save_alert(self, alert: Alert) -> None:
        """Insert ``alert``, or replace the stored row with the same id (a state change)."""
        self._execute(f"INSERT OR REPLACE INTO alerts VALUES ({', '.join('?' * len(_ALERT_COLUMNS))})",
                      astuple(alert))

    def alerts(self, limit: int = 1000) -> list[Alert]:
        """The newest ``limit`` alerts, oldest first."""
        rows = self._execute("SELECT * FROM (SELECT * FROM alerts ORDER BY id DESC LIMIT ?) ORDER BY id",
                             (limit,)).fetchall()
        return [_alert(row) for row in rows]

def _alert(row) -> Alert:
    values = dict(zip(_ALERT_COLUMNS, row))
    values["provisional"] = bool(values["provisional"])
    return Alert(**values)
