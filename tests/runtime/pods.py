"""Running a pod template the way the kubelet would, on this machine, with bubblewrap.

Each container runs its own `command` and `args` (the image's entrypoint where it has
none), in a mount namespace of its own: the host's programs read-only, a writable root of
its own (the image's layer), and the pod's volumes at their `mountPath`s, `readOnly` and
`subPath` honoured. emptyDirs are folders of the pod, shared by its containers; claims are
folders of the cluster, shared by every pod that mounts them. Env comes from the container
and from the cluster's Secrets: a missing key that is not optional stops the pod before any
container runs, as the kubelet's CreateContainerConfigError does. Init containers run in
order and must succeed; native sidecars (`restartPolicy: Always`) are started and not
waited for; then the containers run and the pod succeeds when they all exit 0.

The network is the host's: stand-ins listen on 127.0.0.1, and cluster DNS names in env
values are rewritten to them (`Cluster.hosts`), a mapping each run prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
STANDIN_BIN = HERE / "standins" / "bin"
# Where the stand-in's bin folder and the report folder appear inside a container.
POD_BIN = "/opt/krmfn-runtime/bin"
POD_REPORTS = "/krmfn-runtime/reports"
# The image's PATH: the stand-in `vllm` and the client libraries' Python (this venv's,
# bound at the same path) first.
POD_PATH = (
    f"{POD_BIN}:{sys.prefix}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)|\$\$")


class PodFailed(Exception):
    """The pod did not start, or a container in it failed: `reason` as kubectl shows it."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class Exit:
    name: str
    code: int
    stdout: str
    stderr: str


@dataclass
class PodResult:
    name: str
    exits: list[Exit]
    reports: Path  # the folder the vllm stand-in wrote its reports into

    def exit(self, container: str) -> Exit:
        return next(e for e in self.exits if e.name == container)


@dataclass
class Cluster:
    """What the pods of one test share: Secrets, claims, image volumes, the stand-ins'
    addresses, and the images' entrypoints."""

    root: Path
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    # "host:port" as the pod's env writes it -> "127.0.0.1:port" of a stand-in.
    hosts: dict[str, str] = field(default_factory=dict)
    # image volume reference -> a folder holding the image's files
    images: dict[str, Path] = field(default_factory=dict)
    # image -> its ENTRYPOINT, for containers that give no command
    entrypoints: dict[str, list[str]] = field(default_factory=dict)
    # What the cluster, not the pod spec, gives every container: a proxy to the clouds'
    # host names and its CA bundle over the image's, Workload Identity's metadata server,
    # the env an admission webhook injects. Printed with each run.
    env: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)  # path in the container -> file
    timeout: float = 120.0

    def claim(self, name: str) -> Path:
        path = self.root / "claims" / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def run(
        self, name: str, spec: dict[str, Any], extra_env: dict[str, str] | None = None
    ) -> PodResult:
        """Run a pod spec to completion. Raises PodFailed as the kubelet would report it."""
        return Pod(self, name, spec, extra_env or {}).run()

    def start_async(
        self, name: str, spec: dict[str, Any], extra_env: dict[str, str] | None = None
    ) -> Pod:
        """Start a pod and return at once: `state()` says where it is, `stop()` kills it."""
        pod = Pod(self, name, spec, extra_env or {})
        thread = threading.Thread(target=pod.run_quietly, daemon=True)
        thread.start()
        pod.thread = thread
        return pod


