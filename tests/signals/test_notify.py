"""Notification channels against real local servers on 127.0.0.1: an asyncio HTTP server that records
requests (and can answer 500 or hang) and an aiosmtpd SMTP server that records messages."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import json
import logging
import socket
import threading
import time
from typing import ClassVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from recorders import HttpRecorder
from thebot_panel.signals.alerts import Alert
from thebot_panel.signals.notify import (Delivery, DiscordChannel, EmailChannel, Notifier, SlackChannel,
                                         TelegramChannel, WebhookChannel, mask_url)

FAST = Delivery(timeout=0.5, attempts=3, backoff=0.01)
DISCORD_SECRET = "Xq3vT0kenDiscordSecret"
BOT_TOKEN = "123456:AAHsecretBotToken"


def alert(id: int = 7, **changes) -> Alert:
    return dataclasses.replace(Alert(id=id, kind="signal", symbol="BTCUSDT", interval="1m", rule="EMA(9)×EMA(21)",
                                     side="BUY", price=119_385.15, strength=0.42, open_time=1_700_000_040_000,
                                     created=1_700_000_100_123), **changes)


# -- servers -------------------------------------------------------------------------------------

@pytest.fixture
async def serve():
    """``await serve()`` -> a started HttpRecorder; all are closed after the test."""
    servers = []

    async def start():
        servers.append(await HttpRecorder().start())
        return servers[-1]

    yield start
    for server in servers:
        await server.close()


class MailRecorder:
    def __init__(self):
        self.envelopes = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == b"s3cret-pw"
        return AuthResult(success=ok, handled=False)  # not handled: the server answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    """An aiosmtpd server on 127.0.0.1 (plain, AUTH allowed without TLS); ``.handler`` records mails."""
    handler = MailRecorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), auth_require_tls=False,
                            authenticator=handler.authenticate)
    controller.start()
    controller.handler = handler
    yield controller
    controller.stop()


async def until(condition, timeout: float = 2.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


@pytest.fixture
async def running():
    """``await running(*channels, delivery=FAST)`` -> a started Notifier, stopped after the test."""
    notifiers = []

    async def start(*channels, delivery=FAST):
        notifiers.append(Notifier(channels, delivery))
        await notifiers[-1].start()
        return notifiers[-1]

    yield start
    for notifier in notifiers:
        await notifier.stop(timeout=0.1)


# -- payloads ------------------------------------------------------------------------------------

async def test_webhook_posts_every_alert_field_and_the_message(serve, running):
    server = await serve()
    notifier = await running(WebhookChannel(f"{server.url}/hooks/thebot"))
    before = time.time() * 1000
    notifier.notify(alert(provisional=True))
    await until(lambda: notifier.stats()["webhook"]["sent"] == 1)

    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/hooks/thebot")
    assert request.headers["content-type"] == "application/json"
    assert request.body == {"id": 7, "kind": "signal", "symbol": "BTCUSDT", "interval": "1m", "rule": "EMA(9)×EMA(21)",
                            "side": "BUY", "price": 119385.15, "strength": 0.42, "open_time": 1_700_000_040_000,
                            "created": 1_700_000_100_123, "provisional": True, "state": "ACTIVE", "ended": None,
                            "message": "BUY BTCUSDT 1m · EMA(9)×EMA(21) at 119,385.15 (strength 0.42) · provisional"}
    stats = notifier.stats()["webhook"]
    assert (stats["failed"], stats["retries"], stats["dropped"], stats["last_error"]) == (0, 0, 0, None)
    assert before <= stats["last_sent"] <= time.time() * 1000


async def test_discord_posts_the_message_as_content_without_pings(serve, running):
    server = await serve()
    notifier = await running(DiscordChannel(f"{server.url}/api/webhooks/123456/{DISCORD_SECRET}", username="thebot"))
    notifier.notify(alert())
    await until(lambda: len(server.requests) == 1)

    [request] = server.requests
    assert request.path == f"/api/webhooks/123456/{DISCORD_SECRET}"
    assert request.body == {"content": alert().message, "allowed_mentions": {"parse": []}, "username": "thebot"}


async def test_slack_posts_the_message_as_text(serve, running):
    server = await serve()
    notifier = await running(SlackChannel(f"{server.url}/services/T000/B000/XXXX"))
    notifier.notify(alert(side="SELL"))
    await until(lambda: len(server.requests) == 1)

    assert server.requests[0].path == "/services/T000/B000/XXXX"
    assert server.requests[0].body == {"text": "SELL BTCUSDT 1m · EMA(9)×EMA(21) at 119,385.15 (strength 0.42)"}


async def test_telegram_posts_sendMessage_under_the_bot_token(serve, running):
    server = await serve()
    notifier = await running(TelegramChannel(token=BOT_TOKEN, chat_id="-1001234", api_base=server.url))
    notifier.notify(alert())
    await until(lambda: len(server.requests) == 1)

    [request] = server.requests
    assert (request.method, request.path) == ("POST", f"/bot{BOT_TOKEN}/sendMessage")
    assert request.body == {"chat_id": "-1001234", "text": alert().message, "disable_web_page_preview": True}


async def test_email_subject_is_the_message_and_body_lists_the_fields(smtp, running):
    channel = EmailChannel(host="127.0.0.1", port=smtp.port, sender="bot@example.org",
                           to=["alice@example.org", "bob@example.org"], username="bot", password="s3cret-pw",
                           starttls=False)
    notifier = await running(channel)
    notifier.notify(alert())
    await until(lambda: notifier.stats()["email"]["sent"] == 1)

    [envelope] = smtp.handler.envelopes
    assert smtp.handler.logins == [("bot", "s3cret-pw")]
    assert envelope.mail_from == "bot@example.org"
    assert envelope.rcpt_tos == ["alice@example.org", "bob@example.org"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["Subject"] == alert().message
    assert mail["To"] == "alice@example.org, bob@example.org"
    body = mail.get_content().replace("\r\n", "\n")
    assert body.startswith(alert().message + "\n\n")
    assert "symbol: BTCUSDT\n" in body and "open_time: 1700000040000\n" in body and "price: 119385.15\n" in body


async def test_email_with_a_wrong_password_is_a_counted_failure(smtp, running):
    channel = EmailChannel(host="127.0.0.1", port=smtp.port, sender="bot@example.org", to=["a@example.org"],
                           username="bot", password="wrong-pw-123", starttls=False)
    notifier = await running(channel, delivery=Delivery(timeout=1, attempts=2, backoff=0.01))
    notifier.notify(alert())
    await until(lambda: notifier.stats()["email"]["failed"] == 1)

    stats = notifier.stats()["email"]
    assert (stats["sent"], stats["retries"]) == (0, 1)
    assert smtp.handler.envelopes == []
    assert "SMTPAuthenticationError" in stats["last_error"] and "wrong-pw-123" not in stats["last_error"]


# -- failures, isolation, rate limit --------------------------------------------------------------

async def test_a_server_answering_500_is_retried_then_counted_failed_and_logged_once(serve, running, caplog):
    server = await serve()
    server.status = 500
    notifier = await running(DiscordChannel(f"{server.url}/api/webhooks/1/{DISCORD_SECRET}"))
    with caplog.at_level(logging.WARNING, logger="thebot_panel.notify"):
        notifier.notify(alert())
        await until(lambda: notifier.stats()["discord"]["failed"] == 1)

    assert len(server.requests) == 3
    stats = notifier.stats()["discord"]
    assert (stats["sent"], stats["failed"], stats["retries"]) == (0, 1, 2)
    assert stats["last_error"] == "RuntimeError: HTTP 500 Internal Server Error"
    [record] = [r for r in caplog.records if r.name == "thebot_panel.notify"]
    assert "discord failed after 3 attempt(s): RuntimeError: HTTP 500" in record.getMessage()
    assert DISCORD_SECRET not in caplog.text


async def test_backoff_doubles_between_attempts(serve, running):
    server = await serve()
    server.status = 503
    notifier = await running(SlackChannel(f"{server.url}/services/T/B/X"),
                             delivery=Delivery(timeout=0.5, attempts=3, backoff=0.08))
    notifier.notify(alert())
    await until(lambda: notifier.stats()["slack"]["failed"] == 1)

    first, second, third = (r.at for r in server.requests)
    assert 0.07 <= second - first < 0.15
    assert 0.15 <= third - second < 0.25


async def test_a_hanging_channel_neither_blocks_notify_nor_delays_other_channels(serve, running):
    hanging, healthy = await serve(), await serve()
    hanging.hang = True
    notifier = await running(DiscordChannel(f"{hanging.url}/api/webhooks/1/{DISCORD_SECRET}"),
                             SlackChannel(f"{healthy.url}/services/T/B/X"),
                             delivery=Delivery(timeout=0.3, attempts=2, backoff=0.02))
    started = time.perf_counter()
    for i in range(3):
        notifier.notify(alert(id=i))
    assert time.perf_counter() - started < 0.01

    await until(lambda: len(healthy.requests) == 3, timeout=0.25)
    assert [r.body["text"] for r in healthy.requests] == [alert(id=i).message for i in range(3)]
    assert notifier.stats()["discord"]["sent"] == notifier.stats()["discord"]["failed"] == 0

    await until(lambda: notifier.stats()["discord"]["failed"] >= 1)
    stats = notifier.stats()["discord"]
    assert (stats["retries"], stats["last_error"]) == (1, "timed out after 0.3 s")
    assert len(hanging.requests) >= 2


async def test_an_unreachable_host_is_a_counted_failure_without_secrets(running):
    port = free_port()  # nothing listens there
    notifier = await running(TelegramChannel(token=BOT_TOKEN, chat_id="42", api_base=f"http://127.0.0.1:{port}"),
                             delivery=Delivery(timeout=1, attempts=2, backoff=0.01))
    notifier.notify(alert())
    await until(lambda: notifier.stats()["telegram"]["failed"] == 1)
    stats = notifier.stats()["telegram"]
    assert stats["last_error"].startswith("ConnectError")
    assert BOT_TOKEN not in json.dumps(stats)


@pytest.mark.parametrize("failure", ["HTTP 500", "refused port"])
async def test_a_failing_send_leaves_no_secret_in_any_log_line_stats_or_repr(serve, running, caplog, failure):
    server = await serve()
    server.status = 500
    base = server.url if failure == "HTTP 500" else f"http://127.0.0.1:{free_port()}"
    host = base.removeprefix("http://")
    secrets = (BOT_TOKEN, "AAHsecretBotToken", DISCORD_SECRET, "HookPassw0rd", "PathTok3n", "QueryKey42")
    channels = (TelegramChannel(token=BOT_TOKEN, chat_id="42", api_base=base),
                WebhookChannel(f"http://hooker:HookPassw0rd@{host}/hooks/PathTok3n?key=QueryKey42"),
                DiscordChannel(f"{base}/api/webhooks/1/{DISCORD_SECRET}"))
    with caplog.at_level(logging.DEBUG):   # every logger at every level: httpx's and httpcore's included
        notifier = await running(*channels, delivery=Delivery(timeout=1, attempts=2, backoff=0.01))
        notifier.notify(alert())
        await until(lambda: all(s["failed"] == 1 for s in notifier.stats().values()), timeout=5)

    shown = caplog.text + repr(notifier) + str(notifier) + "".join(map(repr, channels)) + json.dumps(notifier.stats())
    for secret in secrets:
        assert secret not in shown
    assert len([r for r in caplog.records if "failed after 2 attempt(s)" in r.getMessage()]) == 3
    if failure == "HTTP 500":   # httpx logs each request line with its full URL: redacted while the notifier runs
        assert f'HTTP Request: POST {base}/bot…/sendMessage "HTTP/1.1 500 Internal Server Error"' in caplog.text
        assert len(server.requests) == 6


async def test_http_log_redaction_lasts_from_start_to_stop():
    notifier = Notifier([TelegramChannel(token=BOT_TOKEN, chat_id="42")])
    httpx_log = logging.getLogger("httpx")
    before = list(httpx_log.filters)
    await notifier.start()
    assert len(httpx_log.filters) == len(before) + 1
    await notifier.stop()
    assert httpx_log.filters == before


class TimedSlack(SlackChannel):
    """A Slack channel that notes when each delivery starts, on the event loop's clock."""

    started: ClassVar[list] = []

    async def deliver(self, alert, http):
        self.started.append(asyncio.get_running_loop().time())
        await super().deliver(alert, http)


