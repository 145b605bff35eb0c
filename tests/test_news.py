"""News feeds against a real local HTTP server on 127.0.0.1: an RSS 2.0 and an Atom sample (tests/fixtures/news),
a hostile feed (markup, script and javascript: links in every field), a URL answering 500, one that is not XML,
an XML sitemap, one that never answers and a closed port."""

from __future__ import annotations

import asyncio
import time

import pytest

from browser import free_port
from recorded import FIXTURES
from recorders import HttpRecorder
from thebot_panel.news import (DEFAULT_FEEDS, NewsFeeds, NewsItem, feed_urls, feeds_from_env, merge, parse_feed,
                               plain_text, shown_url)
from thebot_panel.ui.news import NewsPanel, shorten, time_ago

NEWS = FIXTURES / "news"
NOW = 1_755_518_400_000  # 2025-08-18 12:00:00 UTC
MIN, HOUR = 60_000, 3_600_000


@pytest.fixture
async def server():
    routes = {"/wire.rss": (200, "application/rss+xml; charset=utf-8", (NEWS / "wire.rss.xml").read_bytes()),
              "/ledger.atom": (200, "application/atom+xml", (NEWS / "ledger.atom.xml").read_bytes()),
              "/hostile.rss": (200, "application/rss+xml", (NEWS / "hostile.rss.xml").read_bytes()),
              "/broken": (500, "text/html", b"<h1>Internal Server Error</h1>"),
              "/text": (200, "text/plain", b"Hello! This is not a feed, just some text."),
              "/sitemap.xml": (200, "application/xml", b'<?xml version="1.0" encoding="UTF-8"?>'  # XML, not a feed
                               b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                               b"<url><loc>https://wire.example/</loc></url></urlset>"),
              "/hang": None}
    server = await HttpRecorder(routes).start()
    yield server
    await server.close()


def feeds(server, *paths, **params) -> NewsFeeds:
    return NewsFeeds(urls=[server.url + p for p in paths], clock=lambda: NOW, **params)


# -- parsing and merging ----------------------------------------------------------------------------

async def test_rss_and_atom_merge_newest_first_with_titles_links_and_utc_times(server):
    news = feeds(server, "/wire.rss", "/ledger.atom")
    await news.refresh()
    items = news.items()
    assert [(i.feed, i.title, i.published) for i in items] == [
        ("Chain Ledger", "Binance Lists New Perpetual Futures on Three Altcoins", NOW - 2 * HOUR),   # 10:00Z
        ("Crypto Wire", "Bitcoin Tops $120,000 as ETF Inflows Surge", NOW - 2 * HOUR - 30 * MIN),   # 09:30 +0000
        ("Crypto Wire", "Ether Staking Queue Hits Record as Validators Pile In", NOW - 585 * MIN),  # 22:15 -0400
        ("Chain Ledger", "SEC Postpones Ruling on Solana Funds", NOW - 20 * HOUR),                   # 16:00+00:00
        ("Chain Ledger", "Stablecoin Bill Clears Committee & Heads to the Floor", NOW - 30 * HOUR),  # 08:00+02:00
        ("Crypto Wire", "Solana Developers Ship Firedancer Testnet Milestone", NOW - 48 * HOUR),    # 12:00 GMT
        ("Crypto Wire", "Weekly Market Wrap", None),                                               # undated: last
    ]
    first, bitcoin = items[0], items[1]
    assert first.link == "https://ledger.example/exchanges/binance-new-perpetuals"
    assert first.summary == "Trading opens at 12:00 UTC with up to 50x leverage."
    assert bitcoin.link == "https://wire.example/markets/2025/08/18/bitcoin-tops-120000"
    assert bitcoin.summary == "Bitcoin rallied past $120,000 on Monday & spot ETFs took in $1.2 billion."
    assert items[4].link == server.url + "/policy/stablecoin-bill"  # relative link resolved against the feed URL
    assert items[4].summary == "Lawmakers voted 32-18."


