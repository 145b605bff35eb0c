"""The news panel: the newest crypto headlines of the configured feeds and how each feed is doing."""

from __future__ import annotations

import html

import panel as pn
import param

from ..news import FeedStatus, NewsFeeds, NewsItem
from . import LiveView
from .theme import DOWN

_UNITS = (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000))


def time_ago(ms: int | None, now: int) -> str:
    """``"5 minutes ago"``, ``"1 hour ago"``, ``"3 days ago"``, ``"just now"`` (also for a future time)
    or ``"date unknown"`` (None); ``ms`` and ``now`` int ms UTC."""
    if ms is None:
        return "date unknown"
    for unit, size in _UNITS:
        count = (now - ms) // size
        if count >= 1:
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


def shorten(text: str, length: int = 200) -> str:
    """``text`` cut at a word boundary to at most ``length`` characters, with ``…`` when cut."""
    if len(text) <= length:
        return text
    return text[:length].rsplit(" ", 1)[0].rstrip(" ,.;:") + "…"


class NewsPanel(LiveView):
    """The ``shown`` newest items of ``feeds`` (title linked to the article, feed, time ago, short
    summary), one status line per feed and a **Refresh** button. A feed is outside text: its titles, names,
    summaries, links and error messages are HTML-escaped here, and only http(s) links (``NewsItem.link``)
    become anchors, so a hostile feed can neither run script in the page nor link to ``javascript:``.

    Redraws within ``period_ms`` of each refresh of ``feeds`` (whoever started it: ``feeds.run``, this
    button, another session) and every minute (the "time ago"). The feeds' periodic fetch
    (``feeds.ensure_started()``) starts when a panel is first shown, so nothing is fetched until someone looks.
    CSS hooks: ``.news-item`` on each item,
    ``.news-status`` on each status line, ``.news-error`` on the line of a failing feed.
    """

    shown = param.Integer(default=20, bounds=(1, 200), doc="Items listed (newest first)")

    def __init__(self, feeds: NewsFeeds, **params):
        super().__init__(**params)
        self.feeds = feeds
        self.button = pn.widgets.Button(label="Refresh", color="light", width=100, css_classes=["news-refresh"])
        self.button.on_click(self._clicked)
        self.status = pn.Column(sizing_mode="stretch_width", name="news status")
        self.list = pn.Column(sizing_mode="stretch_width", name="news items")
        self._drawn = (None, None)  # (feeds.version, minute) of the last redraw
        self.param.watch(lambda _: self.refresh(), ["shown"])
        self.refresh()

    async def fetch(self) -> None:
        """Fetch every feed now, then redraw (the button does this)."""
        self.button.disabled, self.button.label = True, "Refreshing…"
        try:
            await self.feeds.refresh()
        finally:
            self.button.disabled, self.button.label = False, "Refresh"
        self.refresh()

    async def _clicked(self, _event) -> None:
        await self.fetch()

    def refresh(self) -> None:
        """Show the feeds' current items and statuses."""
        now = self.feeds.clock()
        self._drawn = (self.feeds.version, now // 60_000)
        self.status.objects = [self._status(s, now) for s in self.feeds.statuses()] or [
            pn.pane.Markdown("*No news feeds configured.*", css_classes=["news-status"])]
        items = self.feeds.items()[:self.shown]
        self.list.objects = [self._item(i, now) for i in items] or [
            pn.pane.Markdown("*No news yet.*", css_classes=["no-news"])]

    @staticmethod
    def _item(item: NewsItem, now: int) -> pn.pane.HTML:
        title = html.escape(item.title)
        if item.link:
            title = f'<a href="{html.escape(item.link)}" target="_blank" rel="noopener noreferrer">{title}</a>'
        summary = f'<div class="news-summary">{html.escape(shorten(item.summary))}</div>' if item.summary else ""
        return pn.pane.HTML(f'<b class="news-title">{title}</b><br><small class="news-meta">{html.escape(item.feed)} · '
                            f'{time_ago(item.published, now)}</small>{summary}',
                            css_classes=["news-item"], sizing_mode="stretch_width", margin=(4, 10))

    @staticmethod
    def _status(status: FeedStatus, now: int) -> pn.pane.HTML:
        name = html.escape(status.title or status.url)
        if status.state == "pending":
            text, classes = f"… {name}: waiting for the first fetch", []
        elif status.state == "ok":
            text, classes = f"✓ {name}: {status.items} items, updated {time_ago(status.last_success, now)}", []
        else:
            since = f" (last success {time_ago(status.last_success, now)})" if status.last_success else ""
            text, classes = f"⚠ {html.escape(status.message)}{since}", ["news-error"]
        return pn.pane.HTML(text, css_classes=["news-status", *classes], sizing_mode="stretch_width", margin=(0, 10),
                            styles={"color": DOWN} if classes else {})

    def due(self) -> bool:
        return self._drawn != (self.feeds.version, self.feeds.clock() // 60_000)

    def tick(self) -> None:
        if self.visible:
            self.feeds.ensure_started()
        super().tick()

    def __panel__(self):
        return self.live(pn.Column(pn.Row("#### News", self.button), self.status, self.list,
                                   sizing_mode="stretch_width", name="news"))
