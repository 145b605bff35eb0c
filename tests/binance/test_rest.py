"""The REST client's limits, against the real replay server behind the fault proxy (counting on the server side) and
a tiny recording HTTP server, all on 127.0.0.1: calls in flight, Binance's request weight, 418/429 pauses."""

import asyncio
import time

import orjson
import pytest

from faultproxy import FaultProxy
from recorders import HttpRecorder
from thebot_panel.binance.rest import WEIGHTS, BinanceAPIError, RestClient, WeightBudget
from thebot_panel.replay import Recording, ReplayServer


@pytest.fixture
async def proxy():
    async with ReplayServer(Recording.bundled(), speed=600) as replay, \
            FaultProxy(replay.ws_url, replay.rest_url) as proxy:
        yield proxy


def most_weight_within(requests, seconds: float) -> int:
    """The most request weight (``WEIGHTS`` by path) that arrived within any window of ``seconds``."""
    arrivals = sorted((at, WEIGHTS[path]) for at, path, *_ in requests)
    first = total = best = 0
    for at, weight in arrivals:
        total += weight
        while at - arrivals[first][0] >= seconds:
            total -= arrivals[first][1]
            first += 1
        best = max(best, total)
    return best


async def test_many_concurrent_klines_calls_complete_with_at_most_max_in_flight_at_the_server(proxy):
    proxy.rest_delay = 0.05  # a distant server: 200 calls, 4 at a time, take 2.5 s, far over the 1 s timeout
    rest = RestClient(proxy.rest_url, timeout=1.0, max_in_flight=4)
    try:
        results = await asyncio.gather(*(rest.klines("BTCUSDT", "1m", limit=10) for _ in range(100)))
    finally:
        await rest.close()
    assert [len(klines) for klines in results] == [10] * 100  # none failed: waiting for a turn is no timeout
    assert len(proxy.rest_requests) == 200 and {status for *_, status in proxy.rest_requests} == {200}
    assert proxy.rest_in_flight_max == 4


async def test_a_spent_used_weight_header_makes_calls_wait_for_the_window_not_fail(proxy):
    budget = WeightBudget(window_s=1.0)  # Binance's 6,000 per window (90 % ours), a 1 s window for the test
    rest = RestClient(proxy.rest_url, budget=budget)
    try:
        proxy.rest_used_weight = 5_990  # other clients on the IP spent it
        await rest.server_time()
        answered = time.monotonic()
        proxy.rest_used_weight = 10
        klines = await rest.klines("BTCUSDT", "1m", limit=10)
        waited = proxy.rest_requests[1][0] - answered
        started = time.monotonic()
        await rest.server_time()  # the header says 10 now: no wait
        again = time.monotonic() - started
    finally:
        await rest.close()
    assert len(klines) == 10 and budget.waits == 1
    assert 0.9 <= waited < 1.5 and again < 0.3, (waited, again)


async def test_calls_are_paced_by_their_weight_within_the_budget(proxy):
    budget = WeightBudget(limit=20, window_s=1.0, share=1.0)  # 20 weight per second
    rest = RestClient(proxy.rest_url, budget=budget)
    started = time.monotonic()
    try:
        results = await asyncio.gather(*(rest.klines("BTCUSDT", "1m", limit=10) for _ in range(10)))  # weight 3 each
    finally:
        await rest.close()
    assert [len(klines) for klines in results] == [10] * 10
    assert len(proxy.rest_requests) == 20 and budget.waits > 0
    assert most_weight_within(proxy.rest_requests, 0.9) <= 20  # by arrival at the server (a send is ~ms earlier)
    assert time.monotonic() - started >= 1.0  # 30 weight: the last calls waited for the first to age out


async def test_a_429_pauses_every_call_for_its_retry_after(proxy):
    proxy.rest_fault("429", path="/api/v3/time", retry_after=1.0)
    rest = RestClient(proxy.rest_url)
    try:
        with pytest.raises(BinanceAPIError, match="Retry-After") as refused:
            await rest.server_time()
        limited = time.monotonic()
        assert refused.value.status == 429 and refused.value.transient and 0.9 < rest.paused_for() <= 1.0
        klines = await rest.klines("BTCUSDT", "1m", limit=5)
    finally:
        await rest.close()
    assert len(klines) == 5 and proxy.rest_requests[1][0] - limited >= 0.95


async def test_the_weight_limit_comes_from_exchange_info_rate_limits():
    info = {"rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                           {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
                           {"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 10, "limit": 50}],
            "symbols": [{"symbol": "BTCUSDT", "status": "TRADING"}]}
    server = await HttpRecorder({"/api/v3/exchangeInfo": (200, "application/json", orjson.dumps(info))}).start()
    rest = RestClient(server.url)
    try:
        assert rest.budget.limit == 6_000 and rest.budget.budget == 5_400  # Binance's, until exchangeInfo says
        assert await rest.symbols() == {"BTCUSDT": "TRADING"}
        assert rest.budget.limit == 1_200 and rest.budget.budget == 1_080
    finally:
        await rest.close()
        await server.close()
