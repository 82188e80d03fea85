"""Go-template actions in vLLM arguments, rendered in a jinja2 sandbox.

llm-d users already write Go-template actions in their ModelService command, args and env
values (`{{ .HFModelName }}`, `{{ "metrics" | getPort }}`, `{{ if .X }}..{{ end }}`).
This module lexes and parses the subset of Go's text/template those fields need, keeping
Go's semantics (truthiness, `print` spacing, pipelines passing the value as the last
argument), and executes it as jinja2 source in a `SandboxedEnvironment`.

User text never becomes jinja syntax: text between actions is passed in as data and
string literals are re-emitted with every character outside a small safe set escaped.
Variables and functions are checked while parsing, so a typo fails even in an `if`
branch that is not taken. There are no loops, and nesting depth, action and operand
counts are capped, so rendering time is bounded; every function result and the whole
output are capped at MAX_OUTPUT bytes.

jinja2 is imported lazily: templates made only of text, variables, literals and comments
(the common `{{ .ModelPath }}` case) are rendered directly, because importing jinja2
costs start-up time on every function invocation.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, NamedTuple, NoReturn, TypeAlias

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

__all__ = ["MAX_OUTPUT", "TemplateError", "has_actions", "render"]

MAX_OUTPUT: int = 64 * 1024
# Deep enough for any hand-written template, shallow enough that jinja2's recursive
# parser and code generator stay far from Python's recursion limit.
MAX_DEPTH = 32
# printf widths/precisions above this are only useful for blowing up memory.
MAX_WIDTH = 4096
# jinja2 compiles a template in time that grows faster than linearly with its size (a
# single 50,000-operand action takes seconds). These keep the worst case near half a
# second; templates rendered without jinja2 are linear and not limited.
MAX_ACTIONS = 500
MAX_TOKENS = 2000
# Error messages quote the offending action; a megabyte-long action would drown the rest.
_SHOW_MAX = 200

_Value: TypeAlias = str | int | float | bool


class TemplateError(Exception):
    """A template that cannot be rendered.

    message: human text without ModelService/field context (the caller adds that);
    action: the offending action as written, e.g. '{{ .NoSuchVar }}', or '' if the
    error is not attributable to one action.
    """

    def __init__(self, message: str, action: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.action = action

    def __str__(self) -> str:
        return self.message


class _Fail(Exception):
    """Raised by template functions, which do not know which action called them."""


def _show(action: str) -> str:
    return action if len(action) <= _SHOW_MAX else action[:_SHOW_MAX] + "..."


def _error(what: str, action: str, hint: str = "") -> TemplateError:
    message = f"{what} in {_show(action)}" if action else what
    if hint:
        message += f"; {hint}"
    return TemplateError(message, action)


def _fail(what: str, action: str, hint: str = "") -> NoReturn:
    raise _error(what, action, hint)


def has_actions(text: str) -> bool:
    """True iff text holds a Go-template action delimiter."""
    return "{{" in text


def render(text: str, variables: Mapping[str, str], ports: Mapping[str, int]) -> str:
    """Render the Go-template actions in text.

    variables: the template variable names (ModelName, HFModelName, ...) -> values.
    ports: spec.routing.ports name -> port, for getPort (-1 if the name is unknown).
    Text without "{{" is returned as is (the same object). Raises TemplateError.
    """
    if "{{" not in text:
        return text
    program = _parse(text)
    for name, index in program.var_refs:
        if name not in variables:
            action = program.actions[index]
            known = ", ".join(sorted(variables))
            raise _error(f"unknown variable .{name}", action, f"known variables: {known}")
    runtime = _Runtime(program, variables, ports)
    if program.simple:
        return "".join(runtime.node(node) for node in program.nodes)
    template = _compile(program.source)
    try:
        result: str = template.render(
            _text=runtime.text,
            _out=runtime.out,
            _var=runtime.var,
            _call=runtime.call,
            _truth=_truth,
        )
    except TemplateError:
        raise
    except Exception as exc:  # the contract is "never a traceback", even for our own bugs
        raise TemplateError(
            f"internal error rendering template: {type(exc).__name__}: {exc}"
        ) from None
    return result


# --- lexer -------------------------------------------------------------------------------

# Go's own set for trim markers and token separators (not \v or \f).
_SPACE = " \t\r\n"


class _Tok(NamedTuple):
    kind: str  # "str" "num" "bool" "field" "ident" "|" "(" ")"
    text: str  # as written, for messages
    value: _Value  # literal value; the name for "field" and "ident"
    spaced: bool  # preceded by white space: Go requires it between operands


class _Action(NamedTuple):
    raw: str
    toks: tuple[_Tok, ...]
    trim_left: bool
    trim_right: bool
    comment: bool


def _is_ident_char(c: str) -> bool:
    # Go's isAlphaNumeric: '_', unicode.IsLetter, unicode.IsDigit (category Nd).
    return c == "_" or c.isalpha() or c.isdecimal()


def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def _raw_until_close(text: str, start: int) -> str:
    """Best guess at an action's text when lexing failed before its real end."""
    close = text.find("}}", start + 2)
    return text[start:] if close < 0 else text[start : close + 2]


