"""`krmfn diff`: a unified diff of each item a run changes, adds or drops, then the results
it adds; exit status 1 for an error, 2 with --exit-code for a change, else 0; colour on a
terminal without NO_COLOR, or with --color=always. Outputs are asserted whole."""

from __future__ import annotations

import gc
import io
import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from krmfn.cli import main
from krmfn.diff import Entry, Line, Preview, item_diff, pair_items, wants_colour

ROOT = Path(__file__).resolve().parent.parent
KRMFN = Path(sys.executable).parent / "krmfn"

SMALL_LIST = b"""\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: llm-d.ai/v1alpha1
  kind: ModelService
  metadata:
    name: opt
  spec:
    routing:
      modelName: opt
    modelArtifacts:
      uri: pvc://models/opt-125m
    decode:
      containers:
      - name: vllm
        mountModelVolume: true
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: opt-decode  # the decode workload
  spec:
    template:
      spec:
        containers:
        - name: vllm
          image: vllm/vllm-openai:v0.8.5
"""

SMALL_LIST_DIFF = """\
--- a/apps/v1/Deployment/opt-decode
+++ b/apps/v1/Deployment/opt-decode
@@ -2,9 +2,34 @@
 kind: Deployment
 metadata:
   name: opt-decode  # the decode workload
+  labels:
+    llm-d.ai/inference-serving: "true"
+    llm-d.ai/model: opt
+    llm-d.ai/role: decode
+  annotations:
+    krmfn.llm-d.ai/applied: |-
+      v2 opt decode +annotations
+      merge metadata.labels llm-d.ai/inference-serving,llm-d.ai/model,llm-d.ai/role 01cff3 ^1
+      add spec.template.spec.volumes[name=model-storage] ce6ed3 ^1
+      add spec.template.spec.containers[name=vllm].volumeMounts[name=model-storage] 23ef82 ^1
+      merge spec.template.metadata.labels llm-d.ai/inference-serving,llm-d.ai/model,llm-d.ai/role 01cff3 ^2
 spec:
   template:
+    metadata:
+      labels:
+        llm-d.ai/inference-serving: "true"
+        llm-d.ai/model: opt
+        llm-d.ai/role: decode
     spec:
       containers:
       - name: vllm
         image: vllm/vllm-openai:v0.8.5
+        volumeMounts:
+        - name: model-storage
+          mountPath: /model-cache
+          readOnly: true
+      volumes:
+      - name: model-storage
+        persistentVolumeClaim:
+          claimName: models
+          readOnly: true
[info] llm-d.ai/v1alpha1/ModelService/opt: applied pvc://models/opt-125m (read-only PersistentVolumeClaim models) to Deployment opt-decode (decode, by name)
"""

NOTHING_TO_DO = b"""\
apiVersion: config.kubernetes.io/v1
kind: ResourceList
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
"""

# A stream as Helm sends it: the local-config ConfigMap is the function's input and is
# dropped from the output; the Service is unchanged.
STREAM = b"""\
# Source: chart/templates/values.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: values
  annotations:
    config.kubernetes.io/local-config: "true"
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""

STREAM_DIFF = """\
--- a/v1/ConfigMap/values
+++ /dev/null
@@ -1,6 +0,0 @@
-apiVersion: v1
-kind: ConfigMap
-metadata:
-  name: values
-  annotations:
-    config.kubernetes.io/local-config: "true"
"""

# A local-config ModelService with no role: dropped from the stream, with a warning.
WARNING_STREAM = b"""\
apiVersion: llm-d.ai/v1alpha1
kind: ModelService
metadata:
  name: opt
  annotations:
    config.kubernetes.io/local-config: "true"
spec:
  routing:
    modelName: opt
  modelArtifacts:
    uri: pvc://models/opt
---
apiVersion: v1
kind: Service
metadata:
  name: web
