"""The search signature (store/search/signature.py): what a search may rely on.

A text that contains a query has every bit the query's signature has (no message that
matches is ever skipped), A–Z fold and nothing else does, and the function stays the one
that made the stored signatures: changing it needs a migration that makes them again.
"""

from __future__ import annotations

import random

import pytest

from huihua.migrations import backfill
from huihua.store.search import signature

ALPHABET = "天气今明好吗猫狗的了abcXYZ😀𠀀%_\\ Éé\u212a\u0aee\ufffd"


def has_all_bits(text: list[int], query: list[int]) -> bool:
    return all(t & q == q for t, q in zip(text, query, strict=True))


@pytest.mark.parametrize("seed", range(4))
def test_a_text_has_every_bit_of_what_it_contains(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(2000):
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 80)))
        whole = signature.signature(text)
        assert len(whole) == signature.COLUMNS
        assert all(0 <= column < 1 << signature.COLUMN_BITS for column in whole)
        start = rng.randint(0, len(text))
        part = text[start : rng.randint(start, len(text))]
        assert has_all_bits(whole, signature.signature(part)), (text, part)


def test_only_a_to_z_fold() -> None:
    assert signature.signature("Sunny DAY") == signature.signature("sunny day")
    assert signature.signature("É") != signature.signature("é")
    assert signature.signature("\u212a") != signature.signature("k")  # the Kelvin sign


def test_a_long_text_is_signed_whole() -> None:
    # A word at the very end of a long message is still in its signature.
    for length in (600, 5000, 200_000):
        text = "的" * length + "猫咪"
        assert has_all_bits(signature.signature(text), signature.signature("猫咪"))


def test_a_character_has_at_most_three_bits_in_one_word() -> None:
    # A query of one (BMP) character has its three bits in one word (partitions 0-2).
    for query in "天气猫a":
        words = [c for c, bits in enumerate(signature.signature(query)) if bits]
        assert len(words) == 1
        assert sum(bits.bit_count() for bits in signature.signature(query)) <= 3


def test_the_function_is_the_one_the_stored_signatures_were_made_with() -> None:
    # Fixed values: if this fails, every digest's slices are stale and search would miss
    # messages. A change of the function needs a migration that deletes the digests.
    assert signature.signature("今天天气怎么样？Sunny 😀") == [
        0,
        4613937852603957248,
        146367005070465088,
        8804682956880,
        134217728,
        2598862862310965762,
        0,
        0,
        36028797018963968,
        8,
        144405527865081922,
        727366524259614720,
        134217736,
        144255926692478992,
        0,
        1126037362573312,
    ]
    # 0009 to 0012 stored them as columns (and 0013's downgrade makes them again).
    assert backfill.columns("system", "天气") == dict.fromkeys(backfill.NAMES)
    assert list(backfill.columns("ai", "天气").values()) == signature.signature("天气")