def _right_delim(text: str, i: int) -> tuple[int, bool]:
    """(end of the closing delimiter, trims) if one starts at i, else (-1, False)."""
    if text.startswith("}}", i):
        return i + 2, False
    if i + 1 < len(text) and text[i] in _SPACE and text.startswith("-}}", i + 1):
        return i + 4, True
    return -1, False


def _lex(text: str) -> list[str | _Action]:
    """Alternating text and actions, starting and ending with (possibly empty) text."""
    items: list[str | _Action] = []
    pos = 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            items.append(text[pos:])
            return items
        items.append(text[pos:start])
        action, pos = _lex_action(text, start)
        items.append(action)


def _lex_action(text: str, start: int) -> tuple[_Action, int]:
    n = len(text)
    i = start + 2
    # "{{-3}}" is the number -3: a trim marker needs white space after the dash.
    trim_left = i + 1 < n and text[i] == "-" and text[i + 1] in _SPACE
    if trim_left:
        i += 2
    if text.startswith("/*", i):
        close = text.find("*/", i + 2)
        if close < 0:
            _fail("unclosed comment", text[start:])
        end, trim_right = _right_delim(text, close + 2)
        if end < 0:
            _fail("comment ends before closing delimiter", _raw_until_close(text, start))
        return _Action(text[start:end], (), trim_left, trim_right, True), end

    toks: list[_Tok] = []
    spaced = True
    parens = 0
    while True:
        end, trim_right = _right_delim(text, i)
        if end >= 0:
            if parens:
                _fail("unclosed left paren", text[start:end])
            return _Action(text[start:end], tuple(toks), trim_left, trim_right, False), end
        if i >= n:
            _fail("unclosed action", text[start:])
        c = text[i]
        if c in _SPACE:
            j = i
            while j < n and text[j] in _SPACE:
                j += 1
            if text.startswith("-}}", j):
                j -= 1  # leave the last space to the " -}}" trim marker
            i, spaced = j, True
            continue
        tok_start = i
        value: _Value = ""
        if c == '"':
            kind = "str"
            value, i = _lex_quote(text, i, start)
        elif c == "`":
            close = text.find("`", i + 1)
            if close < 0:
                _fail("unterminated raw quoted string", _raw_until_close(text, start))
            # Go drops carriage returns from raw strings.
            kind, value, i = "str", text[i + 1 : close].replace("\r", ""), close + 1
        elif c == "$":
            j = i + 1
            while j < n and _is_ident_char(text[j]):
                j += 1
            _fail(
                f"unsupported variable {text[i:j]}",
                _raw_until_close(text, start),
                "only variables like .ModelName are supported",
            )
        elif c == "'":
            _fail("character constants are not supported", _raw_until_close(text, start))
        elif c == "." and not (i + 1 < n and _is_digit(text[i + 1])):
            j = i
            while j + 1 < n and text[j] == "." and _is_ident_char(text[j + 1]):
                j += 1
                while j < n and _is_ident_char(text[j]):
                    j += 1
            if j == i:
                _fail(
                    'unsupported "."',
                    _raw_until_close(text, start),
                    "use a variable like .ModelName",
                )
            kind, value, i = "field", text[i + 1 : j].split(".")[0], j
        elif c in "+-." or _is_digit(c):
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
                    _fail(f"nesting deeper than {MAX_DEPTH} levels", _raw_until_close(text, start))
            elif c == ")":
                parens -= 1
                if parens < 0:
                    _fail('unexpected ")"', _raw_until_close(text, start))
        elif c in "=:":
            _fail("assignment is not supported", _raw_until_close(text, start))
        else:
            _fail(f"unexpected character {c!r}", _raw_until_close(text, start))
        toks.append(_Tok(kind, text[tok_start:i], value, spaced))
        spaced = False


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


