"""The `vllm` stand-in's LoRA and compile cache, run as a plain program on folders made
here: the command lines and adapters vLLM takes and refuses, with its exit statuses
(argparse's 2 for a command line, 1 for what fails to load) and error lines, and exactly
what the report says it loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from safetensors.numpy import load

from tests.runtime.models import HIDDEN, tensor_digests, tiny_adapter, tiny_model
from tests.runtime.pods import STANDIN_BIN

STANDIN = STANDIN_BIN / "vllm"
BASE = "test/tiny"
A = tiny_adapter(21, BASE)
B = tiny_adapter(22, BASE)
RANKS = "1, 8, 16, 32, 64, 128, 256, 320, 512"


@dataclass
class Served:
    code: int
    errors: list[str]
    report: dict[str, Any] | None


def put(folder: Path, files: dict[str, bytes]) -> Path:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


@pytest.fixture
def model(tmp_path: Path) -> str:
    return str(put(tmp_path / "model", tiny_model(1)))


def serve(tmp_path: Path, *args: str, pod: str = "pod-a", **env: str) -> Served:
    """`vllm serve ARGS` as a pod would run it: HOME, TMPDIR and USER of the test's own."""
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    (tmp_path / "tmp").mkdir(exist_ok=True)
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "USER": "tester",
        "HOSTNAME": pod,
        "KRMFN_STANDIN_REPORT": str(report),
        **env,
    }
    done = subprocess.run(
        [sys.executable, str(STANDIN), "serve", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    loaded = json.loads(report.read_text()) if report.exists() else None
    return Served(done.returncode, done.stderr.splitlines(), loaded)


def error(message: str) -> list[str]:
    return [f"vllm (stand-in): error: {message}"]


def module(name: str, path: Path, files: dict[str, bytes], base: str | None = None) -> Any:
    return {"name": name, "path": str(path), "base_model_name": base, "tensors": digests(files)}


def digests(files: dict[str, bytes]) -> dict[str, str]:
    return tensor_digests(files)


def lora(**fields: Any) -> dict[str, Any]:
    """The report's `lora` of a run: LoRA off, nothing loaded, unless `fields` say so."""
    out: dict[str, Any] = {
        "enabled": False,
        "max_rank": 16,
        "max_loras": 1,
        "modules": [],
        "resolver": None,
    }
    return {**out, **fields}


def spec(name: str, path: Path, base: str | None = None) -> str:
    fields = {"name": name, "path": str(path), **({"base_model_name": base} if base else {})}
    return json.dumps(fields)


# -- the adapters the tests make --------------------------------------------------------


def test_tiny_adapters_of_two_seeds_differ() -> None:
    assert tiny_adapter(21, BASE) == A
    assert digests(A) != digests(B)
    assert set(digests(A)) == set(digests(B))
    config = json.loads(A["adapter_config.json"])
    assert config["peft_type"] == "LORA"
    assert config["r"] == 8
    assert config["base_model_name_or_path"] == BASE
    assert config["target_modules"] == ["q_proj", "v_proj"]
    shapes = {n: t.shape for n, t in load(A["adapter_model.safetensors"]).items()}
    prefix = "base_model.model.model.layers.0.self_attn"
    assert shapes == {
        f"{prefix}.{m}.lora_{ab}.weight": (8, HIDDEN) if ab == "A" else (HIDDEN, 8)
        for m in ("q_proj", "v_proj")
        for ab in "AB"
    }
    wide = tiny_adapter(21, BASE, rank=32)
    assert json.loads(wide["adapter_config.json"])["r"] == 32
    assert load(wide["adapter_model.safetensors"])[f"{prefix}.q_proj.lora_A.weight"].shape == (
        32,
        HIDDEN,
    )


# -- --lora-modules ----------------------------------------------------------------------


def test_lora_modules_in_both_forms(tmp_path: Path, model: str) -> None:
    a, b = put(tmp_path / "a", A), put(tmp_path / "b", B)
    served = serve(
        tmp_path,
        model,
        "--lora-modules",
        f"sql={a}",
        spec("chat", b, BASE),
        "--enable-lora",
        "--max-lora-rank=8",
        "--max-loras",
        "2",
    )
    assert (served.code, served.errors) == (0, [])
    assert served.report is not None
    assert served.report["lora"] == lora(
        enabled=True,
        max_rank=8,
        max_loras=2,
        modules=[module("sql", a, A), module("chat", b, B, BASE)],
    )
    assert served.report["options"]["--lora-modules"] == [f"sql={a}", spec("chat", b, BASE)]
    assert served.report["tensors"] == digests(tiny_model(1))


def test_lora_modules_end_at_the_next_option(tmp_path: Path, model: str) -> None:
    a, b = put(tmp_path / "a", A), put(tmp_path / "b", B)
    served = serve(
        tmp_path, model, "--lora-modules", f"a={a}", f"b={b}", "--enable-lora", "--port", "8000"
    )
    assert served.code == 0, served.errors
    assert served.report is not None
    assert [m["name"] for m in served.report["lora"]["modules"]] == ["a", "b"]
    assert served.report["options"]["--port"] == "8000"


def test_lora_modules_with_equals_is_one_value(tmp_path: Path, model: str) -> None:
    a, b = put(tmp_path / "a", A), put(tmp_path / "b", B)
    served = serve(tmp_path, model, f"--lora-modules=a={a}", f"b={b}", "--enable-lora")
    assert (served.code, served.errors) == (2, error(f"unrecognized arguments: b={b}"))


def test_a_second_lora_modules_replaces_the_first(tmp_path: Path, model: str) -> None:
    a, b = put(tmp_path / "a", A), put(tmp_path / "b", B)
    served = serve(
        tmp_path,
        model,
        "--lora-modules",
        spec("a", a),
        "--enable-lora",
        "--lora-modules",
        spec("b", b),
    )
    assert served.code == 0, served.errors
    assert served.report is not None
    assert served.report["lora"]["modules"] == [module("b", b, B)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            '{"name": "a", "path": ',
            'Invalid JSON format for --lora-modules: {"name": "a", "path": ',
        ),
        (
            '{"name": "a", "base_model_name": "test/tiny"}',
            'Invalid fields for --lora-modules: {"name": "a", "base_model_name": "test/tiny"} - LoRAModulePath.__init__() missing 1 required positional argument: \'path\'',
        ),
        (
            '{"path": "/adapters/a", "rank": 8}',
            'Invalid fields for --lora-modules: {"path": "/adapters/a", "rank": 8} - LoRAModulePath.__init__() got an unexpected keyword argument \'rank\'',
        ),
    ],
)
def test_lora_modules_vllm_cannot_parse(
    tmp_path: Path, model: str, value: str, message: str
) -> None:
    served = serve(tmp_path, model, "--lora-modules", value, "--enable-lora")
    assert (served.code, served.errors, served.report) == (2, error(message), None)


