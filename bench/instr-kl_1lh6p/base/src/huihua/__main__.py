"""``python -m huihua``: the same as the ``huihua`` command."""

from huihua.cli import main

main(prog_name="huihua")
