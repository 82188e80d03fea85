"""Splitting a template into text and actions, and actions into tokens, as Go's lexer does."""

from __future__ import annotations

from typing import NamedTuple

from krmfn.gotemplate.errors import fail
from krmfn.gotemplate.limits import MAX_DEPTH
from krmfn.gotemplate.literals import is_digit, parse_number, unquote
from krmfn.gotemplate.values import Value

# Go's own set for trim markers and token separators (not \v or \f).
SPACE = " \t\r\n"


class Token(NamedTuple):
    kind: str  # "str" "num" "bool" "field" "ident" "|" "(" ")"
    text: str  # as written, for messages
    value: Value  # literal value; the name for "field" and "ident"
    spaced: bool  # preceded by white space: Go requires it between operands


class Action(NamedTuple):
    raw: str
    tokens: tuple[Token, ...]
    trim_left: bool
    trim_right: bool
    comment: bool


def _is_ident_char(c: str) -> bool:
    # Go's isAlphaNumeric: '_', unicode.IsLetter, unicode.IsDigit (category Nd).
    return c == "_" or c.isalpha() or c.isdecimal()


def lex(text: str) -> list[str | Action]:
    """Alternating text and actions, starting and ending with (possibly empty) text."""
    items: list[str | Action] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            items.append(text[pos:])
            return items
        items.append(text[pos:start])
        action, pos = _lex_action(text, start)
        items.append(action)


def _raw_until_close(text: str, start: int) -> str:
    """Best guess at an action's text when lexing failed before its real end."""
    close = text.find("}}", start + 2)
    return text[start:] if close < 0 else text[start : close + 2]


def _right_delim(text: str, i: int) -> tuple[int, bool]:
    """(end of the closing delimiter, trims) if one starts at i, else (-1, False)."""
    if text.startswith("}}", i):
        return i + 2, False
    if i + 1 < len(text) and text[i] in SPACE and text.startswith("-}}", i + 1):
        return i + 4, True
    return -1, False


def _lex_action(text: str, start: int) -> tuple[Action, int]:
    n = len(text)
    i = start + 2
    # "{{-3}}" is the number -3: a trim marker needs white space after the dash.
    trim_left = i + 1 < n and text[i] == "-" and text[i + 1] in SPACE
    if trim_left:
        i += 2
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        if close < 0:
            fail("unclosed comment", text[start:])
        end, trim_right = _right_delim(text, close + 2)
        if end < 0:
            fail("comment ends before closing delimiter", _raw_until_close(text, start))
        return Action(text[start:end], (), trim_left, trim_right, True), end

    tokens: list[Token] = []
    spaced = True
    parens = 0
    while True:
        end, trim_right = _right_delim(text, i)
        if end >= 0:
            if parens:
                fail("unclosed left paren", text[start:end])
            return Action(text[start:end], tuple(tokens), trim_left, trim_right, False), end
        if i >= n:
            fail("unclosed action", text[start:])
        c = text[i]
        if c in SPACE:
            j = i
            while j < n and text[j] in SPACE:
                j += 1
            if text.startswith("-}}", j):
                j -= 1  # leave the last space to the " -}}" trim marker
            i, spaced = j, True
            continue
        tok_start = i
        value: Value = ""
        if c == '"':
            kind = "str"
            value, i = _lex_quote(text, i, start)
        elif c == "`":
            close = text.find("`", i + 1)
            if close < 0:
                fail("unterminated raw quoted string", _raw_until_close(text, start))
            # Go drops carriage returns from raw strings.
            kind, value, i = "str", text[i + 1 : close].replace("\r", ""), close + 1
        elif c == "$":
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            fail(
                f"unsupported variable {text[i:j]}",
                _raw_until_close(text, start),
                "only variables like .ModelName are supported",
            )
        elif c == "'":
            fail("character constants are not supported", _raw_until_close(text, start))
        elif c == "." and not (i + 1 < n and is_digit(text[i + 1])):
            j = i
            while j + 1 < n and text[j] == "." and _is_ident_char(text[j + 1]):
                j += 1
                while j < n and _is_ident_char(text[j]):
                    j += 1
            if j == i:
                fail(
                    'unsupported "."',
                    _raw_until_close(text, start),
                    "use a variable like .ModelName",
                )
            kind, value, i = "field", text[i + 1 : j].split(".")[0], j
        elif c in "+-." or is_digit(c):
            kind = "num"
            value, i = _lex_number(text, i, start)
        elif _is_ident_char(c):
            j = i
            while j < n and _is_ident_char(text[j]):
                j += 1
            value = text[i:j]
            if value in ("true", "false"):
                kind, value = "bool", value == "true"
            else:
                kind = "ident"
            i = j
        elif c in "()|":
            kind = c
            i += 1
            if c == "(":
                parens += 1
                if parens > MAX_DEPTH:
                    fail(f"nesting deeper than {MAX_DEPTH} levels", _raw_until_close(text, start))
            elif c == ")":
                parens -= 1
                if parens < 0:
                    fail('unexpected ")"', _raw_until_close(text, start))
        elif c in "=:":
            fail("assignment is not supported", _raw_until_close(text, start))
        else:
            fail(f"unexpected character {c!r}", _raw_until_close(text, start))
        tokens.append(Token(kind, text[tok_start:i], value, spaced))
        spaced = False


def _lex_quote(text: str, i: int, start: int) -> tuple[str, int]:
    n = len(text)
    j = i + 1
    while True:
        if j >= n or text[j] == "\n":
            fail("unterminated quoted string", _raw_until_close(text, start))
        c = text[j]
        if c == '"':
            break
        if c == "\\":
            if j + 1 >= n or text[j + 1] == "\n":
                fail("unterminated quoted string", _raw_until_close(text, start))
            j += 2
        else:
            j += 1
    return unquote(text[i + 1 : j], _raw_until_close(text, start)), j + 1


def _lex_number(text: str, i: int, start: int) -> tuple[int | float, int]:
    n = len(text)
    j = i
    if text[j] in "+-":
        j += 1
    hexadecimal = text.startswith(("0x", "0X"), j)
    while j < n:
        c = text[j]
        if c in "eE" and not hexadecimal and j + 1 < n and text[j + 1] in "+-":
            j += 2
        elif c.isascii() and (c.isalnum() or c in "_."):
            j += 1
        else:
            break
    tok = text[i:j]
    value = parse_number(tok)
    if value is None:
        fail(f'bad number syntax "{tok}"', _raw_until_close(text, start))
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        fail(f'number out of range "{tok}"', _raw_until_close(text, start))
    return value, j