def test_lora_modules_without_a_value(tmp_path: Path, model: str) -> None:
    served = serve(tmp_path, model, "--lora-modules", "--enable-lora")
    assert (served.code, served.errors) == (
        2,
        error("argument --lora-modules: expected at least one argument"),
    )


def test_lora_modules_need_enable_lora(tmp_path: Path, model: str) -> None:
    a = put(tmp_path / "a", A)
    served = serve(tmp_path, model, "--lora-modules", f"a={a}", "--max-lora-rank", "8")
    assert (served.code, served.errors, served.report) == (
        1,
        error("LoRA is not enabled. Use --enable-lora to enable LoRA."),
        None,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["--max-lora-rank", "7"],
            2,
            f"argument --max-lora-rank: invalid choice: 7 (choose from {RANKS})",
        ),
        (["--max-lora-rank=eight"], 2, "argument --max-lora-rank: invalid int value: 'eight'"),
        (["--max-loras", "two"], 2, "argument --max-loras: invalid int value: 'two'"),
        (
            ["--max-loras", "0"],
            1,
            "LoRAConfig: max_loras: Input should be greater than or equal to 1 (got 0)",
        ),
    ],
)
def test_lora_limits_vllm_refuses(
    tmp_path: Path, model: str, args: list[str], code: int, message: str
) -> None:
    served = serve(tmp_path, model, "--enable-lora", *args)
    assert (served.code, served.errors) == (code, error(message))


