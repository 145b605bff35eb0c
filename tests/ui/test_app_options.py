"""Command-line options of the served app: bad ones are refused with a message that says what and why."""

import re

import pytest

from browser import ROOT, ThreadedReplay, chromium, our_tracebacks, panel_serve, require_chromium
from thebot_panel.app import OptionError, hub_from_args, page, parser


def test_options_parse_to_what_the_hub_needs():
    args = parser().parse_args(["--source", "replay", "--symbols", "btcusdt,ethusdt", "--interval", "5m",
                                "--speed", "60"])
    assert (args.source, args.symbols, args.interval, args.speed) == ("replay", ["BTCUSDT", "ETHUSDT"], "5m", 60.0)
    defaults = parser().parse_args([])
    assert (defaults.source, defaults.symbols, defaults.interval) == ("auto", ["BTCUSDT"], "1m")


@pytest.mark.parametrize("argv, message", [
    (["--interval", "7m"], "unknown interval '7m': valid intervals are 1s 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d"),
    (["--symbols", "btc/usdt"], "invalid symbol 'btc/usdt'"),
    (["--source", "kraken"], "invalid choice: 'kraken'"),
    (["--speed", "-3"], "invalid speed '-3'"),
])
def test_bad_options_are_refused_with_the_reason(argv, message):
    with pytest.raises(OptionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parser().parse_args(argv)


def test_a_malformed_notification_config_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "notify.toml"
    config.write_text('[email]\nhost = "127.0.0.1"\nport = "abc"\nsender = "bot@example.com"\nto = ["me@example.com"]\n')
    with pytest.raises(OptionError, match=r"notify config: \[email\] port must be an integer, got 'abc'"):
        hub_from_args(["--source", "replay", "--notify-config", str(config)])


@pytest.mark.parametrize("argv, message", [
    (["--warmup", "3000", "--history", "2000"], r"warmup=3000 is more than the history kept per market \(2000\)"),
    (["--history", "100"], "history.* must be at least 200, not 100"),
])
def test_a_history_that_cannot_hold_the_warm_up_is_refused(argv, message):
    with pytest.raises(OptionError, match=message):
        hub_from_args(["--source", "replay", *argv])


def test_a_bad_option_quoted_in_the_error_panel_is_escaped():
    panel = page(["--symbols", '<img src=x onerror="window.__pwned=1">'])
    assert "<img" not in panel.object and "invalid symbol &#x27;&lt;img src=x onerror=&quot;" in panel.object


def test_every_panel_serve_command_we_document_listens_on_127_0_0_1_only():
    # Bokeh's default address is every interface; the app's own servers default to 127.0.0.1 (test_broadcast,
    # test_replay)
    texts = [(ROOT / name).read_text() for name in ("README.md", "apps/live.py")]
    commands = [c for text in texts for c in re.findall(r"panel serve apps/live\.py[^`\n]*", text)]
    assert len(commands) >= 3 and all("--address 127.0.0.1" in c for c in commands), commands


@pytest.mark.browser
@pytest.mark.parametrize("args, shown", [
    (["--interval", "7m"], "unknown interval '7m': valid intervals are 1s 1m"),
    (["--symbols", "FOOBAR"], "unknown symbol FOOBAR"),
])
def test_served_app_shows_bad_options_as_a_message_not_a_traceback(args, shown):
    require_chromium()
    with ThreadedReplay(speed=60) as replay:
        with panel_serve(["--source", "replay", "--replay-url", replay.rest_url, *args]) as (url, log), \
                chromium() as browser:
            page = browser.new_page()
            page.goto(url)
            page.get_by_text(shown).first.wait_for(timeout=20_000)
            assert replay.connections_opened == 0   # refused before any socket opened
            page.close()
        assert our_tracebacks(log.read_text()) == [] and shown.split(":")[0] in log.read_text()
