"""A message's search signature: a Bloom filter of its characters and character pairs.

``/search_chats`` (docs/api.md §5.3) is a substring match, and the cost of one must follow the
user's history, never the store's size. A search walks the user's messages newest first by
the index ``(user_id, created_at, session_id, seq, search_0 … search_15)`` and stops at its
page; the signature, held in that index, lets the walk skip the messages that cannot
contain the query without reading them. Only those that may are read and matched exactly.

The signature is a blocked, partitioned Bloom filter of the text's UTF-16 code units (a
character, or half of one above U+FFFF) and of its pairs of adjacent units, in four
partitions of 256 positions, interleaved: position ``c`` of partition ``b`` is bit
``4c + b`` of a 1,024-bit integer whose 16 words of 64 bits are the :data:`COLUMNS`
integer columns (column ``c // 16`` holds positions ``c`` of all four).

- partitions 0, 1 and 2: each unit sets one position in each, all three in one column (the
  hashes share their high four bits), so a one-character query tests one column, three bits;
- partition 3: each pair sets one position.

Each hash is a tabulation hash of the unit's two bytes, ``LO[byte 0] ^ HI[byte 1]`` (a
pair's, of its units' hashes: ``g(a) ^ AGAIN[g(b)]``), and every step is one C call over
the whole text (``bytes.translate`` through tables, one integer XOR), never a Python step
per character: a message of 25 characters costs some 7 µs here, and one of 2,300 some
55 µs, where hashing each unit in Python cost 13 µs and 260 µs. The positions of a
partition are made a bitmap by ``bytes.maketrans`` (the table of the positions present).
Each column keeps to 63 bits (a signed 64-bit integer on every store, never negative), so
bit 63 of each, and position 255 of every partition, are always 0: a text and a query lose
the same bits, so a text that contains the query still has every bit the query has.

Letters A–Z are folded to a–z first, byte by byte in the UTF-16 encoding: that folds a few
other code units as well, but the text and the query alike, so there are no false
negatives; the exact match of the rule (only A–Z either case) is made on the messages the
signature lets through.

The tables come from SHAKE-256 of a fixed label, so they are the same on every machine and
every Python: a stored signature stays valid. Changing any of this changes every stored
signature and needs a migration that makes them again (0009 made those of this version).

Why not an inverted index of n-grams: on SQLite each of a message's 40-odd n-gram rows is
an insertion in another leaf page of the index (measured here: 46 rows cost 450–900 µs a
message, where add_chat costs some 70 µs); the signature is one index entry. Why not a
trigram index (pg_trgm, FTS5, ngram): it spans every user, so a common word costs the whole
store's matches, and it cannot find a query of one or two characters.

Messages that are not ``user`` or ``ai`` have no signature (NULL columns): no search
finds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from itertools import repeat
from typing import Any

COLUMNS = 16
COLUMN_BITS = 63
NAMES = tuple(f"search_{i}" for i in range(COLUMNS))
SEARCHED_ROLES = ("user", "ai")
# The columns a search tests: those of its most positions (each more costs a test per row).
MOST_TESTED = 3

_UPPER, _LOWER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz"
_FOLD = bytes.maketrans(_UPPER, _LOWER)
_RANDOM = hashlib.shake_256(b"huihua search signature 2").digest(256 * 11)
_TABLES = [_RANDOM[256 * i : 256 * (i + 1)] for i in range(11)]


def _blocked(tables: list[bytes], shared: bytes) -> list[bytes]:
    """The tables with the high four bits of ``shared``: their hashes share a column."""
    return [bytes((shared[x] & 0xF0) | (t[x] & 0x0F) for x in range(256)) for t in tables]


# A unit's hash in family f is LO[f][its low byte] ^ HI[f][its high byte]. Families 0-2 are
# the units' partitions; family 3 hashes the units of a pair, then AGAIN the second one.
_LO = [*_blocked(_TABLES[0:3], _TABLES[9]), _TABLES[3]]
_HI = [*_blocked(_TABLES[4:7], _TABLES[10]), _TABLES[7]]
_AGAIN = _TABLES[8]
_SHORT = 512  # units; a longer text's positions are made distinct first
_PRESENT = b"\xff" * _SHORT  # what bytes.maketrans maps a present position to
_ALL = bytes(range(256))
_BITMAP = [bytes((1 << b) if c == 255 else 0 for c in range(256)) for b in range(4)]
_LITTLE = "little"
# Byte c of the bitmaps' sum holds position c of partition b as its bit b; kept are all
# but position 255 (a maketrans table maps 255 to itself: it always reads as present) and
# bit 3 where c % 16 == 15 (it becomes bit 63 of a column).
_KEPT = sum(0x0F << 8 * c for c in range(255)) & ~sum(1 << 8 * c + 3 for c in range(15, 256, 16))
_NONE: dict[str, Any] = dict.fromkeys(NAMES)
_from_bytes = int.from_bytes
_maketrans = bytes.maketrans


def signature(text: str) -> list[int]:
    """Return the signature of a text: :data:`COLUMNS` integers of 63 bits."""
    u = text.encode("utf-16-le", "surrogatepass").translate(_FOLD)
    lo, hi = u[0::2], u[1::2]
    n = len(lo)
    # Four hashes of every unit, one family after the other: f0 f0 … f1 f1 … f2 … f3 ….
    units = (
        _from_bytes(b"".join(map(lo.translate, _LO)), _LITTLE)
        ^ _from_bytes(b"".join(map(hi.translate, _HI)), _LITTLE)
    ).to_bytes(4 * n, _LITTLE)
    # Pair j: f3[j] ^ AGAIN[f3[j + 1]] (the last, whose next is the first, is cut off).
    tail = units[3 * n :]
    pairs = (
        _from_bytes(tail, _LITTLE) ^ _from_bytes((tail[1:] + tail[:1]).translate(_AGAIN), _LITTLE)
    ).to_bytes(n, _LITTLE)
    m = max(n - 1, 0)
    parts = [units[:n], units[n : 2 * n], units[2 * n : 3 * n], pairs[:m]]
    if n > _SHORT:  # each position once: the bytes not absent (at most 256)
        parts = [_ALL.translate(None, _ALL.translate(None, part)) for part in parts]
    present = [_PRESENT[: len(part)] for part in parts]
    # Byte c of the sum holds position c of partition b as its bit b.
    bitmaps = map(bytes.translate, map(_maketrans, parts, present), _BITMAP)
    nibbles = sum(map(_from_bytes, bitmaps, repeat(_LITTLE))) & _KEPT
    packed = (nibbles | nibbles >> 4).to_bytes(256, _LITTLE)[0::2]  # two nibbles a byte
    return memoryview(packed).cast("Q").tolist()


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
    by_column = [(column, bits) for column, bits in enumerate(signature(query)) if bits]
    if not by_column:  # every bit of the query's is one never kept: test for a signature
        return [(0, 0)]  # (NULL & 0 = 0 is not true: system and tool messages stay out)
    ranked = sorted(by_column, key=lambda item: (-item[1].bit_count(), item[0]))
    return sorted(ranked[:MOST_TESTED])