async def test_a_burst_is_spaced_by_min_interval(serve, running):
    server = await serve()
    started = TimedSlack.started
    started.clear()
    notifier = await running(TimedSlack(f"{server.url}/services/T/B/X"),
                             delivery=Delivery(timeout=0.5, min_interval=0.1))
    for i in range(4):
        notifier.notify(alert(id=i))
    await until(lambda: len(server.requests) == 4)

    gaps = [b - a for a, b in zip(started, started[1:])]  # when each send starts: server arrivals jitter under load
    assert len(started) == 4 and all(gap >= 0.1 - 1e-6 for gap in gaps), gaps
    assert [r.body["text"] for r in server.requests] == [alert(id=i).message for i in range(4)]


async def test_a_full_queue_drops_and_counts_and_logs_once(serve, caplog):
    server = await serve()
    notifier = Notifier([SlackChannel(f"{server.url}/services/T/B/X")], Delivery(queue_size=2))
    with caplog.at_level(logging.WARNING, logger="thebot_panel.notify"):
        for i in range(5):  # not started yet: the queue fills up
            notifier.notify(alert(id=i))
    assert (notifier.stats()["slack"]["queued"], notifier.stats()["slack"]["dropped"]) == (2, 3)
    assert len([r for r in caplog.records if "queue full" in r.getMessage()]) == 1

    await notifier.start()
    await notifier.stop()
    assert [r.body["text"] for r in server.requests] == [alert(id=0).message, alert(id=1).message]
    assert notifier.stats()["slack"]["sent"] == 2


