"""schemathesis against the live GET /openapi.json, auth off and auth on (the service key).

Every operation of the document gets generated requests, valid and invalid (schemathesis'
positive and negative modes), and every reply goes through all of schemathesis' checks: the
status is one the document declares, the body matches its schema, a valid request is
accepted and an invalid one refused, never a 5xx, a missing credential refused. Bounded: a
few examples per operation and mode, derandomized, so that the module takes well under two
minutes and CI is stable.

schemathesis' own pytest loader (``schemathesis.pytest.from_fixture``) does not run on this
pytest, so each operation's strategy is drawn from with hypothesis directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup

from huihua.wire.cursor import decode_cursor

from .conftest import SERVICE_KEY, login_settings, model_settings, secure_settings
from .fake_model import FakeModel
from .helpers import POST_PATHS

pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from .conftest import Api
    from .fake_wechat import FakeWeChat

MAX_EXAMPLES = 20
OPERATIONS = [(path, "POST") for path in POST_PATHS] + [
    ("/healthz", "GET"),
    ("/openapi.json", "GET"),
]


@pytest.fixture(scope="module", params=["auth-off", "auth-on"])
def served(
    request: pytest.FixtureRequest,
    serve: Callable[..., Api],
    wechat: FakeWeChat,
    model: FakeModel,
) -> Api:
    if request.param == "auth-off":
        return serve("sqlite", **login_settings(wechat), **model_settings(model, **QUICK))
    api = serve(
        "sqlite",
        **secure_settings(wechat, rate_limit_user=0, rate_limit_address=0),
        **model_settings(model, **QUICK),
    )
    api.http.headers["authorization"] = f"Bearer {SERVICE_KEY}"
    return api


def _credential(api: Api) -> dict[str, str]:
    value = api.http.headers.get("authorization")
    return {"authorization": value} if value else {}


@pytest.fixture(scope="module")
def api_schema(served: Api) -> Any:
    """The document the server serves; with auth on, schemathesis sends the service key as
    the document's bearer scheme says (and checks that a request without it is refused)."""
    # A field over its limit is ok 6, HTTP 413 (API.md §1): a refusal like the others.
    refused = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
    config: dict[str, Any] = {
        "checks": {"negative_data_rejection": {"expected-statuses": refused}},
    }
    if "authorization" in served.http.headers:
        config["auth"] = {"openapi": {"bearer": {"bearer": SERVICE_KEY}}}
    url = f"{served.base_url}/openapi.json"
    return schemathesis.openapi.from_url(
        url, config=schemathesis.Config.from_dict(config), headers=_credential(served)
    )


