"""The operator's commands beyond ``serve`` and ``migrate``: a module each, with its click
command and what it does (the SQL stays in the store).

- ``backup``: a consistent copy of a SQLite store while a server writes to it;
- ``stats``: what the store holds, its size on disk, the span of its activity;
- ``purge``: one retention sweep, on demand (service/retention.py);
- ``dump``: ``export`` and ``import``, JSON Lines of every stored column (store/dump.py).
"""

from __future__ import annotations

import click

from huihua.commands.backup import backup
from huihua.commands.dump import export, import_
from huihua.commands.purge import purge
from huihua.commands.stats import stats

COMMANDS: tuple[click.Command, ...] = (backup, stats, purge, export, import_)
