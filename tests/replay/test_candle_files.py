"""Candle files from elsewhere: Binance's public archives (ms and µs, CSV and zip) and freqtrade's candles.

Each variant is written here from the real candles of tests/fixtures/klines (the same decimal strings) and
must load into exactly the source's candles; a verbatim data.binance.vision excerpt (ADABTC) loads too.
Bad files are refused with the file and the problem named.
"""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest

from recorded import FIXTURES, HALT_RECORDING
from thebot_panel.replay import Recording, ReplayServer, load_candles
from thebot_panel.replay.__main__ import main as replay_main

ARCHIVE_EXCERPT = FIXTURES / "klines" / "ADABTC-1m-2021-11-27.csv"  # verbatim data.binance.vision, no header
COLUMNS = ["open", "high", "low", "close", "volume"]


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    """The fixture's rows as written (strings), 2,800 real BTCUSDT 1m candles of 2023-03-23/24."""
    return pd.read_csv(HALT_RECORDING, dtype=str)


@pytest.fixture(scope="module")
def want(source) -> pd.DataFrame:
    return Recording.from_paths(HALT_RECORDING)["BTCUSDT"].frame()


def archive_rows(source: pd.DataFrame, unit: int) -> str:
    """Binance's 12 archive columns, no header; times in ms (``unit`` 1) or µs (1000). The fields the fixture
    lacks (quote volume, count, taker-buy volumes) are written as zeros: the loader does not read them."""
    t = source["open_time"].astype("int64") * unit
    frame = pd.DataFrame({"open_time": t, **{c: source[c] for c in COLUMNS},
                          "close_time": t + 60_000 * unit - 1, "quote_volume": "0", "count": 0,
                          "taker_buy_base": "0", "taker_buy_quote": "0", "ignore": 0})
    return frame.to_csv(header=False, index=False)


def assert_equal_candles(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want) > 0
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_the_fixture_is_what_the_tests_think(source, want):
    assert len(source) == len(want) == 2_800
    assert want.index[0] == pd.Timestamp("2023-03-23T00:00Z") and want["volume"].sum() > 0


@pytest.mark.parametrize("unit", [1, 1000], ids=["ms", "µs"])
@pytest.mark.parametrize("container", ["csv", "csv.gz", "zip"])
def test_a_binance_archive_loads_into_the_same_candles(source, want, tmp_path, unit, container):
    text = archive_rows(source, unit)
    assert len(text.splitlines()[0].split(",")) == 12 and text[0].isdigit()  # no header
    assert len(text.splitlines()[0].split(",")[0]) == (16 if unit == 1000 else 13)
    name = "BTCUSDT-1m-2023-03"
    if container == "zip":
        path = tmp_path / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"{name}.csv", text)
    else:
        path = tmp_path / f"{name}.{container}"
        path.write_bytes(gzip.compress(text.encode()) if container == "csv.gz" else text.encode())
    recording = Recording.from_paths(path)
    assert recording.symbols == ("BTCUSDT",)
    assert_equal_candles(recording["BTCUSDT"].frame(), want)
    assert_equal_candles(load_candles(tmp_path)["BTCUSDT"], want)  # a directory of archives too


def test_a_futures_style_archive_with_a_header_row_loads(source, want, tmp_path):
    header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
              "taker_buy_quote_volume,ignore\n")
    path = tmp_path / "BTCUSDT-1m-2023-03-23.csv"
    path.write_text(header + archive_rows(source, 1))
    assert_equal_candles(Recording.from_paths(path)["BTCUSDT"].frame(), want)


def test_a_verbatim_data_binance_vision_excerpt_loads():
    frame = Recording.from_paths(ARCHIVE_EXCERPT)["ADABTC"].frame()
    raw = pd.read_csv(ARCHIVE_EXCERPT, header=None)
    assert len(frame) == len(raw) == 10
    assert frame.index.as_unit("ms").asi8.tolist() == raw[0].tolist()
    assert frame.index[0] == pd.Timestamp("2021-11-27T00:00Z")
    np.testing.assert_array_equal(frame[COLUMNS].to_numpy(), raw[[1, 2, 3, 4, 5]].to_numpy())
    assert frame["open"].iloc[0] == 0.00002853 and frame["volume"].iloc[0] == 36304.2


