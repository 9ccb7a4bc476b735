"""The rules of some settings, kept apart from the Settings class: a value read from the
environment, loopback addresses, when the settings may serve beyond loopback, and the
WeChat settings' ranges."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from huihua.config import Settings

ENV_PREFIX = "HUIHUA_"
SECRET_MIN_CHARS = 32
SECRET_MIN_DISTINCT = 8  # "xxxx…" is long but no secret
CHECK_SCENES = (1, 2, 3, 4)
UNREACHABLE = ("refuse", "pass")
NOTIFY_STATES = ("developer", "trial", "formal")
NOTIFY_SOURCES = ("title", "reply", "time", "date", "model")


def notify_fields(spec: str) -> list[tuple[str, str]]:
    """Return the (template key, source) pairs of ``wechat_notify_data``; ValueError when
    one is malformed."""
    pairs = []
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, source = (x.strip() for x in part.partition("="))
        if not sep or not key.replace("_", "").isalnum() or source not in NOTIFY_SOURCES:
            raise ValueError(
                "wechat_notify_data: must be key=source pairs, comma-separated, each source "
                f"one of {', '.join(NOTIFY_SOURCES)} (e.g. thing1=title,thing2=reply)"
            )
        pairs.append((key, source))
    return pairs


def check_wechat(settings: Settings) -> None:
    """Raise ValueError naming the first WeChat setting out of its range."""
    credentials = bool(settings.wechat_appid and settings.wechat_secret)
    if settings.wechat_check and not credentials:
        raise ValueError("wechat_check: needs wechat_appid and wechat_secret")
    if settings.wechat_notify_template and not credentials:
        raise ValueError("wechat_notify_template: needs wechat_appid and wechat_secret")
    if settings.wechat_check_scene not in CHECK_SCENES:
        raise ValueError("wechat_check_scene: must be 1, 2, 3 or 4")
    if settings.wechat_check_unreachable not in UNREACHABLE:
        raise ValueError("wechat_check_unreachable: must be refuse or pass")
    if not settings.wechat_check_notice.strip():
        raise ValueError("wechat_check_notice: must not be empty")
    if len(settings.wechat_check_notice) > settings.max_msg_chars:
        raise ValueError("wechat_check_notice: must be at most max_msg_chars characters")
    if settings.wechat_notify_state not in NOTIFY_STATES:
        raise ValueError("wechat_notify_state: must be developer, trial or formal")
    notify_fields(settings.wechat_notify_data)


def exposure_problem(settings: Settings) -> str | None:
    """Return why these settings must not serve on ``host``, or None when they may.

    On loopback anything goes. Beyond it, auth must be on (unless ``allow_no_auth``),
    and the service key and token secret must be long and not repetitive.
    """
    if is_loopback(settings.host):
        return None
    if not settings.auth:
        if settings.allow_no_auth and settings.allowed_hosts.strip():
            return None
        if settings.allow_no_auth:
            return (
                f"refusing to listen on {settings.host} with auth off and no "
                "HUIHUA_ALLOWED_HOSTS: with auth off, a request whose Host is not loopback "
                "is refused (against DNS rebinding). Set HUIHUA_ALLOWED_HOSTS to the names "
                "clients reach this server by (e.g. chat.internal,10.0.0.5:8000)"
            )
        return (
            f"refusing to listen on {settings.host} with auth off: anyone who reaches the port "
            "could read and delete every user's chats. Set HUIHUA_SERVICE_KEY (and "
            "HUIHUA_TOKEN_SECRET for user tokens), see README 'Running in production'; or "
            "pass --allow-no-auth (with HUIHUA_ALLOWED_HOSTS) if something in front of "
            "huihua does the checking"
        )
    for name in ("service_key", "token_secret"):
        value = getattr(settings, name)
        if name == "token_secret" and not value:
            continue
        if len(value) < SECRET_MIN_CHARS or len(set(value)) < SECRET_MIN_DISTINCT:
            return (
                f"refusing to listen on {settings.host}: {name} is shorter than "
                f"{SECRET_MIN_CHARS} characters or too repetitive; make one with "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
    return None


def is_loopback(host: str | None) -> bool:
    """Return whether ``host`` names this machine's loopback (127.0.0.0/8, ::1, localhost)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse(f: dataclasses.Field[Any], raw: str) -> Any:
    if f.type in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: must be an integer") from None
    if f.type in ("bool", bool):
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: must be true or false")
    return raw
