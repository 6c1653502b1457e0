"""`capi-sysext render-cluster` (issue #17): a kubeadm cluster without a management cluster.

Unit tests drive the CLI in-process; the `engine` tests feed every node config of a 1 + 2
cluster to ignition-validate and the Ignition engine's files stage against scratch roots, with
the Kubernetes sysext served from 127.0.0.1, then read what landed on "disk".
"""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import enginelib
import pytest
import yaml
from click.testing import CliRunner, Result

from capi_sysext.cli import cli, commands  # noqa: F401  (importing commands registers them)
from capi_sysext.standalone import Endpoint, parse_endpoint

REPO = Path(__file__).resolve().parent.parent
FIXTURE_STATE = REPO / "tests/fixtures/cluster-state"
GOLDEN = REPO / "tests/golden/cluster"
VERSION = "v1.33.13"
HOST_ARCH = enginelib.host_sysext_arch()
NODES = ("demo-control-plane", "demo-worker-0", "demo-worker-1")
BASE = ["render-cluster", "--k8s", VERSION, "--name", "demo", "--offline"]


def run(args: list[str]) -> Result:
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def render(tmp_path: Path, *extra: str, state: Path | None = FIXTURE_STATE) -> Path:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    args = [*BASE, "--control-plane-endpoint", "10.0.0.10", "-o", f"{out}/", *extra]
    if state is not None:
        args += ["--state", str(state)]
    result = run(args)
    assert result.exit_code == 0, result.output
    return out


def storage_file(config: dict[str, Any], path: str) -> str:
    import urllib.parse

    entry = next(f for f in config["storage"]["files"] if f["path"] == path)
    source: str = entry["contents"]["source"]
    return urllib.parse.unquote(source.removeprefix("data:,"))


def openssl_spki_sha256(cert_pem: str) -> str:
    """The CA pin computed independently of the product, the way kubeadm's docs compute it."""
    pub = subprocess.run(
        ["openssl", "x509", "-pubkey", "-noout"],
        input=cert_pem.encode(),
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"],
        input=pub,
        capture_output=True,
        check=True,
        timeout=10,
    ).stdout
    digest = subprocess.run(
        ["sha256sum"], input=der, capture_output=True, check=True, timeout=10
    ).stdout.decode()
    return "sha256:" + digest.split()[0]