async def test_an_article_in_two_feeds_is_listed_once_the_newest_copy(server):
    news = feeds(server, "/wire.rss", "/ledger.atom")
    await news.refresh()
    shared = [i for i in news.items() if i.link == "https://news.example/policy/sec-delays-solana-etf"]
    assert [(i.feed, i.title) for i in shared] == [("Chain Ledger", "SEC Postpones Ruling on Solana Funds")]
    assert len({i.link for i in news.items()}) == len(news.items()) == 7
    assert [s.items for s in news.statuses()] == [5, 3]  # per feed, before de-duplication


async def test_the_same_feed_twice_and_the_limit_bound_the_list(server):
    news = feeds(server, "/wire.rss", "/wire.rss?copy", limit=3)
    await news.refresh()
    assert [i.title for i in news.items()] == ["Bitcoin Tops $120,000 as ETF Inflows Surge",
                                               "Ether Staking Queue Hits Record as Validators Pile In",
                                               "SEC Delays Decision on Solana ETF Applications"]


def test_merge_orders_by_time_and_keeps_undated_items_last():
    a, b, c = (NewsItem("F", t, f"https://x.example/{t}", p, "") for t, p in (("a", None), ("b", 5), ("c", 9)))
    assert merge([a, b, c, NewsItem("G", "c again", "https://x.example/c", 1, "")], limit=10) == [c, b, a]


def test_plain_text_drops_tags_scripts_and_decodes_entities():
    assert plain_text("<p>BTC&nbsp;<b>up</b> 5&#37;</p><script>alert(1)</script><style>p{}</style><p>ETH flat</p>") \
        == "BTC up 5% ETH flat"


async def test_a_hostile_feed_gives_plain_texts_as_written_and_only_http_links(server):
    news = feeds(server, "/hostile.rss")
    await news.refresh()
    assert [(i.title, i.link, i.summary) for i in news.items()] == [
        ('<img src=x onerror="window.__pwned=1">', "", "Read more"),   # plain text: kept as characters
        ('<svg onload="window.__pwned=7"> escaped twice', "", 'bold <iframe src="javascript:window.__pwned=10">'),
        ('Bitcoin "quoted" & safe', 'https://news.example/btc?a=1&b="2"', "An ordinary item with an https link."),
        ("Data link", "", ""),                                          # javascript: and data: links dropped
    ]
    assert news.statuses()[0].title == 'Evil <img src=x onerror="window.__pwned=6">Feed'


def test_a_title_declared_plain_text_is_kept_as_written():
    atom = (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><entry><id>1</id>'
            b'<title type="text">BTC &lt;b&gt;up&lt;/b&gt; &amp; away</title>'
            b'<summary type="html">&lt;b&gt;up&lt;/b&gt; &amp;amp; away</summary></entry></feed>')
    [item] = parse_feed(atom, "https://a.example/atom.xml")[1]
    assert (item.title, item.summary) == ("BTC <b>up</b> & away", "up & away")


# -- failures -------------------------------------------------------------------------------------

async def test_each_failing_feed_says_why_and_the_others_still_load(server):
    dead = f"http://127.0.0.1:{free_port()}/rss"
    paths = ["/wire.rss", "/broken", "/text", "/sitemap.xml", "/hang"]
    news = NewsFeeds(urls=[server.url + p for p in paths] + [dead, server.url + "/ledger.atom"], clock=lambda: NOW,
                     timeout=0.5)
    started = time.monotonic()
    await news.refresh()
    assert time.monotonic() - started < 2  # concurrently: one timeout, not the sum
    by_url = {s.url: s for s in news.statuses()}
    assert [(s.state, s.message) for s in news.statuses()] == [
        ("ok", ""),
        ("error", f"{server.url}/broken answered HTTP 500 Internal Server Error"),
        ("error", f"{server.url}/text is not an RSS/Atom feed"),
        ("error", f"{server.url}/sitemap.xml is not an RSS/Atom feed"),
        ("error", f"cannot reach {server.url}/hang: no answer within 0.5 s"),
        ("error", f"cannot reach {dead}: connection refused"),
        ("ok", ""),
    ]
    assert by_url[server.url + "/wire.rss"].title == "Crypto Wire"
    assert by_url[server.url + "/wire.rss"].last_success == by_url[dead].checked == NOW
    assert by_url[dead].last_success is None and by_url[dead].items == 0 and by_url[dead].title == "127.0.0.1"
    assert len(news.items()) == 7 and news.version == 1


