"""Rendering a parsed template: variables, function calls and the output size cap."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from krmfn.gotemplate import compiler
from krmfn.gotemplate.errors import TemplateError, error
from krmfn.gotemplate.functions import FUNCTIONS
from krmfn.gotemplate.limits import MAX_OUTPUT
from krmfn.gotemplate.parser import Lit, Node, Output, Program, Text, Var, parse
from krmfn.gotemplate.values import Value, to_text


def render_actions(text: str, variables: Mapping[str, str], ports: Mapping[str, int]) -> str:
    """render() for a text that has actions."""
    program, source = _prepare(text)
    for name, index in program.var_refs:
        if name not in variables:
            known = ", ".join(sorted(variables))
            raise error(
                f"unknown variable .{name}", program.actions[index], f"known variables: {known}"
            )
    runtime = Runtime(program, variables, ports)
    if program.simple:
        return "".join(runtime.simple_node(node) for node in program.nodes)
    try:
        return compiler.run(source, runtime)
    except TemplateError:
        raise
    except Exception as exc:  # the contract is "never a traceback", even for our own bugs
        raise TemplateError(
            f"internal error rendering template: {type(exc).__name__}: {exc}"
        ) from None


# The same args render for every workload a ModelService targets.
@functools.lru_cache(maxsize=1024)
def _prepare(text: str) -> tuple[Program, str]:
    """The program and its jinja2 source ("" when it renders without jinja2)."""
    program = parse(text)
    return program, "" if program.simple else compiler.generate(program.nodes)


def _utf8_len(s: str) -> int:
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _too_big(s: str) -> bool:
    return len(s) > MAX_OUTPUT or (len(s) * 4 > MAX_OUTPUT and _utf8_len(s) > MAX_OUTPUT)


class Runtime:
    """One render: the functions the generated jinja source calls back into."""

    __slots__ = ("_actions", "_chunks", "_ports", "_size", "_variables")

    def __init__(
        self, program: Program, variables: Mapping[str, str], ports: Mapping[str, int]
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
            raise error(f"rendered output exceeds {MAX_OUTPUT} bytes", action)
        return s

    def text(self, index: int) -> str:
        return self._grow(self._chunks[index], "")

    def out(self, action: int, value: Value) -> str:
        return self._grow(to_text(value), self._actions[action])

    def var(self, name: str) -> str:
        return self._variables[name]

    def call(self, name: str, action: int, *args: Value) -> Value:
        try:
            result = FUNCTIONS[name].fn(args, self._ports)
            if isinstance(result, str) and _too_big(result):
                raise TemplateError(f"output of {name} exceeds {MAX_OUTPUT} bytes")
        except TemplateError as exc:
            if exc.action:
                raise
            raise error(exc.message, self._actions[action]) from None
        return result

    def simple_node(self, node: Node) -> str:
        """A node of a simple program (text, or a literal or variable output) without jinja2."""
        if isinstance(node, Text):
            return self.text(node.chunk)
        assert isinstance(node, Output)
        expr = node.expr
        if isinstance(expr, Var):
            return self.out(node.action, self.var(expr.name))
        assert isinstance(expr, Lit)
        return self.out(node.action, expr.value)
