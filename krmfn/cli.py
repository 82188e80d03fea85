"""Command line: a KRM function by default, a Helm post-renderer with --stream."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import BinaryIO, NoReturn, TextIO

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

Exit status is 1 if and only if an error result was produced; the output is written
even then, with every input item in it.

docs:    {docs}#readme
sources: {docs}/blob/main/docs/sources.md
"""

DOCS = "https://github.com/llm-d-incubation/krmfn"


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


def run(raw: bytes, stream: bool, config_text: str | None, out: BinaryIO, err: TextIO) -> int:
    from krmfn.krm.document import Mode
    from krmfn.krm.run import run as run_function
    from krmfn.processor import ModelArtifactsFunction

    mode: Mode = "stream" if stream else "resourcelist"
    outcome = run_function(ModelArtifactsFunction(), raw, mode, config_text)
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
    args = _parser().parse_args(argv)
    if args.version:
        from importlib.metadata import version

        print(f"krmfn {version('krmfn')}")
        return 0
    config_text = None
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as handle:
                config_text = handle.read()
        except OSError as exc:
            sys.stderr.write(f"[error] cannot read --config {args.config}: {exc.strerror}\n")
            return 1
    raw = (stdin or sys.stdin.buffer).read()
    return run(raw, args.stream, config_text, sys.stdout.buffer, sys.stderr)


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