"""

BOLD, CYAN, RED, GREEN, YELLOW, RESET = (
    "\x1b[1m",
    "\x1b[36m",
    "\x1b[31m",
    "\x1b[32m",
    "\x1b[33m",
    "\x1b[0m",
)

WARNING_STREAM_COLOURED = f"""\
{BOLD}--- a/llm-d.ai/v1alpha1/ModelService/opt{RESET}
{BOLD}+++ /dev/null{RESET}
{CYAN}@@ -1,11 +0,0 @@{RESET}
{RED}-apiVersion: llm-d.ai/v1alpha1{RESET}
{RED}-kind: ModelService{RESET}
{RED}-metadata:{RESET}
{RED}-  name: opt{RESET}
{RED}-  annotations:{RESET}
{RED}-    config.kubernetes.io/local-config: "true"{RESET}
{RED}-spec:{RESET}
{RED}-  routing:{RESET}
{RED}-    modelName: opt{RESET}
{RED}-  modelArtifacts:{RESET}
{RED}-    uri: pvc://models/opt{RESET}
{YELLOW}[warning] llm-d.ai/v1alpha1/ModelService/opt: has neither a decode nor a prefill role: nothing to apply{RESET}
"""
WARNING_STREAM_PLAIN = re.sub(r"\x1b\[[0-9]+m", "", WARNING_STREAM_COLOURED)


@pytest.fixture(autouse=True)
def _main_leaves_the_process_as_it_was(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """main() turns the cyclic collector off and sets an environment variable, for a
    short-lived process: give the test process both back."""
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield
    gc.enable()


def run_diff(capsys: pytest.CaptureFixture[str], args: list[str], data: bytes) -> tuple[int, str]:
    """`krmfn diff ARGS` in-process with `data` on stdin: exit status and stdout; stderr
    must be empty."""
    status = main(["diff", *args], stdin=io.BytesIO(data))
    captured = capsys.readouterr()
    assert captured.err == ""
    return status, captured.out


def test_a_list_shows_each_changed_item_with_its_own_text_then_the_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The ModelService is unchanged and not shown; the Deployment's comment is kept.
    assert run_diff(capsys, [], SMALL_LIST) == (0, SMALL_LIST_DIFF)


def test_the_demo_example_diffs_its_two_deployments(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = run_diff(capsys, [str(ROOT / "examples" / "demo.yaml")], b"")
    headers = [line for line in out.splitlines() if line.startswith(("--- ", "+++ "))]
    assert (status, headers) == (
        0,
        [
            "--- a/apps/v1/Deployment/serving/opt-decode",
            "+++ b/apps/v1/Deployment/serving/opt-decode",
            "--- a/apps/v1/Deployment/serving/opt-prefill",
            "+++ b/apps/v1/Deployment/serving/opt-prefill",
        ],
    )


def test_a_file_argument_and_dash_for_stdin_read_the_same(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "list.yaml"
    path.write_bytes(SMALL_LIST)
    assert run_diff(capsys, [str(path)], b"") == (0, SMALL_LIST_DIFF)
    assert run_diff(capsys, ["-"], SMALL_LIST) == (0, SMALL_LIST_DIFF)


def test_crlf_input_shows_the_same_diff(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_diff(capsys, [], SMALL_LIST.replace(b"\n", b"\r\n")) == (0, SMALL_LIST_DIFF)


def test_an_input_with_nothing_to_change_prints_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_diff(capsys, [], NOTHING_TO_DO) == (0, "")
    assert run_diff(capsys, ["--exit-code"], NOTHING_TO_DO) == (0, "")


def test_an_error_result_exits_1_and_is_shown(capsys: pytest.CaptureFixture[str]) -> None:
    without_routing = SMALL_LIST.replace(b"    routing:\n      modelName: opt\n", b"")
    assert run_diff(capsys, ["--exit-code"], without_routing) == (
        1,
        "[error] llm-d.ai/v1alpha1/ModelService/opt spec.routing: is required\n",
    )


def test_unreadable_input_shows_the_error_krmfn_gives(capsys: pytest.CaptureFixture[str]) -> None:
    broken = b"apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems: [\n"
    assert run_diff(capsys, [], broken) == (
        1,
        "[error] input is not valid YAML at line 4, column 1: did not find expected node content\n",
    )
    assert run_diff(capsys, [], b"\xff") == (1, "[error] input is not UTF-8: byte 0 is invalid\n")


def test_a_file_that_cannot_be_read_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.yaml"
    assert main(["diff", str(missing)]) == 1
    assert capsys.readouterr() == (
        "",
        f"[error] cannot read {missing}: No such file or directory\n",
    )
    assert main(["diff", "--stream", "--config", str(missing)], io.BytesIO(STREAM)) == 1
    assert capsys.readouterr() == (
        "",
        f"[error] cannot read --config {missing}: No such file or directory\n",
    )


def test_a_usage_error_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["diff", "--color=sometimes"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "krmfn diff: error: argument --color: invalid choice: 'sometimes'"
        " (choose from 'auto', 'always', 'never')"
    )


def test_a_stream_shows_a_dropped_item_as_removed(capsys: pytest.CaptureFixture[str]) -> None:
    # The `# Source:` comment is before the item, not part of it; the Service is the same.
    assert run_diff(capsys, ["--stream"], STREAM) == (0, STREAM_DIFF)


def test_exit_code_makes_a_change_exit_2_and_no_change_exit_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_diff(capsys, ["--exit-code"], SMALL_LIST) == (2, SMALL_LIST_DIFF)
    # krmfn's own output has nothing left to change: only the run's result is shown.
    main([], io.BytesIO(SMALL_LIST))
    rendered = capsys.readouterr().out.encode()
    assert run_diff(capsys, ["--exit-code"], rendered) == (
        0,
        SMALL_LIST_DIFF.splitlines()[-1] + "\n",
    )


def test_color_always_paints_headers_hunks_lines_and_results(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_diff(capsys, ["--stream", "--color=always"], WARNING_STREAM) == (
        0,
        WARNING_STREAM_COLOURED,
    )


def test_no_color_with_auto_on_a_pipe_is_plain(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    assert run_diff(capsys, ["--stream"], WARNING_STREAM) == (0, WARNING_STREAM_PLAIN)
    assert run_diff(capsys, ["--stream", "--color=never"], WARNING_STREAM) == (
        0,
        WARNING_STREAM_PLAIN,
    )
    # NO_COLOR only changes auto: asked for, colour is given.
    assert run_diff(capsys, ["--stream", "--color=always"], WARNING_STREAM) == (
        0,
        WARNING_STREAM_COLOURED,
    )


@pytest.mark.parametrize(
    ("choice", "is_tty", "environ", "coloured"),
    [
        ("auto", True, {}, True),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: empty is unset
        ("auto", False, {}, False),
        ("always", False, {"NO_COLOR": "1"}, True),
        ("never", True, {}, False),
    ],
)
def test_when_colour_is_used(
    choice: str, is_tty: bool, environ: dict[str, str], coloured: bool
) -> None:
    assert wants_colour(choice, is_tty, environ) is coloured  # type: ignore[arg-type]


def test_every_kind_of_line_has_its_colour() -> None:
    lines = [
        Line("header", "--- a/x"),
        Line("hunk", "@@ -1 +1 @@"),
        Line("context", " same"),
        Line("removed", "-old"),
        Line("added", "+new"),
        Line("error", "[error] e"),
        Line("warning", "[warning] w"),
        Line("info", "[info] i"),
    ]
    assert Preview(lines, True, False).render(colour=True) == (
        f"{BOLD}--- a/x{RESET}\n{CYAN}@@ -1 +1 @@{RESET}\n same\n{RED}-old{RESET}\n"
        f"{GREEN}+new{RESET}\n{RED}[error] e{RESET}\n{YELLOW}[warning] w{RESET}\n[info] i\n"
    )
    assert Preview(lines, True, False).render(colour=False) == "".join(
        line.text + "\n" for line in lines
    )


def entry(name: str, text: str, kind: str = "Job") -> Entry:
    return Entry(("batch/v1", kind, "ns", name), f"batch/v1/{kind}/ns/{name}", text)


def test_a_generated_item_is_all_added_and_a_dropped_one_all_removed() -> None:
    job = entry("prefetch", "kind: Job\nmetadata:\n  name: prefetch")
    assert [line.text for line in item_diff(None, job)] == [
        "--- /dev/null",
        "+++ b/batch/v1/Job/ns/prefetch",
        "@@ -0,0 +1,3 @@",
        "+kind: Job",
        "+metadata:",
        "+  name: prefetch",
    ]
    assert [line.kind for line in item_diff(job, None)] == ["header", "header", "hunk"] + [
        "removed"
    ] * 3
    assert item_diff(job, job) == []


def test_items_pair_by_identity_in_output_order_then_the_dropped() -> None:
    a, b, c = entry("a", "1"), entry("b", "2"), entry("c", "3")
    a2, new = entry("a", "1'"), entry("d", "4")
    assert pair_items([a, b, c], [b, new, a2]) == [(b, b), (None, new), (a, a2), (c, None)]
    # Two items of one identity pair in order.
    first, second = entry("x", "first"), entry("x", "second")
    assert pair_items([first, second], [first, second]) == [(first, first), (second, second)]


def test_help_names_the_preview(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "  krmfn diff [FILE]     Preview: " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["diff", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: krmfn diff [-h] [--stream] [--config FILE]")
    assert "docs/preview.md" in out


@pytest.fixture
def krmfn_executable() -> Path:
    if not KRMFN.is_file():
        pytest.skip(f"no krmfn executable beside {sys.executable}: pip install -e .")
    return KRMFN


def test_the_krmfn_executable_prints_what_main_prints(
    krmfn_executable: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.run(
        [krmfn_executable, "diff", "--exit-code", "-"],
        input=SMALL_LIST,
        capture_output=True,
        check=False,
        env={**os.environ, "NO_COLOR": ""},
    )
    assert (proc.returncode, proc.stdout.decode(), proc.stderr) == (2, SMALL_LIST_DIFF, b"")


def _on_a_terminal(executable: Path, environ: dict[str, str]) -> str:
    """What `krmfn diff --stream` writes with a pseudo-terminal as its stdout."""
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [executable, "diff", "--stream"],
            input=WARNING_STREAM,
            stdout=terminal,
            stderr=subprocess.PIPE,
            check=True,
            env=environ,
        )
        os.close(terminal)
        assert proc.stderr == b""
        chunks = []
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal side is closed: all is read
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(controller)
    # The terminal turns each line feed into CR LF.
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_auto_colours_a_terminal_unless_no_color_is_set(krmfn_executable: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    assert _on_a_terminal(krmfn_executable, environ) == WARNING_STREAM_COLOURED
    plain = _on_a_terminal(krmfn_executable, {**environ, "NO_COLOR": "1"})
    assert plain == WARNING_STREAM_PLAIN