def test_lora_defaults(tmp_path: Path, model: str) -> None:
    served = serve(tmp_path, model, "--enable-lora")
    assert served.report is not None
    assert served.report["lora"] == lora(enabled=True)
    served = serve(tmp_path, model)
    assert served.report is not None
    assert served.report["lora"] == lora()


def test_every_allowed_rank_is_taken(tmp_path: Path, model: str) -> None:
    for rank in RANKS.split(", "):
        served = serve(tmp_path, model, "--enable-lora", "--max-lora-rank", rank)
        assert served.report is not None
        assert served.report["lora"]["max_rank"] == int(rank)


def test_an_adapter_above_the_max_rank_fails(tmp_path: Path, model: str) -> None:
    wide = put(tmp_path / "wide", tiny_adapter(23, BASE, rank=16))
    served = serve(tmp_path, model, "--lora-modules", f"wide={wide}", "--enable-lora")
    assert served.code == 0, served.errors
    served = serve(
        tmp_path, model, "--lora-modules", f"wide={wide}", "--enable-lora", "--max-lora-rank=8"
    )
    assert (served.code, served.errors) == (
        1,
        error("LoRA rank 16 is greater than max_lora_rank 8."),
    )


def broken(tmp_path: Path, name: str, drop: str = "", **config: Any) -> Path:
    """An adapter folder missing the file `drop`, its config's fields changed by `config`
    (None: removed)."""
    files = dict(A)
    fields = json.loads(files["adapter_config.json"])
    for key, value in config.items():
        if value is None:
            fields.pop(key)
        else:
            fields[key] = value
    files["adapter_config.json"] = json.dumps(fields).encode()
    files.pop(drop, None)
    return put(tmp_path / name, files)


def test_adapters_vllm_cannot_load(tmp_path: Path, model: str) -> None:
    cases = {
        "nowhere": (tmp_path / "nowhere", "Loading lora nowhere failed: No adapter found for {}"),
        "unconfigured": (
            broken(tmp_path, "unconfigured", drop="adapter_config.json"),
            "Loading lora unconfigured failed: No adapter found for {}",
        ),
        "prefix": (
            broken(tmp_path, "prefix", peft_type="PREFIX_TUNING"),
            "Loading lora prefix failed: {} is a PREFIX_TUNING adapter, not LORA",
        ),
        "incomplete": (
            broken(tmp_path, "incomplete", r=None, lora_alpha=None),
            "Missing required configuration fields: {{'lora_alpha', 'r'}}",
        ),
        "empty": (
            broken(tmp_path, "empty", drop="adapter_model.safetensors"),
            "{} doesn't contain tensors",
        ),
    }
    for name, (path, message) in cases.items():
        served = serve(tmp_path, model, "--lora-modules", f"{name}={path}", "--enable-lora")
        assert (served.code, served.errors) == (1, error(message.format(path))), name


# -- the filesystem resolver -------------------------------------------------------------

RESOLVER = {"VLLM_PLUGINS": "lora_filesystem_resolver", "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"}


def resolver_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "adapters"
    put(folder / "sql-lora", A)
    put(folder / "chat-lora", B)
    (folder / ".cache").mkdir()  # hidden: no adapter a request could name
    return folder


