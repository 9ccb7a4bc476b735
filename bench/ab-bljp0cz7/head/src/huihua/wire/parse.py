"""Turning a request body into a checked request, with the error API.md §1 says comes first.

Decoding happens in two steps so the order of §1 holds: :func:`parse_body` answers for a
body that is not JSON or not an object (ok 1) and finds the ``request_id`` to echo; the field
errors it found are raised only by :meth:`Parsed.fields`, after the credential checks. Within
the fields, every ok 1 beats every ok 6 (rules.py).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from huihua.errors import InvalidRequest, TooLarge
from huihua.ids import new_id
from huihua.wire.requests import Request
from huihua.wire.rules import CONTROL_CHARS, REQUEST_ID_MAX, Checker

_MISSING = re.compile(r"Object missing required field `([^`]*)`")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`")
_AT = re.compile(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$")
_TYPE_WORDS = {
    "str": "a string",
    "int": "an integer",
    "bool": "true or false",
    "object": "an object",
    "array": "an array",
    "float": "a number",
    "null": "null",
}
_any_decoder = msgspec.json.Decoder()
_decoders: dict[type, msgspec.json.Decoder[Any]] = {}

R = TypeVar("R", bound=Request)


class Parsed:
    """A body that is a JSON object: its ``request_id`` and, on demand, its checked fields."""

    __slots__ = ("_error", "data", "request_id", "too_large")

    def __init__(
        self,
        data: Any,
        request_id: str,
        error: InvalidRequest | None,
        too_large: str | None = None,
    ) -> None:
        self.data = data
        self.request_id = request_id
        self._error = error
        # An over-long request_id (ok 6) answers only when no field breaks an ok-1 rule.
        self.too_large = too_large

    def fields(self) -> Any:
        """Return the decoded request, or raise the first field error (ok 1)."""
        if self._error is not None:
            raise self._error
        return self.data

    def checker(self) -> Checker:
        """Return a Checker that already holds this body's request_id problem, if any."""
        checker = Checker()
        if self.too_large is not None:
            checker.large(self.too_large)
        return checker


def parse_body(body: bytes, request_type: type[R] | None) -> Parsed:
    """Return the body decoded as ``request_type`` (a plain object when None).

    Raises InvalidRequest at once for a body that is not a JSON object; a field error is
    kept in the result, to be raised by :meth:`Parsed.fields` when its turn comes.
    """
    if request_type is None:
        data: Any = _object_or_raise(body)
        rid = data.get("request_id")
    else:
        decoder = _decoders.get(request_type)
        if decoder is None:
            decoder = _decoders[request_type] = msgspec.json.Decoder(request_type)
        try:
            data = decoder.decode(body)
        except msgspec.ValidationError as exc:
            raw = _object_or_raise(body)
            return Parsed(raw, _request_id_of(raw), InvalidRequest(_explain(str(exc))))
        except (msgspec.DecodeError, UnicodeDecodeError):
            _object_or_raise(body)  # raises: the body is not JSON
            raise  # pragma: no cover - the line above always raises here
        rid = data.request_id
    if rid is None or (isinstance(rid, str) and _valid_request_id(rid)):
        return Parsed(data, rid or new_id(), None)
    problem = _request_id_error(rid)
    if isinstance(problem, TooLarge):
        return Parsed(data, new_id(), None, problem.failed)
    return Parsed(data, new_id(), problem)


def _object_or_raise(body: bytes) -> dict[str, Any]:
    try:
        raw = _any_decoder.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise InvalidRequest("body: must be valid JSON (UTF-8)") from None
    if not isinstance(raw, dict):
        raise InvalidRequest("body: must be a JSON object")
    return raw


def _valid_request_id(rid: str) -> bool:
    return 0 < len(rid) <= REQUEST_ID_MAX and not CONTROL_CHARS.search(rid)


def _request_id_of(raw: dict[str, Any]) -> str:
    rid = raw.get("request_id")
    return rid if isinstance(rid, str) and _valid_request_id(rid) else new_id()


def _request_id_error(rid: Any) -> InvalidRequest | TooLarge:
    if not isinstance(rid, str):
        return InvalidRequest("request_id: must be a string")
    if rid == "":
        return InvalidRequest("request_id: must not be empty")
    if CONTROL_CHARS.search(rid):
        return InvalidRequest("request_id: must not contain control characters")
    return TooLarge(f"request_id: must be at most {REQUEST_ID_MAX} characters")


def _explain(text: str) -> str:
    """Return msgspec's validation message as `field: rule`."""
    if m := _MISSING.search(text):
        return f"{_join(_AT.match(text).group(2), m.group(1))}: is required"
    if m := _UNKNOWN.search(text):
        return f"{_join(_AT.match(text).group(2), m.group(1))}: is not a known field"
    m = _AT.match(text)
    rule, path = m.group(1), m.group(2) or "body"
    if t := re.match(r"Expected `([^`]*)`, got `([^`]*)`", rule):
        wanted = " or ".join(
            _TYPE_WORDS.get(w.strip(), w.strip())
            for w in t.group(1).split("|")
            if w.strip() != "null"
        )
        return f"{path}: must be {wanted}, not {_TYPE_WORDS.get(t.group(2), t.group(2))}"
    if rule.startswith("Invalid enum value"):
        return f"{path}: must be one of " + ", ".join(f'"{v}"' for v in ("user", "ai"))
    if "out of range" in rule:
        return f"{path}: number out of range"
    return f"{path}: {rule[:1].lower()}{rule[1:]}"


def _join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name
