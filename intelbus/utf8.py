"""Bytes to text, or an error saying where (line, byte of the line) they stop being UTF-8."""

from __future__ import annotations

__all__ = ["NotUtf8", "decode_utf8"]


class NotUtf8(ValueError):
    """The input is not UTF-8 at ``line`` (from 1)."""

    def __init__(self, line: int, byte: int) -> None:
        super().__init__(f"not valid UTF-8 (byte {byte} of the line)")
        self.line = line


def decode_utf8(data: bytes) -> str:
    """``data`` as text; :class:`NotUtf8` names the first bad byte's line and position."""
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        line_start = data.rfind(b"\n", 0, error.start) + 1
        line = data.count(b"\n", 0, error.start) + 1
        raise NotUtf8(line, error.start - line_start + 1) from None
