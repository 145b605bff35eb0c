"""Notifications: deliver alerts to webhooks, Discord, Slack, Telegram and e-mail, off the caller's path.

``Notifier.notify(alert)`` only puts the alert on each channel's bounded queue; one worker task per
channel delivers it with a timeout per attempt, retries with exponential backoff and a minimum
interval between sends. A failing or hanging channel therefore never blocks the caller nor the
other channels. Secrets (webhook URLs, bot tokens, passwords) never appear in repr, stats or logs:
error texts are redacted (``Channel.redact``), and while a notifier runs, the request lines httpx logs
at INFO (``HTTP Request: POST https://api.telegram.org/bot<token>/...``) are redacted too.

A channel is a small frozen dataclass: its fields are its configuration (the same names as the
TOML keys), ``env`` maps fields to environment variables, and an HTTP channel only says how to
build its request::

    notifier = Notifier.from_config()          # $THEBOT_NOTIFY_CONFIG and THEBOT_* variables
    await notifier.start()
    notifier.notify(alert)                     # never blocks, never raises
    await notifier.stop()
"""

from __future__ import annotations

import asyncio
import dataclasses
import email.message
import logging
import os
import re
import threading
import time
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import aiosmtplib
import httpx

from .alerts import Alert

log = logging.getLogger("thebot_panel.notify")

SECRET = {"secret": True}
"""Field metadata: the value is a secret (masked in repr, stats, logs and config errors)."""


# -- secrets -------------------------------------------------------------------------------------

_PLAIN_SEGMENT = re.compile(r"[a-z][a-z_-]{0,15}")


def mask_url(url: str) -> str:
    """``url`` without its secret part: scheme, host, port and the leading plain-word path segments.

    ``"https://discord.com/api/webhooks/123/abc"`` -> ``"https://discord.com/api/webhooks/…"``. The
    path is cut at the first segment that is not a short lower-case word (ids and tokens have digits
    or capitals); user info, query and fragment are always dropped.
    """
    parts = urlsplit(url)
    kept = _plain_prefix(parts.path)
    host = parts.hostname or ""
    port = f":{parts.port}" if _port(parts) else ""
    return f"{parts.scheme}://{host}{port}/{''.join(s + '/' for s in kept)}…"


def _port(parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        return None


def _plain_prefix(path: str) -> list[str]:
    kept = []
    for segment in path.split("/")[1:]:
        if not _PLAIN_SEGMENT.fullmatch(segment):
            break
        kept.append(segment)
    return kept


def _url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that ``mask_url`` hides (for scrubbing error texts): the URL, its hidden path (whole
    and segment by segment), query values and user info. A part under 4 characters (e.g. a webhook id ``1``) is
    not scrubbed on its own: so short a part is no credential, and scrubbing it would garble any text
    (``HTTP/1.1`` -> ``HTTP/….…``)."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/")[1:] if s]
    hidden = segments[len(_plain_prefix(parts.path)):]
    query = [value for _, value in parse_qsl(parts.query) if value]
    userinfo = [s for s in (parts.username, parts.password) if s]
    return [url, *(s for s in ("/".join(hidden), *hidden, *query, *userinfo) if len(s) >= 4)]


def _check_url(channel: str, key: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"[{channel}] {key} must be an http(s) URL, got {mask_url(url)!r}")


# -- channels ------------------------------------------------------------------------------------

@dataclass(frozen=True, repr=False)
class Channel:
    """One destination. ``deliver`` sends one alert or raises; the ``Notifier`` owns retries.

    Subclasses declare ``name`` (also the TOML table), ``env`` (field -> environment variable) and
    mark secret fields with ``field(metadata=SECRET)``.
    """

    name: ClassVar[str]
    env: ClassVar[dict[str, str]] = {}

    async def deliver(self, alert: Alert, http: httpx.AsyncClient) -> None:
        """Send ``alert`` once; raise on any failure (non-2xx answer, refused connection, ...)."""
        raise NotImplementedError

    @property
    def target(self) -> str:
        """Where it sends, with secrets masked (for repr, stats and logs)."""
        raise NotImplementedError

    def secrets(self) -> list[str]:
        """Strings that must never be shown: the secret fields (URLs also by their hidden parts)."""
        found = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                found += _url_secrets(value) if "://" in value else [value]
        return found

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``…``."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "…")
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.target})"

    __str__ = __repr__