def test_resolver_lists_every_adapter_of_its_dir(tmp_path: Path, model: str) -> None:
    folder = resolver_dir(tmp_path)
    served = serve(
        tmp_path,
        model,
        "--served-model-name",
        BASE,
        "tiny",
        "--enable-lora",
        VLLM_LORA_RESOLVER_CACHE_DIR=str(folder),
        **RESOLVER,
    )
    assert (served.code, served.errors) == (0, [])
    assert served.report is not None
    assert served.report["lora"] == lora(
        enabled=True,
        resolver={
            "dir": str(folder),
            "adapters": [
                {
                    "name": name,
                    "path": str(folder / name),
                    "base_model_name_or_path": BASE,
                    "tensors": digests(files),
                }
                for name, files in (("chat-lora", B), ("sql-lora", A))
            ],
        },
    )
    assert served.report["options"]["--served-model-name"] == [BASE, "tiny"]


def test_resolver_adapters_must_be_for_the_served_model(tmp_path: Path, model: str) -> None:
    folder = resolver_dir(tmp_path)
    # The served name is the first --served-model-name, else the model argument.
    for names in ([], ["other/model", BASE]):
        extra = ["--served-model-name", *names] if names else []
        served = serve(
            tmp_path,
            model,
            *extra,
            "--enable-lora",
            VLLM_LORA_RESOLVER_CACHE_DIR=str(folder),
            **RESOLVER,
        )
        served_name = names[0] if names else model
        assert (served.code, served.errors) == (
            1,
            error(
                f"the LoRA resolver would not load chat-lora: its base_model_name_or_path is"
                f" 'test/tiny', the served model {served_name!r}"
            ),
        )


def test_resolver_checks_its_adapters_as_static_ones(tmp_path: Path, model: str) -> None:
    folder = resolver_dir(tmp_path)
    (folder / "notes.txt").write_text("not an adapter\n")
    served = serve(
        tmp_path,
        model,
        "--served-model-name",
        BASE,
        "--enable-lora",
        VLLM_LORA_RESOLVER_CACHE_DIR=str(folder),
        **RESOLVER,
    )
    assert (served.code, served.errors) == (
        1,
        error(f"Loading lora notes.txt failed: No adapter found for {folder / 'notes.txt'}"),
    )


