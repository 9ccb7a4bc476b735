"""Idempotency as one explicit piece: a write happens at most once per request id (docs/api.md §4).

A write's record — the reply it gave and a fingerprint of the request — is read and written
in the write's own transaction, so the two commit together or not at all. The runner may
run a unit of work more than once (a failed attempt is rolled back whole); one
:class:`Idempotency` lives across those attempts, in one of two named states:

- ``WRITE_FIRST`` (the start): the record is not looked up first. A request id is almost
  always new, so the write runs and stores its record: one statement (a round trip on a
  server store) less per write. Only when the write or its record's insert fails is the
  record looked up, and a retry is then answered what was recorded even when the request
  would fail now. So a use case's work must raise a HuihuaError only before its first
  change (each one does).
- ``LOOK_UP_FIRST``: an attempt failed in a way that means the id was most likely used (a
  retry, a twin in flight, another request): the next attempt looks the record up before
  anything else.

``keep=False`` (``/delete_user``): nothing may remain under the user's id, so no record is
stored, and the record of the id is looked up first; a retry finds no user (ok 2), and a
request id used by a different request of the user is still ok 5.

A not-found answers before a conflict (docs/api.md §1): on a conflict the work is run first, so
that its own error wins; its changes are rolled back with the conflict.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
from collections.abc import Callable
from typing import Any

import msgspec

from huihua import timestamps
from huihua.errors import Conflict, HuihuaError
from huihua.store import queries as q
from huihua.store.sql import Db
from huihua.wire.replies import Envelope

_encode = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode

CONFLICT = "request_id: already used for a different request"

# work(db, now) -> the reply; raises a HuihuaError only before its first change.
Work = Callable[[Db, int], Envelope]
# alone(db, now, request_id, fingerprint) -> the encoded reply, or None: take the general way.
Alone = Callable[[Db, int, "str | None", str], "bytes | None"]


class WriteCall(msgspec.Struct):
    """Who asked for a write: the id echoed, and the client's own id for idempotency."""

    path: str
    request_id: str
    client_request_id: str | None
    request: Any

    def fingerprint(self) -> str:
        """Return a hash of the request as made (its id left out), keys in sorted order."""
        body = self.request
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "request_id"}
        else:
            body = msgspec.structs.replace(body, request_id=None)
        digest = hashlib.sha256(self.path.encode() + b"\n" + _encode_sorted(body))
        return digest.hexdigest()


class State(enum.Enum):
    WRITE_FIRST = "write first"
    LOOK_UP_FIRST = "look up first"


class Idempotency:
    """The at-most-once record of one write, across the runner's attempts (module doc)."""

    __slots__ = (
        "_alone",
        "_fingerprint",
        "_keep",
        "_rid",
        "_user_id",
        "_work",
        "replayed",
        "state",
    )

    def __init__(
        self,
        call: WriteCall,
        user_id: str,
        work: Work,
        *,
        alone: Alone | None = None,
        keep: bool = True,
    ) -> None:
        """``alone``, when given, is tried first: the whole write as one statement that also
        stores the record and does nothing when a record of the request id exists."""
        self._rid = call.client_request_id
        self._fingerprint = call.fingerprint() if self._rid is not None else ""
        self._user_id = user_id
        self._work = work
        self._alone = alone
        self._keep = keep
        self.state = State.WRITE_FIRST if keep else State.LOOK_UP_FIRST
        # Whether the reply returned is the recorded one of an earlier request (a retry),
        # not this attempt's work: /ask_ai starts a reply only for its own work.
        self.replayed = False

    def __call__(self, db: Db) -> bytes:
        """Run one attempt of the write in the runner's transaction; return the reply."""
        self.replayed = False
        now = timestamps.now_ms()
        if self._alone is not None and self.state is State.WRITE_FIRST:
            try:
                done = self._alone(db, now, self._rid, self._fingerprint)
            except Exception:
                self.state = State.LOOK_UP_FIRST  # most likely a twin's record
                raise
            if done is not None:
                return done
        if self._rid is None:
            return _encode(self._work(db, now))
        if self.state is State.LOOK_UP_FIRST:
            try:
                found = self._recorded(db, self._rid)
            except Conflict:
                self._work(db, now)  # its own error answers first; else rolled back
                raise
            if found is not None:
                return found
        try:
            reply = self._work(db, now)
        except HuihuaError:
            if self.state is State.WRITE_FIRST:
                with contextlib.suppress(Conflict):  # the failure answers before a conflict
                    found = self._recorded(db, self._rid)
                    if found is not None:
                        return found
            raise
        body = _encode(reply)
        if self._keep:
            try:
                q.put_idempotency(
                    db, self._user_id, self._rid, self._fingerprint, body.decode(), now
                )
            except Exception:
                self.state = State.LOOK_UP_FIRST  # the runner runs the write again
                raise
        return body

    def _recorded(self, db: Db, rid: str) -> bytes | None:
        """Return the recorded reply of this request id, None; Conflict for another's."""
        record = q.get_idempotency(db, self._user_id, rid)
        if record is None:
            return None
        if record.fingerprint == self._fingerprint:
            self.replayed = True
            response: str = record.response
            return response.encode()
        raise Conflict(CONFLICT)
