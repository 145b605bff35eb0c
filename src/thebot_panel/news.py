"""Crypto news: RSS and Atom feeds fetched concurrently (httpx), parsed by ``feedparser``, merged newest first.

::

    news = NewsFeeds(urls=feeds_from_env())     # $THEBOT_NEWS_FEEDS, else DEFAULT_FEEDS
    await news.refresh()                        # never raises: a failing feed only marks its status
    news.items()[:5]                            # [NewsItem(feed="CoinDesk", title=..., published=1755500000000, ...)]
    news.statuses()                             # [FeedStatus(url=..., state="ok", items=25, ...), ...]
    news.ensure_started(every_s=300)            # or: asyncio.create_task(news.run())

A feed that cannot be reached, times out, answers non-2xx or is not a feed keeps the items of its
last good fetch; its ``FeedStatus.message`` says what went wrong in words a user can act on. URLs
are shown without user info and query (which may hold an API token).
"""

from __future__ import annotations

import asyncio
import calendar
import io
import logging
import os
import re
import socket
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

import feedparser
import httpx
import param

log = logging.getLogger("thebot_panel.news")

DEFAULT_FEEDS = (
    "https://www.coindesk.com/arc/outboundfeeds/rss/",
    "https://cointelegraph.com/rss",
    "https://decrypt.co/feed",
)
USER_AGENT = "thebot-panel/0.1 news reader (+feedparser)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
MAX_BYTES = 5_000_000


# -- records -------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewsItem:
    """One article. ``published``: int ms UTC, None when the feed gives no date; ``feed``, ``title`` and
    ``summary``: plain text, one line (``feed_text``), still to be escaped wherever it is shown as HTML;
    ``link``: http(s) URL or ``""`` (``javascript:``, ``data:`` and other schemes are dropped)."""

    feed: str
    title: str
    link: str
    published: int | None
    summary: str


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """How one feed fared. ``state``: ``"pending"`` (not fetched yet), ``"ok"`` or ``"error"``;
    ``title``: the feed's own title (its host until a fetch succeeds); ``last_success``/``checked``:
    int ms UTC of the last good fetch / last attempt; ``items``: items held from the last good fetch;
    ``message``: what went wrong (``""`` when ok)."""

    url: str
    title: str
    state: str = "pending"
    items: int = 0
    last_success: int | None = None
    checked: int | None = None
    message: str = ""


class FeedError(Exception):
    """A feed could not be loaded; the message is meant for the user."""


# -- configuration -------------------------------------------------------------------------------

def check_url(url: str) -> str:
    """``url``; ``ValueError`` naming it unless it is an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. "http://[::1"
        ok = False
    if not ok:
        raise ValueError(f"news feed {shown_url(url)!r} is not an http(s) URL")
    return url


def feed_urls(text: str) -> list[str]:
    """Comma-separated feed URLs (``--news`` option) as a list; ``ValueError`` naming a bad one."""
    return [check_url(url.strip()) for url in text.split(",") if url.strip()]


def feeds_from_env(env: Mapping[str, str] = os.environ) -> list[str]:
    """``$THEBOT_NEWS_FEEDS`` (comma-separated) or, when unset or empty, ``DEFAULT_FEEDS``.
    ``ValueError`` naming a URL that is not http(s)."""
    return feed_urls(env.get("THEBOT_NEWS_FEEDS", "")) or list(DEFAULT_FEEDS)


def shown_url(url: str) -> str:
    """``url`` as shown to users and logs: without user info, its query replaced by ``?…``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if not parts or not parts.scheme or not parts.netloc:
        return url.split("?")[0] + ("?…" if "?" in url else "")
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}" + ("?…" if parts.query else "")


# -- parsing -------------------------------------------------------------------------------------

class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("script", "style")
        if tag in ("p", "br", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag):
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def plain_text(markup: str) -> str:
    """``markup`` (HTML or text) as one line of text: tags, scripts and styles dropped, entities decoded."""
    parser = _Text()
    parser.feed(markup or "")
    parser.close()
    return re.sub(r"\s+", " ", "".join(parser.parts)).strip()


def feed_text(element: Mapping, key: str) -> str:
    """``element[key]`` of a parsed feed or entry (``"title"``, ``"summary"``) as one line of plain text: HTML
    (as feedparser sanitized it) through ``plain_text``; declared plain text (``<key>_detail`` type ``text/plain``,
    e.g. an Atom ``type="text"`` title) as written, so ``<img src=x>`` in it stays those characters. Not escaped."""
    value = element.get(key) or ""
    plain = (element.get(f"{key}_detail") or {}).get("type") == "text/plain"
    return re.sub(r"\s+", " ", value).strip() if plain else plain_text(value)


def _ms(struct: time.struct_time | None) -> int | None:
    return None if struct is None else calendar.timegm(struct) * 1000


def _http_link(link: str | None) -> str:
    link = (link or "").strip()
    return link if urlsplit(link).scheme in ("http", "https") else ""


def parse_feed(content: bytes, url: str, headers: Mapping[str, str] = {}) -> tuple[str, list[NewsItem]]:
    """``(feed title, items)`` of an RSS/Atom document fetched from ``url`` (relative links resolve
    against it; only http(s) links are kept); ``FeedError`` when it is not a feed. Texts are plain, not escaped."""
    parsed = feedparser.parse(io.BytesIO(content),  # a stream: feedparser would open a bytes "path"
                              response_headers={**headers, "content-location": url})
    if not parsed.entries and (parsed.bozo or not parsed.version):
        raise FeedError(f"{shown_url(url)} is not an RSS/Atom feed")
    title = feed_text(parsed.feed, "title") or urlsplit(url).hostname
    items = [NewsItem(feed=title, title=feed_text(e, "title") or "(untitled)",
                      link=_http_link(e.get("link")),
                      published=_ms(e.get("published_parsed") or e.get("updated_parsed")),
                      summary=feed_text(e, "summary"))
             for e in parsed.entries]
    return title, items


