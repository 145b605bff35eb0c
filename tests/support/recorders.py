"""Local servers for tests: an HTTP server that records requests (and can answer 500, serve files or hang)."""

from __future__ import annotations

import asyncio
import http
import json
import time
from dataclasses import dataclass


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: object
    at: float  # time.monotonic() of arrival


class HttpRecorder:
    """A tiny HTTP/1.1 server: records each request; answers a path of ``routes`` with its ``(status, content
    type, body)``, never for a route of None, and any other path ``status`` with ``{}`` (never, when ``hang``)."""

    def __init__(self, routes: dict[str, tuple[int, str, bytes] | None] | None = None):
        self.routes = routes or {}
        self.requests: list[Request] = []
        self.status = 200
        self.hang = False
        self._release = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> HttpRecorder:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def close(self):
        self._release.set()
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    async def _handle(self, reader, writer):
        self._writers.append(writer)
        try:
            while line := await reader.readline():
                method, path, _ = line.decode().split(" ", 2)
                headers = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    key, value = header.decode().split(":", 1)
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                body = json.loads(body) if body else None
                self.requests.append(Request(method, path, headers, body, time.monotonic()))
                route = self.routes.get(path, (self.status, "application/json", b"{}"))
                if self.hang or route is None:
                    await self._release.wait()
                    return
                status, kind, payload = route
                writer.write(f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: {kind}\r\n"
                             f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
                await writer.drain()
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
