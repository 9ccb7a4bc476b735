"""A text's search signature: a Bloom filter of its characters and character pairs.

The digest's slices (slices.py) hold the signature of every message the digest took, bit by
bit; a query's signature names the slices a search ANDs, and what survives are the only
messages that may contain it. It is computed from the text when the digest takes a message
(off the request that wrote it) and from the query, never stored with a message.

The signature is a blocked, partitioned Bloom filter of the text's UTF-16 code units (a
character, or half of one above U+FFFF) and of its pairs of adjacent units, in four
partitions of 256 positions, interleaved: position ``c`` of partition ``b`` is bit
``4c + b`` of a 1,024-bit integer whose 16 words of 64 bits are the :data:`COLUMNS`
integers :func:`signature` returns (word ``c // 16`` holds positions ``c`` of all four).

- partitions 0, 1 and 2: each unit sets one position in each, all three in one word (the
  hashes share their high four bits), so a one-character query has three bits in one word;
- partition 3: each pair sets one position.

Each hash is a tabulation hash of the unit's two bytes, ``LO[byte 0] ^ HI[byte 1]`` (a
pair's, of its units' hashes: ``g(a) ^ AGAIN[g(b)]``), and every step is one C call over
the whole text (``bytes.translate`` through tables, one integer XOR), never a Python step
per character: a message of 25 characters costs some 7 µs here, and one of 2,300 some
55 µs, where hashing each unit in Python cost 13 µs and 260 µs. The positions of a
partition are made a bitmap by ``bytes.maketrans`` (the table of the positions present).
Each word keeps to 63 bits, so bit 63 of each, and position 255 of every partition, are
always 0: a text and a query lose the same bits, so a text that contains the query still
has every bit the query has.

Letters A–Z are folded to a–z first, byte by byte in the UTF-16 encoding: that folds a few
other code units as well, but the text and the query alike, so there are no false
negatives; the exact match of the rule (only A–Z either case) is made on the messages the
signature lets through.

The tables come from SHAKE-256 of a fixed label, so they are the same on every machine and
every Python, and the words are read little-endian whatever the machine's byte order: a
stored slice stays valid. Changing any of this changes every digest's slices (a migration
would delete the digests; searches make them again).

Only ``user`` and ``ai`` messages are searched (:data:`SEARCHED_ROLES`).
"""

from __future__ import annotations

import hashlib
from typing import Literal

COLUMNS = 16
COLUMN_BITS = 63
SEARCHED_ROLES = ("user", "ai")

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
_LITTLE: Literal["little"] = "little"  # stored signatures are little-endian everywhere
# Byte c of the bitmaps' sum holds position c of partition b as its bit b; kept are all
# but position 255 (a maketrans table maps 255 to itself: it always reads as present) and
# bit 3 where c % 16 == 15 (it becomes bit 63 of a column).
_KEPT = sum(0x0F << 8 * c for c in range(255)) & ~sum(1 << 8 * c + 3 for c in range(15, 256, 16))
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
    nibbles = sum(_from_bytes(bitmap, _LITTLE) for bitmap in bitmaps) & _KEPT
    packed = (nibbles | nibbles >> 4).to_bytes(256, _LITTLE)[0::2]  # two nibbles a byte
    return [_from_bytes(packed[i : i + 8], _LITTLE) for i in range(0, 128, 8)]