async def test_stop_drains_the_queues(serve):
    server = await serve()
    notifier = Notifier([WebhookChannel(f"{server.url}/hook")], FAST)
    await notifier.start()
    for i in range(5):
        notifier.notify(alert(id=i))
    await notifier.stop()
    assert [r.body["id"] for r in server.requests] == [0, 1, 2, 3, 4]
    assert notifier.stats()["webhook"]["sent"] == 5


async def test_stop_cancels_a_hanging_channel_and_counts_what_it_abandons(serve):
    server = await serve()
    server.hang = True
    notifier = Notifier([WebhookChannel(f"{server.url}/hook")], Delivery(timeout=10))
    await notifier.start()
    for i in range(3):
        notifier.notify(alert(id=i))
    await until(lambda: len(server.requests) == 1)
    started = time.perf_counter()
    await notifier.stop(timeout=0.1)
    assert time.perf_counter() - started < 0.5
    stats = notifier.stats()["webhook"]
    assert (stats["sent"], stats["failed"], stats["dropped"], stats["queued"]) == (0, 0, 3, 0)


async def test_notify_from_another_thread_is_delivered(serve, running):
    server = await serve()
    notifier = await running(SlackChannel(f"{server.url}/services/T/B/X"))
    thread = threading.Thread(target=notifier.notify, args=(alert(),))
    thread.start()
    thread.join()
    await until(lambda: len(server.requests) == 1)
    assert server.requests[0].body == {"text": alert().message}


