"""Shared fixtures: the session's isolation (alerts in a temporary SQLite file, no news from the internet) and
the recorded halt. Helpers live in tests/support (on the path through pyproject's pytest ``pythonpath``)."""

import os

import pandas as pd
import pytest

from recorded import HALT_RECORDING


@pytest.fixture(scope="session", autouse=True)
def alert_database(tmp_path_factory):
    """Every hub of the test session (served apps included) keeps its alerts in a temporary SQLite file, and
    reads no news from the internet."""
    os.environ["THEBOT_DB"] = str(tmp_path_factory.mktemp("db") / "thebot.sqlite")
    os.environ["THEBOT_NEWS_FEEDS"] = "http://127.0.0.1:9/news.rss"  # tests talk to 127.0.0.1 only (port 9: refused)
    yield os.environ["THEBOT_DB"]


@pytest.fixture(scope="session")
def halt_recording() -> pd.DataFrame:
    """BTCUSDT spot 1m, 2023-03-23 → 2023-03-24, with the real 2023-03-24 halt (flat candles, 80 missing minutes)."""
    return pd.read_csv(HALT_RECORDING)