def _lex_quote(text: str, i: int, start: int) -> tuple[str, int]:
    n = len(text)
    j = i + 1
    while True:
        if j >= n or text[j] == "\n":
            _fail("unterminated quoted string", _raw_until_close(text, start))
        c = text[j]
        if c == '"':
            break
        if c == "\\":
            if j + 1 >= n or text[j + 1] == "\n":
                _fail("unterminated quoted string", _raw_until_close(text, start))
            j += 2
        else:
            j += 1
    return _unquote(text[i + 1 : j], _raw_until_close(text, start)), j + 1


def _unquote(body: str, action: str) -> str:
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
                _fail(f'bad escape sequence "{body[i : i + 2 + width]}"', action)
            code = int(digits, 16)
            if e == "x":
                buf.append(code)
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                _fail(f'bad escape sequence "{body[i : i + 2 + width]}"', action)
            else:
                buf += chr(code).encode()
            i += 2 + width
        elif e in "01234567":
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                _fail(f'bad escape sequence "{body[i : i + 4]}"', action)
            buf.append(int(digits, 8))
            i += 4
        else:
            _fail(f'bad escape sequence "\\{e}"', action)
    return buf.decode("utf-8", "replace")


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
    value = _parse_number(tok)
    if value is None:
        _fail(f'bad number syntax "{tok}"', _raw_until_close(text, start))
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        _fail(f'number out of range "{tok}"', _raw_until_close(text, start))
    return value, j


def _parse_number(tok: str) -> int | float | None:
    body = tok[1:] if tok[0] in "+-" else tok
    if not body or not (_is_digit(body[0]) or (body[0] == "." and _is_digit(body[1:2] or "x"))):
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


# --- parser ------------------------------------------------------------------------------


class _Lit(NamedTuple):
    value: _Value


class _Var(NamedTuple):
    name: str


class _Call(NamedTuple):
    name: str
    args: tuple[_Expr, ...]
    depth: int


_Expr: TypeAlias = _Lit | _Var | _Call


class _Text(NamedTuple):
    chunk: int  # index into the program's chunks


class _Output(NamedTuple):
    action: int
    expr: _Expr


class _If(NamedTuple):
    branches: tuple[tuple[int, _Expr, tuple[_Node, ...]], ...]  # (action, condition, body)
    orelse: tuple[_Node, ...] | None


_Node: TypeAlias = _Text | _Output | _If


class _Program(NamedTuple):
    nodes: tuple[_Node, ...]
    chunks: tuple[str, ...]
    actions: tuple[str, ...]
    var_refs: tuple[tuple[str, int], ...]
    simple: bool  # renderable without jinja2
    source: str  # jinja2 source; "" when simple


_UNSUPPORTED_KEYWORDS = frozenset(
    {"range", "with", "define", "template", "block", "break", "continue"}
)
_CONTROL_KEYWORDS = frozenset({"if", "else", "end"})


