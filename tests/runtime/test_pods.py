"""The pod runner itself does what the kubelet does with a pod spec, so that a case that
passes in this tier would start on a node."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.runtime.pods import Cluster, PodFailed


def sh(name: str, script: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **fields}


def test_containers_share_empty_dirs_and_see_sub_paths(cluster: Cluster) -> None:
    spec = {
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "initContainers": [
            sh(
                "fill",
                "mkdir -p /work/sub && echo hello > /work/sub/greeting",
                volumeMounts=[{"name": "scratch", "mountPath": "/work"}],
            )
        ],
        "containers": [
            sh(
                "read",
                'test "$(cat /here/greeting)" = hello',
                volumeMounts=[{"name": "scratch", "mountPath": "/here", "subPath": "sub"}],
            )
        ],
    }
    result = cluster.run("share", spec)
    assert [(e.name, e.code) for e in result.exits] == [("fill", 0), ("read", 0)]


def test_read_only_mounts_refuse_writes(cluster: Cluster) -> None:
    claim = cluster.claim("models")
    spec = {
        "volumes": [{"name": "m", "persistentVolumeClaim": {"claimName": "models"}}],
        "containers": [
            sh(
                "write",
                "touch /m/new",
                volumeMounts=[{"name": "m", "mountPath": "/m", "readOnly": True}],
            )
        ],
    }
    with pytest.raises(PodFailed) as failed:
        cluster.run("ro", spec)
    assert failed.value.reason == "Error"
    assert "Read-only file system" in failed.value.detail
    assert list(claim.iterdir()) == []


def test_env_comes_from_secrets_and_expands_references(cluster: Cluster) -> None:
    cluster.secrets["creds"] = {"TOKEN": "t0k"}
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}},
        {"name": "GREETING", "value": "token=$(TOKEN) kept=$$(TOKEN) unknown=$(NOPE)"},
        {
            "name": "OPTIONAL",
            "valueFrom": {"secretKeyRef": {"name": "creds", "key": "X", "optional": True}},
        },
    ]
    # The script goes through the same expansion: $$( keeps a literal $( in it.
    script = 'test "$GREETING" = "token=t0k kept=\\$$(TOKEN) unknown=\\$(NOPE)" && test -z "${OPTIONAL+set}"'
    cluster.run("env", {"containers": [sh("check", script, env=env)]})


def test_a_missing_secret_key_keeps_the_pod_from_starting(cluster: Cluster) -> None:
    cluster.secrets["creds"] = {"OTHER": "x"}
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "TOKEN"}}}]
    spec = {
        "initContainers": [sh("first", "touch /never")],
        "containers": [sh("main", "true", env=env)],
    }
    with pytest.raises(PodFailed) as failed:
        cluster.run("nokey", spec)
    assert str(failed.value) == (
        "CreateContainerConfigError: couldn't find key TOKEN in Secret default/creds"
    )


def test_init_containers_run_in_order_and_sidecars_are_not_awaited(cluster: Cluster) -> None:
    spec = {
        "volumes": [{"name": "log", "emptyDir": {}}],
        "initContainers": [
            sh(
                "one", "echo one >> /log/order", volumeMounts=[{"name": "log", "mountPath": "/log"}]
            ),
            sh(
                "proxy",
                "echo proxy >> /log/order; sleep 600",
                restartPolicy="Always",
                volumeMounts=[{"name": "log", "mountPath": "/log"}],
            ),
            sh(
                "two", "echo two >> /log/order", volumeMounts=[{"name": "log", "mountPath": "/log"}]
            ),
        ],
        "containers": [
            sh(
                "main",
                "sleep 1; echo main >> /log/order",
                volumeMounts=[{"name": "log", "mountPath": "/log"}],
            )
        ],
    }
    started = time.monotonic()
    result = cluster.run("order", spec)
    assert time.monotonic() - started < 60
    assert [e.name for e in result.exits] == ["one", "two", "main"]
    order = (cluster.root / "pods" / "order" / "volumes" / "log" / "order").read_text().split()
    assert order[0] == "one" and order[-1] == "main"
    assert sorted(order[1:3]) == ["proxy", "two"]


def test_a_failing_init_container_stops_the_pod(cluster: Cluster) -> None:
    spec = {"initContainers": [sh("fail", "exit 3")], "containers": [sh("main", "true")]}
    with pytest.raises(PodFailed) as failed:
        cluster.run("initfail", spec)
    assert failed.value.reason == "Init:Error"
    assert failed.value.detail.startswith("fail exited 3")


def test_a_read_only_root_filesystem_is_read_only(cluster: Cluster) -> None:
    spec = {
        "containers": [
            sh("main", "touch /root/x", securityContext={"readOnlyRootFilesystem": True})
        ]
    }
    with pytest.raises(PodFailed) as failed:
        cluster.run("rootfs", spec)
    assert "Read-only file system" in failed.value.detail
