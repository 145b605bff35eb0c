"""The replay clock: the replay time (int ms since the Unix epoch, UTC) that every connection and REST share.

Running, ``now() = start + elapsed_wall_ms * speed``; ``retime`` changes the speed or stops and
restarts the clock, which goes on from its reading at that moment (no jump), and every pending
``wait_until`` re-times at once. With ``speed=None`` ("max") the clock is virtual: ``wait_until``
returns at once (unless paused) and the clock jumps to the time waited for if that is later, so
it stands still between waits and follows the waiter furthest ahead; a waiter yields to the event
loop at least every millisecond.
"""

from __future__ import annotations

import asyncio


class ReplayClock:
    """The replay clock (ms): real time scaled by ``speed``, or virtual (``speed=None``, "max"); it
    stands still while ``paused``. ``retime`` changes both, going on from the current reading.
    Create it on the event loop it serves."""

    def __init__(self, start_ms: int, speed: float | None, paused: bool):
        self.speed, self.paused = speed, paused
        self._start = start_ms  # the reading at loop time _t0; the whole reading at "max" or paused
        self._t0 = self._next_yield = asyncio.get_running_loop().time()
        self._waits: set[asyncio.Timeout] = set()

    def now(self) -> int:
        if self.speed is None or self.paused:
            return self._start
        return self._start + int((asyncio.get_running_loop().time() - self._t0) * 1000 * self.speed)

    def retime(self, speed: float | None, paused: bool) -> None:
        """Go on from the current reading at ``speed``, standing still if ``paused``; wakes every
        pending ``wait_until`` to re-time its wait."""
        self._start, self._t0 = self.now(), asyncio.get_running_loop().time()
        self.speed, self.paused = speed, paused
        for timeout in self._waits:
            if not timeout.expired():
                timeout.reschedule(self._t0)

    async def wait_until(self, ms: int, interrupt: asyncio.Event) -> bool:
        """Wait until the clock reaches ``ms``; False if ``interrupt`` was set first."""
        while self.paused or (self.speed is not None and self.now() < ms):
            delay = None if self.paused else (ms - self.now()) / (1000 * self.speed)
            try:
                async with asyncio.timeout(delay) as timeout:
                    self._waits.add(timeout)
                    try:
                        await interrupt.wait()
                    finally:
                        self._waits.discard(timeout)
                return False
            except TimeoutError:
                pass  # due, or retimed: check again
        if self.speed is None:
            self._start = max(self._start, ms)
            loop = asyncio.get_running_loop()
            if loop.time() >= self._next_yield:  # let the other tasks run at least every millisecond
                await asyncio.sleep(0)
                self._next_yield = loop.time() + 0.001
            return not interrupt.is_set()
        return True