class _Redactor(logging.Filter):
    """Rewrites a log record whose text holds a secret of ``channels`` with the secrets replaced by ``…``."""

    def __init__(self, channels: list[Channel]):
        super().__init__()
        self.channels = channels

    def filter(self, record: logging.LogRecord) -> bool:
        text = redacted = record.getMessage()
        for channel in self.channels:
            redacted = channel.redact(redacted)
        if redacted != text:
            record.msg, record.args = redacted, ()
        return True


#: Loggers of the HTTP stack that write request URLs: httpx logs every request line at INFO.
HTTP_LOGGERS = ("httpx",)


@dataclass(frozen=True, repr=False)
class HttpChannel(Channel):
    """A channel that POSTs one JSON body per alert; subclasses say what URL and what body."""

    def request(self, alert: Alert) -> tuple[str, dict[str, Any]]:
        """``(url, json_body)`` of the POST for ``alert``."""
        raise NotImplementedError

    async def deliver(self, alert: Alert, http: httpx.AsyncClient) -> None:
        url, body = self.request(alert)
        response = await http.post(url, json=body)
        if not response.is_success:  # not raise_for_status(): its text holds the URL, i.e. the secret
            raise RuntimeError(f"HTTP {response.status_code} {response.reason_phrase}".rstrip())


@dataclass(frozen=True, repr=False)
class WebhookChannel(HttpChannel):
    """Generic JSON webhook. Body: every ``Alert`` field plus ``"message"`` (times int ms UTC), e.g.
    ``{"id": 7, "kind": "signal", "symbol": "BTCUSDT", ..., "open_time": 1700000040000, ..., "message": "BUY ..."}``.
    """

    name = "webhook"
    env: ClassVar[dict[str, str]] = {"url": "THEBOT_WEBHOOK_URL"}
    url: str = field(metadata=SECRET)

    def __post_init__(self):
        _check_url(self.name, "url", self.url)

    @property
    def target(self) -> str:
        return mask_url(self.url)

    def request(self, alert):
        return self.url, {**dataclasses.asdict(alert), "message": alert.message}


@dataclass(frozen=True, repr=False)
class DiscordChannel(WebhookChannel):
    """Discord webhook (``https://discord.com/api/webhooks/<id>/<token>``). Body:
    ``{"content": message, "allowed_mentions": {"parse": []}}`` (no @everyone pings), plus
    ``"username"`` when set.
    """

    name = "discord"
    env: ClassVar[dict[str, str]] = {"url": "THEBOT_DISCORD_WEBHOOK_URL", "username": "THEBOT_DISCORD_USERNAME"}
    username: str | None = None

    def request(self, alert):
        body = {"content": alert.message, "allowed_mentions": {"parse": []}}
        return self.url, body | ({"username": self.username} if self.username else {})


@dataclass(frozen=True, repr=False)
class SlackChannel(WebhookChannel):
    """Slack incoming webhook (``https://hooks.slack.com/services/...``). Body: ``{"text": message}``."""

    name = "slack"
    env: ClassVar[dict[str, str]] = {"url": "THEBOT_SLACK_WEBHOOK_URL"}

    def request(self, alert):
        return self.url, {"text": alert.message}


@dataclass(frozen=True, repr=False)
class TelegramChannel(HttpChannel):
    """Telegram Bot API: POST ``{api_base}/bot{token}/sendMessage`` with
    ``{"chat_id": chat_id, "text": message, "disable_web_page_preview": true}``.

    ``chat_id``: a numeric id (``-100...`` for groups/channels; an integer in TOML is accepted) or
    ``"@channelname"``. ``api_base`` is configurable for a local Bot API server or tests.
    """

    name = "telegram"
    env: ClassVar[dict[str, str]] = {"token": "THEBOT_TELEGRAM_TOKEN", "chat_id": "THEBOT_TELEGRAM_CHAT_ID",
                                     "api_base": "THEBOT_TELEGRAM_API_BASE"}
    token: str = field(metadata=SECRET)
    chat_id: str
    api_base: str = "https://api.telegram.org"

    def __post_init__(self):
        _check_url(self.name, "api_base", self.api_base)

    @property
    def target(self) -> str:
        return f"{self.api_base.rstrip('/')}/bot…/sendMessage chat_id={self.chat_id}"

    def request(self, alert):
        url = f"{self.api_base.rstrip('/')}/bot{self.token}/sendMessage"
        return url, {"chat_id": self.chat_id, "text": alert.message, "disable_web_page_preview": True}


