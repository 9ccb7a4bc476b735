"""A hypothesis state machine against an in-memory model of the contract (API.md §3, §4).

Random sequences of add_user, query_user_info, add_chat (with and without session_id, with
and without a request_id, retried), pin_session, query_session_names (paged),
query_session_info (with before_seq), delete_specific_session, delete_sessions and
delete_user go to a real server on SQLite over HTTP; every reply is compared with what the
model says: the ok code and its HTTP status, seq values, chat_count, titles, the order of
sessions (pinned first, most recently pinned first) and of messages, a replay with
the same request_id answered the very reply recorded, a request_id reused for a different
request answered ok 5.

Bounded and derandomized (a fixed seed, no example database) so that CI is stable. Each run of
the machine works on users of its own, so that the runs can share one server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from .contract_machine import ContractMachine

if TYPE_CHECKING:
    from .conftest import Api


SETTINGS = settings(
    max_examples=75,
    stateful_step_count=50,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def model_api(serve: Callable[..., Api]) -> Api:
    return serve("sqlite")


def test_the_server_behaves_as_the_model_of_the_contract(model_api: Api) -> None:
    ContractMachine.api = model_api
    run_state_machine_as_test(ContractMachine, settings=SETTINGS)