async def test_a_feed_that_fails_later_keeps_its_last_items_and_success_time(server):
    clock = [NOW]
    news = NewsFeeds(urls=[server.url + "/wire.rss"], clock=lambda: clock[0])
    await news.refresh()
    server.routes["/wire.rss"] = (503, "text/plain", b"maintenance")
    clock[0] += 5 * MIN
    await news.refresh()
    [status] = news.statuses()
    assert (status.state, status.items, status.last_success, status.checked) == ("error", 5, NOW, NOW + 5 * MIN)
    assert status.message == f"{server.url}/wire.rss answered HTTP 503 Service Unavailable"
    assert len(news.items()) == 5


async def test_requests_name_us_and_ask_for_feeds(server):
    await feeds(server, "/wire.rss").refresh()
    [request] = server.requests
    headers = request.headers
    assert headers["user-agent"].startswith("thebot-panel/")
    assert "application/rss+xml" in headers["accept"]


async def test_run_refreshes_periodically_until_cancelled(server):
    news = feeds(server, "/wire.rss")
    task = news.ensure_started(every_s=0.05)
    assert news.ensure_started() is task
    deadline = time.monotonic() + 3
    while news.version < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await news.stop()
    assert news.version >= 3 and len(server.requests) >= 3 and task.cancelled()


# -- configuration --------------------------------------------------------------------------------

def test_feeds_come_from_the_environment_else_the_defaults():
    assert feeds_from_env({}) == feeds_from_env({"THEBOT_NEWS_FEEDS": " "}) == list(DEFAULT_FEEDS)
    assert all(url.startswith("https://") for url in DEFAULT_FEEDS)
    assert feeds_from_env({"THEBOT_NEWS_FEEDS": " https://a.example/rss , http://b.example/atom.xml,"}) == [
        "https://a.example/rss", "http://b.example/atom.xml"]


@pytest.mark.parametrize("bad", ["ftp://files.example/rss", "cointelegraph.com/rss", "file:///etc/passwd", "https://"])
def test_a_url_that_is_not_http_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="is not an http"):
        feed_urls(f"https://ok.example/rss,{bad}")
    with pytest.raises(ValueError) as error:
        NewsFeeds(urls=[bad])
    assert bad.split("?")[0] in str(error.value)
    with pytest.raises(ValueError, match="is not an http"):
        feeds_from_env({"THEBOT_NEWS_FEEDS": bad})


def test_shown_urls_hide_user_info_and_query_tokens():
    assert shown_url("https://user:pw@cryptopanic.example/api/posts/?auth_token=s3cret&kind=news") \
        == "https://cryptopanic.example/api/posts/?…"


async def test_errors_never_show_a_query_token():
    port = free_port()
    news = NewsFeeds(urls=[f"http://127.0.0.1:{port}/api/?auth_token=s3cret"], clock=lambda: NOW)
    await news.refresh()
    [status] = news.statuses()
    assert status.message == f"cannot reach http://127.0.0.1:{port}/api/?…: connection refused"
    assert "s3cret" not in status.message


# -- view -----------------------------------------------------------------------------------------

def test_time_ago_in_words():
    times = (None, NOW + MIN, NOW - 59_000, NOW - MIN, NOW - 5 * MIN, NOW - HOUR, NOW - 25 * HOUR, NOW - 72 * HOUR)
    assert [time_ago(t, NOW) for t in times] == ["date unknown", "just now", "just now", "1 minute ago",
                                                 "5 minutes ago", "1 hour ago", "1 day ago", "3 days ago"]
    assert shorten("word " * 100, 20) == shorten("word " * 100, 22) == "word word word word…"
    assert shorten("short", 20) == "short"