@dataclass(frozen=True, repr=False)
class EmailChannel(Channel):
    """E-mail over SMTP (``aiosmtplib``). Subject: the alert's message; plain-text body: the message,
    then one ``field: value`` line per ``Alert`` field (times int ms UTC).

    ``port``: None lets aiosmtplib choose (25, 465 with ``tls``, 587 with ``starttls``).
    ``starttls``: True requires STARTTLS, False forbids it, None (default) upgrades when offered.
    ``tls``: implicit TLS from the first byte (port 465). ``username``/``password``: SMTP AUTH, both or none.
    """

    name = "email"
    env: ClassVar[dict[str, str]] = {
        "host": "THEBOT_SMTP_HOST", "port": "THEBOT_SMTP_PORT", "sender": "THEBOT_SMTP_FROM", "to": "THEBOT_SMTP_TO",
        "username": "THEBOT_SMTP_USER", "password": "THEBOT_SMTP_PASSWORD", "starttls": "THEBOT_SMTP_STARTTLS",
        "tls": "THEBOT_SMTP_TLS"}
    host: str
    sender: str
    to: list[str]
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, metadata=SECRET)
    starttls: bool | None = None
    tls: bool = False

    def __post_init__(self):
        if not self.to:
            raise ValueError("[email] to must list at least one recipient")
        if (self.username is None) != (self.password is None):
            raise ValueError("[email] username and password go together")

    @property
    def target(self) -> str:
        port = f":{self.port}" if self.port else ""
        return f"smtp://{self.host}{port} {self.sender} -> {', '.join(self.to)}"

    def build(self, alert: Alert) -> email.message.EmailMessage:
        """The e-mail for ``alert``."""
        message = email.message.EmailMessage()
        message["Subject"] = alert.message
        message["From"] = self.sender
        message["To"] = ", ".join(self.to)
        details = "\n".join(f"{key}: {value}" for key, value in dataclasses.asdict(alert).items())
        message.set_content(f"{alert.message}\n\n{details}\n")
        return message

    async def deliver(self, alert, http):
        await aiosmtplib.send(self.build(alert), hostname=self.host, port=self.port, username=self.username,
                              password=self.password, start_tls=self.starttls, use_tls=self.tls, timeout=None)


CHANNELS: dict[str, type[Channel]] = {c.name: c for c in
                                      (WebhookChannel, DiscordChannel, SlackChannel, TelegramChannel, EmailChannel)}


# -- delivery ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Delivery:
    """How every channel delivers. ``timeout``: seconds per attempt; ``attempts``: tries per alert;
    ``backoff``: seconds before the 2nd try, doubling after each; ``min_interval``: minimum seconds
    between two sends (attempts) of one channel; ``queue_size``: alerts waiting per channel, beyond
    which ``notify`` drops them.
    """

    env: ClassVar[dict[str, str]] = {"timeout": "THEBOT_NOTIFY_TIMEOUT", "attempts": "THEBOT_NOTIFY_ATTEMPTS",
                                     "backoff": "THEBOT_NOTIFY_BACKOFF", "min_interval": "THEBOT_NOTIFY_MIN_INTERVAL",
                                     "queue_size": "THEBOT_NOTIFY_QUEUE_SIZE"}
    timeout: float = 10.0
    attempts: int = 3
    backoff: float = 0.5
    min_interval: float = 0.0
    queue_size: int = 100

    def __post_init__(self):
        for key, ok, rule in (("timeout", self.timeout > 0, "> 0"), ("attempts", self.attempts >= 1, ">= 1"),
                              ("backoff", self.backoff >= 0, ">= 0"), ("min_interval", self.min_interval >= 0, ">= 0"),
                              ("queue_size", self.queue_size >= 1, ">= 1")):
            if not ok:
                raise ValueError(f"[delivery] {key} must be {rule}, got {getattr(self, key)!r}")


@dataclass
class ChannelStats:
    """Counters of one channel. ``failed``: alerts given up after the last attempt; ``retries``:
    attempts beyond the first; ``dropped``: alerts refused by a full queue or abandoned at ``stop``;
    ``last_error``: text of the last failed attempt (secrets masked); ``last_sent``: int ms UTC.
    """

    sent: int = 0
    failed: int = 0
    retries: int = 0
    dropped: int = 0
    last_error: str | None = None
    last_sent: int | None = None