# -- configuration -------------------------------------------------------------------------------

CONFIG = f"""
[webhook]
url = "https://example.org/hooks/thebot?key=WebhookKey123"

[discord]
url = "https://discord.com/api/webhooks/1/{DISCORD_SECRET}"

[telegram]
token = "{BOT_TOKEN}"
chat_id = -1001234

[email]
host = "smtp.example.org"
port = 587
sender = "bot@example.org"
to = ["alice@example.org"]
username = "bot"
password = "s3cret-pw"
starttls = true

[delivery]
timeout = 2
attempts = 5
backoff = 0.25
min_interval = 1.5
"""


@pytest.fixture
def config_file(tmp_path):
    def write(text: str):
        path = tmp_path / "notify.toml"
        path.write_text(text)
        return path
    return write


def test_config_file_defines_channels_and_delivery(config_file):
    notifier = Notifier.from_config(config_file(CONFIG), env={})
    webhook, discord, telegram, mail = notifier.channels
    assert webhook == WebhookChannel("https://example.org/hooks/thebot?key=WebhookKey123")
    assert discord.url == f"https://discord.com/api/webhooks/1/{DISCORD_SECRET}"
    assert (telegram.token, telegram.chat_id, telegram.api_base) == (BOT_TOKEN, "-1001234", "https://api.telegram.org")
    assert mail == EmailChannel(host="smtp.example.org", port=587, sender="bot@example.org", to=["alice@example.org"],
                                username="bot", password="s3cret-pw", starttls=True)
    assert notifier.delivery == Delivery(timeout=2.0, attempts=5, backoff=0.25, min_interval=1.5)