# The GET routes take no parameters: there is nothing to make invalid.
CASES = [(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS] + [
    (path, method, GenerationMode.NEGATIVE) for path, method in OPERATIONS if method == "POST"
]
# JSON Schema counts 5.0 as an integer; the server (msgspec, strict) refuses it as a
# wrongly typed field (ok 1), as it has always done. A valid request says 5.
INTEGER_FIELDS = ("limit", "before_seq", "after_seq", "seq", "from_seq", "after", "days")
# A placeholder that add_chats leaves "streaming" reads as failed after 2 s, so that a
# generated /follow_reply of one ends; the replies' limits are off.
QUICK = {"streaming_timeout": 2, "llm_user_replies": 1000}

# API.md §2's request_id: what the document says. Until the branch that makes the server
# enforce it is merged, the server still accepts any 1-128 characters without control
# characters (spaces, non-ASCII): that one acceptance of invalid data is expected.
REQUEST_ID = re.compile(r"[!-~]{1,128}")


def _only_the_request_id_rule(case: Any, group: FailureGroup) -> bool:
    """True when every failure is invalid data accepted, and the data's request_id is one
    that the server does not refuse yet (see REQUEST_ID)."""
    body = case.body if isinstance(case.body, dict) else {}
    rid = body.get("request_id")
    return (
        all(isinstance(e, AcceptedNegativeData) for e in group.exceptions)
        and isinstance(rid, str)
        and not REQUEST_ID.fullmatch(rid)
    )


def _valid_message(message: Any) -> None:
    """Make a generated message keep the rules of API.md §5.1 that tie its fields together,
    which the document gives in words (ChatIn's description), not as a schema."""
    if not isinstance(message, dict):
        return
    for part in message.get("parts") or ():  # 5.0 for 5: see INTEGER_FIELDS
        for name in ("size", "width", "height", "duration_ms"):
            value = part.get(name) if isinstance(part, dict) else None
            if isinstance(value, float) and value.is_integer():
                part[name] = int(value)
    role = message.get("role")
    if role != "ai":
        for name in ("reasoning", "tool_calls", "status"):
            message.pop(name, None)
    if role == "tool":
        if not message.get("tool_call_id"):
            message["tool_call_id"] = "call-1"
    else:
        message.pop("tool_call_id", None)
        message.pop("name", None)
    unfinished = message.get("status") not in (None, "complete")
    if message.get("msg") == "" and not (
        message.get("parts") or message.get("tool_calls") or unfinished
    ):
        message["msg"] = "x"


def _valid(case: Any) -> None:
    """Make a generated valid request one that the server can take as valid."""
    if not isinstance(case.body, dict):
        return
    path = case.operation.path
    if path == "/add_chat":
        _valid_message(case.body)
    if path == "/add_chats":
        for message in case.body.get("chats") or ():
            _valid_message(message)
    if path == "/update_chat":
        _valid_message({"role": "ai", "parts": case.body.get("parts")})  # its numbers
    if path == "/update_chat" and not {
        "msg",
        "parts",
        "reasoning",
        "tool_calls",
        "meta",
        "status",
    } & set(case.body):
        case.body["msg"] = "x"  # an update changes something (ok 1 otherwise)
    if path == "/delete_chat":  # seq or from_seq, one of the two
        if case.body.get("seq") is not None:
            case.body.pop("from_seq", None)
        elif case.body.get("from_seq") is None:
            case.body["seq"] = 1
    if path == "/ask_ai":  # a question, or regenerate in a named session (the words say so)
        if case.body.get("regenerate"):
            for name in ("msg", "parts", "meta"):
                case.body.pop(name, None)
            case.body["session_id"] = case.body.get("session_id") or "s1"
        else:
            if case.body.get("msg") is None and case.body.get("parts") is None:
                case.body["msg"] = "x"
            question = {"role": "user", "msg": case.body.get("msg") or ""}
            question["parts"] = case.body.get("parts")
            _valid_message(question)
            case.body["msg"] = question["msg"]
    if path == "/rate_chat" and case.body.get("rating") == "":
        case.body.pop("comment", None)  # a comment goes with a rating
    if path == "/query_session_info" and case.body.get("before_seq") is not None:
        case.body.pop("after_seq", None)  # not both
    for name in INTEGER_FIELDS:
        value = case.body.get(name)
        if isinstance(value, float) and value.is_integer():
            case.body[name] = int(value)
    # A cursor is opaque: only one the server gave is valid, and a generator cannot make
    # one (the document's link from next_cursor does). A random string is refused (ok 1).
    cursor = case.body.get("cursor")
    if isinstance(cursor, str) and cursor and decode_cursor(cursor) is None:
        case.body["cursor"] = ""
    if path in ("/list_users", "/list_feedback"):  # their cursors are of their own kind
        case.body["cursor"] = ""


@pytest.mark.parametrize(
    ("path", "method", "mode"), CASES, ids=[f"{p}-{m.value}" for p, _, m in CASES]
)
def test_the_server_does_what_its_document_says(
    api_schema: Any, served: Api, path: str, method: str, mode: GenerationMode
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        if mode is GenerationMode.POSITIVE:
            _valid(case)
        try:
            case.call_and_validate(base_url=served.base_url)
        except FailureGroup as group:
            if not _only_the_request_id_rule(case, group):
                raise

    check()


def test_linked_operations_in_sequence(api_schema: Any, served: Api) -> None:
    """schemathesis' stateful run: sequences that follow the document's links (add_chat's
    session_id into query_session_info, next_cursor into the next page, ...), every check
    on every step."""
    base = api_schema.as_state_machine()

    class Sequences(base):  # type: ignore[misc, valid-type]
        def before_call(self, case: Any) -> None:
            if case.meta is None or case.meta.generation.mode is GenerationMode.POSITIVE:
                _valid(case)

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, **kwargs)
            except FailureGroup as group:
                if not _only_the_request_id_rule(case, group):
                    raise

    Sequences.run(
        settings=settings(
            max_examples=15,
            stateful_step_count=6,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