class _Worker:
    """One channel's queue, counters and delivery loop."""

    def __init__(self, channel: Channel, delivery: Delivery):
        self.channel, self.delivery = channel, delivery
        self.queue: asyncio.Queue[Alert] = asyncio.Queue(maxsize=delivery.queue_size)
        self.stats = ChannelStats()
        self.task: asyncio.Task | None = None
        self._next_send = 0.0  # loop time before which the rate limit forbids a send
        self._dropping = False

    def put(self, alert: Alert) -> None:
        try:
            self.queue.put_nowait(alert)
            self._dropping = False
        except asyncio.QueueFull:
            self.stats.dropped += 1
            if not self._dropping:  # once per run of drops, not once per alert
                log.warning("notify: %s queue full (%d alerts), dropping alerts", self.channel.name, self.queue.maxsize)
            self._dropping = True

    async def run(self, http: httpx.AsyncClient) -> None:
        while True:
            alert = await self.queue.get()
            try:
                await self._deliver(alert, http)
            except asyncio.CancelledError:
                self.stats.dropped += 1
                raise
            finally:
                self.queue.task_done()

    async def _deliver(self, alert: Alert, http: httpx.AsyncClient) -> None:
        d, loop = self.delivery, asyncio.get_running_loop()
        for attempt in range(1, d.attempts + 1):
            await asyncio.sleep(max(0.0, self._next_send - loop.time()))
            self._next_send = loop.time() + d.min_interval
            try:
                await asyncio.wait_for(self.channel.deliver(alert, http), d.timeout)
            except Exception as exc:  # noqa: BLE001 - any failure of a channel is counted, never raised
                error = f"timed out after {d.timeout:g} s" if isinstance(exc, TimeoutError) else \
                    self.channel.redact(f"{type(exc).__name__}: {exc}")
                self.stats.last_error = error
                if attempt == d.attempts:
                    self.stats.failed += 1
                    log.warning("notify: %s failed after %d attempt(s): %s", self.channel.name, attempt, error)
                    return
                self.stats.retries += 1
                await asyncio.sleep(d.backoff * 2 ** (attempt - 1))
            else:
                self.stats.sent += 1
                self.stats.last_sent = time.time_ns() // 1_000_000
                return


# -- notifier ------------------------------------------------------------------------------------

