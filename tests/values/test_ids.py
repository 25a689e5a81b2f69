"""Document ids: table number + random bytes + checksum, in lowercase Crockford base32."""

from __future__ import annotations

import base64
import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livebase.errors import BadRequestError, InvalidIdError
from livebase.values import id_table_number, make_id
from livebase.values.ids import _b32decode, _b32encode

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def seeded(seed: int) -> Any:
    rng = random.Random(seed)
    return lambda n: rng.randbytes(n)


def zeros(n: int) -> bytes:
    return b"\x00" * n


@pytest.mark.parametrize("table", [0, 1, 2, 127, 128, 255, 10001, 16383, 16384, 2**20, 2**31])
def test_roundtrip_table_numbers(table: int) -> None:
    for seed in range(5):
        doc_id = make_id(table, seeded(seed))
        assert id_table_number(doc_id) == table


@settings(max_examples=300)
@given(st.integers(0, 2**40), st.binary(min_size=14, max_size=14))
def test_roundtrip_property(table: int, rand: bytes) -> None:
    doc_id = make_id(table, lambda n: rand[:n])
    assert id_table_number(doc_id) == table
    assert set(doc_id) <= set(ALPHABET)
    assert 20 <= len(doc_id) <= 40


def test_make_id_asks_for_14_random_bytes() -> None:
    asked: list[int] = []

    def rand(n: int) -> bytes:
        asked.append(n)
        return b"\x07" * n

    make_id(5, rand)
    assert asked == [14]


def test_an_id_led_by_its_creation_time_sorts_by_it_whatever_its_random_bytes() -> None:
    asked: list[int] = []
    rng = random.Random(3)

    def rand(n: int) -> bytes:
        asked.append(n)
        return rng.randbytes(n)

    times = [1_700_000_000_000 + 7 * i + rng.random() for i in range(300)]
    ids = [make_id(10001, rand, t) for t in times]
    assert asked == [8] * 300  # 6 bytes of milliseconds, 8 random
    assert sorted(ids) == ids
    assert all(id_table_number(doc_id) == 10001 for doc_id in ids)
    # Random bits still tell apart ids of one millisecond, and their order among them is random.
    same_ms = [make_id(7, seeded(seed), 1_700_000_000_000.5) for seed in range(200)]
    assert len(set(same_ms)) == 200
    assert sorted(same_ms) != same_ms
    led = reference_decode(make_id(1, zeros, 0x0102030405))
    assert led[1:7] == bytes([0, 1, 2, 3, 4, 5])  # the time, big-endian, after varint(1)


@pytest.mark.parametrize("created", [-1.0, float(2**48), float("nan"), float("inf"), -math.inf])
def test_a_time_that_does_not_fit_gives_an_all_random_id(created: float) -> None:
    asked: list[int] = []

    def rand(n: int) -> bytes:
        asked.append(n)
        return b"\x09" * n

    doc_id = make_id(12, rand, created)
    assert asked == [14]
    assert doc_id == make_id(12, lambda n: b"\x09" * n)


def test_ids_are_deterministic_in_their_inputs_and_distinct() -> None:
    assert make_id(3, zeros) == make_id(3, zeros)
    assert make_id(3, zeros) != make_id(4, zeros)
    ids = {make_id(3, seeded(seed)) for seed in range(200)}
    assert len(ids) == 200


def test_id_shape() -> None:
    # varint(1) + 14 random + 2 checksum = 17 bytes = 136 bits -> 28 base32 characters.
    assert len(make_id(1, zeros)) == 28
    # Table 0 with all-zero random bytes has an all-zero body and checksum.
    assert make_id(0, zeros) == "0" * 28
    assert id_table_number("0" * 28) == 0
    assert len(make_id(127, zeros)) == 28
    # Two-byte varint: 18 bytes = 144 bits -> 29 characters; three bytes -> 31 characters.
    assert len(make_id(128, zeros)) == 29
    assert len(make_id(10001, zeros)) == 29
    assert len(make_id(2**20, zeros)) == 31
    for table in [1, 128, 2**20]:
        doc_id = make_id(table, seeded(table))
        assert doc_id == doc_id.lower()
        assert not set(doc_id) & set("iloou")