def _check_ident(name: str, action: str) -> None:
    if name in _UNSUPPORTED_KEYWORDS:
        _fail(
            f'unsupported keyword "{name}"',
            action,
            "only if, else if, else and end are supported",
        )
    if name == "nil":
        _fail("nil is not supported", action)
    if name in _CONTROL_KEYWORDS:
        _fail(f'unexpected keyword "{name}"', action)


class _Parser:
    """Go's pipeline grammar: command ('|' command)*, command = operand+."""

    def __init__(
        self, toks: tuple[_Tok, ...], action: str, index: int, var_refs: list[tuple[str, int]]
    ) -> None:
        self.toks = toks
        self.pos = 0
        self.action = action
        self.index = index
        self.var_refs = var_refs

    def fail(self, what: str, hint: str = "") -> NoReturn:
        _fail(what, self.action, hint)

    def peek(self) -> _Tok | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.toks)

    def pipeline(self, parens: int) -> _Expr:
        expr = self.command(None, parens)
        while (tok := self.peek()) is not None and tok.kind == "|":
            self.pos += 1
            expr = self.command(expr, parens)
        return expr

    def command(self, piped: _Expr | None, parens: int) -> _Expr:
        head = self.peek()
        if head is None or head.kind in ("|", ")"):
            self.fail("missing value for command")
        operands: list[_Expr] = []
        if head.kind == "ident":
            _check_ident(head.text, self.action)
            self.pos += 1
            self.check_no_field_access()
        else:
            operands.append(self.operand(parens))
        while (tok := self.peek()) is not None and tok.kind not in ("|", ")"):
            if not tok.spaced:
                self.fail(f"missing space before {tok.text}")
            operands.append(self.operand(parens))
        if head.kind == "ident":
            args = (*operands, piped) if piped is not None else tuple(operands)
            return self.call(head.text, args)
        shown = "(...)" if head.kind == "(" else head.text
        if piped is not None:
            self.fail(f"can't pipe into {shown}, which is not a function")
        if len(operands) > 1:
            self.fail(f"can't give arguments to {shown}, which is not a function")
        return operands[0]

    def operand(self, parens: int) -> _Expr:
        tok = self.toks[self.pos]
        self.pos += 1
        expr: _Expr
        if tok.kind in ("str", "num", "bool"):
            expr = _Lit(tok.value)
        elif tok.kind == "field":
            if "." in tok.text[1:]:
                self.fail(
                    f"unsupported nested field {tok.text}",
                    "only single names like .ModelName are supported",
                )
            name = str(tok.value)
            self.var_refs.append((name, self.index))
            expr = _Var(name)
        elif tok.kind == "ident":
            # Go calls a function named as an argument with no arguments of its own.
            _check_ident(tok.text, self.action)
            expr = self.call(tok.text, ())
        else:  # "(": the lexer guarantees it is balanced within the action
            if parens + 1 > MAX_DEPTH:
                self.fail(f"nesting deeper than {MAX_DEPTH} levels")
            expr = self.pipeline(parens + 1)
            self.pos += 1  # the ")"
        self.check_no_field_access()
        return expr

    def check_no_field_access(self) -> None:
        # Go reads "(x).Y" or "f.Y" as a field of a value: that is attribute access.
        tok = self.peek()
        if tok is not None and tok.kind == "field" and not tok.spaced:
            self.fail(f"unsupported field access {tok.text} on a value")

    def call(self, name: str, args: tuple[_Expr, ...]) -> _Call:
        func = _FUNCS.get(name)
        if func is None:
            self.fail(f'unknown function "{name}"')
        low, high = func.arity
        if len(args) < low or (high is not None and len(args) > high):
            want = str(low) if low == high else f"at least {low}"
            self.fail(f"wrong number of arguments for {name}: want {want}, got {len(args)}")
        depth = 1 + max((a.depth for a in args if isinstance(a, _Call)), default=0)
        if depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        return _Call(name, args, depth)


