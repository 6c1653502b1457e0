"""`capi-sysext apply` against FakeKubeAPIServer, the 127.0.0.1 test fixture (not a cluster)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fake_kube_api import FakeKubeAPIServer, Fault

from capi_sysext.apply import (
    Action,
    ApplyFailed,
    ApplyOptions,
    ClusterStatus,
    PreflightError,
    RetryPolicy,
    TransportError,
    WaitTimeout,
    apply_documents,
    feature_gates,
    order_documents,
    wait_for_clusters,
)
from capi_sysext.cli import cli
from capi_sysext.clouds.aws import CAPA_IGNITION
from capi_sysext.plugins import registered
from capi_sysext.prerequisites import CABPK_IGNITION, requirements_for

NS = "demo"
CAPI = "cluster.x-k8s.io/v1beta2"
KCP_API = "controlplane.cluster.x-k8s.io/v1beta2"
CABPK_API = "bootstrap.cluster.x-k8s.io/v1beta2"
CAPZ = "infrastructure.cluster.x-k8s.io/v1beta1"


def _meta(name: str, ns: str | None = NS) -> dict[str, Any]:
    return {"name": name, "namespace": ns} if ns else {"name": name}


def capi_docs(ns: str = NS, with_namespace_doc: bool = True) -> list[dict[str, Any]]:
    """A small hand-written Azure cluster, deliberately in the wrong order."""
    ref = {"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "AzureCluster", "name": "c1"}
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": CAPI,
            "kind": "Cluster",
            "metadata": _meta("c1", ns),
            "spec": {
                "paused": False,
                "controlPlaneRef": {
                    "apiGroup": "controlplane.cluster.x-k8s.io",
                    "kind": "KubeadmControlPlane",
                    "name": "c1-cp",
                },
                "infrastructureRef": ref,
            },
        },
        {
            "apiVersion": CAPI,
            "kind": "MachineDeployment",
            "metadata": _meta("c1-md0", ns),
            "spec": {"clusterName": "c1", "replicas": 2},
        },
        {
            "apiVersion": KCP_API,
            "kind": "KubeadmControlPlane",
            "metadata": _meta("c1-cp", ns),
            "spec": {
                "replicas": 1,
                "version": "v1.33.1",
                "kubeadmConfigSpec": {"format": "ignition"},
            },
        },
        {
            "apiVersion": CABPK_API,
            "kind": "KubeadmConfigTemplate",
            "metadata": _meta("c1-md0", ns),
            "spec": {"template": {"spec": {"format": "ignition"}}},
        },
        {
            "apiVersion": CAPZ,
            "kind": "AzureCluster",
            "metadata": _meta("c1", ns),
            "spec": {"location": "westeurope", "identityRef": {"name": "c1-identity"}},
        },
        {
            "apiVersion": CAPZ,
            "kind": "AzureClusterIdentity",
            "metadata": _meta("c1-identity", ns),
            "spec": {
                "type": "WorkloadIdentity",
                "clientID": "00000000-0000-0000-0000-000000000000",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta("c1-extra", ns),
            "stringData": {"note": "hello"},
        },
    ]
    if with_namespace_doc:
        docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return docs


EXPECTED_ORDER = [
    "Namespace",
    "Secret",
    "AzureClusterIdentity",
    "AzureCluster",
    "KubeadmControlPlane",
    "KubeadmConfigTemplate",
    "Cluster",
    "MachineDeployment",
]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # The fake lives on 127.0.0.1; a proxy from the environment must not get in between.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")


@pytest.fixture
def fake() -> Iterator[FakeKubeAPIServer]:
    with FakeKubeAPIServer() as server:
        server.install_cluster_api()
        yield server


@pytest.fixture
def kubeconfig(fake: FakeKubeAPIServer, tmp_path: Path) -> Path:
    return fake.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def sleeps() -> list[float]:
    return []


def opts(kubeconfig: Path, sleeps: list[float], **kw: Any) -> ApplyOptions:
    kw.setdefault("retry", RetryPolicy(attempts=4, base_delay=0.5, sleep=sleeps.append))
    kw.setdefault("request_timeout", (1.0, 0.3))
    return ApplyOptions(kubeconfig=str(kubeconfig), **kw)


def run(docs: list[dict[str, Any]], options: ApplyOptions) -> Any:
    return apply_documents(docs, options, requirements_for(docs, registered().providers))


def patches(fake: FakeKubeAPIServer) -> list[tuple[str, dict[str, str]]]:
    return [(path, query) for method, path, query in fake.requests if method == "PATCH"]


# ---- happy path, idempotency, dry run, namespaces -------------------------------------------


def test_happy_path_applies_everything_in_dependency_order(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.requests.clear()
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert [o.ref.kind for o in result.objects] == EXPECTED_ORDER
    assert all(o.action is Action.CREATED for o in result.objects)
    assert result.lines()[-1] == "8 created, 0 changed, 0 unchanged"
    sent = patches(fake)
    assert len(sent) == 8
    assert all(q == {"fieldManager": "capi-sysext"} for _, q in sent)  # no force, no dryRun
    assert fake.get(CAPI, "Cluster", "c1", NS)["spec"]["paused"] is False
    assert sleeps == []


def test_second_apply_reports_everything_unchanged(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    versions = {json.dumps(o["metadata"].get("resourceVersion")) for o in fake.objects()}
    again = run(capi_docs(), opts(kubeconfig, sleeps))
    assert {o.action for o in again.objects} == {Action.UNCHANGED}
    assert again.lines()[-1] == "0 created, 0 changed, 8 unchanged"
    assert {json.dumps(o["metadata"].get("resourceVersion")) for o in fake.objects()} == versions


def test_a_real_change_is_reported_as_changed(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    docs = capi_docs()
    docs[1]["spec"]["replicas"] = 3
    result = run(docs, opts(kubeconfig, sleeps))
    changed = [str(o.ref) for o in result.objects if o.action is Action.CHANGED]
    assert changed == [f"MachineDeployment {NS}/c1-md0"]
    assert fake.get(CAPI, "MachineDeployment", "c1-md0", NS)["spec"]["replicas"] == 3


def test_dry_run_uses_server_dry_run_and_persists_nothing(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.add_namespace(NS)
    before = list(fake.objects())
    result = run(capi_docs(), opts(kubeconfig, sleeps, dry_run=True))
    assert result.dry_run
    assert [o.action for o in result.objects] == [Action.UNCHANGED] + [Action.CREATED] * 7
    assert all(q.get("dryRun") == "All" for _, q in patches(fake))
    assert list(fake.objects()) == before
    assert "(server dry run)" in result.lines()[-1]


def test_dry_run_of_a_change_is_classified_by_content(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    docs = capi_docs()
    docs[0]["spec"]["paused"] = True
    result = run(docs, opts(kubeconfig, sleeps, dry_run=True))
    assert [o.ref.kind for o in result.objects if o.action is Action.CHANGED] == ["Cluster"]
    assert fake.get(CAPI, "Cluster", "c1", NS)["spec"]["paused"] is False


def test_dry_run_into_a_new_declared_namespace_validates_what_it_can(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    result = run(capi_docs(), opts(kubeconfig, sleeps, dry_run=True))
    assert result.objects[0].action is Action.CREATED  # the Namespace, server dry run
    assert {o.detail for o in result.objects[1:]} == {"not validated: its namespace is new"}
    assert len(patches(fake)) == 1
    assert fake.get("v1", "Namespace", NS) is None


def test_documents_without_namespace_go_to_the_context_namespace(
    fake: FakeKubeAPIServer, tmp_path: Path, sleeps: list[float]
) -> None:
    fake.add_namespace("team-a")
    kc = fake.write_kubeconfig(tmp_path / "kc", namespace="team-a")
    docs = capi_docs(ns="", with_namespace_doc=False)
    for doc in docs:
        doc["metadata"].pop("namespace", None)
    result = run(docs, opts(kc, sleeps))
    assert {o.ref.namespace for o in result.objects} == {"team-a"}
    assert fake.get(CAPI, "Cluster", "c1", "team-a") is not None


def test_missing_namespace_is_a_preflight_problem_without_the_flag(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    with pytest.raises(PreflightError) as err:
        run(capi_docs("fresh", with_namespace_doc=False), opts(kubeconfig, sleeps))
    assert "namespace fresh does not exist" in str(err.value)
    assert "--create-namespace" in str(err.value)
    assert patches(fake) == []


def test_create_namespace_creates_it_first(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    docs = capi_docs("fresh", with_namespace_doc=False)
    result = run(docs, opts(kubeconfig, sleeps, create_namespace=True))
    assert str(result.objects[0].ref) == "Namespace fresh"
    assert result.objects[0].action is Action.CREATED
    assert fake.get("v1", "Namespace", "fresh") is not None
    assert fake.get(CAPI, "Cluster", "c1", "fresh") is not None


# ---- preflight --------------------------------------------------------------------------------


def test_preflight_reports_all_problems_at_once_before_any_write(
    kubeconfig: Path, fake: FakeKubeAPIServer, sleeps: list[float]
) -> None:
    fake.remove_crd("infrastructure.cluster.x-k8s.io", "AzureCluster")
    fake.add_deployment(
        "capi-kubeadm-bootstrap-system",
        "capi-kubeadm-bootstrap-controller-manager",
        ["--feature-gates=MachinePool=true"],
    )
    with pytest.raises(PreflightError) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    messages = [p.message for p in err.value.problems]
    assert len(messages) == 2, messages
    assert "AzureCluster" in messages[0] and "no CRD installed" in messages[0]
    assert "KubeadmBootstrapFormatIgnition is off" in messages[1]
    assert "EXP_KUBEADM_BOOTSTRAP_FORMAT_IGNITION=true" in str(err.value)
    assert patches(fake) == []


def test_preflight_names_the_served_versions_when_the_version_is_not_served(
    kubeconfig: Path, fake: FakeKubeAPIServer, sleeps: list[float]
) -> None:
    fake.remove_crd("cluster.x-k8s.io", "Cluster")
    fake.add_crd("cluster.x-k8s.io", "Cluster", {"v1beta1": True, "v1beta2": False})
    with pytest.raises(PreflightError) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    assert "clusters.cluster.x-k8s.io does not serve v1beta2 (served: v1beta1)" in str(err.value)


def test_gate_off_stops_before_writing(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeKubeAPIServer() as fake:
        fake.install_cluster_api(ignition_gate=False)
        kc = fake.write_kubeconfig(tmp_path / "kc")
        with pytest.raises(PreflightError) as err:
            run(capi_docs(), opts(kc, sleeps))
        assert err.value.problems[0].fix == CABPK_IGNITION.how_to_enable
        assert patches(fake) == []


def test_capa_gate_and_addon_provider_are_checked(
    kubeconfig: Path, fake: FakeKubeAPIServer, sleeps: list[float]
) -> None:
    fake.add_crd("infrastructure.cluster.x-k8s.io", "AWSCluster", {"v1beta2": True})
    docs: list[dict[str, Any]] = [
        {"apiVersion": "infrastructure.cluster.x-k8s.io/v1beta2", "kind": "AWSCluster",
         "metadata": _meta("a1", "default"), "spec": {"region": "eu-west-1"}},
        {"apiVersion": "addons.cluster.x-k8s.io/v1alpha1", "kind": "HelmChartProxy",
         "metadata": _meta("cni", "default"), "spec": {"chartName": "cilium"}},
    ]  # fmt: skip
    assert requirements_for(docs, registered().providers) == [CAPA_IGNITION]
    with pytest.raises(PreflightError) as err:
        run(docs, opts(kubeconfig, sleeps))
    text = str(err.value)
    assert "helmchartproxies.addons.cluster.x-k8s.io, which is not installed" in text
    assert "clusterctl init --addon helm" in text
    assert "capa-system/capa-controller-manager not found" in text
    assert len(err.value.problems) == 2  # the HelmChartProxy is not reported twice


# ---- conflicts --------------------------------------------------------------------------------


def test_conflict_names_the_owning_manager_and_force_takes_over(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.add_namespace(NS)
    fake.put(
        {"apiVersion": CAPI, "kind": "Cluster", "metadata": _meta("c1"), "spec": {"paused": True}},
        manager="kubectl-edit",
    )
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    text = str(err.value)
    assert '.spec.paused owned by "kubectl-edit"' in text
    assert "--force-conflicts" in text
    actions = {o.ref.kind: o.action for o in err.value.result.objects}
    assert actions["Cluster"] is Action.FAILED
    assert actions["MachineDeployment"] is Action.NOT_APPLIED
    assert actions["AzureCluster"] is Action.CREATED

    result = run(capi_docs(), opts(kubeconfig, sleeps, force_conflicts=True))
    assert {o.ref.kind: o.action for o in result.objects}["Cluster"] is Action.CHANGED
    assert all(q.get("force") == "true" for _, q in patches(fake)[-8:])
    cluster = fake.get(CAPI, "Cluster", "c1", NS)
    assert cluster["spec"]["paused"] is False


# ---- retries and transport faults -------------------------------------------------------------


def test_429_is_retried_honouring_retry_after(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("status", times=2, status=429, retry_after=3, method="PATCH"))
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert result.count(Action.CREATED) == 8
    assert sleeps == [3.0, 3.0]


def test_500_is_retried_with_exponential_backoff(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("status", times=3, status=500, method="PATCH", path_contains="/clusters/"))
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert result.count(Action.CREATED) == 8
    assert sleeps == [0.5, 1.0, 2.0]


def test_connection_reset_is_retried(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("reset", times=1, method="PATCH"))
    fake.inject(Fault("reset", times=1, method="GET", path_contains="/apis/apps/"))
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert result.count(Action.CREATED) == 8
    assert sleeps == [0.5, 0.5]


def test_stalled_request_times_out_and_is_retried(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("stall", times=1, method="PATCH", stall_seconds=1.0))
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert result.count(Action.CREATED) == 8
    assert sleeps == [0.5]


def test_persistent_timeout_gives_up_after_bounded_attempts(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("stall", times=99, stall_seconds=1.0))
    retry = RetryPolicy(attempts=2, base_delay=0.5, sleep=sleeps.append)
    with pytest.raises(TransportError) as err:
        run(capi_docs(), opts(kubeconfig, sleeps, retry=retry))
    assert "gave up after 2 attempts" in str(err.value)
    assert "ReadTimeoutError" in str(err.value)
    assert sleeps == [0.5]


def test_connection_refused_gives_up(tmp_path: Path, sleeps: list[float]) -> None:
    with FakeKubeAPIServer() as fake:
        kc = fake.write_kubeconfig(tmp_path / "kc")
    # The fake is shut down: nothing listens on that port any more.
    with pytest.raises(TransportError) as err:
        run(capi_docs(), opts(kc, sleeps))
    assert "gave up after 4 attempts" in str(err.value)
    assert sleeps == [0.5, 1.0, 2.0]


def test_partial_failure_reports_exactly_what_was_applied(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.fail_patch(4, status=422, message="spec.replicas: Invalid value")
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    result = err.value.result
    assert [o.ref.kind for o in result.applied] == EXPECTED_ORDER[:3]
    assert [(o.ref.kind, o.action) for o in result.not_applied] == [
        ("AzureCluster", Action.FAILED),
        *[(k, Action.NOT_APPLIED) for k in EXPECTED_ORDER[4:]],
    ]
    assert "spec.replicas: Invalid value" in str(err.value)
    assert "applied: created Namespace demo, Secret demo/c1-extra, AzureClusterIdentity" in str(
        err.value
    )
    assert fake.get(CAPZ, "AzureCluster", "c1", NS) is None
    assert fake.get(CAPZ, "AzureClusterIdentity", "c1-identity", NS) is not None


# ---- wait -----------------------------------------------------------------------------------


def _machine(name: str, phase: str, ready: bool) -> dict[str, Any]:
    return {
        "apiVersion": CAPI,
        "kind": "Machine",
        "metadata": {**_meta(name), "labels": {"cluster.x-k8s.io/cluster-name": "c1"}},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def test_wait_follows_the_cluster_until_the_control_plane_is_available(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    fake.put(_machine("other-cluster-m", "Running", True) | {"metadata": _meta("x")})
    available = {"conditions": [{"type": "ControlPlaneAvailable", "status": "True"}]}
    steps: Iterator[Callable[[], object]] = iter(
        [
            lambda: fake.put(_machine("c1-cp-a", "Provisioning", False)),
            lambda: fake.put(_machine("c1-cp-a", "Running", True)),
            lambda: fake.set_status(CAPI, "Cluster", "c1", NS, available),
        ]
    )

    def controllers_act(seconds: float) -> None:
        # Each poll interval, the "controllers" move the cluster one step further.
        sleeps.append(seconds)
        next(steps)()

    seen: list[ClusterStatus] = []
    options = opts(kubeconfig, sleeps, poll_interval=7)
    final = wait_for_clusters(capi_docs(), options, seen.append, sleep=controllers_act)
    assert final[0].available
    assert [(s.machines, s.provisioned, s.ready, s.available) for s in seen] == [
        (0, 0, 0, False),
        (1, 0, 0, False),
        (1, 1, 1, False),
        (1, 1, 1, True),
    ]
    assert sleeps == [7, 7, 7]


def test_wait_accepts_v1beta1_control_plane_ready(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    fake.set_status(CAPI, "Cluster", "c1", NS, {"controlPlaneReady": True})
    docs = capi_docs()
    docs[0]["apiVersion"] = "cluster.x-k8s.io/v1beta1"
    final = wait_for_clusters(docs, opts(kubeconfig, sleeps), lambda s: None)
    assert final[0].available


def test_wait_times_out_with_the_last_conditions(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    run(capi_docs(), opts(kubeconfig, sleeps))
    fake.set_status(CAPI, "Cluster", "c1", NS, {"phase": "Provisioning", "conditions": [
        {"type": "ControlPlaneAvailable", "status": "False", "reason": "WaitingForMachines",
         "message": "0 of 1 ready"}]})  # fmt: skip
    now = [0.0]

    def fake_sleep(s: float) -> None:
        now[0] += s

    with pytest.raises(WaitTimeout) as err:
        wait_for_clusters(
            capi_docs(), opts(kubeconfig, sleeps, wait_timeout=30, poll_interval=10),
            lambda s: None, clock=lambda: now[0], sleep=fake_sleep,
        )  # fmt: skip
    text = str(err.value)
    assert "not available after 30s" in text
    assert "ControlPlaneAvailable=False (WaitingForMachines: 0 of 1 ready)" in text
    assert now[0] == 30


# ---- units ------------------------------------------------------------------------------------


def test_feature_gate_forms() -> None:
    def deployment(args: list[str], env: list[dict[str, str]] | None = None) -> dict[str, Any]:
        container = {"name": "m", "args": args, "env": env or []}
        return {"spec": {"template": {"spec": {"containers": [container]}}}}

    assert feature_gates(deployment(["--feature-gates=A=true,B=false"])) == {"A": True, "B": False}
    assert feature_gates(deployment(["--feature-gates", "A=True"])) == {"A": True}
    env = [{"name": "GATE", "value": "true"}]
    assert feature_gates(deployment(["--feature-gates=A=$(GATE)"], env)) == {"A": True}
    # An unsubstituted clusterctl variable reaches the controller as text: not on.
    assert feature_gates(deployment(["--feature-gates=A=${EXP_A:=true}"])) == {"A": False}
    assert feature_gates(deployment(["--feature-gates=A=true", "--feature-gates=A=false"])) == {
        "A": False
    }


def test_requirements_follow_the_documents() -> None:
    docs = capi_docs()
    assert requirements_for(docs, registered().providers) == [CABPK_IGNITION]
    docs = [d for d in docs if d["kind"] not in ("KubeadmControlPlane", "KubeadmConfigTemplate")]
    assert requirements_for(docs, registered().providers) == []


def test_order_is_stable_within_a_tier() -> None:
    docs = capi_docs()
    assert [d["kind"] for d in order_documents(docs)] == EXPECTED_ORDER


# ---- CLI --------------------------------------------------------------------------------------


def _write_docs(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join("---\n" + json.dumps(d) + "\n" for d in docs), "utf-8")
    return path


def test_cli_apply_then_wait(fake: FakeKubeAPIServer, kubeconfig: Path, tmp_path: Path) -> None:
    from capi_sysext.cli import commands  # noqa: F401  (registers the command)

    docs = _write_docs(tmp_path / "c.yaml", capi_docs())
    runner = CliRunner()
    out = runner.invoke(cli, ["apply", "-f", str(docs), "--kubeconfig", str(kubeconfig)])
    assert out.exit_code == 0, out.output
    assert "Cluster demo/c1 created" in out.output
    fake.set_status(
        CAPI, "Cluster", "c1", NS, {"initialization": {"controlPlaneInitialized": True}}
    )
    args = ["apply", "-f", "-", "--kubeconfig", str(kubeconfig), "--wait", "--timeout", "30s"]
    out = runner.invoke(cli, args, input=docs.read_text())
    assert out.exit_code == 0, out.output
    assert "0 created, 0 changed, 8 unchanged" in out.output
    assert "Cluster demo/c1: control plane available" in out.output


def test_cli_partial_failure_exits_non_zero(
    fake: FakeKubeAPIServer, kubeconfig: Path, tmp_path: Path
) -> None:
    from capi_sysext.cli import commands  # noqa: F401

    fake.fail_patch(2, status=403, message="forbidden by the fake")
    docs = _write_docs(tmp_path / "c.yaml", capi_docs())
    out = CliRunner().invoke(cli, ["apply", "-f", str(docs), "--kubeconfig", str(kubeconfig)])
    assert out.exit_code == 1
    assert "Namespace demo created" in out.output
    assert "Secret demo/c1-extra failed" in out.output
    assert "Cluster demo/c1 not applied" in out.output
    assert "1 created, 0 changed, 0 unchanged, 7 not applied" in out.output


def test_cli_rejects_wait_with_dry_run(tmp_path: Path) -> None:
    from capi_sysext.cli import commands  # noqa: F401

    docs = _write_docs(tmp_path / "c.yaml", capi_docs())
    out = CliRunner().invoke(cli, ["apply", "-f", str(docs), "--dry-run", "--wait"])
    assert out.exit_code == 2
    assert "--wait cannot follow a --dry-run" in out.output


def test_terminal_progress_rewrites_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from capi_sysext.apply import ObjectRef
    from capi_sysext.cli.apply import _ProgressPrinter

    ref = ObjectRef(CAPI, "Cluster", "c1", NS)
    printer = _ProgressPrinter(tty=True)
    printer(ClusterStatus(ref, False, 1, 0, 0, "Provisioning", ()))
    printer(ClusterStatus(ref, False, 1, 1, 0, "Provisioned", ()))
    printer.close()
    out = capsys.readouterr().out
    assert out.count("\r\033[K") == 2
    assert out.endswith("provisioned 1, ready 0\n")


# ---- a misbehaving server (issue #13 class 6) -----------------------------------------------

HTML = b"<html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>\n"
KCT = "/kubeadmconfigtemplates/"  # the 6th object in EXPECTED_ORDER


@pytest.mark.parametrize(
    "value",
    ["nan", "inf", "-5", "1e309", "3.5", "soon", "", "\u0663", "99999999999999999999", "0x10"],
)
def test_odd_retry_after_values_fall_back_to_our_backoff(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float], value: str
) -> None:
    fake.inject(Fault("status", times=2, status=429, retry_after=value, method="PATCH"))
    result = run(capi_docs(), opts(kubeconfig, sleeps))
    assert result.count(Action.CREATED) == 8
    assert sleeps == [0.5, 1.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("9999999999", 60.0),  # capped
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: retry now
        ("Fri, 31 Dec 9999 23:59:59 GMT", 60.0),  # far future: capped
    ],
)
def test_retry_after_seconds_and_dates_are_honoured_and_clamped(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float], value: str, expected: float
) -> None:
    fake.inject(Fault("status", times=1, status=503, retry_after=value, method="PATCH"))
    run(capi_docs(), opts(kubeconfig, sleeps))
    assert sleeps == [expected]


def test_retry_after_nan_after_five_objects_reports_what_was_committed(
    fake: FakeKubeAPIServer, kubeconfig: Path, tmp_path: Path
) -> None:
    """The reported crash: `Retry-After: nan` on the 6th object, with 5 already committed."""
    from capi_sysext.cli import commands  # noqa: F401

    fake.inject(Fault("status", times=99, status=429, retry_after="nan", path_contains=KCT))
    docs = _write_docs(tmp_path / "c.yaml", capi_docs())
    args = ["apply", "-f", str(docs), "--kubeconfig", str(kubeconfig), "--apply-timeout", "4s"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 1, out.output
    assert isinstance(out.exception, SystemExit)
    assert out.stdout.splitlines() == [
        "Namespace demo created",
        "Secret demo/c1-extra created",
        "AzureClusterIdentity demo/c1-identity created",
        "AzureCluster demo/c1 created",
        "KubeadmControlPlane demo/c1-cp created",
        out.stdout.splitlines()[5],
        "Cluster demo/c1 not applied",
        "MachineDeployment demo/c1-md0 not applied",
        "5 created, 0 changed, 0 unchanged, 3 not applied",
    ]
    assert out.stdout.splitlines()[5].startswith("KubeadmConfigTemplate demo/c1-md0 failed: ")
    assert "applied: created Namespace demo, Secret demo/c1-extra" in out.stderr
    assert "not applied: KubeadmConfigTemplate demo/c1-md0, Cluster demo/c1" in out.stderr


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (HTML, "text/html", "not a Kubernetes JSON object (text/html)"),
        (b'{"kind": "APIResourceList", "resources": ', "application/json", "not a Kubernetes"),
        (b"[1, 2, 3]", "application/json", "not a Kubernetes JSON object"),
        (b'{"resources": "none"}', "application/json", "not an APIResourceList"),
        (b"[" * 100_000, "application/json", "not a Kubernetes JSON object"),
    ],
)
def test_bad_discovery_answers_stop_before_any_write(
    fake: FakeKubeAPIServer,
    kubeconfig: Path,
    sleeps: list[float],
    body: bytes,
    content_type: str,
    needle: str,
) -> None:
    gv = "/apis/infrastructure.cluster.x-k8s.io/v1beta1"
    fake.inject(
        Fault("raw", times=99, status=200, body=body, content_type=content_type, path_contains=gv)
    )
    with pytest.raises(TransportError) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    assert needle in str(err.value)
    assert patches(fake) == []


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (HTML, "text/html", TransportError),
        (b'{"spec": "x"}', "application/json", PreflightError),
        (
            b'{"spec": {"template": {"spec": {"containers": "x"}}}}',
            "application/json",
            PreflightError,
        ),
        (
            b'{"spec": {"template": {"spec": {"containers": [{"args": 5, "env": "x"}]}}}}',
            "application/json",
            PreflightError,
        ),
    ],
)
def test_bad_deployment_answers_are_messages_not_tracebacks(
    fake: FakeKubeAPIServer,
    kubeconfig: Path,
    sleeps: list[float],
    body: bytes,
    content_type: str,
    expected: type[Exception],
) -> None:
    fake.inject(
        Fault(
            "raw",
            times=99,
            status=200,
            body=body,
            content_type=content_type,
            path_contains="/deployments/",
        )
    )
    with pytest.raises(expected) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    assert "capi-kubeadm-bootstrap-controller-manager" in str(err.value)
    assert patches(fake) == []


def test_an_html_200_to_a_patch_is_a_failure_with_a_report(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(
        Fault(
            "raw",
            times=1,
            status=200,
            body=HTML,
            content_type="text/html",
            method="PATCH",
            path_contains="/clusters/",
        )
    )
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    result = err.value.result
    assert [o.ref.kind for o in result.applied] == EXPECTED_ORDER[:6]
    assert [(o.ref.kind, o.action) for o in result.not_applied] == [
        ("Cluster", Action.FAILED),
        ("MachineDeployment", Action.NOT_APPLIED),
    ]
    assert "502 Bad Gateway" in str(err.value)


def test_resets_mid_apply_report_exactly_what_was_committed(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    first = capi_docs()
    run([first[2], first[4], first[7]], opts(kubeconfig, sleeps))  # KCP, AzureCluster, Namespace
    docs = capi_docs()
    docs[2]["spec"]["replicas"] = 3  # the KubeadmControlPlane will change
    fake.inject(Fault("reset", times=99, method="PATCH", path_contains="/machinedeployments/"))
    with pytest.raises(ApplyFailed) as err:
        run(docs, opts(kubeconfig, sleeps))
    actions = [(o.ref.kind, o.action) for o in err.value.result.objects]
    assert actions == [
        ("Namespace", Action.UNCHANGED),
        ("Secret", Action.CREATED),
        ("AzureClusterIdentity", Action.CREATED),
        ("AzureCluster", Action.UNCHANGED),
        ("KubeadmControlPlane", Action.CHANGED),
        ("KubeadmConfigTemplate", Action.CREATED),
        ("Cluster", Action.CREATED),
        ("MachineDeployment", Action.FAILED),
    ]
    message = str(err.value)
    assert "gave up after 4 attempts" in message
    assert (
        "applied: created Secret demo/c1-extra, AzureClusterIdentity demo/c1-identity, "
        "KubeadmConfigTemplate demo/c1-md0, Cluster demo/c1; changed KubeadmControlPlane "
        "demo/c1-cp; unchanged Namespace demo, AzureCluster demo/c1"
    ) in message


def test_a_409_conflict_mid_apply_is_reported_with_the_rest(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    fake.inject(Fault("status", times=1, status=409, method="PATCH", path_contains="/clusters/"))
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    assert "conflict" in str(err.value)
    assert err.value.result.count(Action.CREATED) == 6


def test_a_trickling_answer_cannot_outlast_the_apply_deadline(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float]
) -> None:
    # One byte per 0.2 s stays under the 0.3 s read timeout: only the total deadline stops it.
    body = json.dumps({"kind": "Status", "pad": "x" * 200}).encode()
    fake.inject(Fault("drip", times=99, status=200, body=body, drip_interval=0.2, method="PATCH"))
    start = time.monotonic()
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps, apply_timeout=1.5))
    assert time.monotonic() - start < 4.0
    assert "apply did not finish within 1.5s" in str(err.value)
    assert "applied: nothing" in str(err.value)


def test_an_unexpected_error_mid_apply_still_reports(
    fake: FakeKubeAPIServer, kubeconfig: Path, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    import capi_sysext.apply.ssa as apply_mod

    real = apply_mod._apply_one
    calls = {"n": 0}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyError("surprise")
        return real(*args, **kwargs)

    monkeypatch.setattr(apply_mod, "_apply_one", flaky)
    with pytest.raises(ApplyFailed) as err:
        run(capi_docs(), opts(kubeconfig, sleeps))
    assert "unexpected KeyError" in str(err.value)
    assert err.value.result.count(Action.CREATED) == 2
