"""httpx transports that talk to a real server over HTTP and can lose a reply after the
server has answered, as a mobile network or a reset connection does; and what they saw."""

from __future__ import annotations

import httpx
import msgspec


class Seen:
    """What a transport sent and got: (path, request_id, HTTP status, reply lost)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int, bool]] = []
        self.drops: list[str] = []  # lose the reply of the next request to each path

    def drop(self, path: str, times: int = 1) -> None:
        self.drops += [path] * times

    def record(self, request: httpx.Request, response: httpx.Response) -> bool:
        path = request.url.path
        lost = path in self.drops
        if lost:
            self.drops.remove(path)
        rid = msgspec.json.decode(request.content).get("request_id", "") if request.content else ""
        self.sent.append((path, rid, response.status_code, lost))
        return lost

    def to(self, path: str) -> list[tuple[str, str, int, bool]]:
        return [s for s in self.sent if s[0] == path]


class LossyTransport(httpx.HTTPTransport):
    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        if self.seen.record(request, response):
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


class AsyncLossyTransport(httpx.AsyncHTTPTransport):
    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await super().handle_async_request(request)
        await response.aread()
        if self.seen.record(request, response):
            raise httpx.ReadError("connection reset after the server answered", request=request)
        return response
