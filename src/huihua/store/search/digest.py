"""A user's search digest: which characters and character pairs their messages hold.

A search that finds nothing would read every message of the user: its cost would grow with
their history, where a search that fills its page stops after a few dozen. The digest
answers "can any of this user's messages contain the query?" from a few rows, so that a
query none of them can contain is answered without reading them.

It is made of parts of :data:`PART_BYTES` bytes (rows of ``search_digests``, keyed by
``(user_id, part)``; a part that is absent is all zeros), of two kinds (the head part,
:data:`HEAD`, says a digest exists; the bit-sliced signatures of slices.py are parts too):

- parts ``0`` … ``7``: every UTF-16 code unit the messages hold, exactly: unit ``u`` is bit
  ``u % 8192`` of part ``u // 8192``;
- parts ``8`` … ``263``: a Bloom filter of their pairs of adjacent units, 2**21 bits, two
  bits a pair, both in the same part (one part read for each pair of a query). For a user
  of 10,000 messages drawn from a few thousand common words (some 196,000 distinct pairs),
  3% of the two-character queries of their own characters that no message holds pass it.

As in the signature, A–Z are folded to a–z byte by byte in the UTF-16 encoding (text and
query alike: no false negatives; the exact rule of §5.3 is applied to what is found).

What a digest covers is kept in each session: ``chat_sessions.digested_seq``, the highest
seq of the session whose text the digest holds. The messages above it (its *tail*: what was
added since, and a message /update_chat changed, which lowers it) are read and matched
(walk.py), so a digest never changes in the transaction of an append.
Deleting anything (/delete_chat, /delete_specific_session, /delete_sessions, /delete_user,
the retention sweep) deletes the user's digest in the same transaction: it holds something
of every message it took, and the next searches make it again.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable

PART_BYTES = 1024
PART_BITS = PART_BYTES * 8
UNIT_PARTS = 65536 // PART_BITS  # 8
PAIR_PARTS = 256
PARTS = UNIT_PARTS + PAIR_PARTS
SESSION_COLUMNS = ("digested_seq", "search_edits")  # derived: never dumped
HEAD = -1  # the part whose row says a digest exists (its bits: slices.head())

_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", b"abcdefghijklmnopqrstuvwxyz")
_SWAP = sys.byteorder == "big"  # units and pairs are read little-endian on every machine
_MULTIPLIER = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _units(text: str) -> bytes:
    return text.encode("utf-16-le", "surrogatepass").translate(_FOLD)


def _little(typecode: str, data: bytes) -> array[int]:
    """The little-endian words of ``data`` (``H``: 16 bits, ``I``: 32), whatever the
    machine's byte order, so that a stored digest means the same on every machine."""
    words = array(typecode, data)
    if _SWAP:
        words.byteswap()
    return words


def _pair_codes(units: bytes) -> set[int]:
    """The text's pairs of adjacent units, each ``first | second << 16``: the 32-bit words at
    every even and every odd unit offset."""
    end = len(units) - len(units) % 4
    codes = set(_little("I", units[:end]))
    if len(units) >= 6:
        odd_end = 2 + (len(units) - 2) - (len(units) - 2) % 4
        codes.update(_little("I", units[2:odd_end]))
    return codes


def _pair_bits(code: int) -> tuple[int, int, int]:
    """A pair's part and its two bits there (a multiplicative hash of its code)."""
    x = (code * _MULTIPLIER) & _MASK
    return UNIT_PARTS + (x >> 56), (x >> 43) & 0x1FFF, (x >> 30) & 0x1FFF


def positions(texts: Iterable[str]) -> dict[int, list[int]]:
    """Return the bits the texts set, by part: {part: [bit, …]}."""
    units: set[int] = set()
    codes: set[int] = set()
    for text in texts:
        u = _units(text)
        units.update(_little("H", u))
        codes.update(_pair_codes(u))
    found: dict[int, list[int]] = {}
    for unit in units:
        found.setdefault(unit // PART_BITS, []).append(unit % PART_BITS)
    for code in codes:
        part, a, b = _pair_bits(code)
        bits = found.setdefault(part, [])
        bits.append(a)
        bits.append(b)
    return found


def query_positions(query: str) -> dict[int, list[int]]:
    """Return the bits a text must have (by part) to contain ``query``."""
    return positions([query])


def part_bytes(bits: Iterable[int], old: bytes | None = None) -> bytes:
    """Return a part with ``bits`` set, over ``old`` (its stored value, if any)."""
    part = bytearray(old if old else bytes(PART_BYTES))
    for bit in bits:
        part[bit >> 3] |= 1 << (bit & 7)
    return bytes(part)


def masks(texts: list[str]) -> dict[int, bytes]:
    """Return the parts the texts set, each as a mask of its bits."""
    return {part: part_bytes(bits) for part, bits in positions(texts).items()}


def merged(old: bytes, mask: bytes) -> bytes:
    """Return a stored part with a mask's bits added."""
    merged = int.from_bytes(old, "little") | int.from_bytes(mask, "little")
    return merged.to_bytes(max(len(old), len(mask)), "little")


def may_contain(parts: dict[int, bytes], wanted: dict[int, list[int]]) -> bool:
    """Return whether a digest whose parts are ``parts`` (absent: all zeros) has every bit
    of ``wanted``: False means none of the messages it covers can contain the query."""
    for part, bits in wanted.items():
        stored = parts.get(part)
        if stored is None:
            return False
        for bit in bits:
            if not stored[bit >> 3] & (1 << (bit & 7)):
                return False
    return True