class _Frame:
    """An `if` being parsed: its branches so far and the body that actions go into."""

    __slots__ = ("action", "body", "branches", "orelse")

    def __init__(self, action: int, branch: tuple[int, _Expr, list[_Node]]) -> None:
        self.action = action
        self.branches = [branch]
        self.orelse: list[_Node] | None = None
        self.body = branch[2]


def _close(frame: _Frame) -> _If:
    return _If(
        tuple((a, cond, tuple(body)) for a, cond, body in frame.branches),
        None if frame.orelse is None else tuple(frame.orelse),
    )


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> _Program:
    items = _lex(text)
    for k in range(1, len(items), 2):
        action = items[k]
        assert isinstance(action, _Action)
        before, after = items[k - 1], items[k + 1]
        assert isinstance(before, str) and isinstance(after, str)
        if action.trim_left:
            items[k - 1] = before.rstrip(_SPACE)
        if action.trim_right:
            items[k + 1] = after.lstrip(_SPACE)

    chunks: list[str] = []
    actions: list[str] = []
    var_refs: list[tuple[str, int]] = []
    root: list[_Node] = []
    stack: list[_Frame] = []
    simple = True
    for item in items:
        body = stack[-1].body if stack else root
        if isinstance(item, str):
            if item:
                body.append(_Text(len(chunks)))
                chunks.append(item)
            continue
        if item.comment:
            continue
        index = len(actions)
        actions.append(item.raw)
        parser = _Parser(item.toks, item.raw, index, var_refs)
        first = parser.peek()
        keyword = first.text if first is not None and first.kind == "ident" else ""
        if keyword == "if":
            parser.pos += 1
            if parser.at_end():
                parser.fail("missing condition")
            if len(stack) >= MAX_DEPTH:
                parser.fail(f"nesting deeper than {MAX_DEPTH} levels")
            cond = _whole_pipeline(parser)
            branch: list[_Node] = []
            stack.append(_Frame(index, (index, cond, branch)))
            simple = False
        elif keyword == "else":
            parser.pos += 1
            if not stack:
                parser.fail("else without if")
            frame = stack[-1]
            if frame.orelse is not None:
                parser.fail("else after else")
            second = parser.peek()
            if second is None:
                frame.orelse = []
                frame.body = frame.orelse
            elif second.kind == "ident" and second.text == "if":
                parser.pos += 1
                if parser.at_end():
                    parser.fail("missing condition")
                cond = _whole_pipeline(parser)
                branch = []
                frame.branches.append((index, cond, branch))
                frame.body = branch
            elif second.kind == "ident" and second.text in _UNSUPPORTED_KEYWORDS:
                _check_ident(second.text, item.raw)
            else:
                parser.fail("unexpected arguments after else")
        elif keyword == "end":
            parser.pos += 1
            if not stack:
                parser.fail("end without if")
            if not parser.at_end():
                parser.fail("unexpected arguments after end")
            node = _close(stack.pop())
            (stack[-1].body if stack else root).append(node)
        else:
            expr = _whole_pipeline(parser)
            if not isinstance(expr, _Lit | _Var):
                simple = False
            body.append(_Output(index, expr))
    if stack:
        _fail("if without end", actions[stack[-1].action])
    if not simple:
        if len(actions) > MAX_ACTIONS:
            _fail(f"too many actions in one string: more than {MAX_ACTIONS}", "")
        tokens = sum(len(item.toks) for item in items if isinstance(item, _Action))
        if tokens > MAX_TOKENS:
            _fail(f"too many operands in one string: more than {MAX_TOKENS}", "")

    nodes = tuple(root)
    return _Program(
        nodes=nodes,
        chunks=tuple(chunks),
        actions=tuple(actions),
        var_refs=tuple(var_refs),
        simple=simple,
        source="" if simple else "".join(_gen_nodes(nodes)),
    )