# ---- inputs ----


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.10", Endpoint("10.0.0.10", 6443)),
        ("10.0.0.10:443", Endpoint("10.0.0.10", 443)),
        ("CP.Example.com", Endpoint("cp.example.com", 6443)),
        ("[fd00::1]:6443", Endpoint("fd00::1", 6443)),
        ("fd00::1", Endpoint("fd00::1", 6443)),
    ],
)
def test_endpoint_parses(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize("text", ["10.0.0.10:0", "host:99999", "bad_name", "[fd00::1", "a b"])
def test_bad_endpoint_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


def test_str_endpoint_brackets_ipv6() -> None:
    assert str(Endpoint("fd00::1", 6443)) == "[fd00::1]:6443"


def test_all_problems_at_once_and_nothing_written(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = run(
        [
            *BASE,
            "--control-plane-endpoint",
            "bad_name:1",
            "--cni",
            "cilium",
            "--workers",
            "2",
            "--node",
            "a",
            "--node",
            "b",
            "-o",
            f"{out}/",
        ]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--control-plane-endpoint" in result.output
    assert "cannot install cilium" in result.output
    assert "--node is given 2 times" in result.output
    assert list(out.iterdir()) == []


def test_missing_endpoint_and_output(tmp_path: Path) -> None:
    result = run(BASE)
    assert result.exit_code == 2
    assert "missing required value controlPlane.endpoint" in result.output
    assert "add -o DIR/" in result.output


def test_missing_output_directory(tmp_path: Path) -> None:
    result = run([*BASE, "--control-plane-endpoint", "10.0.0.10", "-o", f"{tmp_path}/nope/"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def _units(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in config["systemd"]["units"]}


def test_kured_is_applied_by_the_control_plane(tmp_path: Path) -> None:
    from capi_sysext.features.kured import FEATURE, manifests

    out = render(tmp_path, "--kured", "--kured-window", "22:00-04:00")
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    docs = list(yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kured/kured.yaml")))
    defaults = {v.key: v.default for v in FEATURE.variables}
    settings = FEATURE.settings({**defaults, "kured.window": ("22:00", "04:00")})
    # The same builder the CAPI path's ClusterResourceSet carries, with the user's settings.
    assert docs == manifests(settings)
    unit = _units(cp)["capi-sysext-kured.service"]
    assert unit["enabled"] is True
    apply = "/usr/bin/kubectl apply --server-side --force-conflicts -f "
    assert f"ExecStart={apply}/etc/capi-sysext/kured/kured.yaml" in unit["contents"]
    for name in NODES[1:]:
        worker = json.loads((out / f"{name}.ign").read_text())
        assert "capi-sysext-kured.service" not in _units(worker)
        assert "/etc/capi-sysext/kured/kured.yaml" not in {
            f["path"] for f in worker["storage"]["files"]
        }


def _host_path_of(daemonset: dict[str, Any], pod_path: str) -> str:
    """Where a path inside Kured's container lives on the host, through its hostPath volume."""
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if pod_path.startswith(prefix):
            host = volumes[mount["name"]]["hostPath"]["path"].rstrip("/")
            return f"{host}/{pod_path.removeprefix(prefix)}"
    raise AssertionError(f"{pod_path} is on no hostPath volume")


def test_kured_sentinel_is_what_sysupdate_creates(tmp_path: Path) -> None:
    import shlex

    from sysupdatelib import exec_argv

    out = render(tmp_path, "--kured", "--sysupdate")
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    docs = yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kured/kured.yaml"))
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    (args,) = [c["args"] for c in ds["spec"]["template"]["spec"]["containers"]]
    (sentinel,) = [a.split("=", 1)[1] for a in args if a.startswith("--reboot-sentinel=")]
    kured_sees = _host_path_of(ds, sentinel)
    for name in NODES:
        node = json.loads((out / f"{name}.ign").read_text())
        (dropin,) = _units(node)["systemd-sysupdate.service"]["dropins"]
        touched = set()
        for line in dropin["contents"].splitlines():
            if line.startswith("ExecStartPost="):
                _ignore, argv = exec_argv(line.split("=", 1)[1])
                assert argv[:2] == ["/usr/bin/sh", "-c"], argv
                words = shlex.split(argv[2].replace(";", " ; "))
                touched |= {words[i + 1] for i, w in enumerate(words) if w == "touch"}
        assert touched == {kured_sees}, name


def test_kured_keeps_update_engine_and_masks_locksmithd(tmp_path: Path) -> None:
    out = render(tmp_path, "--kured")
    for name in NODES:
        units = _units(json.loads((out / f"{name}.ign").read_text()))
        assert units["locksmithd.service"].get("mask") is True, name
        assert units["update-engine.service"] == {"name": "update-engine.service", "enabled": True}


def test_kured_with_undrained_os_reboots_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = [*BASE, "--control-plane-endpoint", "10.0.0.10", "-o", f"{out}/", "--kured"]
    result = run([*args, "--os-updates", "reboot", "--state", str(FIXTURE_STATE)])
    assert result.exit_code == 2
    assert "--os-updates kured" in result.output
    assert list(out.iterdir()) == []


def test_no_kured_no_manifest(tmp_path: Path) -> None:
    cp = json.loads((render(tmp_path) / "demo-control-plane.ign").read_text())
    assert "capi-sysext-kured.service" not in _units(cp)


def test_never_overwrites_without_force(tmp_path: Path) -> None:
    out = render(tmp_path)
    (out / "demo-worker-1.ign").unlink()
    before = (out / "demo-worker-0.ign").read_text()
    (out / "demo-worker-0.ign").write_text("mine")
    args = [*BASE, "--control-plane-endpoint", "10.0.0.10", "--state", str(FIXTURE_STATE)]
    result = run([*args, "-o", f"{out}/"])
    assert result.exit_code == 2
    assert "refusing to overwrite" in result.output
    # all-or-nothing: the missing file was not written either
    assert not (out / "demo-worker-1.ign").exists()
    assert (out / "demo-worker-0.ign").read_text() == "mine"
    assert run([*args, "-o", f"{out}/", "--force"]).exit_code == 0
    assert (out / "demo-worker-0.ign").read_text() == before


def test_outputs_are_private(tmp_path: Path) -> None:
    out = render(tmp_path)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.ign" for n in NODES)
    for p in out.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_state_is_minted_once_then_reused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    first = json.loads((render(tmp_path, state=state) / "demo-control-plane.ign").read_text())
    assert sorted(p.name for p in state.iterdir()) == ["ca.crt", "ca.key", "token"]
    for p in state.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    saved = {p.name: p.read_text() for p in state.iterdir()}
    second_dir = tmp_path / "again"
    second_dir.mkdir()
    second = json.loads(
        (render(second_dir, "--force", state=state) / "demo-control-plane.ign").read_text()
    )
    assert {p.name: p.read_text() for p in state.iterdir()} == saved
    for path in ("/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key"):
        assert storage_file(first, path) == storage_file(second, path)
    assert saved["token"].strip() in storage_file(second, "/etc/capi-sysext/kubeadm/init.yaml")


def test_without_state_every_run_mints_new_secrets(tmp_path: Path) -> None:
    a = json.loads((render(tmp_path, state=None) / "demo-control-plane.ign").read_text())
    b = json.loads((render(tmp_path, "--force", state=None) / "demo-control-plane.ign").read_text())
    path = "/etc/kubernetes/pki/ca.crt"
    assert storage_file(a, path) != storage_file(b, path)


def test_incomplete_state_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "ca.crt").write_text((FIXTURE_STATE / "ca.crt").read_text())
    out = tmp_path / "out"
    out.mkdir()
    args = [*BASE, "--control-plane-endpoint", "10.0.0.10", "-o", f"{out}/"]
    result = run([*args, "--state", str(state)])
    assert result.exit_code == 2
    assert "incomplete: ca.key, token missing" in result.output
    assert list(out.iterdir()) == []


def test_bad_token_in_state_is_an_error(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    for name in ("ca.crt", "ca.key"):
        (state / name).write_text((FIXTURE_STATE / name).read_text())
    (state / "token").write_text("not-a-token\n")
    out = tmp_path / "out"
    out.mkdir()
    result = run([*BASE, "--control-plane-endpoint", "x", "-o", f"{out}/", "--state", str(state)])
    assert result.exit_code == 2
    assert "is not a bootstrap token" in result.output


def test_admin_kubeconfig_is_signed_by_the_ca(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    kubeconfig = tmp_path / "admin.conf"
    render(tmp_path, "--admin-kubeconfig", str(kubeconfig))
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.10:6443"
    import base64

    cert = x509.load_pem_x509_certificate(
        base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
    )
    ca = x509.load_pem_x509_certificate((FIXTURE_STATE / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca)
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [o.value for o in orgs] == ["system:masters"]


def test_secrets_only_where_needed(tmp_path: Path) -> None:
    out = render(tmp_path)
    cp = (out / "demo-control-plane.ign").read_text()
    worker = (out / "demo-worker-0.ign").read_text()
    assert "%2Fetc%2Fkubernetes%2Fpki%2Fca.key" not in cp  # paths are not data URLs
    paths = {f["path"] for f in json.loads(worker)["storage"]["files"]}
    assert "/etc/kubernetes/pki/ca.key" not in paths
    assert "/etc/kubernetes/pki/ca.key" in {f["path"] for f in json.loads(cp)["storage"]["files"]}


def test_worker_pins_the_ca_the_control_plane_gets(tmp_path: Path) -> None:
    out = render(tmp_path)
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    ca_pem = storage_file(cp, "/etc/kubernetes/pki/ca.crt")
    expected = openssl_spki_sha256(ca_pem)
    for name in NODES[1:]:
        worker = json.loads((out / f"{name}.ign").read_text())
        (join,) = yaml.safe_load_all(storage_file(worker, "/etc/capi-sysext/kubeadm/join.yaml"))
        bootstrap = join["discovery"]["bootstrapToken"]
        assert bootstrap["caCertHashes"] == [expected]
        assert "unsafeSkipCAVerification" not in bootstrap
        assert bootstrap["apiServerEndpoint"] == "10.0.0.10:6443"
        assert join["nodeRegistration"]["name"] == name
        assert join["timeouts"] == {"discovery": "30m0s"}


def test_kubeadm_init_configuration(tmp_path: Path) -> None:
    out = render(tmp_path, "--control-plane-endpoint", "cp.example.com:8443")
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    docs = list(yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kubeadm/init.yaml")))
    by_kind = {d["kind"]: d for d in docs}
    assert {d["apiVersion"] for d in docs[:2]} == {"kubeadm.k8s.io/v1beta4"}
    cluster = by_kind["ClusterConfiguration"]
    assert cluster["kubernetesVersion"] == VERSION
    assert cluster["controlPlaneEndpoint"] == "cp.example.com:8443"
    assert cluster["apiServer"]["certSANs"] == ["cp.example.com"]
    assert cluster["networking"] == {"podSubnet": "192.168.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    assert by_kind["InitConfiguration"]["localAPIEndpoint"]["bindPort"] == 8443
    assert by_kind["InitConfiguration"]["nodeRegistration"]["name"] == "demo-control-plane"
    assert by_kind["KubeletConfiguration"]["cgroupDriver"] == "systemd"
    token = (FIXTURE_STATE / "token").read_text().strip()
    assert by_kind["InitConfiguration"]["bootstrapTokens"][0]["token"] == token


def test_cni_none_installs_nothing(tmp_path: Path) -> None:
    out = render(tmp_path, "--cni", "none")
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    assert "capi-sysext-cni.service" not in {u["name"] for u in cp["systemd"]["units"]}


def test_calico_is_the_pinned_version(tmp_path: Path) -> None:
    from capi_sysext.features.addons import addon_table

    pinned = addon_table()["cni"]["calico"]["versions"]["1.33"]
    out = render(tmp_path)
    cp = json.loads((out / "demo-control-plane.ign").read_text())
    unit = next(u for u in cp["systemd"]["units"] if u["name"] == "capi-sysext-cni.service")
    url = f"https://raw.githubusercontent.com/projectcalico/calico/{pinned}/manifests/"
    assert f"{url}tigera-operator.yaml" in unit["contents"]
    installation = yaml.safe_load(storage_file(cp, "/etc/capi-sysext/cni/calico-installation.yaml"))
    assert installation["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == "192.168.0.0/16"


def test_node_names(tmp_path: Path) -> None:
    out = render(tmp_path, "--workers", "1", "--node", "cp1", "--node", "w1")
    assert sorted(p.name for p in out.iterdir()) == ["cp1.ign", "w1.ign"]
    cp = json.loads((out / "cp1.ign").read_text())
    assert storage_file(cp, "/etc/hostname") == "cp1\n"
    init = yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kubeadm/init.yaml"))
    assert next(init)["nodeRegistration"]["name"] == "cp1"
    w1 = json.loads((out / "w1.ign").read_text())
    (join,) = yaml.safe_load_all(storage_file(w1, "/etc/capi-sysext/kubeadm/join.yaml"))
    assert join["nodeRegistration"]["name"] == "w1"
    # Without an address a node keeps the network's DHCP.
    assert STATIC not in {f["path"] for f in cp["storage"]["files"]}


STATIC = "/etc/systemd/network/00-capi-sysext-static.network"
ADDRESSED = (
    "--workers",
    "2",
    "--node",
    "cp=10.0.0.10/24",
    "--node",
    "w1=10.0.0.11/24",
    "--node",
    "w2",
    "--node-gateway",
    "10.0.0.1",
    "--node-dns",
    "10.0.0.1,9.9.9.9",
)


def _network_file(text: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if line.startswith("["):
            current = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            sections.setdefault(current, []).append(line)
    return sections


def test_static_addresses(tmp_path: Path) -> None:
    out = render(tmp_path, *ADDRESSED)
    cp = json.loads((out / "cp.ign").read_text())
    assert _network_file(storage_file(cp, STATIC)) == {
        "Match": ["Name=en* eth*"],
        "Network": [
            "DHCP=no",
            "Address=10.0.0.10/24",
            "Gateway=10.0.0.1",
            "DNS=10.0.0.1",
            "DNS=9.9.9.9",
        ],
    }
    docs = {
        d["kind"]: d
        for d in yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kubeadm/init.yaml"))
    }
    init = docs["InitConfiguration"]
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.10", "bindPort": 6443}
    assert init["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "10.0.0.10"}
    ]
    w1 = json.loads((out / "w1.ign").read_text())
    assert "Address=10.0.0.11/24" in storage_file(w1, STATIC)
    (join,) = yaml.safe_load_all(storage_file(w1, "/etc/capi-sysext/kubeadm/join.yaml"))
    assert join["nodeRegistration"]["kubeletExtraArgs"] == [
        {"name": "node-ip", "value": "10.0.0.11"}
    ]
    w2 = json.loads((out / "w2.ign").read_text())
    assert STATIC not in {f["path"] for f in w2["storage"]["files"]}
    (join,) = yaml.safe_load_all(storage_file(w2, "/etc/capi-sysext/kubeadm/join.yaml"))
    assert "kubeletExtraArgs" not in join["nodeRegistration"]


def test_static_address_with_a_dns_endpoint_joins_the_cert_sans(tmp_path: Path) -> None:
    out = render(tmp_path, *ADDRESSED, "--control-plane-endpoint", "cp.example.com")
    cp = json.loads((out / "cp.ign").read_text())
    docs = yaml.safe_load_all(storage_file(cp, "/etc/capi-sysext/kubeadm/init.yaml"))
    cluster = next(d for d in docs if d["kind"] == "ClusterConfiguration")
    assert cluster["apiServer"]["certSANs"] == ["cp.example.com", "10.0.0.10"]


def test_interface_match_is_overridable(tmp_path: Path) -> None:
    out = render(tmp_path, *ADDRESSED, "--node-interface", "enp1s0")
    cp = json.loads((out / "cp.ign").read_text())
    assert _network_file(storage_file(cp, STATIC))["Match"] == ["Name=enp1s0"]


def test_nodes_from_a_values_file(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "workers": {"count": 1},
                "nodes": {
                    "list": [{"name": "cp", "address": "10.0.0.10/24"}, "w1=10.0.0.11/24"],
                    "gateway": "10.0.0.1",
                    "dns": ["10.0.0.1"],
                },
            }
        )
    )
    out = render(tmp_path, "-f", str(values))
    assert sorted(p.name for p in out.iterdir()) == ["cp.ign", "w1.ign"]


def _refused(tmp_path: Path, *extra: str) -> str:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    args = [*BASE, "--control-plane-endpoint", "10.0.0.10", "-o", f"{out}/", *extra]
    result = run([*args, "--state", str(FIXTURE_STATE)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert list(out.iterdir()) == []
    return result.output


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (("CP", "w1", "w2"), "'CP' is not a DNS-1123 label"),
        (("cp.example", "w1", "w2"), "'cp.example' is not a DNS-1123 label"),
        (("cp", "w1", "w1"), "node names must be unique: w1 given twice"),
        (("cp=10.0.0.10/24", "w1=10.0.0.11/24", "w2=10.0.0.11/25"), "10.0.0.11 given twice"),
        (("cp=10.0.0.10", "w1", "w2"), "needs its prefix length"),
        (("cp=10.0.0.300/24", "w1", "w2"), "is not an IP address with prefix"),
        (("cp=10.0.0.0/24", "w1", "w2"), "network or broadcast address"),
    ],
)
def test_bad_nodes_are_refused(tmp_path: Path, nodes: tuple[str, ...], message: str) -> None:
    args = [a for n in nodes for a in ("--node", n)]
    output = _refused(tmp_path, *args, "--node-gateway", "10.0.0.1", "--node-dns", "10.0.0.1")
    assert message in output
    assert "--node" in output


def test_all_node_problems_at_once(tmp_path: Path) -> None:
    output = _refused(tmp_path, "--node", "CP", "--node", "w1", "--node", "w1")
    assert "'CP' is not a DNS-1123 label" in output
    assert "w1 given twice" in output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--node-dns", "10.0.0.1"), "need a default gateway (the sysext"),
        (("--node-gateway", "10.0.0.1"), "need DNS servers"),
        (("--node-gateway", "10.1.0.1", "--node-dns", "10.0.0.1"), "outside the network of cp"),
        (("--node-gateway", "10.0.0.1", "--node-dns", "nope"), "'nope' is not an IP address"),
        (("--node-gateway", "x", "--node-dns", "10.0.0.1"), "'x' is not an IP address"),
        (
            ("--node-gateway", "10.0.0.1", "--node-dns", "1.1.1.1", "--node-interface", "e/0"),
            "not an interface name",
        ),
    ],
)
def test_bad_static_network_is_refused(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    output = _refused(tmp_path, "--node", "cp=10.0.0.10/24", "--node", "w1", "--node", "w2", *extra)
    assert message in output


def test_control_plane_address_must_be_the_endpoint(tmp_path: Path) -> None:
    net = ("--node-gateway", "10.0.0.1", "--node-dns", "10.0.0.1")
    output = _refused(tmp_path, "--node", "cp=10.0.0.20/24", "--node", "w1", "--node", "w2", *net)
    assert "--control-plane-endpoint 10.0.0.10 is not the control plane's address" in output
    output = _refused(tmp_path, "--node", "cp", "--node", "w1=10.0.0.10/24", "--node", "w2", *net)
    assert "is the address of worker w1" in output


def test_node_address_inside_the_pod_network_is_refused(tmp_path: Path) -> None:
    output = _refused(
        tmp_path,
        *("--control-plane-endpoint", "192.168.1.10"),
        *("--node", "cp=192.168.1.10/24", "--node", "w1", "--node", "w2"),
        *("--node-gateway", "192.168.1.1", "--node-dns", "192.168.1.1"),
    )
    assert "lies in network.podCIDR 192.168.0.0/16" in output


# ---- SSH keys for core ----

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGq8Yp1m0uQfYx2Jb3n6Hcm0Wm1P5b8r0b2l8XbO4w1R me@laptop"


def test_ssh_keys_for_core_on_every_node(tmp_path: Path) -> None:
    key_file = tmp_path / "id.pub"
    other = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 other"
    key_file.write_text(f"{other}\n\n")
    out = render(tmp_path, "--ssh-key", KEY, "--ssh-key", str(key_file), "--ssh-key", KEY)
    for name in NODES:
        config = json.loads((out / f"{name}.ign").read_text())
        # Ignition wants each key once: the repeated one is dropped.
        assert config["passwd"] == {"users": [{"name": "core", "sshAuthorizedKeys": [KEY, other]}]}
    out = render(tmp_path, "--ssh-key", KEY, "--format", "butane", "--force")
    bu = yaml.safe_load((out / "demo-worker-0.bu").read_text())
    assert bu["passwd"] == {"users": [{"name": "core", "ssh_authorized_keys": [KEY]}]}


def test_ssh_keys_from_values(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"ssh": {"authorizedKeys": [KEY]}}))
    cp = json.loads((render(tmp_path, "-f", str(values)) / "demo-control-plane.ign").read_text())
    assert cp["passwd"]["users"][0]["sshAuthorizedKeys"] == [KEY]


def test_no_ssh_keys_no_passwd(tmp_path: Path) -> None:
    cp = json.loads((render(tmp_path) / "demo-control-plane.ign").read_text())
    assert "passwd" not in cp


def test_private_ssh_key_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    private = tmp_path / "id_ed25519"
    private.write_text(
        f"-----BEGIN OPENSSH PRIVATE KEY-----\n{secret}\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    output = _refused(tmp_path, "--ssh-key", str(private), "--ssh-key", "ssh-foo AAAA x")
    assert "this is a PRIVATE key: give the public one" in output
    assert secret[:20] not in output


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ssh-ed25519", "neither an SSH public key line nor a readable file"),
        ("ssh-foo AAAA me", "not an SSH public key"),
        ("ssh-ed25519 not*base64 me", "not an SSH public key"),
    ],
)
def test_bad_ssh_key_is_refused(tmp_path: Path, value: str, message: str) -> None:
    output = _refused(tmp_path, "--ssh-key", value)
    assert message in output
    assert "--ssh-key" in output


# ---- golden files (fixed test-only CA and token from tests/fixtures/cluster-state) ----


@pytest.mark.parametrize("fmt", ["butane", "ignition"])
def test_golden(fmt: str, tmp_path: Path, update_golden: bool) -> None:
    out = render(tmp_path, "--format", fmt, "--arch", "x86-64")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for produced in sorted(out.iterdir()):
        expected = GOLDEN / produced.name
        if update_golden or not expected.exists():
            expected.write_text(produced.read_text())
            if not update_golden:
                pytest.fail(f"{expected} did not exist; written now, review and commit it")
        assert produced.read_text() == expected.read_text(), (
            f"{produced.name} differs from tests/golden/cluster; if intended, run with "
            "--update-golden and review the diff"
        )


def test_golden_static_kured_ssh(tmp_path: Path, update_golden: bool) -> None:
    """Every option of this issue at once: static addresses, SSH keys, Kured, sysupdate."""
    golden = REPO / "tests/golden/cluster-static"
    out = render(
        tmp_path, "--format", "butane", "--arch", "x86-64", *ADDRESSED, "--ssh-key", KEY,
        "--kured", "--sysupdate",
    )  # fmt: skip
    golden.mkdir(parents=True, exist_ok=True)
    for produced in sorted(out.iterdir()):
        expected = golden / produced.name
        if update_golden or not expected.exists():
            expected.write_text(produced.read_text())
            if not update_golden:
                pytest.fail(f"{expected} did not exist; written now, review and commit it")
        assert produced.read_text() == expected.read_text(), (
            f"{produced.name} differs from tests/golden/cluster-static; if intended, run with "
            "--update-golden and review the diff"
        )


# ---- the real engines ----


@pytest.fixture(scope="module")
def bakery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    enginelib.require_engines()
    base = tmp_path_factory.mktemp("cluster-bakery")
    image = enginelib.build_sysext(base, VERSION, HOST_ARCH)
    sha = enginelib.sha256_file(image)
    index = base / "kubernetes/SHA256SUMS"
    index.parent.mkdir()
    index.write_text(f"{sha}  {image.name}\n")
    with enginelib.serve_directory(base) as served:
        yield served.url(""), sha


def _unit_keys(root: Path, unit: str, key: str) -> set[str]:
    """Values of `key` in [Unit] across the unit file and its drop-ins, as systemd merges them
    (space-separated lists accumulate)."""
    texts = [(root / "etc/systemd/system" / unit).read_text()]
    dropin_dir = root / "etc/systemd/system" / f"{unit}.d"
    if dropin_dir.is_dir():
        texts += [p.read_text() for p in sorted(dropin_dir.glob("*.conf"))]
    values: set[str] = set()
    for text in texts:
        section = None
        for line in text.splitlines():
            if line.startswith("["):
                section = line.strip("[]")
            elif section == "Unit" and line.startswith(f"{key}="):
                values.update(line.split("=", 1)[1].split())
    return values


def _flatcar_core_user(root: Path) -> None:
    """The `core` account every Flatcar image ships, so Ignition only adds its keys. Uid 0 here,
    not Flatcar's 500: the engine writes the keys as the user, and the scratch root lies under
    pytest's root-only temporary directory."""
    etc = root / "etc"
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\ncore:x:0:0:Flatcar Admin:/home/core:/bin/bash\n"
    )
    (etc / "group").write_text("root:x:0:\n")
    (etc / "shadow").write_text("root:*:1::::::\ncore:*:1::::::\n")
    (etc / "gshadow").write_text("root:*::\n")
    (root / "home/core").mkdir(parents=True)


@pytest.mark.engine
def test_every_node_of_a_1_plus_2_cluster_boots(
    bakery: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, sha = bakery
    monkeypatch.delenv("CAPI_SYSEXT_OFFLINE")
    out = tmp_path / "out"
    out.mkdir()
    args = [
        "render-cluster",
        "--k8s",
        VERSION,
        "--name",
        "demo",
        "--arch",
        HOST_ARCH,
        "--sysext-base-url",
        url.rstrip("/"),
        "--refresh",
        "--control-plane-endpoint",
        "10.0.0.10",
        "--state",
        str(FIXTURE_STATE),
        "--kured",
        "--sysupdate",
        *("--node", f"{NODES[0]}=10.0.0.10/24", "--node", f"{NODES[1]}=10.0.0.11/24"),
        *("--node", NODES[2], "--node-gateway", "10.0.0.1", "--node-dns", "10.0.0.1"),
        *("--ssh-key", KEY),
        "-o",
        f"{out}/",
    ]
    result = run(args)
    assert result.exit_code == 0, result.output
    assert "not pinned" not in result.output
    roots: dict[str, Path] = {}
    for name in NODES:
        text = (out / f"{name}.ign").read_text()
        ok, log = enginelib.ignition_validate(text, strict=True)
        assert ok, log
        root = enginelib.make_scratch_root(tmp_path / name)
        _flatcar_core_user(root)
        ran = enginelib.run_ignition(text, root, timeout=40)
        assert ran.ok, ran.log
        image = root / f"opt/extensions/kubernetes/kubernetes-{VERSION}-{HOST_ARCH}.raw"
        assert enginelib.sha256_file(image) == sha
        assert (root / "etc/hostname").read_text() == f"{name}\n"
        assert enginelib.unit_state(root, "kubeadm.service") == "enabled"
        # The engine put the key where Flatcar's sshd reads it (authorized_keys.d, Butane docs).
        keys = root / "home/core/.ssh/authorized_keys.d/ignition"
        assert keys.read_text().splitlines() == [KEY], name
        network = root / STATIC.lstrip("/")
        if name == NODES[2]:
            assert not network.exists()
        else:
            address = "10.0.0.10/24" if name == NODES[0] else "10.0.0.11/24"
            assert f"Address={address}" in _network_file(network.read_text())["Network"], name
        roots[name] = root
    cp = roots[NODES[0]]
    # The CA the control plane gets on disk, hashed independently, is what the workers pin.
    ca_pem = (cp / "etc/kubernetes/pki/ca.crt").read_text()
    assert stat.S_IMODE((cp / "etc/kubernetes/pki/ca.key").stat().st_mode) == 0o600
    init_docs = list(yaml.safe_load_all((cp / "etc/capi-sysext/kubeadm/init.yaml").read_text()))
    cluster = next(d for d in init_docs if d["kind"] == "ClusterConfiguration")
    assert (cluster["kubernetesVersion"], cluster["controlPlaneEndpoint"]) == (
        VERSION,
        "10.0.0.10:6443",
    )
    pin = openssl_spki_sha256(ca_pem)
    for name in NODES[1:]:
        join_file = roots[name] / "etc/capi-sysext/kubeadm/join.yaml"
        assert stat.S_IMODE(join_file.stat().st_mode) == 0o600
        (join,) = yaml.safe_load_all(join_file.read_text())
        assert join["discovery"]["bootstrapToken"]["caCertHashes"] == [pin]
        assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "10.0.0.10:6443"
        assert not (roots[name] / "etc/kubernetes/pki/ca.key").exists()
    # Ordering, as systemd merges the unit and its drop-ins.
    for name, root in roots.items():
        after = _unit_keys(root, "kubeadm.service", "After")
        requires = _unit_keys(root, "kubeadm.service", "Requires")
        assert {"containerd.service", "systemd-sysext.service"} <= after, name
        assert {"containerd.service", "capi-sysext-verify.service"} <= requires, name
        assert "capi-sysext-verify.service" in after, name
        guard = _unit_keys(root, "kubeadm.service", "ConditionPathExists")
        expected = "/etc/kubernetes/admin.conf" if root == cp else "/etc/kubernetes/kubelet.conf"
        assert guard == {f"!{expected}"}, name
    assert "kubeadm.service" in _unit_keys(cp, "capi-sysext-cni.service", "After")
    assert "kubeadm.service" in _unit_keys(cp, "capi-sysext-cni.service", "Requires")
    assert enginelib.unit_state(cp, "capi-sysext-cni.service") == "enabled"
    assert "kubeadm.service" in _unit_keys(cp, "capi-sysext-kured.service", "After")
    assert "kubeadm.service" in _unit_keys(cp, "capi-sysext-kured.service", "Requires")
    assert enginelib.unit_state(cp, "capi-sysext-kured.service") == "enabled"
    kured = list(yaml.safe_load_all((cp / "etc/capi-sysext/kured/kured.yaml").read_text()))
    assert "DaemonSet" in {d["kind"] for d in kured}
    for name, root in roots.items():
        # Kured alone reboots: locksmithd masked, update-engine kept to stage OS updates.
        assert enginelib.is_masked(root, "locksmithd.service"), name
        assert not enginelib.is_masked(root, "update-engine.service"), name
        assert not (root / "etc/capi-sysext/kured/kured.yaml").exists() or root == cp
    # The merged sysext provides the kubeadm the unit runs.
    merge = enginelib.merge_sysext(cp)
    assert merge.ok and merge.merged, merge.log
    assert "usr/bin/kubeadm" in merge.appeared


def test_clc_refuses_users() -> None:
    """CABPK writes passwd from KubeadmConfig.users; the CLC must not carry a second one."""
    from capi_sysext.errors import RenderError
    from capi_sysext.model import NodeConfig, User
    from capi_sysext.render.clc import render_clc

    with pytest.raises(RenderError, match=r"KubeadmConfig\.users"):
        render_clc(NodeConfig(users=(User("core", (KEY,)),)))


def test_generate_keys_it_cannot_honour_are_refused_all_at_once(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "controlPlane": {"count": 3},
                "provider": "aws",
                "aws": {"region": "eu-west-1"},
                "healthChecks": {"enabled": True},
                "namespace": "ignored",
                "flatcar": {"channel": None},  # an empty key is unset: nothing to refuse
            }
        )
    )
    output = _refused(tmp_path, "-f", str(values), "--set", "addons.csi=true")
    assert f"values file {values}: render-cluster cannot honour controlPlane.count" in output
    for key, instead in [
        ("controlPlane.count", "exactly one control-plane node"),
        ("provider", "with no cloud provider"),
        ("aws.region", "with no cloud provider"),
        ("healthChecks.enabled", "no MachineHealthCheck"),
        ("namespace", "no Cluster API objects"),
        ("addons.csi", "only the CNI"),
    ]:
        assert f"render-cluster cannot honour {key}: it " in output
        assert instead in output.split(f"cannot honour {key}: ", 1)[1].splitlines()[0]
    assert "--set: render-cluster cannot honour addons.csi" in output
    assert "flatcar.channel" not in output
    assert output.count("use `capi-sysext generate`") == 6


def test_an_exported_generate_variable_is_not_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CAPI_SYSEXT_PROVIDER", "aws")
    render(tmp_path, "--cni", "none")
