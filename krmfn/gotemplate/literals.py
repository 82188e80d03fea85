"""Go's string and number literals: what strconv.Unquote and the template lexer accept."""

from __future__ import annotations

import math

from krmfn.gotemplate.errors import fail

_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}
_HEX = frozenset("0123456789abcdefABCDEF")


def is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def unquote(body: str, action: str) -> str:
    """Go's strconv.Unquote for a double-quoted string body."""
    if "\\" not in body:
        return body
    # \x and octal escapes are bytes in Go, so "\xc3\xa9" is "é": build bytes, decode once.
    buf = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            buf += c.encode("utf-8", "surrogatepass")
            i += 1
            continue
        e = body[i + 1]
        if e in _SIMPLE_ESCAPES:
            buf += _SIMPLE_ESCAPES[e].encode()
            i += 2
        elif e in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not _HEX.issuperset(digits):
                fail(f'bad escape sequence "{body[i : i + 2 + width]}"', action)
            code = int(digits, 16)
            if e == "x":
                buf.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                fail(f'bad escape sequence "{body[i : i + 2 + width]}"', action)
            else:
                buf += chr(code).encode()
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                fail(f'bad escape sequence "{body[i : i + 4]}"', action)
            buf.append(int(digits, 8))
            i += 4
        else:
            fail(f'bad escape sequence "\\{e}"', action)
    return buf.decode("utf-8", "replace")


def parse_number(tok: str) -> int | float | None:
    """The value of a Go number literal, or None if tok is not one."""
    body = tok[1:] if tok[0] in "+-" else tok
    if not body or not (is_digit(body[0]) or (body[0] == "." and is_digit(body[1:2] or "x"))):
        return None
    if len(body) > 1 and body[0] == "0" and body.isdigit():
        # Go reads a leading zero as octal; Python's int(..., 0) refuses it.
        if not set(body) <= set("01234567"):
            return None
        return int(tok[: len(tok) - len(body)] + body[1:], 8)
    try:
        return int(tok, 0)
    except ValueError:
        pass
    if body.startswith(("0x", "0X")) or not any(c in body for c in ".eE"):
        return None
    try:
        number = float(tok)
    except ValueError:
        return None
    return number if math.isfinite(number) else None