def freqtrade_frame(source: pd.DataFrame) -> pd.DataFrame:
    """freqtrade's in-memory candles: ``date`` (datetime64 UTC) and float OHLCV."""
    return pd.DataFrame({"date": pd.to_datetime(source["open_time"].astype("int64"), unit="ms", utc=True),
                         **{c: source[c].astype("float64") for c in COLUMNS}})


@pytest.mark.parametrize("kind", ["feather", "json", "json.gz"])
def test_freqtrade_candles_load_into_the_same_candles(source, want, tmp_path, kind):
    path = tmp_path / f"BTC_USDT-1m.{kind}"
    frame = freqtrade_frame(source)
    if kind == "feather":
        frame.to_feather(path)  # as freqtrade's FeatherDataHandler writes it
    else:  # freqtrade's JsonDataHandler: orient="values", date in ms
        rows = orjson.dumps([[int(t), *r] for t, r in zip(source["open_time"],
                                                          frame[COLUMNS].itertuples(index=False, name=None))])
        path.write_bytes(gzip.compress(rows) if kind == "json.gz" else rows)
    recording = Recording.from_paths(path)
    assert recording.symbols == ("BTCUSDT",)  # BTC_USDT -> BTCUSDT
    assert_equal_candles(recording["BTCUSDT"].frame(), want)


def test_a_freqtrade_data_directory_replays_its_1m_candles_only(source, want, tmp_path):
    freqtrade_frame(source).to_feather(tmp_path / "BTC_USDT-1m.feather")
    freqtrade_frame(source).iloc[::5].to_feather(tmp_path / "BTC_USDT-5m.feather")  # skipped: not 1m
    (tmp_path / "ETH_USDT-1m.json").write_bytes(orjson.dumps([[1679529600000, 1800.5, 1801.0, 1799.9, 1800.0, 12.5]]))
    candles = load_candles(tmp_path)
    assert sorted(candles) == ["BTCUSDT", "ETHUSDT"]
    assert_equal_candles(candles["BTCUSDT"], want)
    assert candles["ETHUSDT"]["close"].tolist() == [1800.0]
    assert list(load_candles(tmp_path, symbols=["ETHUSDT"])) == ["ETHUSDT"]


def test_load_candles_gives_closed_candles_in_documented_dtypes(want):
    frames = load_candles([HALT_RECORDING, FIXTURES / "ticks"])
    assert sorted(frames) == ["BTCUSDT", "XRPETH"]  # the BTCUSDT tick recording merges with the candle file
    assert len(frames["XRPETH"]) == len(Recording.from_paths(FIXTURES / "ticks")["XRPETH"]) - 1 == 47
    frame = frames["BTCUSDT"]
    assert frame.index.name == "open_time" and str(frame.index.tz) == "UTC"
    assert list(frame.columns) == COLUMNS and all(frame[c].dtype == "float64" for c in COLUMNS)
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    # the tick recording's last minute (23:57) is partial: not a closed candle, left out
    assert frame.index[-1] == pd.Timestamp("2024-08-08T23:56Z") and len(frame) == len(want) + 2
    with pytest.raises(ValueError, match="XRPUSDT.*BTCUSDT"):
        load_candles(HALT_RECORDING, symbols=["XRPUSDT"])


def test_the_backtest_reads_the_same_files(source, want, tmp_path):
    from thebot_panel.backtest.history import load_history
    archive = tmp_path / "BTCUSDT-1m-2023-03.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("BTCUSDT-1m-2023-03.csv", archive_rows(source, 1000))
    freqtrade = tmp_path / "ft" / "BTC_USDT-1m.feather"
    freqtrade.parent.mkdir()
    freqtrade_frame(source).to_feather(freqtrade)
    for data in ([archive], [freqtrade.parent]):
        assert_equal_candles(load_history("BTCUSDT", "1m", data), want)
        five = load_history("BTCUSDT", "5m", data)
        assert len(five) == len(want) // 5 and five["high"].iloc[0] == want["high"].iloc[:5].max()


async def test_the_replay_serves_an_archive_it_was_given(source, want, tmp_path):
    path = tmp_path / "BTCUSDT-1m-2023-03.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("BTCUSDT-1m-2023-03.csv", archive_rows(source, 1000))
    async with ReplayServer(Recording.from_paths(path), start="2023-03-24T00:00Z", speed=1.0) as server, \
            httpx.AsyncClient() as client:
        r = await client.get(f"{server.rest_url}/api/v3/klines",
                             params={"symbol": "BTCUSDT", "interval": "1m", "endTime": server.now_ms() - 60_000,
                                     "limit": 1000})
    rows = r.json()
    assert len(rows) == 1000
    got = pd.DataFrame([[float(x) for x in row[1:6]] for row in rows], columns=COLUMNS,
                       index=pd.DatetimeIndex(pd.to_datetime([row[0] for row in rows], unit="ms", utc=True),
                                              name="open_time"))
    assert_equal_candles(got, want.loc[got.index[0]:got.index[-1]])
    assert got.index[-1] == pd.Timestamp("2023-03-23T23:59Z")


