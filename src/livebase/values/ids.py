"""Document ids: strings that carry their table number and a checksum.

An id is lowercase base32 (Crockford's alphabet, no padding) of ``varint(table number) ||
14 bytes || fletcher16``. So ``v.id("messages")`` and ``db.get(id)`` can tell an id's table
without a lookup, and a mistyped id is refused before any read.

A document's id starts its 14 bytes with its creation time (milliseconds since the epoch, 6 bytes,
big-endian) and ends them with 8 random bytes, as a UUIDv7 does. The storage keeps documents and
the ``by_id`` index in key order, so ids that grow with time append to the newest page instead of
landing on a random one: a batch of ten inserts wrote about twenty random B-tree pages with fully
random ids and writes two or three now (SQLite, 32 writers: 7,300 -> 9,100 mutations/s on this
machine). 64 random bits in each millisecond keep ids unguessable and a collision out of reach.

Convex's ids have the same layout with 16 random bytes; they are accepted too, so documents
imported from a Convex snapshot keep their ids (``livebase.snapshot``).
"""

from __future__ import annotations

from collections.abc import Callable

from livebase.errors import InvalidIdError

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_RANDOM_BYTES = 14
_CONVEX_RANDOM_BYTES = 16
_TIME_BYTES = 6
_TIME_LIMIT = 1 << (8 * _TIME_BYTES)
"""Milliseconds a leading time can hold (the year 10889); a time outside gives a random id."""
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
"""Every 10-bit value's two characters (``base64.b32encode`` is Python code before 3.13, and
one character at a time costs twice as long)."""


def _b32encode(raw: bytes) -> str:
    """RFC 4648 base32's bit layout (most significant bits first, zero bits padding the last
    character, no ``=``) in the alphabet above."""
    chars = -(-len(raw) * 8 // 5)
    even = chars + (chars & 1)
    n = int.from_bytes(raw, "big") << (even * 5 - len(raw) * 8)
    pairs = [_PAIRS[(n >> shift) & 0x3FF] for shift in range(even * 5 - 10, -1, -10)]
    return "".join(pairs)[:chars]


def _b32decode(text: str) -> bytes:
    bits = 0
    for c in text:
        d = _DECODE.get(c)
        if d is None:
            raise InvalidIdError(f"{text!r} is not a document id (bad character {c!r})")
        bits = (bits << 5) | d
    nbytes = len(text) * 5 // 8
    pad = len(text) * 5 - nbytes * 8
    if pad >= 5 or bits & ((1 << pad) - 1):
        # Only the canonical encoding (zero padding bits, no surplus character) is an id.
        raise InvalidIdError(f"{text!r} is not a document id (non-canonical encoding)")
    bits >>= pad
    return bits.to_bytes(nbytes, "big")


def _fletcher16(data: bytes) -> bytes:
    a = b = 0
    for byte in data:
        a = (a + byte) % 255
        b = (b + a) % 255
    return bytes((b, a))


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def make_id(
    table_number: int,
    random_bytes: Callable[[int], bytes],
    created_ms: float | None = None,
) -> str:
    """A new id of table ``table_number``: led by ``created_ms`` (the document's creation time)
    when given, so ids sort by creation; all 14 bytes random without it (or when it is not a
    time from 0 to 2**48 ms)."""
    if created_ms is None or not 0 <= created_ms < _TIME_LIMIT:  # NaN too: all random
        rest = random_bytes(_RANDOM_BYTES)
    else:
        lead = int(created_ms).to_bytes(_TIME_BYTES, "big")
        rest = lead + random_bytes(_RANDOM_BYTES - _TIME_BYTES)
    body = _varint(table_number) + rest
    return _b32encode(body + _fletcher16(body))


def id_table_number(doc_id: object) -> int:
    """The table number encoded in ``doc_id``; ``InvalidIdError`` if it is not a well-formed id."""
    if not isinstance(doc_id, str) or not 20 <= len(doc_id) <= 40:
        raise InvalidIdError(f"{doc_id!r} is not a document id")
    raw = _b32decode(doc_id)
    body, check = raw[:-2], raw[-2:]
    if _fletcher16(body) != check:
        raise InvalidIdError(f"{doc_id!r} is not a document id (checksum mismatch)")
    number = shift = 0
    for i, byte in enumerate(body):
        number |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if len(body) - i - 1 not in (_RANDOM_BYTES, _CONVEX_RANDOM_BYTES):
                raise InvalidIdError(f"{doc_id!r} is not a document id (bad length)")
            return number
    raise InvalidIdError(f"{doc_id!r} is not a document id")


def with_table_number(doc_id: str, table_number: int) -> str:
    """``doc_id`` with its table number replaced (random part kept, checksum recomputed): how an
    imported id is carried over when its table has another number in this deployment."""
    id_table_number(doc_id)  # well-formed, or InvalidIdError
    body = _b32decode(doc_id)[:-2]
    i = 0
    while body[i] & 0x80:
        i += 1
    new = _varint(table_number) + body[i + 1 :]
    return _b32encode(new + _fletcher16(new))