class Pod:
    def __init__(
        self, cluster: Cluster, name: str, spec: dict[str, Any], extra: dict[str, str]
    ) -> None:
        self.cluster = cluster
        self.name = name
        self.spec = spec
        self.extra = extra
        self.dir = cluster.root / "pods" / name
        self.reports = self.dir / "reports"
        self.volumes: dict[str, tuple[Path, bool]] = {}
        self.exits: list[Exit] = []
        self._sidecars: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._main: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._envs: list[dict[str, str]] = []
        self._current: subprocess.Popen[bytes] | None = None
        self._state = "Pending"
        self._stopped = False
        self.thread: threading.Thread | None = None

    # -- volumes --------------------------------------------------------------------------
    def _prepare(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.reports.mkdir(parents=True)
        for volume in self.spec.get("volumes") or []:
            name = volume["name"]
            if "emptyDir" in volume:
                path = self.dir / "volumes" / name
                path.mkdir(parents=True)
                self.volumes[name] = (path, False)
            elif "persistentVolumeClaim" in volume:
                pvc = volume["persistentVolumeClaim"]
                self.volumes[name] = (
                    self.cluster.claim(pvc["claimName"]),
                    bool(pvc.get("readOnly")),
                )
            elif "image" in volume:
                reference = volume["image"]["reference"]
                if reference not in self.cluster.images:
                    raise PodFailed("ErrImagePull", f"image volume {reference} is not available")
                self.volumes[name] = (self.cluster.images[reference], True)
            elif "secret" in volume:
                secret = self._secret(
                    volume["secret"]["secretName"], volume["secret"].get("optional")
                )
                path = self.dir / "volumes" / name
                path.mkdir(parents=True)
                for key, value in secret.items():
                    (path / key).write_text(value)
                self.volumes[name] = (path, True)
            else:
                raise PodFailed("CreateContainerConfigError", f"volume {name}: kind not run here")

    def _secret(self, name: str, optional: bool | None) -> dict[str, str]:
        if name in self.cluster.secrets:
            return self.cluster.secrets[name]
        if optional:
            return {}
        raise PodFailed("CreateContainerConfigError", f'secret "{name}" not found')

    # -- env ------------------------------------------------------------------------------
    def _env(self, container: dict[str, Any]) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix", "")
            if "secretRef" in source:
                ref = source["secretRef"]
                for key, value in self._secret(ref["name"], ref.get("optional")).items():
                    env[prefix + key] = value
        for var in container.get("env") or []:
            name = var["name"]
            if "valueFrom" in var:
                ref = var["valueFrom"].get("secretKeyRef")
                if ref is None:
                    field_ref = var["valueFrom"].get("fieldRef", {}).get("fieldPath")
                    env[name] = {"metadata.name": self.name, "metadata.namespace": "default"}.get(
                        field_ref, "127.0.0.1"
                    )
                    continue
                secret = self._secret(ref["name"], ref.get("optional"))
                if ref["key"] in secret:
                    env[name] = secret[ref["key"]]
                elif not ref.get("optional"):
                    raise PodFailed(
                        "CreateContainerConfigError",
                        f"couldn't find key {ref['key']} in Secret default/{ref['name']}",
                    )
            else:
                env[name] = expand(str(var.get("value", "")), env)
        for host, local in self.cluster.hosts.items():
            for name, value in env.items():
                if host in value:
                    env[name] = value.replace(host, local)
        return env

    # -- containers -----------------------------------------------------------------------
    def _argv(self, container: dict[str, Any], env: dict[str, str]) -> list[str]:
        command = container.get("command")
        args = container.get("args")
        if not command:
            image = str(container.get("image", ""))
            entrypoint = self.cluster.entrypoints.get(image.split("@")[0])
            if entrypoint is None:
                raise PodFailed("RunContainerError", f"no entrypoint known for image {image!r}")
            command = entrypoint
        return [expand(str(a), env) for a in [*command, *(args or [])]]

    def _bwrap(self, container: dict[str, Any], env: dict[str, str]) -> list[str]:
        argv = [
            "bwrap", "--die-with-parent", "--unshare-pid", "--unshare-ipc",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc",
        ]  # fmt: skip
        for link in ("bin", "lib", "lib64", "sbin"):
            host = Path("/") / link
            if host.is_symlink():
                argv += ["--symlink", os.readlink(host), f"/{link}"]
            elif host.exists():
                argv += ["--ro-bind", str(host), f"/{link}"]
        # The client libraries' Python, where the venv's interpreter points.
        for prefix in {Path(sys.base_prefix), Path(sys.prefix)}:
            argv += ["--ro-bind", str(prefix), str(prefix)]
        argv += ["--ro-bind", str(self._bin()), POD_BIN]
        for path, host in self.cluster.files.items():
            argv += ["--ro-bind", str(host), path]
        mounts = sorted(
            container.get("volumeMounts") or [], key=lambda m: m["mountPath"].count("/")
        )
        for mount in mounts:
            if mount["name"] not in self.volumes:
                raise PodFailed("CreateContainerConfigError", f"volume {mount['name']!r} not found")
            host, forced = self.volumes[mount["name"]]
            if mount.get("subPath"):
                host = host / mount["subPath"]
                if not forced:
                    host.mkdir(parents=True, exist_ok=True)
            read_only = forced or bool(mount.get("readOnly"))
            argv += ["--ro-bind" if read_only else "--bind", str(host), mount["mountPath"]]
        argv += ["--bind", str(self.reports), POD_REPORTS]
        security = container.get("securityContext") or {}
        if security.get("readOnlyRootFilesystem"):
            argv += ["--remount-ro", "/"]
        if container.get("workingDir"):
            argv += ["--chdir", container["workingDir"]]
        argv += ["--clearenv"]
        for name, value in env.items():
            argv += ["--setenv", name, value]
        return argv + ["--", *self._argv(container, env)]

    def _bin(self) -> Path:
        return STANDIN_BIN

    def _spawn(self, container: dict[str, Any]) -> subprocess.Popen[bytes]:
        env = {"PATH": POD_PATH, "HOME": "/root", "HOSTNAME": self.name}
        env.update(self.cluster.env)
        env.update(self._env(container))
        env.update(self.extra)
        env["KRMFN_STANDIN_REPORT"] = f"{POD_REPORTS}/{container['name']}.json"
        self._envs.append(env)
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        name = container["name"]
        return subprocess.Popen(
            self._bwrap(container, env),
            stdout=(logs / f"{name}.out").open("wb"),
            stderr=(logs / f"{name}.err").open("wb"),
            stdin=subprocess.DEVNULL,
        )

    def _exit(self, name: str, process: subprocess.Popen[bytes], timeout: float) -> Exit:
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -9
        logs = self.dir / "logs"
        out = (logs / f"{name}.out").read_text(errors="replace")
        err = (logs / f"{name}.err").read_text(errors="replace")
        return Exit(name, code, out, err)

    def start(self) -> None:
        """Prepare the volumes and env, run the init containers, start the containers."""
        self._prepare()
        print(f"pod {self.name}: stand-ins for cluster names: {self.cluster.hosts or 'none'}")
        if self.cluster.env or self.cluster.files:
            given = {**self.cluster.env, **{k: str(v) for k, v in self.cluster.files.items()}}
            print(f"pod {self.name}: given by the cluster: {given}")
        # Every container's env is resolved before any starts, as the kubelet does.
        for container in [*(self.spec.get("initContainers") or []), *self.spec["containers"]]:
            self._env(container)
        inits = self.spec.get("initContainers") or []
        # Native sidecars do not count in kubectl's Init:n/m.
        waited = [c for c in inits if c.get("restartPolicy") != "Always"]
        for container in inits:
            if self._stopped:
                raise PodFailed("Killed")
            process = self._spawn(container)
            if container.get("restartPolicy") == "Always":
                self._sidecars.append((container["name"], process))
                continue
            done_count = len([e for e in self.exits])
            self._state = f"Init:{done_count}/{len(waited)} ({container['name']} running)"
            self._current = process
            done = self._exit(container["name"], process, self.cluster.timeout)
            self._current = None
            self.exits.append(done)
            if done.code != 0:
                self.stop()
                raise PodFailed(
                    "Init:Error", f"{done.name} exited {done.code}: {done.stderr[-2000:]}"
                )
        if self._stopped:
            raise PodFailed("Killed")
        self._state = "Running"
        for container in self.spec["containers"]:
            self._main.append((container["name"], self._spawn(container)))

    def wait(self, timeout: float | None = None) -> PodResult:
        deadline = time.monotonic() + (timeout or self.cluster.timeout)
        for name, process in self._main:
            self.exits.append(self._exit(name, process, max(deadline - time.monotonic(), 0.1)))
        self.stop()
        failed = [e for e in self.exits if e.code != 0]
        if failed:
            e = failed[0]
            raise PodFailed("Error", f"{e.name} exited {e.code}: {(e.stderr + e.stdout)[-3000:]}")
        return PodResult(self.name, self.exits, self.reports)

    def stop(self) -> None:
        """Kill what runs, as deleting the pod would."""
        self._stopped = True
        running = [*self._sidecars, *self._main]
        if self._current is not None:
            running.append(("", self._current))
        for _, process in running:
            if process.poll() is None:
                process.kill()
                process.wait()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(30)

    def state(self) -> str:
        """Where the pod is, as kubectl's STATUS column says it."""
        return self._state

    def run_quietly(self) -> None:
        try:
            self.run()
            self._state = "Succeeded"
        except PodFailed as failed:
            self._state = f"Failed: {failed}"

    def run(self) -> PodResult:
        self.start()
        return self.wait()


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion: a defined variable is replaced, `$$` is `$`, an
    undefined reference stays as written."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR.sub(one, text)
