"""The subset of Go's fmt.Sprintf that templates may use: %s %d %v %q %% with - and 0 flags."""

from __future__ import annotations

from krmfn.gotemplate.errors import TemplateError
from krmfn.gotemplate.limits import MAX_OUTPUT, MAX_WIDTH
from krmfn.gotemplate.literals import is_digit
from krmfn.gotemplate.values import Value, quote, to_text, type_name


def sprintf(fmt: str, args: tuple[Value, ...]) -> str:
    # Go's Sprintf writes "%!d(string=x)" into the output on a bad verb or argument;
    # here every such mistake is an error instead.
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
                raise TemplateError(f'printf: unsupported flag "{fmt[i]}"')
            i += 1
        k = i
        while k < n and is_digit(fmt[k]):
            k += 1
        width = _bounded("width", fmt[i:k]) if k > i else None
        i = k
        prec = None
        if i < n and fmt[i] == ".":
            k = i = i + 1
            while k < n and is_digit(fmt[k]):
                k += 1
            prec = _bounded("precision", fmt[i:k]) if k > i else 0
            i = k
        if i >= n:
            raise TemplateError("printf: incomplete verb at end of format")
        verb = fmt[i]
        i += 1
        if verb == "%" and fmt[j:i] == "%%":
            out.append("%")
            size += 1
            continue
        if verb not in "sdvq":
            raise TemplateError(
                f'printf: unsupported verb "{fmt[j:i]}" (supported: %s %d %v %q %%)'
            )
        if used >= len(args):
            raise TemplateError(f"printf: missing argument for {fmt[j:i]}")
        piece = _format_verb(verb, args[used], width, prec, minus, zero)
        used += 1
        out.append(piece)
        size += len(piece)
        if size > MAX_OUTPUT:
            raise TemplateError(f"output of printf exceeds {MAX_OUTPUT} bytes")
    if used < len(args):
        raise TemplateError(f"printf: format uses {used} argument(s) but got {len(args)}")
    return "".join(out)


def _bounded(what: str, digits: str) -> int:
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(MAX_WIDTH)) or int(significant) > MAX_WIDTH:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise TemplateError(f"printf: {what} {shown} exceeds {MAX_WIDTH}")
    return int(significant)


def _pad(s: str, width: int | None, left: bool) -> str:
    if width is None or len(s) >= width:
        return s
    return s.ljust(width) if left else s.rjust(width)


def _format_verb(
    verb: str, arg: Value, width: int | None, prec: int | None, minus: bool, zero: bool
) -> str:
    is_int = isinstance(arg, int) and not isinstance(arg, bool)
    if verb == "d" or (verb == "v" and is_int):
        if not is_int:
            raise TemplateError(f"printf: %d needs an integer, got {type_name(arg)}")
        assert isinstance(arg, int)
        digits = str(abs(arg))
        if prec is not None:
            digits = "" if prec == 0 and arg == 0 else digits.rjust(prec, "0")
        elif zero and not minus and width is not None:
            digits = digits.rjust(width - (arg < 0), "0")
        return _pad(("-" if arg < 0 else "") + digits, width, minus)
    if zero:
        raise TemplateError("printf: the 0 flag needs an integer argument")
    if verb == "v" and not isinstance(arg, str):
        if isinstance(arg, float) and prec is not None:
            raise TemplateError("printf: precision is not supported for float64 values")
        return _pad(to_text(arg), width, minus)
    if not isinstance(arg, str):
        raise TemplateError(f"printf: %{verb} needs a string, got {type_name(arg)}")
    s = arg if prec is None else arg[:prec]
    return _pad(quote(s) if verb == "q" else s, width, minus)