class Notifier:
    """Fans alerts out to channels, each with its own queue and worker task.

    ``notify`` may be called before ``start`` (alerts wait in the queues) and from any thread.
    Raises ``ValueError`` if two channels share a name.
    """

    def __init__(self, channels: Iterable[Channel] = (), delivery: Delivery = Delivery()):
        self.delivery = delivery
        self._workers: dict[str, _Worker] = {}
        for channel in channels:
            if channel.name in self._workers:
                raise ValueError(f"two channels named {channel.name!r}")
            self._workers[channel.name] = _Worker(channel, delivery)
        self._http: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self._redactor = _Redactor(self.channels)

    @property
    def channels(self) -> list[Channel]:
        return [w.channel for w in self._workers.values()]

    def notify(self, alert: Alert) -> None:
        """Queue ``alert`` on every channel and return at once; a full queue drops it (counted). Never raises."""
        try:
            if self._loop is not None and self._loop.is_running() and threading.get_ident() != self._thread:
                self._loop.call_soon_threadsafe(self._put, alert)
            else:
                self._put(alert)
        except Exception:  # the caller is the feed; a notification problem must not stop it
            log.exception("notify: could not queue alert %s", getattr(alert, "id", "?"))

    def _put(self, alert: Alert) -> None:
        for worker in self._workers.values():
            worker.put(alert)

    async def start(self) -> None:
        """Start one worker task per channel (idempotent); until ``stop``, the channels' secrets are redacted from
        the records of ``HTTP_LOGGERS``."""
        if self._http is not None:
            return
        for name in HTTP_LOGGERS:
            logging.getLogger(name).addFilter(self._redactor)
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()
        self._http = httpx.AsyncClient(timeout=self.delivery.timeout)
        for worker in self._workers.values():
            worker.task = asyncio.create_task(worker.run(self._http), name=f"notify-{worker.channel.name}")

    async def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for up to ``timeout`` seconds, then cancel the workers; alerts not
        delivered by then count as dropped. Closes the HTTP client."""
        if self._http is None:
            return
        workers = list(self._workers.values())
        try:
            await asyncio.wait_for(asyncio.gather(*(w.queue.join() for w in workers)), timeout)
        except TimeoutError:
            pass
        for w in workers:
            w.task.cancel()
        await asyncio.gather(*(w.task for w in workers), return_exceptions=True)
        for w in workers:
            while not w.queue.empty():
                w.queue.get_nowait()
                w.queue.task_done()
                w.stats.dropped += 1
            w.task = None
        await self._http.aclose()
        self._http = self._loop = self._thread = None
        for name in HTTP_LOGGERS:
            logging.getLogger(name).removeFilter(self._redactor)

    def stats(self) -> dict[str, dict[str, Any]]:
        """``{channel name: {"sent", "failed", "retries", "dropped", "last_error", "last_sent", "queued", "target"}}``;
        ``target`` is masked, ``last_sent`` int ms UTC."""
        return {name: {**dataclasses.asdict(w.stats), "queued": w.queue.qsize(), "target": w.channel.target}
                for name, w in self._workers.items()}

    def __repr__(self) -> str:
        return f"Notifier({', '.join(map(repr, self.channels))})"

    __str__ = __repr__

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None, env: Mapping[str, str] = os.environ) -> Notifier:
        """A notifier from a TOML file and ``THEBOT_*`` environment variables (which win over the file).

        ``path`` defaults to ``$THEBOT_NOTIFY_CONFIG``; no path means environment only. Tables:
        ``[webhook]``, ``[discord]``, ``[slack]``, ``[telegram]``, ``[email]`` (keys: the channel's
        fields) and ``[delivery]`` (keys: ``Delivery`` fields). A channel is on when its table or
        one of its variables is present. ``THEBOT_SMTP_TO`` is comma-separated; booleans read
        true/false/1/0/yes/no.

        Raises ``ValueError`` ("notify config: ...", naming the table and key) for an unreadable
        file, bad TOML, an unknown table or key, a wrong type, a missing required key, a bad URL.
        """
        try:
            return cls._from_config(path, env)
        except ValueError as exc:
            raise ValueError(f"notify config: {exc}") from None

    @classmethod
    def _from_config(cls, path, env) -> Notifier:
        path = path or env.get("THEBOT_NOTIFY_CONFIG") or None
        tables: dict[str, Any] = {}
        if path is not None:
            try:
                with open(path, "rb") as file:
                    tables = tomllib.load(file)
            except OSError as exc:
                raise ValueError(f"cannot read {os.fspath(path)!r}: {exc.strerror}") from None
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{os.fspath(path)!r} is not valid TOML: {exc}") from None
        for name, table in tables.items():
            if name not in CHANNELS and name != "delivery":
                raise ValueError(f"unknown table [{name}] (known: {', '.join([*CHANNELS, 'delivery'])})")
            if not isinstance(table, dict):
                raise ValueError(f"{name} must be a table [{name}]")
        delivery = _build(Delivery, "delivery", tables.get("delivery", {}), env)
        channels = [_build(kind, name, tables.get(name, {}), env) for name, kind in CHANNELS.items()
                    if name in tables or any(env.get(var) for var in kind.env.values())]
        return cls(channels, delivery)


# -- configuration -------------------------------------------------------------------------------

_BOOLEANS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", list: "a list of strings"}


def _build(kind: type, table: str, values: dict[str, Any], env: Mapping[str, str]):
    """``kind(**values)`` after overlaying ``env`` and checking keys and types; ValueError names the key."""
    fields = {f.name: f for f in dataclasses.fields(kind)}
    hints = typing.get_type_hints(kind)
    for key in values:
        if key not in fields:
            raise ValueError(f"unknown key {key!r} in [{table}] (known: {', '.join(fields)})")
    values = dict(values)
    sources = {}
    for key, var in kind.env.items():
        if env.get(var):
            values[key], sources[key] = env[var], var
    kwargs = {}
    for key, f in fields.items():
        if key in values:
            where = f"[{table}] {key}" + (f" (from {sources[key]})" if key in sources else "")
            kwargs[key] = _coerce(values[key], hints[key], where, f.metadata.get("secret", False))
        elif f.default is dataclasses.MISSING:
            var = f" (or {kind.env[key]})" if key in kind.env else ""
            raise ValueError(f"[{table}] {key} is required{var}")
    return kind(**kwargs)


def _coerce(value: Any, hint: Any, where: str, secret: bool) -> Any:
    """``value`` as ``hint`` (str, int, float, bool, list[str], optionally ``| None``); strings are parsed."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: a value is never None here
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    base = typing.get_origin(hint) or hint
    parse = isinstance(value, str)
    if base is bool:
        if isinstance(value, bool):
            return value
        if parse and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
    elif base is int and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if parse and re.fullmatch(r"\s*[+-]?\d+\s*", value):
            return int(value)
    elif base is float and not isinstance(value, bool):
        if isinstance(value, (int, float)):
            return float(value)
        if parse and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", value):
            return float(value)
    elif base is str and not isinstance(value, bool):
        if isinstance(value, (str, int)):  # an int for ids such as Telegram's chat_id
            return str(value)
    elif base is list:
        if parse:
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
    shown = f"a value of type {type(value).__name__}" if secret else repr(value)
    raise ValueError(f"{where} must be {_TYPE_NAMES[base]}, got {shown}")
