"""The digested messages' signatures, bit-sliced: for each bit of the signature, which of
the user's digested messages have it.

A query whose every character and pair some message of the user holds (digest.py says
"may") can still match none: "帮我写天气" when each of its pairs is in some message, never
all in one. Its signature's bits are tested here against every digested message at once:
the slices of those bits are ANDed, a few integer operations over 8,192 messages each, and
what survives are the only messages that may contain it (a signature's false positives:
some dozens in 10,000 for such a query). Those are read by their keys; a query that
survives in too many (:data:`CANDIDATES_MOST`, a common word) walks the index instead,
where its page fills at once.

Each digested message has a *position*, given in the order the digest took them (session
by session, seq by seq). A slice row (``search_digests`` part :func:`slice_part`) holds one
bit of the signature for :data:`BLOCK` positions; a directory row (:func:`directory_part`)
holds the block's *runs*: a session, its first seq and position, and how many consecutive
seqs follow (a seq that is not a searched message, or no longer exists, keeps a position
with no bit). The head part holds the next free position. A position whose message changed
or went (/update_chat, a deleted session) is read by its key and matched as the message is
now: a survivor that no longer matches costs a read, never a result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from huihua.store.search import signature

# Positions a slice row holds. Fewer, bigger rows read faster: a user of 10,000 messages
# has 2 blocks, not 5 as with 2,048, and a query of 5 characters reads 48 slice rows, not
# 120 (bench/search_structures.py: hits 0.18, 0.45, 0.67 ms at 2,048; 0.14, 0.31, 0.52 at
# 8,192). A slice row is stored without its high zero bytes, so a user of a few hundred
# messages keeps short rows.
BLOCK = 8192
BITS = signature.COLUMNS * 64  # a signature's bits, as 16 columns of 64
DIRECTORY_FROM = 1 << 20  # parts: the directory of block b is DIRECTORY_FROM + b
SLICES_FROM = 1 << 21  # and its slice of bit i, SLICES_FROM + b * BITS + i
MOST_BITS = 24  # of a query's bits, how many slices are read (pairs' first)
CANDIDATES_MOST = 256  # survivors read by key; more: the walk
SLICES_READ_MOST = 1024  # slice rows a search reads (over many blocks, fewer bits each)
FORMAT = b"\x03"  # of the head; a digest of another format is made again (0013)
_BLOCK_MASK = (1 << BLOCK) - 1
_encode = msgspec.msgpack.Encoder().encode
_decode_runs = msgspec.msgpack.Decoder(list[tuple[str, int, int, int]]).decode
Run = tuple[str, int, int, int]  # (session_id, first seq, first position, count)


def slice_part(block: int, bit: int) -> int:
    return SLICES_FROM + block * BITS + bit


def directory_part(block: int) -> int:
    return DIRECTORY_FROM + block


def head(next_position: int) -> bytes:
    """The head part: the format, and the next free position."""
    return FORMAT + next_position.to_bytes(8, "little")


def next_position(head_bits: bytes) -> int:
    """The next free position a head part holds (0 for a head with none)."""
    if head_bits[:1] != FORMAT:
        return 0
    return int.from_bytes(head_bits[1:9], "little")


def blocks(head_bits: bytes) -> int:
    """How many blocks hold positions."""
    return -(-next_position(head_bits) // BLOCK)


def _bits(columns: Sequence[int | None]) -> Iterable[int]:
    for c, value in enumerate(columns):
        while value:
            low = value & -value
            yield c * 64 + low.bit_length() - 1
            value ^= low


def query_bits(query: str) -> list[int]:
    """The bits of the query's signature whose slices a search reads: at most MOST_BITS,
    its pairs' (partition 3: bit % 4 == 3) first."""
    found = sorted(_bits(signature.signature(query)), key=lambda bit: (bit % 4 != 3, bit))
    return found[:MOST_BITS]


def transpose(placed: Iterable[tuple[int, Sequence[int | None]]]) -> dict[int, int]:
    """Return, for each bit, an integer whose bit ``p`` is set where the message at local
    position ``p`` has that bit: ``placed`` is (position, signature columns)."""
    slices: dict[int, int] = {}
    for position, columns in placed:
        one = 1 << position
        for bit in _bits(columns):
            slices[bit] = slices.get(bit, 0) | one
    return slices


def placed_at(slices: dict[int, int], base: int) -> dict[int, int]:
    """Return the slices moved to start at position ``base``, as masks by part."""
    parts: dict[int, int] = {}
    offset = base % BLOCK
    for bit, value in slices.items():
        shifted, block = value << offset, base // BLOCK
        while shifted:
            chunk = shifted & _BLOCK_MASK
            if chunk:
                parts[slice_part(block, bit)] = chunk
            shifted >>= BLOCK
            block += 1
    return parts


def runs_by_block(session_id: str, first_seq: int, first: int, count: int) -> list[tuple[int, Run]]:
    """A session's run of positions, cut where a block ends: (block, run) pairs."""
    cut: list[tuple[int, Run]] = []
    while count > 0:
        block = first // BLOCK
        here = min(count, (block + 1) * BLOCK - first)
        cut.append((block, (session_id, first_seq, first, here)))
        first, first_seq, count = first + here, first_seq + here, count - here
    return cut


def encode_runs(runs: list[Run]) -> bytes:
    return _encode(runs)


def decode_runs(raw: bytes | None) -> list[Run]:
    return _decode_runs(raw) if raw else []


def as_int(raw: bytes | None) -> int:
    return int.from_bytes(raw, "little") if raw else 0


def as_bytes(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "little")


def survivors(parts: dict[int, bytes], bits: list[int], count: int) -> dict[int, list[int]] | None:
    """Return, by block, the positions whose slices have every bit of ``bits``; None when
    there are more than CANDIDATES_MOST, or no bits to test."""
    if not bits:
        return None
    found: dict[int, list[int]] = {}
    total = 0
    for block in range(count):
        alive = -1
        for bit in bits:
            alive &= as_int(parts.get(slice_part(block, bit)))
            if not alive:
                break
        if alive <= 0:
            continue
        total += alive.bit_count()
        if total > CANDIDATES_MOST:
            return None
        here = []
        while alive:
            low = alive & -alive
            here.append(block * BLOCK + low.bit_length() - 1)
            alive ^= low
        found[block] = here
    return found


def keys(found: dict[int, list[int]], directories: dict[int, bytes]) -> set[tuple[str, int]]:
    """Return the (session_id, seq) of the surviving positions (runs of the directories)."""
    out: set[tuple[str, int]] = set()
    for block, positions in found.items():
        runs = decode_runs(directories.get(directory_part(block)))
        for position in positions:
            for session_id, first_seq, first, count in runs:
                if first <= position < first + count:
                    out.add((session_id, first_seq + position - first))
                    break
    return out


def bits_to_read(bits: list[int], count: int) -> list[int]:
    """The first of ``bits`` whose slices a search reads over ``count`` blocks: all of them,
    but fewer over a long history (at most SLICES_READ_MOST slice rows)."""
    return bits[: max(3, SLICES_READ_MOST // max(count, 1))]


def parts_to_read(bits: list[int], count: int) -> list[int]:
    """The parts a search reads for ``bits`` over ``count`` blocks: slices, then directories."""
    wanted = [slice_part(block, bit) for block in range(count) for bit in bits]
    return wanted + [directory_part(block) for block in range(count)]