# -- bad inputs ------------------------------------------------------------------------------------


def bad(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize("name, content, needles", [
    ("BTCUSDT-1m-2025-01.csv", "1735689600000000,1,2,0.5,1.5,10,1735689659999999,0,0,0,0\n",
     ["12 archive columns", "line 1 has 11"]),
    ("BTCUSDT-1m-2025-01.csv", "1735689600000,1,2,0.5,1.5,10\n", ["12 archive columns", "line 1 has 6"]),
    ("BTCUSDT-1m-2025-01.csv", "1735689600000,1,2,0.5,1.5,10,1735689659999,0,0,0,0,0\n"
                               "1735689660000,1,2,0.5,1.5,10,1735689719999,0,0,0,0,0,7\n",
     ["12 columns on every line", "line 2"]),
    ("BTCUSDT-1m-2025-01.csv", "1735689600000,1,2,0.5,1.5,10,1735689899999,0,0,0,0,0\n",
     ["line 1", "close_time - open_time is 299999", "not a 1m candle"]),
    ("BTCUSDT-1m-2025-01.csv", "1735689600000,1,2,0.5,x,10,1735689659999,0,0,0,0,0\n", ["line 1", "close"]),
    ("BTCUSDT-1m-2025-01.csv", "time,open,high,low,close\n1735689600000,1,2,0.5,1.5\n", ["open_time", "header"]),
    ("BTCUSDT-1m-2025-01.csv", "1735689630000,1,2,0.5,1.5,10,1735689689999,0,0,0,0,0\n", ["minute boundary"]),
    ("BTCUSDT-5m-2025-01.csv", "1735689600000,1,2,0.5,1.5,10,1735689899999,0,0,0,0,0\n",
     ["5m", "only 1m candle files can be replayed"]),
    ("BTC_USDT-1h.feather", b"", ["1h", "only 1m"]),
    ("BTC_USDT-1m.json", '{"open": 1}', ["[ms, open, high, low, close, volume]"]),
    ("BTC_USDT-1m.json", "[[1735689600000, 1, 2, 0.5]]", ["row 1", "[ms, open, high, low, close, volume]"]),
    ("BTC_USDT-1m.feather", b"not arrow", ["not a feather file"]),
    ("BTCUSDT-1m-2025-01.zip", b"PK not a zip", ["zip"]),
    ("notes.txt", "hello\n", ["not a file the replay reads", "SYMBOL-1m-YYYY-MM"]),
])
def test_bad_candle_files_are_refused_naming_the_file_and_the_problem(tmp_path, name, content, needles):
    path = bad(tmp_path, name, content)
    with pytest.raises(ValueError) as refused:
        Recording.from_paths(path)
    message = str(refused.value)
    assert str(path) in message and all(n in message for n in needles), message


def test_a_zip_with_two_csvs_and_a_feather_without_ohlcv_are_refused(tmp_path, source):
    path = tmp_path / "BTCUSDT-1m-2025-01.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("a.csv", "1,2\n")
        z.writestr("b.csv", "1,2\n")
    with pytest.raises(ValueError, match=r"BTCUSDT-1m-2025-01\.zip: .*one CSV file, this one holds 2"):
        Recording.from_paths(path)
    feather = tmp_path / "BTC_USDT-1m.feather"
    freqtrade_frame(source).drop(columns="volume").to_feather(feather)
    with pytest.raises(ValueError, match=r"BTC_USDT-1m\.feather: .*missing volume"):
        Recording.from_paths(feather)


def test_the_replay_cli_refuses_a_bad_archive_with_one_line(tmp_path, capsys):
    path = bad(tmp_path, "BTCUSDT-1m-2025-01.csv", "1735689600000,1,2\n")
    with pytest.raises(SystemExit) as stopped:
        replay_main(["--data", str(path)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert str(path) in err and "12 archive columns" in err and "Traceback" not in err
