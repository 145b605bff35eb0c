"""The app's services around the feed: alerts and their SQLite store, notification of new alerts, the paper
portfolio, news feeds and the event broadcast.

``Services.configure`` reads their configuration once, from the values given (the app's command line, a notebook's
arguments) and otherwise the environment: ``$THEBOT_DB`` (else the user data dir), ``$THEBOT_NEWS_FEEDS`` (else a
few crypto news feeds), ``$THEBOT_NOTIFY_CONFIG`` and the ``THEBOT_*`` channel variables (see
``signals/notify.py``). The hub builds one, shows it every market it opens (``follow``) and starts and stops it
with the feed; views read ``hub.services.alerts``, ``.portfolio``, ``.news``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

from .broadcast import Broadcaster
from .news import NewsFeeds, feeds_from_env
from .portfolio import PaperPortfolio, PaperStore
from .signals.alerts import ACTIVE, AlertManager
from .signals.notify import Notifier
from .signals.store import AlertStore, default_path

log = logging.getLogger(__name__)


class Services:
    """Alerts (``AlertManager`` over an ``AlertStore`` at ``db_path``), the paper portfolio (same SQLite file), the
    ``notifier`` of new alerts, ``news`` (``NewsFeeds`` of ``news_urls``) and, when ``broadcast_port`` is not None
    (0: any free port), the event ``broadcaster`` (None until started, or if its port is taken)."""

    def __init__(self, db_path: str, notifier: Notifier, news_urls: list[str], broadcast_port: int | None = None):
        self.alerts = AlertManager(store=AlertStore(db_path))
        self.notifier = notifier
        self.alerts.subscribe(self._notify)
        self.portfolio = PaperPortfolio(store=PaperStore(self.alerts.store.path))
        self.news = NewsFeeds(urls=news_urls)
        self.broadcast_port = broadcast_port
        self.broadcaster: Broadcaster | None = None
        self._markets: list = []
        self._portfolio_sinks: list = []
        self._expiry: asyncio.Task | None = None

    @classmethod
    def configure(cls, db_path: str | None = None, notify_config: str | None = None,
                  news_urls: list[str] | None = None, broadcast_port: int | None = None,
                  env: Mapping[str, str] = os.environ) -> Services:
        """Services for these values, the environment ``env`` filling those that are None (see the module doc).
        ``ValueError`` naming a bad notification setting or news URL."""
        return cls(db_path or env.get("THEBOT_DB") or default_path(), Notifier.from_config(notify_config, env),
                   news_urls if news_urls is not None else feeds_from_env(env), broadcast_port)

    def follow(self, market, trade: bool = True) -> None:
        """Broadcast a market's closed candles and signals (now if the broadcast runs, else once it starts), and,
        if ``trade``, let the paper portfolio follow its prices and signals (the hub's own interval, not the higher
        one that confirms the trend)."""
        self._markets.append(market)
        if trade:
            self._portfolio_sinks += self.portfolio.follow(market)
        if self.broadcaster is not None:
            self.broadcaster.follow(market)

    async def start(self, hub) -> None:
        """Start notifications, alert expiry and the broadcast (publishing ``hub``'s status)."""
        await self.notifier.start()
        self._expiry = asyncio.get_running_loop().create_task(self._expire_alerts())
        if self.broadcast_port is not None:
            await self._start_broadcast(hub)

    async def _start_broadcast(self, hub) -> None:
        broadcaster = Broadcaster(port=self.broadcast_port)
        try:
            await broadcaster.start()
        except OSError as exc:  # e.g. the port is taken: the app goes on without it
            log.error("event broadcast not started on port %s: %s", self.broadcast_port, exc)
            return
        self.broadcaster = broadcaster
        for market in self._markets:
            broadcaster.follow(market)
        broadcaster.watch_status(hub)
        self.alerts.subscribe(broadcaster.publish)
        log.info("event broadcast on %s", broadcaster.url)

    def _notify(self, alert) -> None:
        if alert.state == ACTIVE:  # new alerts go out; dismissals and expiries stay in the app
            self.notifier.notify(alert)

    async def _expire_alerts(self, every_s: float = 5.0) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.alerts.expire()

    async def stop(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        await self.notifier.stop()
        await self.news.stop()
        if self.broadcaster is not None:
            await self.broadcaster.stop()
