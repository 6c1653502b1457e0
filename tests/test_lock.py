"""Lock files (issue #15): the same output online and offline, contradictions refused with the
command that moves the lock, one minor at a time, round-trip edits, init, --diff-against."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from capi_sysext.cli import cli
from capi_sysext.cli import commands as _commands  # noqa: F401  (registers the commands)

try:
    from tests.bakery_server import BakeryServer
except ImportError:
    from bakery_server import BakeryServer

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = str(REPO / "examples" / "azure.yaml")
INDEX = "/kubernetes/SHA256SUMS"


def _index(*names: str) -> bytes:
    return "".join(f"{hashlib.sha256(n.encode()).hexdigest()}  {n}\n" for n in names).encode()


FILES = {
    INDEX: _index(
        "kubernetes-v1.33.2-x86-64.raw",
        "kubernetes-v1.33.3-x86-64.raw",
        "kubernetes-v1.33.3-arm64.raw",
        "kubernetes-v1.34.1-x86-64.raw",
        "kubernetes-v1.35.1-x86-64.raw",
    )
}


@pytest.fixture
def bakery() -> Iterator[BakeryServer]:
    with BakeryServer(files=dict(FILES)) as srv:
        yield srv


def run(args: list[str], online: bool = False, cache: Path | None = None) -> Result:
    env: dict[str, str | None] = {"CAPI_SYSEXT_OFFLINE": None} if online else {}
    if cache is not None:  # another machine: a CI runner with no cached index
        env["XDG_CACHE_HOME"] = str(cache)
    return CliRunner().invoke(cli, args, env=env)


def gen(url: str, lock: Path, *extra: str, k8s: str = "1.33.2") -> list[str]:
    return [
        "generate",
        "--provider",
        "azure",
        "--k8s",
        k8s,
        "--name",
        "demo",
        "--values",
        EXAMPLE,
        "--sysext-base-url",
        url,
        "--lock",
        str(lock),
        *extra,
    ]


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def refused(result: Result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, f"{needle!r} not in:\n{result.stderr}"


def test_lock_round_trip_online_and_offline_are_byte_identical(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    first = ok(run(gen(bakery.url, lock), online=True))
    assert lock.exists() and "wrote lock" in first.stderr
    data = yaml.safe_load(lock.read_text())
    assert data["kubernetes"]["x86-64"]["version"] == "v1.33.2"
    assert (
        data["kubernetes"]["x86-64"]["sha256"]
        == hashlib.sha256(b"kubernetes-v1.33.2-x86-64.raw").hexdigest()
    )
    assert data["addons"]["cni/calico"] == {"chart": "tigera-operator", "version": "v3.31.7"}
    assert "capi-sysext-verify" in first.stdout  # pinned: the verify unit is in the output
    requests = len(bakery.requests)
    offline = ok(run(gen(bakery.url, lock), cache=tmp_path / "empty-cache"))
    online = ok(run(gen(bakery.url, lock), online=True))
    assert offline.stdout == first.stdout == online.stdout
    assert len(bakery.requests) == requests  # with a lock, nothing touches the network
    assert "catalog: lock" in online.stderr
    # A minor request floats nowhere: the lock keeps v1.33.2 although v1.33.3 is published.
    assert ok(run(gen(bakery.url, lock, k8s="1.33"), online=True)).stdout == first.stdout


def test_without_a_lock_online_and_offline_differ(bakery: BakeryServer, tmp_path: Path) -> None:
    """What the lock fixes: today the same command gives pinned online, unpinned offline."""
    args = gen(bakery.url, tmp_path / "x.lock")[:-2]
    online = ok(run(args, online=True)).stdout
    assert online != ok(run(args, cache=tmp_path / "empty-cache")).stdout


def test_contradicting_request_is_refused_with_the_command_that_moves_the_lock(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    before = lock.read_text()
    refused(
        run(gen(bakery.url, lock, "--arch", "arm64", k8s="1.34")),
        "2 problems",
        "--k8s 1.34 contradicts the lock",
        f"capi-sysext lock --upgrade {lock} --k8s 1.34",
        f"capi-sysext lock --upgrade {lock} --arch arm64",
    )
    refused(run(gen(bakery.url, lock, k8s="1.33.3")), "pins Kubernetes v1.33.2")
    refused(
        run(gen("https://mirror.example/ext", lock)),
        f"capi-sysext lock --upgrade {lock} --sysext-base-url https://mirror.example/ext",
    )
    assert lock.read_text() == before


def test_malformed_lock_is_an_input_error(tmp_path: Path) -> None:
    lock = tmp_path / "bad.lock"
    lock.write_text("lockVersion: 1\ncatalog: {baseUrl: https://x}\nkubernetes: {x86-64: {}}\n")
    refused(run(gen("https://x", lock)), f"lock file {lock}", "kubernetes.x86-64.version")


def test_add_on_versions_come_from_the_lock(bakery: BakeryServer, tmp_path: Path) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    lock.write_text(lock.read_text().replace("version: v3.31.7", "version: v3.31.6"))
    docs = list(yaml.safe_load_all(ok(run(gen(bakery.url, lock))).stdout))
    cni = next(
        d for d in docs if d["kind"] == "HelmChartProxy" and d["metadata"]["name"] == "demo-cni"
    )
    assert cni["spec"]["version"] == "v3.31.6"
    text = lock.read_text()
    start = text.index("  cni/calico:")
    lock.write_text(text[:start] + text[text.index("  cni/cilium:") :])
    refused(
        run(gen(bakery.url, lock)),
        "pins no version of the tigera-operator chart",
        f"capi-sysext lock --upgrade {lock} --k8s v1.33.2",
    )


def test_render_node_writes_and_uses_a_lock(bakery: BakeryServer, tmp_path: Path) -> None:
    lock = tmp_path / "node.lock"
    args = ["render-node", "--k8s", "1.33", "--sysext-base-url", bakery.url, "--lock", str(lock)]
    first = ok(run([*args, "--format", "ignition"], online=True))
    assert "v1.33.3" in first.stdout
    assert ok(run([*args, "--format", "ignition"])).stdout == first.stdout


# --- lock --upgrade --------------------------------------------------------------------------


def _locked(lock: Path) -> dict:  # type: ignore[type-arg]
    return yaml.safe_load(lock.read_text())["kubernetes"]


def test_upgrade_moves_to_the_newest_patch_and_keeps_comments(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    lock.write_text(
        lock.read_text().replace("addons:\n", "addons:  # reviewed by ops\n") + "# end\n"
    )
    result = ok(run(["lock", "--upgrade", str(lock)], online=True))
    assert "x86-64 v1.33.2 -> v1.33.3" in result.stderr
    text = lock.read_text()
    assert "addons:  # reviewed by ops\n" in text and text.endswith("# end\n")
    assert text.startswith("# capi-sysext lock file.")
    assert list(yaml.safe_load(text)) == ["lockVersion", "kubernetes", "addons", "catalog"]
    assert _locked(lock)["x86-64"]["version"] == "v1.33.3"
    assert "up to date" in ok(run(["lock", "--upgrade", str(lock)], online=True)).stderr


def test_upgrade_refuses_a_minor_skip_and_a_downgrade(bakery: BakeryServer, tmp_path: Path) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    before = lock.read_text()
    refused(
        run(["lock", "--upgrade", str(lock), "--k8s", "1.35"], online=True),
        "skipping minors is unsupported by kubeadm",
        "kubeadm-upgrade",
        f"capi-sysext lock --upgrade {lock} --k8s 1.34",
    )
    refused(run(["lock", "--upgrade", str(lock), "--k8s", "1.32"]), "cannot downgrade")
    refused(run(["lock", "--upgrade", str(lock), "--k8s", "1.33.1"]), "going down")
    assert lock.read_text() == before


def test_upgrade_to_the_next_minor_edits_the_values_file_round_trip(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    values = tmp_path / "values.yaml"
    values.write_text(
        '# my cluster\nkubernetesVersion: "1.33"  # bump via lock --upgrade\nname: demo\n'
    )
    ok(run(gen(bakery.url, lock, "--values", str(values), k8s="1.33.2"), online=True))
    ok(run(["lock", "--upgrade", str(lock), "--k8s", "1.34", "--values", str(values)], online=True))
    assert _locked(lock)["x86-64"]["version"] == "v1.34.1"
    assert values.read_text() == (
        '# my cluster\nkubernetesVersion: "1.34"  # bump via lock --upgrade\nname: demo\n'
    )
    assert yaml.safe_load(lock.read_text())["addons"]["cni/calico"]["version"] == "v3.32.3"
    # The regenerated cluster follows the moved lock and the edited values file.
    args = gen(bakery.url, lock, "--values", str(values))
    args[args.index("--k8s") : args.index("--k8s") + 2] = []
    docs = list(yaml.safe_load_all(ok(run(args)).stdout))
    assert (
        next(d for d in docs if d["kind"] == "KubeadmControlPlane")["spec"]["version"] == "v1.34.1"
    )


def test_upgrade_adds_an_architecture(bakery: BakeryServer, tmp_path: Path) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock, k8s="1.33.3"), online=True))
    ok(run(["lock", "--upgrade", str(lock), "--arch", "aarch64"], online=True))
    assert _locked(lock)["arm64"]["version"] == "v1.33.3"
    ok(run(gen(bakery.url, lock, "--arch", "arm64", k8s="1.33.3")))


def test_upgrade_without_a_lock_or_without_the_index_fails_clearly(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    refused(run(["lock", "--upgrade", str(tmp_path / "none.lock")]), "there is no lock file")
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    before = lock.read_text()
    bakery.fault(INDEX, "404")  # not transient: no retries, so the test stays fast
    result = run(["lock", "--upgrade", str(lock)], online=True)
    assert result.exit_code == 1 and f"{bakery.url}{INDEX}" in result.stderr, result.output
    assert "Traceback" not in result.output and lock.read_text() == before


# --- init ------------------------------------------------------------------------------------


def test_init_writes_a_values_file_generate_accepts_once_filled(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    ok(run(["init", "--provider", "azure", "-o", str(target)]))
    text = target.read_text()
    assert text.index("kubernetesVersion:") < text.index("# Optional")
    assert "[flag --k8s, env $KUBERNETES_VERSION]" in text
    assert "# network.podCIDR: 192.168.0.0/16" in text
    # Unfilled: generate names each required key, flag and env var.
    refused(
        run(["generate", "--values", str(target)]),
        "missing required value kubernetesVersion",
        "missing required value azure.subscriptionID",
    )
    filled = {
        "kubernetesVersion": '"1.33"',
        "name": "demo",
        "azure.subscriptionID": "sub",
        "azure.tenantID": "tenant",
        "azure.location": "westeurope",
        "azure.identity.clientID": "client",
    }
    for key, value in filled.items():
        text = text.replace(f"\n{key}:\n", f"\n{key}: {value}\n")
    text = text.replace("# workers.count: 2", "workers.count: 4")
    # Required with the default identity type (WorkloadIdentity), which init says beside them.
    text = text.replace("# azure.nodeIdentity.name:\n", "azure.nodeIdentity.name: nodes\n")
    text = text.replace(
        "# azure.nodeIdentity.resourceGroup:\n", "azure.nodeIdentity.resourceGroup: rg\n"
    )
    target.write_text(text)
    docs = list(yaml.safe_load_all(ok(run(["generate", "--values", str(target)])).stdout))
    assert next(d for d in docs if d["kind"] == "MachineDeployment")["spec"]["replicas"] == 4


def test_init_never_overwrites_without_force(tmp_path: Path) -> None:
    target = tmp_path / "values.yaml"
    target.write_text("mine\n")
    refused(run(["init", "--provider", "gcp", "-o", str(target)]), "refusing to overwrite")
    assert target.read_text() == "mine\n"
    ok(run(["init", "--provider", "gcp", "-o", str(target), "--force"]))
    assert "gcp.project:" in target.read_text()


# --- --diff-against --------------------------------------------------------------------------


def test_diff_against_names_what_rolls_and_leaves_stdout_alone(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    previous = tmp_path / "previous.yaml"
    previous.write_text(ok(run(gen(bakery.url, lock), online=True)).stdout)
    same = ok(run(gen(bakery.url, lock, "--diff-against", str(previous))))
    assert same.stdout == previous.read_text()
    assert "no machine would roll" in same.stderr
    ok(run(["lock", "--upgrade", str(lock)], online=True))
    moved = ok(run(gen(bakery.url, lock, "--diff-against", str(previous), k8s="1.33")))
    assert moved.stdout == ok(run(gen(bakery.url, lock, k8s="1.33"))).stdout
    assert "rolls control-plane machines: KubeadmControlPlane demo-control-plane" in moved.stderr
    assert "spec.version v1.33.2 -> v1.33.3" in moved.stderr
    assert "rolls worker machines: MachineDeployment demo-md-0" in moved.stderr


def test_rollout_compare_rules() -> None:
    from capi_sysext.rollout import compare

    def doc(kind: str, name: str, spec: dict) -> dict:  # type: ignore[type-arg]
        return {"kind": kind, "metadata": {"name": name, "namespace": "ns"}, "spec": spec}

    old = [
        doc("AzureMachineTemplate", "t", {"template": {"spec": {"vmSize": "a"}}}),
        doc("KubeadmConfigTemplate", "k", {"template": {"spec": {"x": 1}}}),
        doc("KubeadmControlPlane", "cp", {"version": "v1", "kubeadmConfigSpec": {"a": 1}}),
    ]
    new = [
        doc("AzureMachineTemplate", "t", {"template": {"spec": {"vmSize": "b"}}}),
        doc("KubeadmConfigTemplate", "k", {"template": {"spec": {"x": 2}}}),
        doc("KubeadmControlPlane", "cp", {"version": "v1", "kubeadmConfigSpec": {"a": 2}}),
    ]
    lines = compare(old, new)
    assert any("AzureMachineTemplate t" in line and "immutable" in line for line in lines)
    assert any("KubeadmConfigTemplate k" in line and "rolls nothing" in line for line in lines)
    assert any("kubeadmConfigSpec changed" in line for line in lines)
    assert compare(old, old) == []


def test_gitops_re_render_after_an_in_place_patch_rolls_nothing(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    """Nodes moved v1.33.2 -> v1.33.3 in place (sysupdate); the repository re-renders with
    `--k8s 1.33` while v1.33.3 is the newest published patch: with the lock, nothing changes."""
    lock = tmp_path / "cluster.lock"
    previous = tmp_path / "previous.yaml"
    previous.write_text(ok(run(gen(bakery.url, lock), online=True)).stdout)
    again = ok(run(gen(bakery.url, lock, "--diff-against", str(previous), k8s="1.33"), online=True))
    assert again.stdout == previous.read_text()
    assert "no machine would roll" in again.stderr
    # Without the lock the same re-render floats to v1.33.3 and would roll every machine.
    args = gen(bakery.url, lock, "--diff-against", str(previous), k8s="1.33")
    args[args.index("--lock") : args.index("--lock") + 2] = []
    floated = ok(run(args, online=True))
    assert "rolls control-plane machines" in floated.stderr
    assert "rolls worker machines" in floated.stderr


def test_lock_command_needs_upgrade_and_a_valid_request(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    ok(run(gen(bakery.url, lock), online=True))
    refused(run(["lock", str(lock)]), "needs --upgrade")
    refused(run(["lock", "--upgrade", str(lock), "--k8s", "latest"]), "not a version")
    refused(run(["lock", "--upgrade", str(lock), "--arch", "sparc"]), "--arch 'sparc'")


def test_class_mode_with_a_lock_is_the_same_online_and_offline(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    lock = tmp_path / "cluster.lock"
    aws = ["--provider", "aws", "--values", str(REPO / "examples" / "aws.yaml")]
    args = [*gen(bakery.url, lock, "--format", "clusterclass"), *aws]
    first = ok(run(args, online=True))
    offline = ok(run(args, cache=tmp_path / "empty-cache"))
    assert offline.stdout == first.stdout
    (cc,) = [d for d in yaml.safe_load_all(first.stdout) if d["kind"] == "ClusterClass"]
    # The class lists what the lock pins, and its sha256, on every machine.
    assert cc["spec"]["kubernetesVersions"] == ["v1.33.2"]
    (sha,) = [v for v in cc["spec"]["variables"] if v["name"] == "sysextSHA256"]
    assert sha["schema"]["openAPIV3Schema"]["default"] == {
        "v1.33.2": hashlib.sha256(b"kubernetes-v1.33.2-x86-64.raw").hexdigest()
    }
