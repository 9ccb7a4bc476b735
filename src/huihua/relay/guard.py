"""A reply's content check as it grows (docs/api.md §8.6): pieces of at most 2,500 characters
of its text and of its reasoning, each sent to WeChat as it fills, the rest at the end.

The generating task tells the guard how much each chunk added (a sum, nothing more); only
when a piece fills is the text joined and cut. One worker checks the pieces in order,
beside the model's stream, so the model never waits for WeChat. The first ``risky`` piece
(or one WeChat could not judge, when unchecked texts are refused) blocks the reply: the
guard calls ``on_block``, which stops the model; the task then writes the notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from huihua.wechat.check import PIECE_CHARS, ContentCheck, Verdict, pieces

log = logging.getLogger("huihua.relay")


class Guard:
    """The check of one reply's text (module docstring)."""

    __slots__ = (
        "_check",
        "_checked",
        "_on_block",
        "_openid",
        "_pending",
        "_queue",
        "_refuse",
        "_worker",
        "blocked",
    )

    def __init__(
        self,
        check: ContentCheck,
        openid: str | None,
        *,
        refuse_unchecked: bool,
        on_block: Callable[[], None],
    ) -> None:
        self._check = check
        self._openid = openid
        self._refuse = refuse_unchecked
        self._on_block = on_block
        self._checked = [0, 0]  # characters of msg, reasoning sent to the check
        self._pending = [0, 0]  # characters of each added since
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.blocked: Verdict | None = None

    def grew(self, field: int, parts: list[str], added: int) -> None:
        """The field (0 msg, 1 reasoning), whose text is ``parts`` joined, grew by
        ``added`` characters: send each piece that filled."""
        self._pending[field] += added
        if self._pending[field] < PIECE_CHARS:
            return
        fresh = "".join(parts)[self._checked[field] :]
        cut = pieces(fresh)
        if len(cut[-1]) < PIECE_CHARS:  # the piece still filling waits for more
            cut.pop()
        for piece in cut:
            self._send(piece)
            self._checked[field] += len(piece)
        self._pending[field] = len(fresh) - sum(len(p) for p in cut)

    def _send(self, piece: str) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name="reply check")
        self._queue.put_nowait(piece)

    async def _work(self) -> None:
        while (piece := await self._queue.get()) is not None:
            if self.blocked is not None:
                continue
            try:
                verdict = await self._check.judge_piece(piece, self._openid)
            except Exception as error:  # a bug: logged, and the piece counts as unjudged
                log.exception("reply check failed")
                verdict = Verdict("unchecked", reason=f"internal error ({type(error).__name__})")
            if verdict.suggest == "risky" or (verdict.suggest == "unchecked" and self._refuse):
                self.blocked = verdict
                self._on_block()

    async def finish(self, msg: str, reasoning: str) -> Verdict | None:
        """Check what is left of the text, wait for every piece's verdict; return the one
        that blocks the reply, or None."""
        if self.blocked is None:
            for field, text in enumerate((msg, reasoning)):
                for piece in pieces(text[self._checked[field] :]):
                    self._send(piece)
        if self._worker is not None:
            self._queue.put_nowait(None)
            await self._worker
        return self.blocked

    def cancel(self) -> None:
        """Stop checking (the reply was deleted, or the server stops)."""
        if self._worker is not None:
            self._worker.cancel()
