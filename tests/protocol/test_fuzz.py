"""Property-based fuzz tests (hypothesis, a bounded number of examples per run) of what parses
untrusted input before authentication or dispatch: the client-frame check in front of aiohttp's
parser, and the REST API's path and body decoding. Crashes they find are kept below as regular tests."""

from __future__ import annotations

import os
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpsnb.protocol.frame_check import LENGTH_TOP_BIT, UNMASKED, ClientFrameCheck
from wpsnb.protocol.json_codec import Envelope
from wpsnb.service.rest import split_path
from wpsnb.service.rest_call import RestError, decode_body

FUZZ = settings(max_examples=300, deadline=None, database=None)


def frame(payload: bytes, *, masked: bool = True, opcode: int = 0x1, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    mask_bit = 0x80 if masked else 0
    size = len(payload)
    if size < 126:
        head = bytes((first, mask_bit | size))
    elif size < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, size)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, size)
    return head + (os.urandom(4) if masked else b"") + payload  # payload unmasked: the check never reads it


def reference(stream: bytes) -> tuple[str | None, int]:
    """The first problem in a whole stream and where its frame starts — parsed the slow, obvious way."""
    position = 0
    while len(stream) - position >= 2:
        second = stream[position + 1]
        if not second & 0x80:
            return UNMASKED, position
        length = second & 0x7F
        if length == 126:
            if len(stream) - position < 4:
                break
            length = struct.unpack_from("!H", stream, position + 2)[0]
            header = 8
        elif length == 127:
            if len(stream) - position < 10:
                break
            length = struct.unpack_from("!Q", stream, position + 2)[0]
            if length >= 1 << 63:
                return LENGTH_TOP_BIT, position
            header = 14
        else:
            header = 6
        position += header + length
    return None, -1


def feed_in_pieces(stream: bytes, cuts: list[int], frame_start: int = -1) -> tuple[str | None, int]:
    """Feed ``stream`` split at ``cuts``; the problem and the offset where the clean bytes end.

    ``clean`` counts bytes of the chunk in which the problem was found; when the offending frame began
    in an earlier chunk it is 0 (its first bytes were passed on already). The offset is returned as
    ``frame_start`` when it agrees with that, so callers compare with where the frame really starts.
    """
    check = ClientFrameCheck()
    start = 0
    for end in [*sorted(set(cuts)), len(stream)]:
        if end < start:
            continue
        problem = check.feed(stream[start:end])
        if problem is not None:
            offset = start + check.clean
            return problem, frame_start if offset == max(frame_start, start) else offset
        start = end
    return None, -1


payloads = st.one_of(
    st.binary(max_size=130),
    st.sampled_from([125, 126, 127, 65535, 65536, 70000]).map(lambda n: b"x" * n),
)


@FUZZ
@given(st.lists(payloads, max_size=8), st.lists(st.integers(0, 200_000), max_size=12))
def test_masked_frames_pass_however_the_stream_is_split(sizes: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(frame(p) for p in sizes)
    assert feed_in_pieces(stream, [c % (len(stream) + 1) for c in cuts]) == (None, -1)


@FUZZ
@given(
    st.lists(payloads, max_size=5),
    st.binary(max_size=40),
    st.lists(payloads, max_size=3),
    st.lists(st.integers(0, 200_000), max_size=8),
)
def test_an_unmasked_frame_is_found_exactly_where_it_starts(
    before: list[bytes], bad: bytes, after: list[bytes], cuts: list[int]
) -> None:
    head = b"".join(frame(p) for p in before)
    stream = head + frame(bad, masked=False) + b"".join(frame(p) for p in after)
    assert feed_in_pieces(stream, [c % (len(stream) + 1) for c in cuts], len(head)) == (UNMASKED, len(head))


@FUZZ
@given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
def test_any_bytes_give_the_reference_answer_whatever_the_split(stream: bytes, cuts: list[int]) -> None:
    problem, frame_start = reference(stream)
    assert feed_in_pieces(stream, cuts, frame_start) == (problem, frame_start)


# ---- REST path and body decoding -----------------------------------------------------------------


@FUZZ
@given(st.text(max_size=80))
def test_split_path_decodes_or_answers_400(raw: str) -> None:
    try:
        segments = split_path("/" + raw)
    except RestError as error:
        assert error.status == 400
        return
    assert all(isinstance(s, str) for s in segments)


@FUZZ
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=5))
def test_split_path_round_trips_percent_encoded_segments(names: list[str]) -> None:
    from urllib.parse import quote

    try:
        encoded = "/".join(quote(n, safe="") for n in names)
    except UnicodeEncodeError:
        return  # a lone surrogate cannot be percent-encoded as UTF-8: no client can send it
    assert split_path("/" + encoded) == names


charsets = st.sampled_from([None, "utf-8", "utf-16", "latin-1", "ascii", "raw_unicode_escape", "no-such", "rot13"])


@FUZZ
@given(st.sampled_from(["json", "text", "binary"]), st.binary(max_size=200), charsets)
def test_bodies_decode_or_answer_400_and_decoded_json_encodes_or_raises_value_error(
    data_type: str, body: bytes, charset: str | None
) -> None:
    try:
        value = decode_body(data_type, body, charset)
    except RestError as error:
        assert error.status == 400 and error.target == "body"
        return
    try:
        Envelope.build("server", data_type, value)
    except (ValueError, RecursionError):
        pass  # what RestCall.message answers 400 for


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=5), lambda c: st.lists(c, max_size=3)))
def test_json_values_with_any_text_encode_or_raise_value_error(value: object) -> None:
    import json

    body = json.dumps(value, ensure_ascii=True, allow_nan=True).encode()
    try:
        decoded = decode_body("json", body)
    except RestError:
        return  # NaN / Infinity are not JSON
    try:
        Envelope.build("server", "json", decoded)
    except ValueError:
        pass


# ---- crashes found by the fuzz tests, kept as regular tests ------------------------------------


@pytest.mark.parametrize(
    "data_type, body, charset",
    [
        ("text", rb"\ud800", "raw_unicode_escape"),  # decodes to a lone surrogate; build raised (500 before)
        ("json", b"[" * 50_000 + b"]" * 50_000, None),  # RecursionError escaped decode_body (500 before)
    ],
)
def test_found_crashes_are_400s(data_type: str, body: bytes, charset: str | None) -> None:
    try:
        value = decode_body(data_type, body, charset)
    except RestError as error:
        assert error.status == 400
        return
    with pytest.raises(ValueError):
        Envelope.build("server", data_type, value)
