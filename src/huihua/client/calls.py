"""One call, as the sync and async clients share it: what to send, what each answer means.

A call is sent until it is answered for good. It keeps one ``request_id`` for all its
tries (the caller's, or one made here), so the server writes it once however often it
arrives (docs/api.md §4). It is sent again, after a backoff, on a network error (the reply may
be lost after the write: the retry gets the recorded reply), on ok 7 (after
``Retry-After``), on ok 8, and on a proxy's 502–504 that is not huihua's envelope. A
retried ``delete_user`` that answers ok 2 is done: the first try deleted the user and,
with them, the record that would have replayed its reply.

No I/O here: ``Client`` and ``AsyncClient`` send, sleep and loop; this decides.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from huihua import errors
from huihua.client.endpoints import Endpoint, check_fields, decode_reply
from huihua.wire.replies import Envelope

RETRY_AFTER_MAX = 60.0  # seconds: a longer Retry-After is waited this long, then retried

_BY_OK: dict[int, type[errors.HuihuaError]] = {
    cls.ok: cls
    for cls in vars(errors).values()
    if isinstance(cls, type)
    and issubclass(cls, errors.HuihuaError)
    and cls is not errors.HuihuaError
}
_encode = msgspec.json.Encoder().encode
_envelope = msgspec.json.Decoder(Envelope)


class NoReply(errors.HuihuaError):
    """No reply from huihua after every try (network down, or a proxy's error page): the
    call may or may not have been carried out; sending it again with the same
    ``request_id`` is safe. ``ok`` is -1, ``status`` the proxy's or 0."""

    ok, status = -1, 0


def error_for(ok: int, failed: str, status: int, request_id: str) -> errors.HuihuaError:
    """Return the HuihuaError subclass of ``ok``, carrying the reply's facts."""
    cls = _BY_OK.get(ok, errors.HuihuaError)
    error = cls.__new__(cls)
    errors.HuihuaError.__init__(error, failed)
    error.ok, error.status, error.request_id = ok, status, request_id  # type: ignore[attr-defined]
    return error


@dataclass
class Retry:
    """Wait ``delay`` seconds, then send the same body again."""

    delay: float


@dataclass
class Done:
    reply: Any


@dataclass
class Policy:
    """How often and how patiently a call is sent again."""

    retries: int = 4  # sends after the first
    backoff: float = 0.25  # the first wait, in seconds; doubled each time, with jitter
    max_backoff: float = 8.0


class Call:
    """One call of an endpoint: its body, fixed for every try, and its tries so far."""

    def __init__(self, endpoint: Endpoint, fields: dict[str, Any], policy: Policy) -> None:
        check_fields(endpoint, fields)
        body = dict(fields)  # None is sent as null: in update_chat it clears a field
        if not body.get("request_id"):
            body["request_id"] = new_request_id()
        self.endpoint = endpoint
        self.request_id: str = body["request_id"]
        self.body = _encode(body)
        self.policy = policy
        self.sent = 0  # tries answered or lost so far

    def _backoff(self) -> float:
        wait = min(self.policy.max_backoff, self.policy.backoff * 2.0 ** (self.sent - 1))
        return wait / 2 + random.random() * wait / 2

    def lost(self, error: Exception) -> Retry:
        """No reply to a try: a Retry, or NoReply raised once the tries are spent."""
        self.sent += 1
        if self.sent > self.policy.retries:
            failure = NoReply(f"no reply after {self.sent} tries: {error!r}")
            failure.request_id = self.request_id  # type: ignore[attr-defined]
            raise failure from error
        return Retry(self._backoff())

    def answered(self, status: int, headers: Any, content: bytes) -> Done | Retry:
        """A reply to a try: Done, a Retry, or the HuihuaError of its ok code raised."""
        self.sent += 1
        try:
            envelope = _envelope.decode(content)
        except msgspec.DecodeError:
            envelope = None
        if envelope is None:  # not huihua's: a proxy in front, or something else
            if status >= 502 and self.sent <= self.policy.retries:
                return Retry(self._backoff())
            failure = NoReply(f"HTTP {status}: not huihua's reply")
            failure.status, failure.request_id = status, self.request_id  # type: ignore[attr-defined]
            raise failure
        if envelope.ok == 0:
            return Done(decode_reply(self.endpoint, content))
        if envelope.ok in (7, 8) and self.sent <= self.policy.retries:
            after = headers.get("retry-after", "")
            if envelope.ok == 7 and after.isdigit():
                return Retry(min(RETRY_AFTER_MAX, float(after)))
            return Retry(self._backoff())
        if envelope.ok == 2 and self.endpoint.name == "delete_user" and self.sent > 1:
            return Done(Envelope(request_id=self.request_id))
        raise error_for(envelope.ok, envelope.failed, status, self.request_id)


def new_request_id() -> str:
    """Return a request_id for a call that brought none."""
    return f"py-{uuid.uuid4().hex}"