def test_environment_overrides_the_file_and_defines_channels(config_file):
    env = {"THEBOT_NOTIFY_CONFIG": str(config_file(CONFIG)),
           "THEBOT_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/X", "THEBOT_SMTP_PORT": "2525",
           "THEBOT_SMTP_TO": "a@example.org, b@example.org", "THEBOT_SMTP_STARTTLS": "no",
           "THEBOT_TELEGRAM_CHAT_ID": "@thebot_alerts", "THEBOT_NOTIFY_ATTEMPTS": "2", "THEBOT_DISCORD_WEBHOOK_URL": ""}
    notifier = Notifier.from_config(env=env)
    channels = {c.name: c for c in notifier.channels}
    assert set(channels) == {"webhook", "discord", "slack", "telegram", "email"}
    assert channels["slack"].url == "https://hooks.slack.com/services/T/B/X"
    assert channels["discord"].url.endswith(DISCORD_SECRET)  # an empty variable does not override
    assert (channels["email"].port, channels["email"].to, channels["email"].starttls) == \
        (2525, ["a@example.org", "b@example.org"], False)
    assert channels["telegram"].chat_id == "@thebot_alerts"
    assert notifier.delivery.attempts == 2 and notifier.delivery.backoff == 0.25


def test_environment_alone_is_enough():
    env = {"THEBOT_SMTP_HOST": "localhost", "THEBOT_SMTP_FROM": "bot@example.org", "THEBOT_SMTP_TO": "a@example.org"}
    [mail] = Notifier.from_config(env=env).channels
    assert mail == EmailChannel(host="localhost", sender="bot@example.org", to=["a@example.org"])
    assert Notifier.from_config(env={}).channels == []