async def test_panel_lists_items_and_explains_failing_feeds(server):
    dead = f"http://127.0.0.1:{free_port()}/rss"
    news = NewsFeeds(urls=[server.url + "/wire.rss", server.url + "/broken", dead, server.url + "/ledger.atom"],
                     clock=lambda: NOW)
    view = NewsPanel(news, shown=5)
    assert [p.object for p in view.list.objects] == ["*No news yet.*"]
    assert all("waiting for the first fetch" in p.object for p in view.status.objects)

    await view.fetch()
    items = view.list.objects
    assert len(items) == 5 and all("news-item" in p.css_classes for p in items)
    assert items[0].object.startswith('<b class="news-title"><a href="https://ledger.example/exchanges/binance-new-'
                                      'perpetuals" target="_blank" rel="noopener noreferrer">Binance Lists New '
                                      'Perpetual Futures on Three Altcoins</a></b>')
    assert "Chain Ledger · 2 hours ago" in items[0].object
    assert "Crypto Wire · 2 hours ago" in items[1].object and "Bitcoin Tops $120,000" in items[1].object
    assert "spot ETFs took in $1.2 billion." in items[1].object
    assert "Stablecoin Bill Clears Committee &amp; Heads to the Floor" in items[4].object  # escaped once, shown as &

    lines = [(p.object, p.css_classes) for p in view.status.objects]
    assert lines[0] == ("✓ Crypto Wire: 5 items, updated just now", ["news-status"])
    assert lines[1] == (f"⚠ {server.url}/broken answered HTTP 500 Internal Server Error", ["news-status", "news-error"])
    assert lines[2] == (f"⚠ cannot reach {dead}: connection refused", ["news-status", "news-error"])
    assert lines[3] == ("✓ Chain Ledger: 3 items, updated just now", ["news-status"])
    assert view.button.label == "Refresh" and not view.button.disabled


async def test_panel_escapes_every_text_of_a_hostile_feed_and_links_only_http(server):
    view = NewsPanel(feeds(server, "/hostile.rss"))
    await view.fetch()
    page = "".join(p.object for p in [*view.status.objects, *view.list.objects])
    for markup in ("<img", "<svg", "<iframe", "<script", "onerror=\"", "onload=\"", "href=\"javascript", "href=\"data"):
        assert markup not in page
    assert page.count("<a ") == 1 and '<a href="https://news.example/btc?a=1&amp;b=&quot;2&quot;"' in page
    assert '<b class="news-title">&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;</b>' in page
    assert "✓ Evil &lt;img src=x onerror=&quot;window.__pwned=6&quot;&gt;Feed: 4 items" in page


async def test_panel_redraws_after_a_refresh_started_elsewhere(server):
    news = feeds(server, "/ledger.atom")
    view = NewsPanel(news, period_ms=50)
    layout = view.__panel__()  # in a notebook: the periodic redraw starts at once
    try:
        assert view._callback is not None and layout.name == "news"
        await news.refresh()
        deadline = time.monotonic() + 3
        while "news-item" not in view.list.objects[0].css_classes and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(view.list.objects) == 3
    finally:
        view.detach()
    assert view._callback is None


async def test_refresh_button_fetches_and_redraws(server):
    news = feeds(server, "/wire.rss")
    view = NewsPanel(news)
    view.button.clicks += 1  # what a click does: the async handler runs on the event loop
    await asyncio.sleep(0)
    assert view.button.disabled and view.button.label == "Refreshing…"
    deadline = time.monotonic() + 3
    while view.button.disabled and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert len(server.requests) == 1 and not view.button.disabled
    assert [p.object.split("</a>")[0].rsplit(">", 1)[1] for p in view.list.objects][:2] == [
        "Bitcoin Tops $120,000 as ETF Inflows Surge", "Ether Staking Queue Hits Record as Validators Pile In"]
