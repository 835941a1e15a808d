"""Reading the protobuf wire format in pure Python, bounded: every length inside its message, nothing executed.

Enough to walk ONNX models and SavedModel graphs field by field (numbers from their .proto files) without the
``onnx`` package or TensorFlow, so a hostile file is refused before any native parser or runtime sees it.
"""

from __future__ import annotations


class Invalid(Exception):
    """The bytes are not a well-formed protobuf message."""


def varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise Invalid(f"a varint at byte {pos} runs past its message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def fields(buf: bytes, start: int, end: int):
    """(field number, wire type, value) for each field of the message in ``buf[start:end]``; a length-delimited
    value is its (start, end) span, checked to lie inside the message."""
    pos = start
    while pos < end:
        key, pos = varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise Invalid(f"field number 0 at byte {pos}")
        if wire == 0:
            value, pos = varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise Invalid(f"a 64-bit field at byte {pos} runs past its message")
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            if pos + 4 > end:
                raise Invalid(f"a 32-bit field at byte {pos} runs past its message")
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        elif wire == 2:
            length, pos = varint(buf, pos, end)
            if pos + length > end:
                raise Invalid(f"field {number} at byte {pos} claims {length} bytes; its message has {end - pos} left")
            value, pos = (pos, pos + length), pos + length
        else:
            raise Invalid(f"unsupported wire type {wire} (field {number}) at byte {pos}")
        yield number, wire, value


def text(buf: bytes, span: tuple[int, int], what: str) -> str:
    try:
        return bytes(buf[span[0]:span[1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise Invalid(f"{what} is not UTF-8 text") from None
