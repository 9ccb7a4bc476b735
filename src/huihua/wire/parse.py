"""Turning a request body into a checked request, with the error docs/api.md §1 says comes first.

Decoding happens in two steps so the order of §1 holds: :func:`parse_body` answers for a
body that is not JSON, not an object or nested deeper than 32 (ok 1), and finds the
``request_id`` to echo; the field errors it found are raised only by :meth:`Parsed.fields`,
after the credential checks. Within the fields, every ok 1 beats every ok 6 (rules.py).

The nesting is measured before msgspec sees the body (it recurses, and so does every check
after it), without recursion, and only for a body with more than 32 brackets in all. A
string holding a lone surrogate (``"\\ud800"``: msgspec refuses it, PostgreSQL cannot
store it) is answered at once too, naming its field: it is not Unicode text.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec

from huihua.errors import InvalidRequest, TooLarge
from huihua.ids import new_id
from huihua.wire.requests import Request
from huihua.wire.rules import ENUMS, MAX_DEPTH, REQUEST_ID_MAX, Checker

_MISSING = re.compile(r"Object missing required field `([^`]*)`", re.DOTALL)
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]*)`", re.DOTALL)
_AT = re.compile(r"^(.*?)(?: - at `\$\.?([^`]*)`)?$", re.DOTALL)  # names may hold newlines
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
_fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
# A JSON string (its escapes kept whole), or a bracket: what the nesting scan looks at.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
# The brackets alone, every opening one as "[" and every closing one as "]".
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE = re.compile("[\ud800-\udfff]")
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
            # A new exception each time: raising the kept one would tie it, through its
            # traceback, to this frame and so to this Parsed and its whole body, a cycle
            # only the collector's full pass frees (100,000 fields held 11 MiB each).
            raise InvalidRequest(self._error.failed)
        return self.data

    def checker(self) -> Checker:
        """Return a Checker that already holds this body's request_id problem, if any."""
        checker = Checker()
        if self.too_large is not None:
            checker.large(self.too_large)
        return checker


def parse_body(body: bytes, request_type: type[R] | None) -> Parsed:
    """Return the body decoded as ``request_type`` (a plain object when None).

    Raises InvalidRequest at once for a body that is not a JSON object (or nested deeper
    than 32); a field error is kept in the result, to be raised by :meth:`Parsed.fields`
    when its turn comes.
    """
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH:  # else it cannot be too deep
        _refuse_deep(body, request_type)
    if request_type is None:
        data, problem = _object_or_raise(body)
        if problem is not None:
            return Parsed(data, _request_id_of(data), problem)
        rid = data.get("request_id")
    else:
        decoder = _decoders.get(request_type)
        if decoder is None:
            decoder = _decoders[request_type] = msgspec.json.Decoder(request_type)
        try:
            data = decoder.decode(body)
        except msgspec.ValidationError as exc:
            raw, _ = _object_or_raise(body)
            return Parsed(raw, _request_id_of(raw), InvalidRequest(_explain(str(exc))))
        except (msgspec.DecodeError, UnicodeDecodeError):
            _object_or_raise(body)  # raises: the body is not JSON
            raise  # pragma: no cover - the line above always raises here
        rid = data.request_id
    if rid is None or (isinstance(rid, str) and valid_request_id(rid)):
        return Parsed(data, rid or new_id(), None)
    wrong = _request_id_error(rid)
    if isinstance(wrong, TooLarge):
        return Parsed(data, new_id(), None, wrong.failed)
    return Parsed(data, new_id(), wrong)


def _object_or_raise(body: bytes) -> tuple[dict[str, Any], InvalidRequest | None]:
    """Return the body as a plain object, and the error of a number out of range in it;
    raise ok 1 for a body that is no JSON object.

    A number out of float range (``1e400``) makes msgspec refuse the whole body, which is
    still an object: its fields are returned as they decode, a field that does not as its
    raw JSON (which encodes back as it came, so a re-parse finds the same error).
    """
    try:
        raw = _any_decoder.decode(body)
    except msgspec.ValidationError:  # a number out of range: the text itself is JSON
        fields = _fields_decoder.decode(body)
        out: dict[str, Any] = {}
        problem = None
        for name, value in fields.items():
            try:
                out[name] = _any_decoder.decode(value)
            except msgspec.ValidationError:
                out[name] = value
                problem = problem or InvalidRequest(f"{name}: number out of range")
        return out, problem
    except (msgspec.DecodeError, UnicodeDecodeError):
        failed = _surrogate_problem(body) or "body: must be valid JSON (UTF-8)"
        raise InvalidRequest(failed) from None
    if not isinstance(raw, dict):
        raise InvalidRequest("body: must be a JSON object")
    return raw, None