def _whole_pipeline(parser: _Parser) -> _Expr:
    expr = parser.pipeline(0)
    if not parser.at_end():  # defensive: pipeline() stops only at a ")" the lexer rejects
        parser.fail(f"unexpected {parser.toks[parser.pos].text}")
    return expr


# --- jinja2 translation ------------------------------------------------------------------

# Characters that may appear unescaped in an emitted jinja string literal: none of them
# can end the literal, start an escape or form jinja delimiters.
_JINJA_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./:,=+@")


def _jinja_str(s: str) -> str:
    # jinja2 decodes string literals with "unicode-escape", so \UXXXXXXXX reaches any
    # code point without handing the user's characters to jinja's lexer.
    return "'" + "".join(c if c in _JINJA_SAFE else f"\\U{ord(c):08x}" for c in s) + "'"


def _gen_expr(expr: _Expr, action: int) -> str:
    if isinstance(expr, _Var):
        return f"_var({_jinja_str(expr.name)})"
    if isinstance(expr, _Call):
        args = "".join(f", {_gen_expr(a, action)}" for a in expr.args)
        return f"_call({_jinja_str(expr.name)}, {action}{args})"
    value = expr.value
    if isinstance(value, str):
        return _jinja_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    # repr round-trips exactly; parenthesised so a sign is never glued to a neighbour.
    return f"({value!r})"


def _gen_nodes(nodes: tuple[_Node, ...]) -> list[str]:
    # No literal text in the output: jinja2 would print any, so everything goes through
    # {{ }} and the generated source never contains user-controlled template syntax.
    out: list[str] = []
    for node in nodes:
        if isinstance(node, _Text):
            out.append(f"{{{{ _text({node.chunk}) }}}}")
        elif isinstance(node, _Output):
            out.append(f"{{{{ _out({node.action}, {_gen_expr(node.expr, node.action)}) }}}}")
        else:
            for k, (action, cond, body) in enumerate(node.branches):
                tag = "if" if k == 0 else "elif"
                out.append(f"{{% {tag} _truth({_gen_expr(cond, action)}) %}}")
                out.extend(_gen_nodes(body))
            if node.orelse is not None:
                out.append("{% else %}")
                out.extend(_gen_nodes(node.orelse))
            out.append("{% endif %}")
    return out


@functools.cache
def _environment() -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    # The generated source only calls the functions passed to render(); take away
    # jinja's own globals, filters and tests so nothing else is reachable.
    env.globals.clear()
    env.filters.clear()
    env.tests.clear()
    return env


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _environment().from_string(source)


# --- runtime -----------------------------------------------------------------------------


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _too_big(s: str) -> bool:
    return len(s) > MAX_OUTPUT or (len(s) * 4 > MAX_OUTPUT and _utf8_len(s) > MAX_OUTPUT)


class _Runtime:
    """One render: the functions the generated jinja source calls back into."""

    __slots__ = ("_actions", "_chunks", "_ports", "_size", "_variables")

    def __init__(
        self, program: _Program, variables: Mapping[str, str], ports: Mapping[str, int]
    ) -> None:
        self._actions = program.actions
        self._chunks = program.chunks
        self._variables = variables
        self._ports = ports
        self._size = 0

    def _grow(self, s: str, action: str) -> str:
        # Counted as output is produced so that many large actions fail early instead of
        # building a huge string first.
        self._size += _utf8_len(s)
        if self._size > MAX_OUTPUT:
            raise _error(f"rendered output exceeds {MAX_OUTPUT} bytes", action)
        return s

    def text(self, index: int) -> str:
        return self._grow(self._chunks[index], "")

    def out(self, action: int, value: _Value) -> str:
        return self._grow(_fmt(value), self._actions[action])

    def var(self, name: str) -> str:
        return self._variables[name]

    def call(self, name: str, action: int, *args: _Value) -> _Value:
        try:
            result = _FUNCS[name].fn(args, self._ports)
            if isinstance(result, str) and _too_big(result):
                raise _Fail(f"output of {name} exceeds {MAX_OUTPUT} bytes")
        except _Fail as exc:
            raise _error(str(exc), self._actions[action]) from None
        return result

    def node(self, node: _Node) -> str:
        """Fast path: a simple program holds only text and literal/variable outputs."""
        if isinstance(node, _Text):
            return self.text(node.chunk)
        assert isinstance(node, _Output)
        expr = node.expr
        if isinstance(expr, _Var):
            return self.out(node.action, self.var(expr.name))
        assert isinstance(expr, _Lit)
        return self.out(node.action, expr.value)