@pytest.mark.parametrize("allowed", ["True", "true", "1", "TRUE"])
def test_resolver_runtime_updating_values_vllm_takes(
    tmp_path: Path, model: str, allowed: str
) -> None:
    folder = resolver_dir(tmp_path)
    env = {**RESOLVER, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": allowed}
    served = serve(
        tmp_path,
        model,
        "--served-model-name",
        BASE,
        "--enable-lora",
        VLLM_LORA_RESOLVER_CACHE_DIR=str(folder),
        **env,
    )
    assert served.code == 0, served.errors


def test_resolver_needs_its_settings(tmp_path: Path, model: str) -> None:
    folder = resolver_dir(tmp_path)
    args = [model, "--served-model-name", BASE, "--enable-lora"]
    no_dir = error(
        "VLLM_LORA_RESOLVER_CACHE_DIR must be set to a valid directory for Filesystem Resolver"
        " plugin to function"
    )
    never_asked = error(
        f"the LoRA resolver (lora_filesystem_resolver, {folder}) is never asked: vLLM"
        " resolves adapters only with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
    )
    cases: list[tuple[dict[str, str], list[str]]] = [
        (dict(RESOLVER), no_dir),
        ({**RESOLVER, "VLLM_LORA_RESOLVER_CACHE_DIR": str(tmp_path / "none")}, no_dir),
        (
            {
                "VLLM_PLUGINS": "lora_filesystem_resolver",
                "VLLM_LORA_RESOLVER_CACHE_DIR": str(folder),
            },
            never_asked,
        ),
        (
            {
                **RESOLVER,
                "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "yes",
                "VLLM_LORA_RESOLVER_CACHE_DIR": str(folder),
            },
            never_asked,
        ),
    ]
    for env, errors in cases:
        served = serve(tmp_path, *args, **env)
        assert (served.code, served.errors, served.report) == (1, errors, None), env
    served = serve(
        tmp_path,
        model,
        "--served-model-name",
        BASE,
        VLLM_LORA_RESOLVER_CACHE_DIR=str(folder),
        **RESOLVER,
    )
    assert (served.code, served.errors) == (
        1,
        error(
            f"the LoRA resolver (lora_filesystem_resolver, {folder}): LoRA is not enabled. Use"
            " --enable-lora to enable LoRA."
        ),
    )


def test_which_plugins_bring_the_resolver(tmp_path: Path, model: str) -> None:
    folder = resolver_dir(tmp_path)
    args = [model, "--served-model-name", BASE, "--enable-lora"]
    on = {"VLLM_LORA_RESOLVER_CACHE_DIR": str(folder), "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "1"}
    # Every plugin loads when VLLM_PLUGINS is unset; only the ones it names otherwise,
    # split on commas as written.
    for plugins, resolved in [
        (None, True),
        ("other,lora_filesystem_resolver", True),
        ("other", False),
        ("other, lora_filesystem_resolver", False),
    ]:
        env = on if plugins is None else {**on, "VLLM_PLUGINS": plugins}
        served = serve(tmp_path, *args, **env)
        assert served.report is not None, (plugins, served.errors)
        assert (served.report["lora"]["resolver"] is not None) == resolved, plugins


# -- the compile cache -------------------------------------------------------------------


def test_compile_cache_is_found_by_the_next_pod(tmp_path: Path, model: str) -> None:
    root, inductor = tmp_path / "home/.cache/vllm", tmp_path / "tmp/torchinductor_tester"
    served = serve(tmp_path, model)
    assert served.report is not None
    first = served.report["compile_cache"]
    key = first["wrote"][0].split("/")[-3]
    wrote = [
        f"{root}/torch_compile_cache/{key}/rank_0_0/compiled.bin",
        f"{inductor}/fxgraph/{key}/compiled.bin",
    ]
    assert first == {
        "vllm_root": str(root),
        "inductor_dir": str(inductor),
        "found": [],
        "found_inductor": [],
        "found_markers": {},
        "wrote": wrote,
    }
    served = serve(tmp_path, model, pod="pod-b")
    assert served.report is not None
    assert served.report["compile_cache"] == {
        **first,
        "found": [f"torch_compile_cache/{key}/rank_0_0/compiled.bin"],
        "found_inductor": [f"fxgraph/{key}/compiled.bin"],
        "found_markers": dict.fromkeys(wrote, "pod-a"),
    }
    assert Path(wrote[0]).read_text() == "pod-b\n"


def test_compile_cache_locations(tmp_path: Path, model: str) -> None:
    served = serve(tmp_path, model, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    assert served.report is not None
    assert served.report["compile_cache"]["vllm_root"] == str(tmp_path / "xdg/vllm")
    served = serve(
        tmp_path,
        model,
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
        VLLM_CACHE_ROOT="/never/../" + str(tmp_path / "cache/vllm"),
        TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache/inductor"),
    )
    assert served.report is not None
    cache = served.report["compile_cache"]
    assert (cache["vllm_root"], cache["inductor_dir"]) == (
        "/never/../" + str(tmp_path / "cache/vllm"),
        str(tmp_path / "cache/inductor"),
    )
    assert [Path(p).resolve().is_relative_to(tmp_path / "cache") for p in cache["wrote"]] == [
        True,
        True,
    ]


def test_a_compile_cache_that_cannot_be_written_fails(tmp_path: Path, model: str) -> None:
    (tmp_path / "a-file").write_text("")
    served = serve(tmp_path, model, VLLM_CACHE_ROOT=str(tmp_path / "a-file/vllm"))
    assert (served.code, served.errors, served.report) == (
        1,
        error(f"torch.compile cache: [Errno 20] Not a directory: '{tmp_path}/a-file/vllm'"),
        None,
    )


def test_enforce_eager_compiles_nothing(tmp_path: Path, model: str) -> None:
    served = serve(tmp_path, model, "--enforce-eager")
    assert served.report is not None
    assert served.report["compile_cache"]["wrote"] == []
    assert not (tmp_path / "home/.cache/vllm").exists()
