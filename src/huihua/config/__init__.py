"""Settings: the one frozen object every part of huihua is configured from.

Each setting has a default and a line of help, and is read from the environment variable
``HUIHUA_<NAME>`` (upper case). The CLI's options override the environment. Nothing else in
huihua reads ``os.environ``; ``docs/configuration.md`` lists every setting (a test checks).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from huihua.config.rules import ENV_PREFIX, check_wechat, exposure_problem, is_loopback, parse

__all__ = ["ENV_PREFIX", "LOG_LEVELS", "PORT_MAX", "Settings", "help_of", "is_loopback"]

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
SQLITE_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL", "OFF")
WECHAT_TIMEOUT_MAX_MS = 5_000
PORT_MAX = 65_535


def _setting(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting of huihua, with its default."""

    database_url: str = _setting(
        "sqlite:///huihua.db",
        "Store URL: sqlite:///FILE, postgresql://…, mysql://… or mariadb://….",
    )
    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8000, "Port to listen on.")
    workers: int = _setting(1, "Server processes (each with its own connection pool).")
    head_timeout: int = _setting(
        10,
        "Seconds a connection may take to send a complete request head (the request line and "
        "headers), from its opening or its request's first byte; then it is closed.",
    )
    body_timeout: int = _setting(
        30,
        "Seconds a request body may take to arrive in full after its head; then ok 1 and the "
        "connection is closed.",
    )
    keep_alive_timeout: int = _setting(
        5, "Seconds an idle keep-alive connection is kept open between requests."
    )
    shutdown_timeout: int = _setting(
        10,
        "Seconds a stopping server (SIGTERM) waits for the requests in flight before it "
        "drops them and exits.",
    )
    log_level: str = _setting("info", "Log level: critical, error, warning, info or debug.")
    pool_size: int = _setting(
        8, "Connections per worker to PostgreSQL or MySQL (threads that run their queries)."
    )
    retry_budget_ms: int = _setting(
        1_000,
        "PostgreSQL/MySQL: how long, in ms, a transaction that met a conflict (deadlock, "
        "serialization or Galera certification failure) is run again before ok 8.",
    )
    sqlite_synchronous: str = _setting(
        "FULL",
        "SQLite synchronous pragma: FULL (durable, default), EXTRA, NORMAL or OFF (weaker: "
        "the server warns).",
    )
    max_body_bytes: int = _setting(1_048_576, "Largest request body accepted, in bytes.")
    max_msg_chars: int = _setting(65_536, "Longest message text, in characters.")
    max_meta_bytes: int = _setting(8_192, "Largest `meta` object of a message, as JSON bytes.")
    max_profile_bytes: int = _setting(
        8_192, "Largest set of further profile fields of a user, as JSON bytes."
    )
    max_reply_bytes: int = _setting(
        4_194_304,
        "Largest reply a page of messages is cut to (the newest that fit are kept, has_more "
        "says the rest exist); at least one message is always sent.",
    )
    search_digest_from: int = _setting(
        2_000,
        "Messages a search of a user walks, not yet in their search digest, before it adds "
        "them to it (the digest answers a search no message can match in a few rows).",
    )
    streaming_timeout: int = _setting(
        600,
        'Seconds after its last change that a reply left "streaming" reads as "failed" '
        "(its back end died mid-reply), until /update_chat finishes it.",
    )
    group_commit_max: int = _setting(
        256, "SQLite: most writes that share one transaction and one fsync."
    )
    service_key: str = _setting(
        "", "The app back end's credential (Bearer); auth is on as soon as this is set."
    )
    token_secret: str = _setting("", "Signs user tokens (none: no user tokens, no /login).")
    token_ttl: int = _setting(604_800, "How long a user token lasts, in seconds.")
    wechat_appid: str = _setting("", "The mini-program's AppID, for /login and WeChat's APIs.")
    wechat_secret: str = _setting("", "The mini-program's AppSecret (never logged).")
    wechat_api_base: str = _setting(
        "https://api.weixin.qq.com", "Where jscode2session is called (https unless loopback)."
    )
    wechat_timeout_ms: int = _setting(5_000, "Longest wait for WeChat, in ms (at most 5000).")
    wechat_check: bool = _setting(
        False,
        "Check questions and replies with WeChat's msgSecCheck (needs the AppID and secret): "
        "a risky question is ok 12, a risky reply is blocked.",
    )
    wechat_check_scene: int = _setting(
        2, "msgSecCheck's scene: 1 profile, 2 comment, 3 forum, 4 social feed."
    )
    wechat_check_unreachable: str = _setting(
        "refuse",
        "When WeChat cannot check a text (unreachable, an error, a user with no openid or "
        "not seen lately): refuse (a question is ok 8, a reply blocked) or pass.",
    )
    wechat_check_notice: str = _setting(
        "这条回答未通过内容安全检查，已隐藏。", "The text that replaces a reply the check blocked."
    )
    wechat_notify_template: str = _setting(
        "",
        'The subscription message template sent when a reply asked with "notify" finishes '
        "while nobody follows it (none: never sent).",
    )
    wechat_notify_page: str = _setting(
        "", "The page the message opens; {session_id} and {seq} are filled in (none: home)."
    )
    wechat_notify_state: str = _setting(
        "formal", "The app's version the message opens: developer, trial or formal."
    )
    wechat_notify_data: str = _setting(
        "thing1=title,thing2=reply",
        "The template's keys and what fills each (title, reply, time, date, model), cut to "
        "the key type's limit.",
    )
    redis_url: str = _setting(
        "", "Redis for rate limits shared by every worker and host (none: per process)."
    )
    rate_limit_user: int = _setting(
        600, "Requests per minute per user, as a burst refilled evenly (0: no limit)."
    )
    rate_limit_address: int = _setting(
        1_200, "Requests per minute per client address; the service key is exempt (0: none)."
    )
    trusted_proxies: str = _setting(
        "", "Proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For is believed."
    )
    cors_origins: str = _setting(
        "",
        "Origins allowed by CORS, comma-separated (none: no CORS headers); a browser request "
        "from any other origin than the server's own is refused (ok 4).",
    )
    allow_no_auth: bool = _setting(
        False,
        "Serve beyond loopback with auth off (no service key): anyone may call all. Needs "
        "HUIHUA_ALLOWED_HOSTS: with auth off, a Host that is not loopback is refused.",
    )
    allowed_hosts: str = _setting(
        "",
        "Host names (port optional) that an auth-off server answers to besides loopback, "
        "comma-separated; other Hosts are refused (ok 4), against DNS rebinding.",
    )
    llm_base_url: str = _setting(
        "",
        "The OpenAI-compatible API replies are asked of (e.g. https://api.deepseek.com/v1); "
        "/ask_ai, /follow_reply and /stop_reply are served only with it.",
    )
    llm_api_key: str = field(
        default="",
        repr=False,
        metadata={"help": "The model API's key (sent as a bearer credential; never logged)."},
    )
    llm_models: str = _setting(
        "", "The models a caller may pick, comma-separated; the first is the default."
    )
    llm_system_prompt: str = _setting(
        "", "The system prompt sent first with every question (none: only the session's own)."
    )
    llm_context_tokens: int = _setting(
        16_000,
        "The context budget, in tokens estimated from the text: the session's newest messages "
        "that fit go with the question.",
    )
    llm_think_tags: bool = _setting(
        False,
        "The models write their reasoning as a leading <think>…</think> in the text (kept as "
        "the reply's reasoning).",
    )
    llm_daily_tokens: int = _setting(
        0, "Tokens (prompt + completion) a user may spend per day (0: no quota)."
    )
    llm_quota_tz: str = _setting(
        "Asia/Shanghai",
        "The time zone of the day for the daily token quota and the usage figures (an IANA name).",
    )
    llm_user_replies: int = _setting(3, "Replies generated at once for one user.")
    llm_host_replies: int = _setting(2_000, "Replies generated at once by one server process.")
    llm_connect_timeout: int = _setting(10, "Seconds to connect to the model API.")
    llm_first_token_timeout: int = _setting(
        60, "Seconds the model may take to send its first chunk; then the reply fails."
    )
    llm_idle_timeout: int = _setting(
        60, "Seconds the model may stay silent between two chunks; then the reply fails."
    )
    llm_retry_budget: int = _setting(
        10,
        "Seconds within which a model that is unreachable or answers 429 or 5xx before its "
        "first token is asked again (with back-off; 429's Retry-After obeyed); then it fails.",
    )
    retention_days: int = _setting(
        0,
        "Delete sessions idle (no message added) for longer than this many days, in the "
        "background (0: keep them for ever).",
    )
    idempotency_hours: int = _setting(
        24,
        "Hours a write's request_id is remembered (its retry answered, not repeated); older "
        "records are deleted in the background. The contract promises at least 24.",
    )
    purge_interval: int = _setting(
        3600,
        "Seconds between the server's background retention sweeps (the first comes a minute "
        "after start, or this long if shorter).",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Return settings from ``HUIHUA_*`` variables, then ``overrides`` (None ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = parse(f, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Return settings from this process's environment, then ``overrides``."""
        return cls.from_env(os.environ, **overrides)

    def to_env(self) -> dict[str, str]:
        """Return the ``HUIHUA_*`` variables that reproduce these settings in a worker."""
        return {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied and checked."""
        settings = dataclasses.replace(self, **changes)
        settings.check()
        return settings

    def check(self) -> None:
        """Raise ValueError naming the first setting that is out of its range."""
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level: must be one of {', '.join(LOG_LEVELS)}")
        if self.sqlite_synchronous.upper() not in SQLITE_SYNCHRONOUS:
            raise ValueError(f"sqlite_synchronous: must be one of {', '.join(SQLITE_SYNCHRONOUS)}")
        for name in (
            "port",
            "workers",
            "head_timeout",
            "body_timeout",
            "keep_alive_timeout",
            "shutdown_timeout",
            "pool_size",
            "max_body_bytes",
            "max_msg_chars",
            "max_meta_bytes",
            "max_profile_bytes",
            "max_reply_bytes",
            "streaming_timeout",
            "group_commit_max",
            "token_ttl",
            "wechat_timeout_ms",
            "idempotency_hours",
            "purge_interval",
            "llm_context_tokens",
            "llm_user_replies",
            "llm_host_replies",
            "llm_connect_timeout",
            "llm_first_token_timeout",
            "llm_idle_timeout",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.port > PORT_MAX:
            raise ValueError(f"port: must be at most {PORT_MAX}")
        for name in (
            "rate_limit_user",
            "rate_limit_address",
            "retry_budget_ms",
            "retention_days",
            "search_digest_from",
            "llm_daily_tokens",
            "llm_retry_budget",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be at least 0")
        self._check_llm()
        check_wechat(self)
        if self.wechat_timeout_ms > WECHAT_TIMEOUT_MAX_MS:
            raise ValueError(f"wechat_timeout_ms: must be at most {WECHAT_TIMEOUT_MAX_MS}")
        base = urlsplit(self.wechat_api_base)
        if base.scheme != "https" and not (base.scheme == "http" and is_loopback(base.hostname)):
            raise ValueError("wechat_api_base: must be an https:// URL (http only on loopback)")
        try:
            self.proxy_networks()
        except ValueError:
            raise ValueError(
                "trusted_proxies: must be addresses or CIDRs, comma-separated"
            ) from None
        for part in self.allowed_hosts.split(","):
            name, _, port = part.strip().rpartition(":") if "]" not in part else ("", "", "")
            if "/" in part or " " in part.strip() or (name and port and not port.isdigit()):
                raise ValueError(
                    "allowed_hosts: must be host names, each with an optional :port, "
                    "comma-separated (not URLs)"
                )
        if self.service_key and self.service_key == self.token_secret:
            raise ValueError("token_secret: must not be the service key")

    def _check_llm(self) -> None:
        if not self.llm_base_url:
            return
        base = urlsplit(self.llm_base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError("llm_base_url: must be an http:// or https:// URL")
        if not self.models:
            raise ValueError("llm_models: name at least one model (comma-separated)")
        try:
            ZoneInfo(self.llm_quota_tz)
        except (ValueError, ZoneInfoNotFoundError):
            raise ValueError(
                "llm_quota_tz: must be a time zone's IANA name (e.g. Asia/Shanghai)"
            ) from None

    @property
    def models(self) -> tuple[str, ...]:
        """Return the models a caller may pick (the first the default)."""
        return tuple(m.strip() for m in self.llm_models.split(",") if m.strip())

    @property
    def auth(self) -> bool:
        """Return whether requests need a credential (a service key is set)."""
        return bool(self.service_key)

    def proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """Return the networks of ``trusted_proxies``."""
        return tuple(
            ip_network(part.strip(), strict=False)
            for part in self.trusted_proxies.split(",")
            if part.strip()
        )

    def exposure_problem(self) -> str | None:
        """Return why these settings must not serve on ``host``, or None when they may."""
        return exposure_problem(self)


def help_of(name: str) -> str:
    """Return the help line of the setting ``name``."""
    help_line: str = next(f.metadata["help"] for f in fields(Settings) if f.name == name)
    return help_line