def merge(items, limit: int) -> list[NewsItem]:
    """``items`` newest first (undated last), one per link (the newest), at most ``limit``."""
    ordered = sorted(items, key=lambda i: (i.published is not None, i.published or 0), reverse=True)
    seen, merged = set(), []
    for item in ordered:
        key = item.link or (item.feed, item.title)
        if key not in seen:
            seen.add(key)
            merged.append(item)
    return merged[:limit]


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few words (``"connection refused"``, ``"host not found"``)."""
    cause = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return "host not found"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error ({cause.reason or cause})"
        if isinstance(cause, OSError) and cause.errno:
            return os.strerror(cause.errno).lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__


# -- feeds ---------------------------------------------------------------------------------------

class NewsFeeds(param.Parameterized):
    """The configured feeds, their merged items (newest first, unique links, at most ``limit``) and statuses.

    Raises ``ValueError`` naming a URL that is not http(s), at creation and when ``urls`` changes.
    ``clock()`` gives the time in int ms UTC (tests pass a fixed one).
    """

    urls = param.List(default=list(DEFAULT_FEEDS), item_type=str, doc="RSS or Atom feed URLs (http or https)")
    limit = param.Integer(default=100, bounds=(1, 1000), doc="Items kept after merging")
    timeout = param.Number(default=10.0, bounds=(0.01, 120), doc="Seconds a feed may take to answer in full")

    def __init__(self, clock=lambda: time.time_ns() // 1_000_000, **params):
        super().__init__(**params)
        self.clock = clock
        self._items: dict[str, list[NewsItem]] = {}
        self._statuses: dict[str, FeedStatus] = {}
        self._merged: list[NewsItem] = []
        self.version = 0  # +1 after each refresh: views redraw when it changes
        self._task: asyncio.Task | None = None
        self._configure()

    @param.depends("urls", "limit", watch=True)
    def _configure(self) -> None:
        for url in self.urls:
            check_url(url)
        self._statuses = {url: self._statuses.get(url) or FeedStatus(url, urlsplit(url).hostname) for url in self.urls}
        self._items = {url: self._items.get(url, []) for url in self.urls}
        self._merged = merge((i for items in self._items.values() for i in items), self.limit)

    def items(self) -> list[NewsItem]:
        """The merged items of the last refresh, newest first."""
        return list(self._merged)

    def statuses(self) -> list[FeedStatus]:
        """One status per configured URL, in configuration order."""
        return [self._statuses[url] for url in self.urls]

    async def refresh(self) -> None:
        """Fetch every feed concurrently and merge; a failing feed keeps its previous items and records
        the error in its status. Never raises (but cancellation)."""
        urls = list(self.urls)
        headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
        async with httpx.AsyncClient(timeout=self.timeout, headers=headers, follow_redirects=True) as client:
            results = await asyncio.gather(*(self._load(client, url) for url in urls))
        now = self.clock()
        for url, (title, items, error) in zip(urls, results, strict=True):
            if url not in self._statuses:  # urls changed meanwhile
                continue
            old = self._statuses[url]
            if error is None:
                self._items[url] = items = merge(items, self.limit)  # newest first, bounded per feed too
                self._statuses[url] = FeedStatus(url, title, "ok", len(items), now, now)
            else:
                log.warning("news: %s", error)
                self._statuses[url] = FeedStatus(url, old.title, "error", len(self._items[url]), old.last_success,
                                                 now, error)
        self._merged = merge((i for items in self._items.values() for i in items), self.limit)
        self.version += 1

    async def _load(self, client: httpx.AsyncClient, url: str) -> tuple[str | None, list[NewsItem], str | None]:
        """``(title, items, None)`` or ``(None, [], error message)``."""
        try:
            async with asyncio.timeout(self.timeout):
                content, headers = await self._fetch(client, url)
            title, items = await asyncio.to_thread(parse_feed, content, url, headers)
            return title, items, None
        except FeedError as exc:
            return None, [], str(exc)
        except (TimeoutError, httpx.TimeoutException):
            return None, [], f"cannot reach {shown_url(url)}: no answer within {self.timeout:g} s"
        except httpx.TransportError as exc:
            return None, [], f"cannot reach {shown_url(url)}: {_reason(exc)}"
        except Exception as exc:  # noqa: BLE001 - one feed's surprise must not fail the others
            log.exception("news: %s failed", shown_url(url))
            return None, [], f"{shown_url(url)} failed: {type(exc).__name__}"

    async def _fetch(self, client: httpx.AsyncClient, url: str) -> tuple[bytes, dict[str, str]]:
        async with client.stream("GET", url) as response:
            if not response.is_success:
                answer = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
                raise FeedError(f"{shown_url(url)} answered {answer}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise FeedError(f"{shown_url(url)} is larger than {MAX_BYTES // 1_000_000} MB, not a news feed")
            return bytes(body), {"content-type": response.headers.get("content-type", "")}

    async def run(self, every_s: float = 300.0) -> None:
        """Refresh now, then every ``every_s`` seconds (default 5 minutes), until cancelled."""
        while True:
            await self.refresh()
            await asyncio.sleep(every_s)

    def ensure_started(self, every_s: float = 300.0) -> asyncio.Task:
        """Start ``run(every_s)`` in the running event loop once; later calls return the same task."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(every_s), name="news")
        return self._task

    async def stop(self) -> None:
        """Cancel the periodic task, if any."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
