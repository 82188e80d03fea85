"""From actions to a tree of text, outputs and ifs, checking names, arities and depth."""

from __future__ import annotations

from typing import NamedTuple, NoReturn, TypeAlias

from krmfn.gotemplate.errors import fail
from krmfn.gotemplate.functions import FUNCTIONS
from krmfn.gotemplate.lexer import SPACE, Action, Token, lex
from krmfn.gotemplate.limits import MAX_ACTIONS, MAX_DEPTH, MAX_TOKENS
from krmfn.gotemplate.values import Value


class Lit(NamedTuple):
    value: Value


class Var(NamedTuple):
    name: str


class Call(NamedTuple):
    name: str
    args: tuple[Expr, ...]
    depth: int


Expr: TypeAlias = Lit | Var | Call


class Text(NamedTuple):
    chunk: int  # index into the program's chunks


class Output(NamedTuple):
    action: int
    expr: Expr


class If(NamedTuple):
    branches: tuple[tuple[int, Expr, tuple[Node, ...]], ...]  # (action, condition, body)
    orelse: tuple[Node, ...] | None


Node: TypeAlias = Text | Output | If


class Program(NamedTuple):
    nodes: tuple[Node, ...]
    chunks: tuple[str, ...]
    actions: tuple[str, ...]
    var_refs: tuple[tuple[str, int], ...]  # (variable name, index of the action using it)
    simple: bool  # only text and literal/variable outputs: renderable without jinja2


_UNSUPPORTED_KEYWORDS = frozenset(
    {"range", "with", "define", "template", "block", "break", "continue"}
)
_CONTROL_KEYWORDS = frozenset({"if", "else", "end"})


def _check_ident(name: str, action: str) -> None:
    if name in _UNSUPPORTED_KEYWORDS:
        fail(
            f'unsupported keyword "{name}"',
            action,
            "only if, else if, else and end are supported",
        )
    if name == "nil":
        fail("nil is not supported", action)
    if name in _CONTROL_KEYWORDS:
        fail(f'unexpected keyword "{name}"', action)


class _Parser:
    """Go's pipeline grammar: command ('|' command)*, command = operand+."""

    def __init__(
        self, tokens: tuple[Token, ...], action: str, index: int, var_refs: list[tuple[str, int]]
    ) -> None:
        self.tokens = tokens
        self.pos = 0
        self.action = action
        self.index = index
        self.var_refs = var_refs

    def fail(self, what: str, hint: str = "") -> NoReturn:
        fail(what, self.action, hint)

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def at_end(self) -> bool:
        return self.pos >= len(self.tokens)

    def whole_pipeline(self) -> Expr:
        expr = self.pipeline(0)
        if not self.at_end():  # defensive: pipeline() stops only at a ")" the lexer rejects
            self.fail(f"unexpected {self.tokens[self.pos].text}")
        return expr

    def pipeline(self, parens: int) -> Expr:
        expr = self.command(None, parens)
        while (tok := self.peek()) is not None and tok.kind == "|":
            self.pos += 1
            expr = self.command(expr, parens)
        return expr

    def command(self, piped: Expr | None, parens: int) -> Expr:
        head = self.peek()
        if head is None or head.kind in ("|", ")"):
            self.fail("missing value for command")
        operands: list[Expr] = []
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

    def operand(self, parens: int) -> Expr:
        tok = self.tokens[self.pos]
        self.pos += 1
        expr: Expr
        if tok.kind in ("str", "num", "bool"):
            expr = Lit(tok.value)
        elif tok.kind == "field":
            if "." in tok.text[1:]:
                self.fail(
                    f"unsupported nested field {tok.text}",
                    "only single names like .ModelName are supported",
                )
            name = str(tok.value)
            self.var_refs.append((name, self.index))
            expr = Var(name)
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

    def call(self, name: str, args: tuple[Expr, ...]) -> Call:
        func = FUNCTIONS.get(name)
        if func is None:
            self.fail(f'unknown function "{name}"')
        low, high = func.arity
        if len(args) < low or (high is not None and len(args) > high):
            want = str(low) if low == high else f"at least {low}"
            self.fail(f"wrong number of arguments for {name}: want {want}, got {len(args)}")
        depth = 1 + max((a.depth for a in args if isinstance(a, Call)), default=0)
        if depth > MAX_DEPTH:
            self.fail(f"nesting deeper than {MAX_DEPTH} levels")
        return Call(name, args, depth)


class _Frame:
    """An `if` being parsed: its branches so far and the body that actions go into."""

    __slots__ = ("action", "body", "branches", "orelse")

    def __init__(self, action: int, branch: tuple[int, Expr, list[Node]]) -> None:
        self.action = action
        self.branches = [branch]
        self.orelse: list[Node] | None = None
        self.body = branch[2]

    def close(self) -> If:
        return If(
            tuple((a, cond, tuple(body)) for a, cond, body in self.branches),
            None if self.orelse is None else tuple(self.orelse),
        )


def _trimmed(text: str) -> list[str | Action]:
    """lex(text) with the white space that trim markers remove taken off the text items."""
    items = lex(text)
    for k in range(1, len(items), 2):
        action = items[k]
        assert isinstance(action, Action)
        before, after = items[k - 1], items[k + 1]
        assert isinstance(before, str) and isinstance(after, str)
        if action.trim_left:
            items[k - 1] = before.rstrip(SPACE)
        if action.trim_right:
            items[k + 1] = after.lstrip(SPACE)
    return items


def parse(text: str) -> Program:
    """The program for text; raises TemplateError for anything it does not support."""
    items = _trimmed(text)
    chunks: list[str] = []
    actions: list[str] = []
    var_refs: list[tuple[str, int]] = []
    root: list[Node] = []
    stack: list[_Frame] = []
    simple = True
    for item in items:
        body = stack[-1].body if stack else root
        if isinstance(item, str):
            if item:
                body.append(Text(len(chunks)))
                chunks.append(item)
            continue
        if item.comment:
            continue
        index = len(actions)
        actions.append(item.raw)
        parser = _Parser(item.tokens, item.raw, index, var_refs)
        first = parser.peek()
        keyword = first.text if first is not None and first.kind == "ident" else ""
        if keyword == "if":
            parser.pos += 1
            if parser.at_end():
                parser.fail("missing condition")
            if len(stack) >= MAX_DEPTH:
                parser.fail(f"nesting deeper than {MAX_DEPTH} levels")
            cond = parser.whole_pipeline()
            branch: list[Node] = []
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
                cond = parser.whole_pipeline()
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
            node = stack.pop().close()
            (stack[-1].body if stack else root).append(node)
        else:
            expr = parser.whole_pipeline()
            if not isinstance(expr, Lit | Var):
                simple = False
            body.append(Output(index, expr))
    if stack:
        fail("if without end", actions[stack[-1].action])
    if not simple:
        if len(actions) > MAX_ACTIONS:
            fail(f"too many actions in one string: more than {MAX_ACTIONS}", "")
        tokens = sum(len(item.tokens) for item in items if isinstance(item, Action))
        if tokens > MAX_TOKENS:
            fail(f"too many operands in one string: more than {MAX_TOKENS}", "")
    return Program(tuple(root), tuple(chunks), tuple(actions), tuple(var_refs), simple)
