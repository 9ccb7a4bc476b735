"""The search signature (store/signature.py): what a search may rely on.

A text that contains a query has every bit the query's signature has (no message that
matches is ever skipped), A–Z fold and nothing else does, and the function stays the one
that made the stored signatures: changing it needs a migration that makes them again.
"""

from __future__ import annotations

import random

import pytest

from huihua.store import signature

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
        for column, bits in signature.query_mask(part):
            assert whole[column] & bits == bits


def test_only_a_to_z_fold() -> None:
    assert signature.signature("Sunny DAY") == signature.signature("sunny day")
    assert signature.signature("É") != signature.signature("é")
    assert signature.signature("\u212a") != signature.signature("k")  # the Kelvin sign


def test_a_long_text_is_signed_whole() -> None:
    # A word at the very end of a long message is still in its signature.
    for length in (600, 5000, 200_000):
        text = "的" * length + "猫咪"
        assert has_all_bits(signature.signature(text), signature.signature("猫咪"))


def test_a_query_tests_at_most_three_columns_and_at_least_one() -> None:
    for query in ("天", "天气", "帮我写一首诗", "a" * 100, "\u0aee"):
        mask = signature.query_mask(query)
        assert 1 <= len(mask) <= signature.MOST_TESTED
        assert [c for c, _ in mask] == sorted({c for c, _ in mask})
    # A character's three bits are in one column: a query of one (BMP) character tests one.
    for query in "天气猫a":
        assert len(signature.query_mask(query)) == 1
        assert sum(bits.bit_count() for bits in signature.signature(query)) <= 3 * len(query)
    assert signature.query_mask("\u0aee") == [(0, 0)]  # no bit kept: "has a signature"


def test_the_function_is_the_one_the_stored_signatures_were_made_with() -> None:
    # Fixed values: if this fails, every stored signature is stale and search would miss
    # messages. A change of the function needs a migration that makes them again (0009).
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
    assert signature.columns("system", "天气") == dict.fromkeys(signature.NAMES)
