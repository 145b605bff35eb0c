"""What the benchmarks read of the machine: a free port on 127.0.0.1 and a process's CPU time (Linux ``/proc``)."""

from __future__ import annotations

import os
import socket

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``, all threads (``/proc/<pid>/stat``); ``OSError`` once gone."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK
