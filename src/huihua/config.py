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
from typing import Any

ENV_PREFIX = "HUIHUA_"
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
SQLITE_SYNCHRONOUS = ("FULL", "EXTRA", "NORMAL", "OFF")


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
    log_level: str = _setting("info", "Log level: critical, error, warning, info or debug.")
    pool_size: int = _setting(
        8, "Connections per worker to PostgreSQL or MySQL (threads that run their queries)."
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
    group_commit_max: int = _setting(
        256, "SQLite: most writes that share one transaction and one fsync."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: Any) -> Settings:
        """Return settings from ``HUIHUA_*`` variables, then ``overrides`` (None ignored)."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _parse(f, raw)
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
            "pool_size",
            "max_body_bytes",
            "max_msg_chars",
            "max_meta_bytes",
            "max_profile_bytes",
            "group_commit_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")


def help_of(name: str) -> str:
    """Return the help line of the setting ``name``."""
    return next(f.metadata["help"] for f in fields(Settings) if f.name == name)


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    if f.type in ("int", int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{f.name.upper()}: must be an integer") from None
    return raw
