"""Command line: a KRM function by default, a Helm post-renderer with --stream, a
preview of what either would change with `krmfn diff`, and the published schemas with
`krmfn schema`."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import TYPE_CHECKING, BinaryIO, NoReturn, TextIO

if TYPE_CHECKING:
    from pathlib import Path

    from krmfn.krm.document import Mode
    from krmfn.krm.run import Outcome

HELP = """\
Apply llm-d ModelService model artifacts to the workloads they own.
sources (spec.modelArtifacts.uri): {schemes}

modes:
  krmfn                 KRM function: a ResourceList on stdin, the ResourceList with
                        rewritten workloads and results on stdout. This is how kustomize
                        (transformers:), kpt (fn render / fn eval) and Argo CD call it.
  krmfn --stream        Helm post-renderer: a plain multi-document YAML stream on stdin
                        (as `helm install --post-renderer` sends it), the same stream with
                        rewritten workloads on stdout; results go to stderr.
  krmfn diff [FILE]     Preview: runs the function on FILE (or stdin) and prints what it
                        would change, a unified diff per item, then the results
                        (`krmfn diff --help`, docs/preview.md).
  krmfn schema          Writes the published schemas (a ModelService's JSON Schema and
                        CRD, the config object's JSON Schema) to schemas/; --check
                        compares instead (`krmfn schema --help`, docs/schema.md).

Exit status is 1 if and only if an error result was produced; the output is written
even then, with every input item in it.

docs:    {docs}#readme
sources: {docs}/blob/main/docs/sources.md
"""

DIFF_HELP = """\
Preview what krmfn would change: run the function on FILE (or stdin) as `krmfn` (or
`krmfn --stream`) would, then print a unified diff of each item it changes, adds or
drops, and the results it adds, one line each.

Exit status is 1 if an error result was produced (or the command line or a file named
in it is wrong), else 0; with --exit-code, 2 when something would change. Colours: red
removed, green added; --color=auto colours a terminal unless NO_COLOR is set.

docs: {docs}/blob/main/docs/preview.md
"""

SCHEMA_HELP = """\
Write the schemas krmfn publishes, derived from its models, to DIR (by default schemas/
of the repository krmfn runs from):
{files}
With --check, write nothing: name each file of DIR that is missing or differs from what
would be written, and exit 1 if any does.

docs: {docs}/blob/main/docs/schema.md
"""

DOCS = "https://github.com/llm-d-incubation/krmfn"


class _Unreadable(Exception):
    """A file named on the command line cannot be read; the message says which."""


class _Parser(argparse.ArgumentParser):
    """Lists the supported schemes only when help is asked for: finding them imports
    every source, which a function run does only when a ModelService needs it."""

    def format_help(self) -> str:
        from krmfn.sources import SCHEMES

        self.description = HELP.format(
            schemes=", ".join(f"{scheme}://" for scheme in SCHEMES), docs=DOCS
        )
        return super().format_help()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="krmfn",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="read and write a plain multi-document YAML stream (Helm post-renderer)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="function config file (ConfigMap or ModelArtifacts) for --stream mode",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    return parser


class _DiffParser(argparse.ArgumentParser):
    """A usage error exits 1, not argparse's 2: with --exit-code, 2 means "would change"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _diff_parser() -> argparse.ArgumentParser:
    from krmfn.diff import COLOURS

    parser = _DiffParser(
        prog="krmfn diff",
        description=DIFF_HELP.format(docs=DOCS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default="-",
        help="the ResourceList (or with --stream, the YAML stream); - or none: stdin",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="read a plain multi-document YAML stream, as `krmfn --stream` does",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="function config file (ConfigMap or ModelArtifacts) for --stream mode",
    )
    parser.add_argument(
        "--color",
        choices=COLOURS,
        default="auto",
        help="colour the preview: auto (a terminal without NO_COLOR), always or never",
    )
    parser.add_argument(
        "--exit-code",
        action="store_true",
        help="exit with status 2 when something would change (and no error)",
    )
    return parser


def _read_config(path: str | None) -> str | None:
    """The --config file's text (None without one). Raises _Unreadable."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise _Unreadable(f"cannot read --config {path}: {exc.strerror}") from None


def _outcome(raw: bytes, stream: bool, config_text: str | None) -> Outcome:
    """The function's run on `raw`, in-process."""
    from krmfn.krm.run import run as run_function
    from krmfn.processor import ModelArtifactsFunction

    mode: Mode = "stream" if stream else "resourcelist"
    return run_function(ModelArtifactsFunction(), raw, mode, config_text)


def run(raw: bytes, stream: bool, config_text: str | None, out: BinaryIO, err: TextIO) -> int:
    outcome = _outcome(raw, stream, config_text)
    out.write(outcome.output)
    out.flush()
    for line in outcome.stderr:
        err.write(line + "\n")
    return 1 if outcome.failed else 0


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None) -> int:
    # One short run over data without reference cycles to speak of: the cyclic collector
    # only costs time (full collections over the parsed input took most of a large run).
    gc.disable()
    # pydantic looks for plugins (observability hooks) in every installed distribution's
    # entry points when it builds its first model: 4 ms of each run, for hooks a function
    # run by kustomize or kpt has no use for. Set it to "" to have them loaded.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["diff"]:
        return diff(argv[1:], stdin)
    if argv[:1] == ["schema"]:
        return schema(argv[1:])
    args = _parser().parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"krmfn {version('krmfn')}")
        return 0
    try:
        config_text = _read_config(args.config)
    except _Unreadable as exc:
        sys.stderr.write(f"[error] {exc}\n")
        return 1
    raw = (stdin or sys.stdin.buffer).read()
    return run(raw, args.stream, config_text, sys.stdout.buffer, sys.stderr)


