"""Settings that make huihua safe to expose: when serving beyond loopback is refused."""

from __future__ import annotations

import pytest

from huihua.config import Settings, is_loopback

GOOD = "Zx9-q1w2e3r4t5y6u7i8o9p0a1s2d3f4g5"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"host": "127.0.0.1"}, False),  # loopback: anything goes
        ({"host": "127.0.0.1", "service_key": "short"}, False),
        ({"host": "0.0.0.0"}, True),  # auth off beyond loopback
        ({"host": "0.0.0.0", "allow_no_auth": True}, True),  # ... unless told so, and
        ({"host": "0.0.0.0", "allow_no_auth": True, "allowed_hosts": "chat.internal"}, False),
        ({"host": "0.0.0.0", "service_key": GOOD}, False),
        ({"host": "0.0.0.0", "service_key": "short"}, True),
        ({"host": "0.0.0.0", "service_key": "a" * 64}, True),  # long but no secret
        ({"host": "0.0.0.0", "service_key": GOOD, "token_secret": "changethis"}, True),
        ({"host": "0.0.0.0", "service_key": GOOD, "token_secret": GOOD[::-1]}, False),
    ],
)
def test_exposure(changes: dict, refused: bool) -> None:
    problem = Settings().replace(**changes).exposure_problem()
    assert (problem is not None) is refused, problem


@pytest.mark.parametrize("value", ["http://chat.internal", "chat.internal:http", "a b"])
def test_allowed_hosts_that_are_no_host_names_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts"):
        Settings(allowed_hosts=value).check()


def test_allowed_hosts_take_names_addresses_and_ports() -> None:
    Settings(allowed_hosts="chat.internal, 10.0.0.5:8000,[fd00::1]:80, [::2]").check()


def test_no_auth_beyond_loopback_says_allowed_hosts_is_needed() -> None:
    problem = Settings(host="0.0.0.0", allow_no_auth=True).exposure_problem()
    assert problem is not None and "HUIHUA_ALLOWED_HOSTS" in problem
    assert "HUIHUA_ALLOWED_HOSTS" in Settings(host="0.0.0.0").exposure_problem()


@pytest.mark.parametrize(
    "changes",
    [
        {"wechat_api_base": "http://api.weixin.qq.com"},  # no TLS beyond loopback
        {"wechat_api_base": "ftp://127.0.0.1"},
        {"wechat_timeout_ms": 5001},
        {"wechat_timeout_ms": 0},
        {"token_ttl": 0},
        {"rate_limit_user": -1},
        {"trusted_proxies": "10.0.0.0/8, not-an-address"},
        {"service_key": GOOD, "token_secret": GOOD},
    ],
)
def test_settings_out_of_range_are_refused(changes: dict) -> None:
    with pytest.raises(ValueError):
        Settings().replace(**changes)


def test_booleans_and_secrets_from_the_environment() -> None:
    env = {"HUIHUA_ALLOW_NO_AUTH": "true", "HUIHUA_SERVICE_KEY": GOOD}
    settings = Settings.from_env(env)
    assert settings.allow_no_auth is True and settings.auth is True
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(ValueError):
        Settings.from_env({"HUIHUA_ALLOW_NO_AUTH": "maybe"})
