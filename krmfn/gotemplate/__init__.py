"""Go-template actions in vLLM arguments, rendered in a jinja2 sandbox.

llm-d users already write Go-template actions in their ModelService command, args and env
values (`{{ .HFModelName }}`, `{{ "metrics" | getPort }}`, `{{ if .X }}..{{ end }}`).
This package lexes and parses the subset of Go's text/template those fields need (literals,
`.Name` variables, pipelines, parentheses, comments, trim markers, if/else if/else/end;
getPort, default, lower, upper, trim, replace, quote, print, printf, eq, ne, not, and,
or), keeping Go's semantics (truthiness, `print` spacing, pipelines passing the value as
the last argument), and executes it as jinja2 source in a `SandboxedEnvironment`.

Why the sandbox is safe: user text never becomes jinja syntax. Text between actions is
passed in as data and string literals are re-emitted with every character outside a small
safe set escaped. Variables and functions are checked while parsing, so a typo fails even
in an `if` branch that is not taken. There are no loops, and nesting depth, action and
operand counts are capped, so rendering time is bounded; every function result and the
whole output are capped at MAX_OUTPUT bytes.

jinja2 is imported lazily: templates made only of text, variables, literals and comments
(the common `{{ .ModelPath }}` case) are rendered directly, because importing jinja2 costs
start-up time on every function invocation.

Modules: `lexer` (actions and tokens, with `literals` for Go's quoting and numbers),
`parser` (the tree, with every check), `functions` (with `printf` and `values`: Go's
formatting), `compiler` (jinja2 source and sandbox), `runtime` (one render), `errors`,
`limits`.
"""

from __future__ import annotations

from collections.abc import Mapping

from krmfn.gotemplate.errors import TemplateError
from krmfn.gotemplate.limits import MAX_OUTPUT

__all__ = ["MAX_OUTPUT", "TemplateError", "has_actions", "render"]


def has_actions(text: str) -> bool:
    """True iff text holds a Go-template action delimiter."""
    return "{{" in text


def render(text: str, variables: Mapping[str, str], ports: Mapping[str, int]) -> str:
    """Render the Go-template actions in text.

    variables: the template variable names (ModelName, HFModelName, ...) -> values.
    ports: spec.routing.ports name -> port, for getPort (-1 if the name is unknown).
    Text without actions is returned as is (the same object). Raises TemplateError.
    """
    if not has_actions(text):
        return text
    # Most strings have no actions: importing this package costs two small modules, and
    # the lexer, parser and functions load with the first string that has one.
    from krmfn.gotemplate.runtime import render_actions

    return render_actions(text, variables, ports)