@pytest.mark.parametrize("text, env, error", [
    ("[email\nhost = 1", {}, "is not valid TOML"),
    ("[pager]\nurl = 'https://x.org'", {}, "notify config: unknown table [pager]"),
    ("[slack]\nurl = 'https://x.org'\ncolour = 'red'", {}, "notify config: unknown key 'colour' in [slack]"),
    ("[email]\nhost='h'\nsender='s'\nto=['t']\nport='abc'", {},
     "notify config: [email] port must be an integer, got 'abc'"),
    ("[email]\nhost='h'\nsender='s'\nto=['t']", {"THEBOT_SMTP_PORT": "25x"},
     "notify config: [email] port (from THEBOT_SMTP_PORT) must be an integer, got '25x'"),
    ("[email]\nhost='h'\nsender='s'\nto='t@x.org'\nport=true", {}, "[email] port must be an integer, got True"),
    ("[email]\nhost='h'\nsender='s'\nto=[1, 2]", {}, "[email] to must be a list of strings, got [1, 2]"),
    ("[email]\nhost='h'\nsender='s'\nto=['t']\nstarttls='maybe'", {},
     "[email] starttls must be a boolean, got 'maybe'"),
    ("[email]\nhost='h'\nto=['t']", {}, "[email] sender is required (or THEBOT_SMTP_FROM)"),
    ("[email]\nhost='h'\nsender='s'\nto=['t']\nusername='u'", {}, "[email] username and password go together"),
    ("[telegram]\nchat_id = 42", {}, "[telegram] token is required (or THEBOT_TELEGRAM_TOKEN)"),
    ("[slack]\nurl = 'ftp://hooks.slack.com/services/T/B/X'", {}, "[slack] url must be an http(s) URL"),
    ("[delivery]\nattempts = 0", {}, "notify config: [delivery] attempts must be >= 1, got 0"),
    ("[delivery]\ntimeout = 'fast'", {}, "[delivery] timeout must be a number, got 'fast'"),
    ("discord = 'https://discord.com'", {}, "discord must be a table [discord]"),
])
def test_a_malformed_config_raises_naming_the_key(config_file, text, env, error):
    with pytest.raises(ValueError) as raised:
        Notifier.from_config(config_file(text), env=env)
    assert error in str(raised.value)


def test_a_missing_config_file_raises(tmp_path):
    with pytest.raises(ValueError, match="notify config: cannot read .*nope.toml"):
        Notifier.from_config(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize("text", [f"[discord]\nurl = 'discord.com/api/webhooks/1/{DISCORD_SECRET}'",
                                  "[discord]\nurl = 12345678"])
def test_config_errors_do_not_show_secrets(config_file, text):
    with pytest.raises(ValueError, match=r"\[discord\] url must be") as raised:
        Notifier.from_config(config_file(text), env={})
    assert DISCORD_SECRET not in str(raised.value) and "12345678" not in str(raised.value)


def test_secrets_are_masked_in_repr_str_and_stats(config_file):
    notifier = Notifier.from_config(config_file(CONFIG), env={})
    shown = repr(notifier) + str(notifier) + json.dumps(notifier.stats()) + "".join(map(repr, notifier.channels))
    for secret in (DISCORD_SECRET, "WebhookKey123", BOT_TOKEN, "AAHsecretBotToken", "s3cret-pw"):
        assert secret not in shown
    assert "DiscordChannel(https://discord.com/api/webhooks/…)" in shown
    assert notifier.stats()["telegram"]["target"] == "https://api.telegram.org/bot…/sendMessage chat_id=-1001234"
    assert notifier.stats()["webhook"]["target"] == "https://example.org/hooks/thebot/…"


@pytest.mark.parametrize("url, masked", [
    ("https://discord.com/api/webhooks/123/abcDEF", "https://discord.com/api/webhooks/…"),
    ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/…"),
    ("http://user:pw@127.0.0.1:8080/hook?token=abc", "http://127.0.0.1:8080/hook/…"),
    ("https://maker.ifttt.com/trigger/alert/with/key/dK3yS3cr3t", "https://maker.ifttt.com/trigger/alert/with/key/…"),
])
def test_mask_url_keeps_host_and_plain_words_only(url, masked):
    assert mask_url(url) == masked


def test_error_texts_are_scrubbed_of_secrets():
    url = f"http://127.0.0.1:9/api/webhooks/1/{DISCORD_SECRET}?wait=true"
    assert DiscordChannel(url).redact(f"Server error for url '{url}' ({DISCORD_SECRET})") == \
        "Server error for url '…' (…)"
    telegram = TelegramChannel(token=BOT_TOKEN, chat_id="42")
    assert telegram.redact(f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage") == \
        "POST https://api.telegram.org/bot…/sendMessage"
    mail = EmailChannel(host="h", sender="s", to=["t"], username="bot", password="s3cret-pw")
    assert mail.redact("535 bad login bot/s3cret-pw") == "535 bad login bot/…"
