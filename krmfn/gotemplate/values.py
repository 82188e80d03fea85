"""Template values and how Go tests, names and prints them."""

from __future__ import annotations

import math
from typing import TypeAlias

Value: TypeAlias = str | int | float | bool


def truth(value: Value) -> bool:
    # Go: empty string, 0, 0.0 and false are false, like Python's truthiness for these types.
    return bool(value)


def type_name(value: Value) -> str:
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    return "string"


def to_text(value: Value) -> str:
    """Go's fmt %v for the value kinds a template can produce."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _float_text(value)


def _float_text(value: float) -> str:
    """Go's %v for float64: shortest digits, exponent form below 1e-4 or from 1e+06."""
    from decimal import Decimal

    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    number = Decimal(repr(abs(value))).normalize()
    _, digit_tuple, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) - 1 + exponent
    if point < -4 or point >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if point < 0 else '+'}{abs(point):02d}"
    return sign + format(number, "f")


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def quote(s: str) -> str:
    """Go's strconv.Quote (what %q and Sprig's quote produce)."""
    out = ['"']
    for c in s:
        code = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():  # the same categories as Go's unicode.IsPrint
            out.append(c)
        elif c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # Go has no surrogates: an invalid rune prints as U+FFFD
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)