def _truth(value: _Value) -> bool:
    # Go: empty string, 0, 0.0 and false are false, like Python's truthiness for these types.
    return bool(value)


def _type_name(value: _Value) -> str:
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    return "string"


def _fmt(value: _Value) -> str:
    """Go's fmt %v for the value kinds a template can produce."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _go_float(value)


def _go_float(value: float) -> str:
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


_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _go_quote(s: str) -> str:
    """Go's strconv.Quote (what %q and Sprig's quote produce)."""
    out = ['"']
    for c in s:
        code = ord(c)
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():  # the same categories as Go's unicode.IsPrint
            out.append(c)
        elif c in _GO_ESCAPES:
            out.append(_GO_ESCAPES[c])
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


# Unicode White_Space, what Go's strings.TrimSpace removes; str.strip() differs (\x1c-\x1f).
_GO_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _want_str(name: str, args: tuple[_Value, ...], k: int) -> str:
    value = args[k]
    if not isinstance(value, str):
        raise _Fail(
            f"wrong type for argument {k + 1} of {name}: want string, got {_type_name(value)}"
        )
    return value


def _f_get_port(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return ports.get(_want_str("getPort", args, 0), -1)


def _f_default(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    # Sprig: `default DEFAULT VALUE` is VALUE unless it is empty.
    return args[1] if _truth(args[1]) else args[0]


def _f_lower(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return _want_str("lower", args, 0).lower()


def _f_upper(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return _want_str("upper", args, 0).upper()


def _f_trim(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return _want_str("trim", args, 0).strip(_GO_WHITESPACE)


def _f_replace(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    old, new, s = (_want_str("replace", args, k) for k in range(3))
    # Check before building: replacing "" inserts between every character.
    if len(s) + s.count(old) * (len(new) - len(old)) > MAX_OUTPUT:
        raise _Fail(f"output of replace exceeds {MAX_OUTPUT} bytes")
    return s.replace(old, new)


def _f_quote(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return " ".join(_go_quote(_fmt(a)) for a in args)


def _f_print(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    # fmt.Sprint: a space between two operands only when neither is a string.
    out: list[str] = []
    for k, arg in enumerate(args):
        if k and not isinstance(arg, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(_fmt(arg))
    return "".join(out)


def _bounded(what: str, digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(MAX_WIDTH)) or int(significant) > MAX_WIDTH:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise _Fail(f"printf: {what} {shown} exceeds {MAX_WIDTH}")
    return int(significant)


def _pad(s: str, width: int | None, left: bool) -> str:
    if width is None or len(s) >= width:
        return s
    return s.ljust(width) if left else s.rjust(width)


def _format_verb(
    verb: str, arg: _Value, width: int | None, prec: int | None, minus: bool, zero: bool
) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "d" or (verb == "v" and is_int):
        if not is_int:
            raise _Fail(f"printf: %d needs an integer, got {_type_name(arg)}")
        assert isinstance(arg, int)
        digits = str(abs(arg))
        if prec is not None:
            digits = "" if prec == 0 and arg == 0 else digits.rjust(prec, "0")
        elif zero and not minus and width is not None:
            digits = digits.rjust(width - (arg < 0), "0")
        return _pad(("-" if arg < 0 else "") + digits, width, minus)
    if zero:
        raise _Fail("printf: the 0 flag needs an integer argument")
    if verb == "v" and not isinstance(arg, str):
        if isinstance(arg, float) and prec is not None:
            raise _Fail("printf: precision is not supported for float64 values")
        return _pad(_fmt(arg), width, minus)
    if not isinstance(arg, str):
        raise _Fail(f"printf: %{verb} needs a string, got {_type_name(arg)}")
    s = arg if prec is None else arg[:prec]
    return _pad(_go_quote(s) if verb == "q" else s, width, minus)


def _f_printf(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    # Go's Sprintf writes "%!d(string=x)" into the output on a bad verb or argument;
    # here every such mistake is an error instead.
    fmt = _want_str("printf", args, 0)
    rest = args[1:]
    out: list[str] = []
    size = used = i = 0
    n = len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            size += n - i
            break
        out.append(fmt[i:j])
        size += j - i
        i = j + 1
        minus = zero = False
        while i < n and fmt[i] in "-+# 0":
            if fmt[i] == "-":
                minus = True
            elif fmt[i] == "0":
                zero = True
            else:
                raise _Fail(f'printf: unsupported flag "{fmt[i]}"')
            i += 1
        k = i
        while k < n and _is_digit(fmt[k]):
            k += 1
        width = _bounded("width", fmt[i:k]) if k > i else None
        i = k
        prec = None
        if i < n and fmt[i] == ".":
            k = i = i + 1
            while k < n and _is_digit(fmt[k]):
                k += 1
            prec = _bounded("precision", fmt[i:k]) if k > i else 0
            i = k
        if i >= n:
            raise _Fail("printf: incomplete verb at end of format")
        verb = fmt[i]
        i += 1
        if verb == "%" and fmt[j:i] == "%%":
            out.append("%")
            size += 1
            continue
        if verb not in "sdvq":
            raise _Fail(f'printf: unsupported verb "{fmt[j:i]}" (supported: %s %d %v %q %%)')
        if used >= len(rest):
            raise _Fail(f"printf: missing argument for {fmt[j:i]}")
        piece = _format_verb(verb, rest[used], width, prec, minus, zero)
        used += 1
        out.append(piece)
        size += len(piece)
        if size > MAX_OUTPUT:
            raise _Fail(f"output of printf exceeds {MAX_OUTPUT} bytes")
    if used < len(rest):
        raise _Fail(f"printf: format uses {used} argument(s) but got {len(rest)}")
    return "".join(out)


def _f_eq(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    first = args[0]
    for other in args[1:]:
        if _type_name(first) != _type_name(other):
            raise _Fail(
                f"incompatible types for comparison: {_type_name(first)} and {_type_name(other)}"
            )
        if first == other:
            return True
    return False


def _f_ne(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return not _f_eq(args, ports)


def _f_not(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    return not _truth(args[0])


def _f_and(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    # Go returns the first false operand or the last one, not a bool.
    for arg in args:
        if not _truth(arg):
            return arg
    return args[-1]


def _f_or(args: tuple[_Value, ...], ports: Mapping[str, int]) -> _Value:
    for arg in args:
        if _truth(arg):
            return arg
    return args[-1]


class _Func(NamedTuple):
    arity: tuple[int, int | None]  # (minimum, maximum or None for variadic)
    fn: Callable[[tuple[_Value, ...], Mapping[str, int]], _Value]


_FUNCS: dict[str, _Func] = {
    "getPort": _Func((1, 1), _f_get_port),
    "default": _Func((2, 2), _f_default),
    "lower": _Func((1, 1), _f_lower),
    "upper": _Func((1, 1), _f_upper),
    "trim": _Func((1, 1), _f_trim),
    "replace": _Func((3, 3), _f_replace),
    "quote": _Func((1, None), _f_quote),
    "print": _Func((0, None), _f_print),
    "printf": _Func((1, None), _f_printf),
    "eq": _Func((2, None), _f_eq),
    "ne": _Func((2, 2), _f_ne),
    "not": _Func((1, 1), _f_not),
    "and": _Func((1, None), _f_and),
    "or": _Func((1, None), _f_or),
}
