"""The functions templates may call, with the semantics of Go's builtins and Sprig's.

Each takes the evaluated arguments (a piped value last) and spec.routing.ports, and raises
TemplateError for a call it cannot serve; the parser checks names and argument counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeAlias

from krmfn.gotemplate.errors import TemplateError
from krmfn.gotemplate.limits import MAX_OUTPUT
from krmfn.gotemplate.printf import sprintf
from krmfn.gotemplate.values import Value, quote, to_text, truth, type_name

Args: TypeAlias = tuple[Value, ...]
Ports: TypeAlias = Mapping[str, int]

# Unicode White_Space, what Go's strings.TrimSpace removes; str.strip() differs (\x1c-\x1f).
_GO_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _want_str(name: str, args: Args, k: int) -> str:
    value = args[k]
    if not isinstance(value, str):
        raise TemplateError(
            f"wrong type for argument {k + 1} of {name}: want string, got {type_name(value)}"
        )
    return value


def _get_port(args: Args, ports: Ports) -> Value:
    return ports.get(_want_str("getPort", args, 0), -1)


def _default(args: Args, ports: Ports) -> Value:
    # Sprig: `default DEFAULT VALUE` is VALUE unless it is empty.
    return args[1] if truth(args[1]) else args[0]


def _lower(args: Args, ports: Ports) -> Value:
    return _want_str("lower", args, 0).lower()


def _upper(args: Args, ports: Ports) -> Value:
    return _want_str("upper", args, 0).upper()


def _trim(args: Args, ports: Ports) -> Value:
    return _want_str("trim", args, 0).strip(_GO_WHITESPACE)


def _replace(args: Args, ports: Ports) -> Value:
    old, new, s = (_want_str("replace", args, k) for k in range(3))
    # Check before building: replacing "" inserts between every character.
    if len(s) + s.count(old) * (len(new) - len(old)) > MAX_OUTPUT:
        raise TemplateError(f"output of replace exceeds {MAX_OUTPUT} bytes")
    return s.replace(old, new)


def _quote(args: Args, ports: Ports) -> Value:
    return " ".join(quote(to_text(a)) for a in args)


def _print(args: Args, ports: Ports) -> Value:
    # fmt.Sprint: a space between two operands only when neither is a string.
    out: list[str] = []
    for k, arg in enumerate(args):
        if k and not isinstance(arg, str) and not isinstance(args[k - 1], str):
            out.append(" ")
        out.append(to_text(arg))
    return "".join(out)


def _printf(args: Args, ports: Ports) -> Value:
    return sprintf(_want_str("printf", args, 0), args[1:])


def _eq(args: Args, ports: Ports) -> Value:
    first = args[0]
    for other in args[1:]:
        if type_name(first) != type_name(other):
            raise TemplateError(
                f"incompatible types for comparison: {type_name(first)} and {type_name(other)}"
            )
        if first == other:
            return True
    return False


def _ne(args: Args, ports: Ports) -> Value:
    return not _eq(args, ports)


def _not(args: Args, ports: Ports) -> Value:
    return not truth(args[0])


def _and(args: Args, ports: Ports) -> Value:
    # Go returns the first false operand or the last one, not a bool.
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(args: Args, ports: Ports) -> Value:
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


class Function(NamedTuple):
    arity: tuple[int, int | None]  # (minimum, maximum or None for variadic)
    fn: Callable[[Args, Ports], Value]


FUNCTIONS: dict[str, Function] = {
    "getPort": Function((1, 1), _get_port),
    "default": Function((2, 2), _default),
    "lower": Function((1, 1), _lower),
    "upper": Function((1, 1), _upper),
    "trim": Function((1, 1), _trim),
    "replace": Function((3, 3), _replace),
    "quote": Function((1, None), _quote),
    "print": Function((0, None), _print),
    "printf": Function((1, None), _printf),
    "eq": Function((2, None), _eq),
    "ne": Function((2, 2), _ne),
    "not": Function((1, 1), _not),
    "and": Function((1, None), _and),
    "or": Function((1, None), _or),
}