def _read_input(path: str, stdin: BinaryIO | None) -> bytes:
    """FILE's bytes, or stdin's for `-`. Raises _Unreadable."""
    if path == "-":
        return (stdin or sys.stdin.buffer).read()
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _Unreadable(f"cannot read {path}: {exc.strerror}") from None


def diff(argv: list[str], stdin: BinaryIO | None = None) -> int:
    """`krmfn diff`: the preview on stdout. Exit status 1 for an error result, else 2
    for a change with --exit-code, else 0."""
    from krmfn.diff import preview, wants_colour

    args = _diff_parser().parse_args(argv)
    try:
        config_text = _read_config(args.config)
        raw = _read_input(args.file, stdin)
    except _Unreadable as exc:
        sys.stderr.write(f"[error] {exc}\n")
        return 1
    mode: Mode = "stream" if args.stream else "resourcelist"
    shown = preview(raw, mode, _outcome(raw, args.stream, config_text))
    colour = wants_colour(args.color, sys.stdout.isatty(), os.environ)
    sys.stdout.buffer.write(shown.render(colour).encode())
    sys.stdout.buffer.flush()
    if shown.failed:
        return 1
    return 2 if args.exit_code and shown.changed else 0


def _schema_parser() -> argparse.ArgumentParser:
    from krmfn.schema import PUBLISHED_FILES

    parser = argparse.ArgumentParser(
        prog="krmfn schema",
        description=SCHEMA_HELP.format(
            files="\n".join(f"  {f}" for f in PUBLISHED_FILES), docs=DOCS
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 naming each file that is missing or differs",
    )
    parser.add_argument("--out", metavar="DIR", help="the folder (default: schemas/)")
    return parser


def _differing(out: Path, files: dict[str, str]) -> list[str]:
    """What is wrong with each file of `out` that is not as `files` has it."""
    problems = []
    for name, text in files.items():
        path = out / name
        if not path.is_file():
            problems.append(f"{path} is missing")
        elif path.read_bytes() != text.encode():
            problems.append(f"{path} differs from what `krmfn schema` writes")
    return problems


def schema(argv: list[str]) -> int:
    """`krmfn schema`: write the published schemas, or with --check, exit 1 when one
    differs from what would be written."""
    from pathlib import Path

    from krmfn.schema import SCHEMA_DIR, published

    args = _schema_parser().parse_args(argv)
    out = Path(args.out) if args.out else SCHEMA_DIR
    files = published()
    if args.check:
        problems = _differing(out, files)
        for problem in problems:
            sys.stderr.write(f"[error] {problem}; regenerate it: python -m krmfn schema\n")
        return 1 if problems else 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_bytes(text.encode())
        print(f"wrote {out / name}")
    return 0


def console() -> NoReturn:
    """The `krmfn` command and `python -m krmfn`: main(), then a hard exit."""
    try:
        code = main()
    except BrokenPipeError:
        # The reader closed its end (`krmfn | head`): say so in one line, not a traceback.
        sys.stderr.write("[error] the output could not be written: its reader closed the pipe\n")
        os._exit(1)
    # Everything is written; what is left is tearing the interpreter down, which frees
    # every object pydantic, ruamel and the input made, one by one, and runs a last full
    # collection: 17 ms of a 170 ms run. Leave without it, as mypy does (util.hard_exit).
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader went away: the output is not whole
        code = 1
    os._exit(code)


if __name__ == "__main__":
    console()