def reference_decode(doc_id: str) -> bytes:
    """Plain base32 decode (5 bits per character, big-endian, trailing padding bits dropped)."""
    bits = "".join(format(ALPHABET.index(c), "05b") for c in doc_id)
    usable = len(bits) // 8 * 8
    assert set(bits[usable:]) <= {"0"}, "padding bits must be zero"
    return int(bits[:usable], 2).to_bytes(usable // 8, "big")


def reference_fletcher16(data: bytes) -> bytes:
    a = b = 0
    for byte in data:
        a = (a + byte) % 255
        b = (b + a) % 255
    return bytes((b, a))


@pytest.mark.parametrize(
    ("table", "varint"),
    [
        (1, b"\x01"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (10001, b"\x91\x4e"),
        (2**20, b"\x80\x80\x40"),
    ],
)
def test_id_layout(table: int, varint: bytes) -> None:
    rand = bytes(range(100, 114))
    raw = reference_decode(make_id(table, lambda n: rand))
    assert raw == varint + rand + reference_fletcher16(varint + rand)


def test_id_golden_checksum() -> None:
    # body 01 00*14: a = 1 throughout, b counts up to 15 -> checksum bytes 0f 01.
    raw = reference_decode(make_id(1, zeros))
    assert raw == b"\x01" + b"\x00" * 14 + b"\x0f\x01"
    # Fletcher-16 sums mod 255, so 0xff bytes count as zero (a mod-256 sum would differ).
    raw = reference_decode(make_id(1, lambda n: b"\xff" * n))
    assert raw[-2:] == b"\x0f\x01"


@pytest.mark.parametrize("table", [1, 127, 128, 10001, 2**20])
def test_every_single_character_corruption_is_rejected(table: int) -> None:
    for seed in range(3):
        doc_id = make_id(table, seeded(seed))
        for pos, original in enumerate(doc_id):
            for c in ALPHABET:
                if c == original:
                    continue
                corrupted = doc_id[:pos] + c + doc_id[pos + 1 :]
                with pytest.raises(InvalidIdError):
                    id_table_number(corrupted)


def test_last_character_padding_bits_are_checked() -> None:
    # A 28-character id carries 140 bits for 136 bits of data: the last character's low 4 bits
    # are padding and must be zero, or two different strings would name the same document.
    doc_id = make_id(1, zeros)
    last = ALPHABET.index(doc_id[-1])
    assert last & 0b1111 == 0
    for pad in range(1, 16):
        with pytest.raises(InvalidIdError):
            id_table_number(doc_id[:-1] + ALPHABET[last | pad])


@settings(max_examples=100)
@given(st.integers(0, 2**24), st.binary(min_size=14, max_size=14), st.data())
def test_random_corruption_is_rejected(table: int, rand: bytes, data: st.DataObject) -> None:
    doc_id = make_id(table, lambda n: rand[:n])
    pos = data.draw(st.integers(0, len(doc_id) - 1))
    c = data.draw(st.sampled_from(ALPHABET).filter(lambda ch: ch != doc_id[pos]))
    with pytest.raises(InvalidIdError):
        id_table_number(doc_id[:pos] + c + doc_id[pos + 1 :])


def malformed_ids() -> list[Any]:
    good = make_id(42, seeded(7))
    return [
        None,
        42,
        b"0123456789abcdefghjkmnpqrs",
        ["x"],
        "",
        "a",
        "0" * 19,
        "0" * 41,
        good.upper(),
        good[:-1],
        good[1:],
        good + "0",
        "0" + good,
        good + good,
        good[:10] + "i" + good[11:],
        good[:10] + "l" + good[11:],
        good[:10] + "o" + good[11:],
        good[:10] + "u" + good[11:],
        good[:10] + "-" + good[11:],
        good[:10] + " " + good[11:],
        good[:10] + "é" + good[11:],
        good[::-1],
        "z" * 28,
        "1" + "0" * 27,
    ]


@pytest.mark.parametrize("bad", malformed_ids())
def test_malformed_ids_are_rejected(bad: Any) -> None:
    with pytest.raises(InvalidIdError) as info:
        id_table_number(bad)
    assert isinstance(info.value, BadRequestError)
    assert info.value.code == "InvalidId"


@pytest.mark.parametrize("n_random", [1, 13, 15, 20])
def test_wrong_random_length_is_rejected(n_random: int) -> None:
    # The checksum is valid, but the body does not have exactly 14 bytes after the table number.
    doc_id = make_id(9, lambda n: b"\x5a" * n_random)
    if n_random == 1:
        assert len(doc_id) < 20
        with pytest.raises(InvalidIdError, match="is not a document id"):
            id_table_number(doc_id)
    else:
        assert 20 <= len(doc_id) <= 40
        with pytest.raises(InvalidIdError, match="bad length"):
            id_table_number(doc_id)


def test_random_bytes_with_high_bits_do_not_confuse_the_varint() -> None:
    for table in [0, 1, 127, 128, 10001, 2**20]:
        doc_id = make_id(table, lambda n: b"\xff" * n)
        assert id_table_number(doc_id) == table
        doc_id = make_id(table, lambda n: b"\x80" * n)
        assert id_table_number(doc_id) == table


def test_the_encoding_is_rfc_4648_base32_in_crockfords_alphabet() -> None:
    """The hand-written encoder against the standard library's, every length an id can have
    and more, on random bytes and on the extremes."""
    rfc = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    to_ours = bytes.maketrans(rfc, b"0123456789abcdefghjkmnpqrstvwxyz")
    rng = random.Random(17)
    for length in range(41):
        for raw in (bytes(length), b"\xff" * length, rng.randbytes(length), rng.randbytes(length)):
            expected = base64.b32encode(raw).rstrip(b"=").translate(to_ours).decode()
            assert _b32encode(raw) == expected
            if length:
                assert _b32decode(expected) == raw
