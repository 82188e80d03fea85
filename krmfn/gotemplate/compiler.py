"""Programs as jinja2 source, compiled and run in a SandboxedEnvironment.

The source only calls back into the Runtime: `_text(i)` for text, `_out(action, value)` for
an output, `_var(name)`, `_call(name, action, *args)` and `_truth(value)`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from krmfn.gotemplate.parser import Call, Expr, Node, Output, Text, Var
from krmfn.gotemplate.values import truth

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

    from krmfn.gotemplate.runtime import Runtime

# Characters that may appear unescaped in an emitted jinja string literal: none of them
# can end the literal, start an escape or form jinja delimiters.
_JINJA_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-./:,=+@")


def generate(nodes: tuple[Node, ...]) -> str:
    return "".join(_gen_nodes(nodes))


def run(source: str, runtime: Runtime) -> str:
    result: str = _compile(source).render(
        _text=runtime.text,
        _out=runtime.out,
        _var=runtime.var,
        _call=runtime.call,
        _truth=truth,
    )
    return result


def _jinja_str(s: str) -> str:
    # jinja2 decodes string literals with "unicode-escape", so \UXXXXXXXX reaches any
    # code point without handing the user's characters to jinja's lexer.
    return "'" + "".join(c if c in _JINJA_SAFE else f"\\U{ord(c):08x}" for c in s) + "'"


def _gen_expr(expr: Expr, action: int) -> str:
    if isinstance(expr, Var):
        return f"_var({_jinja_str(expr.name)})"
    if isinstance(expr, Call):
        args = "".join(f", {_gen_expr(a, action)}" for a in expr.args)
        return f"_call({_jinja_str(expr.name)}, {action}{args})"
    value = expr.value
    if isinstance(value, str):
        return _jinja_str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    # repr round-trips exactly; parenthesised so a sign is never glued to a neighbour.
    return f"({value!r})"


def _gen_nodes(nodes: tuple[Node, ...]) -> list[str]:
    # No literal text in the output: jinja2 would print any, so everything goes through
    # {{ }} and the generated source never contains user-controlled template syntax.
    out: list[str] = []
    for node in nodes:
        if isinstance(node, Text):
            out.append(f"{{{{ _text({node.chunk}) }}}}")
        elif isinstance(node, Output):
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


# Keyed by source, which holds no text between actions: strings of the same shape share one.
@functools.lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _environment().from_string(source)
