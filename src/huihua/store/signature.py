"""A message's search signature: a Bloom filter of its characters and character pairs.

``/search_chats`` (API.md §5.3) is a substring match, and the cost of one must follow the
user's history, never the store's size. A search walks the user's messages newest first by
the index ``(user_id, created_at, session_id, seq, search_0 … search_15)`` and stops at its
page; the signature, held in that index, lets the walk skip the messages that cannot
contain the query without reading them. Only those that may are read and matched exactly.

The signature of a text is a set of :data:`BITS` bit positions, stored as
:data:`COLUMNS` integer columns of 63 bits each (a signed 64-bit integer on every store,
never negative):

- each UTF-16 code unit of the text (a character, or half of one above U+FFFF) sets two
  positions, its value modulo :data:`BITS` and, after an XOR, again;
- each pair of adjacent code units sets one more.

Letters A–Z are folded to a–z first, byte by byte in the UTF-16 encoding: that folds a few
other code units as well, but the text and the query alike, so a text that contains the
query has every position the query has (no false negatives); the exact match of the rule
(only A–Z either case) is made on the messages the signature lets through.

Why not an inverted index of n-grams: on SQLite each of a message's 40-odd n-gram rows is
an insertion in another leaf page of the index (measured here: 46 rows cost 450–900 µs a
message, where add_chat costs some 70 µs); the signature is one index entry, computed at C
speed (set, map and the codecs), so an append stays within a few microseconds of its cost.
Why not a trigram index (pg_trgm, FTS5, ngram): it spans every user, so a common word costs
the whole store's matches, and it cannot find a query of one or two characters.

Messages that are not ``user`` or ``ai`` have no signature (NULL columns): no search
finds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLUMNS = 16
COLUMN_BITS = 63
BITS = 997  # a prime below COLUMNS * COLUMN_BITS
NAMES = tuple(f"search_{i}" for i in range(COLUMNS))
SEARCHED_ROLES = ("user", "ai")
# The columns a search tests: those of its most positions (each more costs a test per row).
MOST_TESTED = 3

_UPPER, _LOWER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"
_FOLD = bytes.maketrans(_UPPER, _LOWER)
_MOD = BITS.__rmod__
_REHASH = 0x5A5A5A5A.__xor__
_BIT = [1 << p for p in range(BITS)]
_COLUMN_MASK = (1 << COLUMN_BITS) - 1
_NONE: dict[str, Any] = dict.fromkeys(NAMES)


def _positions(text: str) -> set[int]:
    u = text.encode("utf-16-le", "surrogatepass").translate(_FOLD)
    units = set(memoryview(u).cast("H"))
    found = set(map(_MOD, units))
    found.update(map(_MOD, map(_REHASH, units)))
    n = len(u)
    if n >= 4:  # the pairs at even offsets, then those at odd ones
        found.update(map(_MOD, memoryview(u[: n // 4 * 4]).cast("I")))
    if n >= 6:
        found.update(map(_MOD, memoryview(u[2 : 2 + (n - 2) // 4 * 4]).cast("I")))
    return found


def signature(text: str) -> list[int]:
    """Return the signature of a text: :data:`COLUMNS` integers of 63 bits."""
    whole = sum(map(_BIT.__getitem__, _positions(text)))
    return [(whole >> (COLUMN_BITS * i)) & _COLUMN_MASK for i in range(COLUMNS)]


def columns(role: str, msg: str) -> dict[str, Any]:
    """Return a message's signature columns by name (all None unless ``user`` or ``ai``)."""
    if role not in SEARCHED_ROLES:
        return _NONE
    return dict(zip(NAMES, signature(msg), strict=True))


def stored(message: Mapping[str, Any]) -> dict[str, Any]:
    """Return a stored message's signature columns, from its ``role`` and ``msg``."""
    return columns(message["role"], message["msg"])


def query_mask(query: str) -> list[tuple[int, int]]:
    """Return what a text must have to contain ``query``: (column, bits) pairs, at most
    :data:`MOST_TESTED`, the columns where the query has the most positions."""
    by_column: dict[int, int] = {}
    for p in _positions(query):
        column = p // COLUMN_BITS
        by_column[column] = by_column.get(column, 0) | (1 << (p % COLUMN_BITS))
    ranked = sorted(by_column.items(), key=lambda item: (-item[1].bit_count(), item[0]))
    return sorted(ranked[:MOST_TESTED])