def _surrogate_problem(body: bytes) -> str | None:
    """Return ``"<field>: …"`` when the body is JSON but for a lone surrogate in a string."""
    if b"\\u" not in body:
        return None
    try:  # the standard library's parser takes lone surrogates; the depth is checked
        raw = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(raw, dict):
        return None
    for name, value in raw.items():
        if _SURROGATE.search(name):
            return "body: a field name must not contain a lone surrogate (U+D800-U+DFFF)"
        if _has_surrogate(value):
            return f"{name}: must not contain a lone surrogate (U+D800-U+DFFF)"
    return None


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_SURROGATE.search(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _refuse_deep(body: bytes, request_type: type[Request] | None) -> None:
    """Raise ok 1 when the body's JSON is nested deeper than MAX_DEPTH (the top object is
    depth 1), naming the field it is in (``body`` outside the request's fields)."""
    brackets = _STRING.sub(b"", body).translate(_SQUARE, _NOT_BRACKET)
    for _ in range(MAX_DEPTH):  # each pass takes off the innermost level, in C
        if not brackets:
            return
        brackets = brackets.replace(b"[]", b"")
    if not brackets:
        return
    # Deeper than MAX_DEPTH, or brackets that do not match: find out, and where.
    depth = 0
    key: bytes | None = None
    for token in _TOKEN.finditer(body):
        text = token.group()
        if text[0] == 0x22:  # a string: at depth 1, a field's name (or a top-level value)
            if depth == 1:
                key = text
        elif text in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidRequest(
                    f"{_field_name(key, request_type)}: must not be nested deeper than {MAX_DEPTH}"
                )
        else:
            depth -= 1
            if depth == 0:
                key = None


def _field_name(key: bytes | None, request_type: type[Request] | None) -> str:
    if key is None:
        return "body"
    try:
        name = msgspec.json.decode(key)
    except msgspec.DecodeError:
        return "body"
    if not isinstance(name, str) or (
        request_type is not None and name not in request_type.__struct_fields__
    ):
        return "body"
    return name


def valid_request_id(rid: str) -> bool:
    """Return whether ``rid`` may be echoed and logged as a request id."""
    # 1-128 characters of printable ASCII without spaces (docs/api.md §2): nothing a log line
    # could be forged with.
    return 0 < len(rid) <= REQUEST_ID_MAX and rid.isascii() and rid.isprintable() and " " not in rid


def _request_id_of(raw: dict[str, Any]) -> str:
    rid = raw.get("request_id")
    return rid if isinstance(rid, str) and valid_request_id(rid) else new_id()


def _request_id_error(rid: Any) -> InvalidRequest | TooLarge:
    if not isinstance(rid, str):
        return InvalidRequest("request_id: must be a string")
    if rid == "":
        return InvalidRequest("request_id: must not be empty")
    if not (rid.isascii() and rid.isprintable()) or " " in rid:
        return InvalidRequest("request_id: must be printable ASCII without spaces (! to ~)")
    return TooLarge(f"request_id: must be at most {REQUEST_ID_MAX} characters")


def _explain(text: str) -> str:
    """Return msgspec's validation message as `field: rule`."""
    at = _AT.match(text)
    assert at is not None  # _AT matches any text: its path part is optional
    if m := _MISSING.search(text):
        return f"{_join(at.group(2), m.group(1))}: is required"
    if m := _UNKNOWN.search(text):
        return f"{_join(at.group(2), m.group(1))}: is not a known field"
    rule, path = at.group(1), at.group(2) or "body"
    if t := re.match(r"Expected `([^`]*)`, got `([^`]*)`", rule):
        wanted = " or ".join(
            _TYPE_WORDS.get(w.strip(), w.strip())
            for w in t.group(1).split("|")
            if w.strip() != "null"
        )
        return f"{path}: must be {wanted}, not {_TYPE_WORDS.get(t.group(2), t.group(2))}"
    if rule.startswith("Invalid enum value"):
        values = ENUMS.get(re.split(r"[.\]]", path)[-1], ())
        return f"{path}: must be one of " + ", ".join(f'"{v}"' for v in values)
    if "out of range" in rule:
        return f"{re.split(r'[.[]', path, maxsplit=1)[0] or 'body'}: number out of range"
    return f"{path}: {rule[:1].lower()}{rule[1:]}"


def _join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name
