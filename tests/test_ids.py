"""ids.new_id: Crockford base32 ULIDs, monotonic within the process."""

from __future__ import annotations

import base64
import random

from huihua import ids


def _loop(value: int) -> str:
    """The ULID of ``value`` digit by digit, as new_id made it before base32 did."""
    chars = []
    for _ in range(26):
        chars.append(ids._CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def test_same_string_as_the_loop(monkeypatch):
    rnd = random.Random(7)
    edges = [0, 1, 31, 32, (1 << 128) - 1, 1 << 127, (1 << 80) - 1, 1 << 80]
    values = edges + [rnd.getrandbits(128) for _ in range(5000)]
    for value in values:
        monkeypatch.setattr(ids, "_last", value - 1)
        monkeypatch.setattr(ids.time, "time_ns", lambda: 0)
        monkeypatch.setattr(ids.os, "urandom", lambda n: b"\0" * n)
        assert ids.new_id() == _loop(value), value


def test_monotonic_and_shape():
    made = [ids.new_id() for _ in range(5000)]
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == 26 and set(i) <= set(ids._CROCKFORD) for i in made)


def test_time_prefix():
    import time

    before = time.time_ns() // 1_000_000
    made = ids.new_id()
    after = time.time_ns() // 1_000_000
    ms = int.from_bytes(base64.b32decode(b"AAAAAA" + made.encode().translate(_BACK)), "big") >> 80
    assert before <= ms <= after


_BACK = bytes.maketrans(ids._CROCKFORD.encode(), b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
