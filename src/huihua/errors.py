"""The errors a request can end in, each with its ``ok`` code and HTTP status.

docs/api.md §1 fixes the table; codes never change meaning once shipped::

    HuihuaError
     ├── InvalidRequest      ok 1  400
     ├── NotFound            ok 2  404
     ├── Unauthenticated     ok 3  401
     ├── Forbidden           ok 4  403
     ├── Conflict            ok 5  409
     ├── TooLarge            ok 6  413
     ├── RateLimited         ok 7  429
     ├── StorageUnavailable  ok 8  503
     ├── InternalError       ok 9  500
     ├── MethodNotAllowed    ok 10 405
     ├── NotApplicable       ok 11 409
     └── ContentRefused      ok 12 422

Every reply, success or failure, is the envelope: ``request_id``, ``ok``, ``failed``
(huihua.wire.replies). This module imports nothing of huihua: every layer uses it.
"""

from __future__ import annotations


class HuihuaError(Exception):
    """A failure that answers the client with its ``ok`` code and ``failed`` text."""

    ok: int = 9
    status: int = 500
    headers: dict[str, str] | None = None  # HTTP headers the reply carries besides

    def __init__(self, failed: str) -> None:
        super().__init__(failed)
        self.failed = failed


class InvalidRequest(HuihuaError):
    ok, status = 1, 400


class NotFound(HuihuaError):
    ok, status = 2, 404


class Unauthenticated(HuihuaError):
    ok, status = 3, 401

    def __init__(self, failed: str) -> None:
        super().__init__(failed)
        self.headers = {"www-authenticate": 'Bearer realm="huihua"'}


class Forbidden(HuihuaError):
    ok, status = 4, 403


class Conflict(HuihuaError):
    ok, status = 5, 409


class TooLarge(HuihuaError):
    ok, status = 6, 413


class RateLimited(HuihuaError):
    ok, status = 7, 429

    def __init__(self, failed: str, retry_after: int = 1) -> None:
        super().__init__(failed)
        self.headers = {"retry-after": str(max(1, retry_after))}


class StorageUnavailable(HuihuaError):
    ok, status = 8, 503


class InternalError(HuihuaError):
    ok, status = 9, 500


class MethodNotAllowed(HuihuaError):
    ok, status = 10, 405


class NotApplicable(HuihuaError):
    """The target exists, but its kind or state rules the operation out."""

    ok, status = 11, 409


class ContentRefused(HuihuaError):
    """WeChat's content check judged the text risky (docs/api.md §8.6): nothing was written."""

    ok, status = 12, 422
