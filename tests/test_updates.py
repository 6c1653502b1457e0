"""In-place updates (issue #5): sysupdate on the nodes, Kured add-on, reboot-safe health checks.

Behaviour, not strings: the node config goes through the real Ignition engine, and the cluster
documents are validated against the Kubernetes API schemas and the Cluster API CRDs. The real
systemd-sysupdate runs against those node files in tests/test_sysupdate_engine.py; what stays
here is what it cannot reach: the MatchPattern model (tests/sysupdate_pattern.py) for the
architecture the host does not run (sysupdate expands %a to the running kernel's), and a
sentinel case the real tool never produces.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from crd_fixtures import crd_errors
from enginelib import host_sysext_arch
from nodeconfiglib import file_text, ini_values, node_config
from sysupdate_pattern import expand_specifiers, match
from sysupdatelib import exec_argv, exec_lines

from capi_sysext.catalog import ARCHES, load_embedded
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.durations import format_duration
from capi_sysext.features import updates
from capi_sysext.generate import resolve_release
from capi_sysext.inputs import RawInputs, parse_duration
from capi_sysext.layout import SYSEXT_LINK
from capi_sysext.model import NodeConfig
from capi_sysext.render.butane import render_butane
from capi_sysext.render.clc import render_clc
from capi_sysext.render.clc_parse import parse_clc, parse_ignition
from capi_sysext.render.ignition import data_url, render_ignition_json
from capi_sysext.specbuild import build_node_spec
from capi_sysext.yamlio import load_all, load_file

REPO = Path(__file__).resolve().parent.parent

AZURE = ["--provider", "azure", "--name", "demo", "--values", "examples/azure.yaml"]


def unit(cfg: NodeConfig, name: str) -> Any:
    found = [u for u in cfg.units if u.name == name]
    return found[0] if found else None


def generate(*args: str, catch: bool = False) -> Any:
    import os

    cwd = Path.cwd()
    os.chdir(REPO)
    try:
        return CliRunner().invoke(cli, ["generate", *AZURE, *args], catch_exceptions=catch)
    finally:
        os.chdir(cwd)


def documents(*args: str) -> list[dict[str, Any]]:
    result = generate("--k8s", "1.33", *args)
    assert result.exit_code == 0, result.output
    return load_all(result.stdout, "generate")


# ---- the transfer file ------------------------------------------------------------------------


def test_transfer_file_fields_and_mirror_path() -> None:
    cfg = node_config(
        {"sysupdate.enabled": "true", "sysext.baseUrl": "https://mirror.example.com/sx/"}
    )
    text = file_text(cfg, "/etc/sysupdate.kubernetes.d/kubernetes-v1.33.conf")
    assert ini_values(text, "Path") == [
        "https://mirror.example.com/sx/kubernetes/",
        "/opt/extensions/kubernetes",
    ]
    assert ini_values(text, "MatchPattern") == ["kubernetes-v1.33.@v-%a.raw"]
    assert ini_values(text, "CurrentSymlink") == [SYSEXT_LINK]
    assert ini_values(text, "InstancesMax") == ["3"]
    assert ini_values(text, "Verify") == ["false"]
    verified = node_config(
        {"sysupdate.enabled": "true", "sysupdate.verify": "true", "sysupdate.instancesMax": "2"}
    )
    text = file_text(verified, "/etc/sysupdate.kubernetes.d/kubernetes-v1.33.conf")
    assert ini_values(text, "Verify") == ["true"]
    assert ini_values(text, "InstancesMax") == ["2"]
    assert ini_values(text, "Path")[0] == "https://extensions.flatcar.org/extensions/kubernetes/"


def test_pattern_model_follows_systemd() -> None:
    # strstr semantics: a field ends at the first occurrence of the following literal.
    assert match("a-@v-b", "a-1-2-b") == "1-2"
    assert match("a-@v.raw", "a-1.2.raw") == "1.2"
    assert match("a-@v.raw", "a-.raw") is None  # empty version
    assert match("a-@v.raw", "a-1 2.raw") is None  # invalid character
    assert match("a-@v", "a-1/x") is None  # "/" is not a version character
    assert match("a@@-@v", "a@-7") == "7"
    assert expand_specifiers("x-%a-%%", "arm64") == "x-arm64-%"
    with pytest.raises(ValueError, match="@v missing"):
        match("kubernetes.raw", "kubernetes.raw")


# The host's own arch runs through the real tool (test_real_matcher_selects_exactly_each_minor_
# of_the_catalog, lookalikes included); only the other one needs the model.
@pytest.mark.parametrize("arch", [a for a in ARCHES if a != host_sysext_arch()])
def test_match_pattern_selects_exactly_its_minor_and_arch(arch: str) -> None:
    catalog = load_embedded()
    names = [image.filename for image in catalog.all_images()]
    assert len({i.arch for i in catalog.all_images()}) == 2  # both arches are in the catalog
    for minor in sorted({(i.version.major, i.version.minor) for i in catalog.all_images()}):
        request = f"{minor[0]}.{minor[1]}"
        cfg = node_config({"kubernetesVersion": request, "arch": arch, "sysupdate.enabled": "1"})
        transfer = file_text(cfg, f"/etc/sysupdate.kubernetes.d/kubernetes-v{request}.conf")
        (raw,) = ini_values(transfer, "MatchPattern")
        pattern = expand_specifiers(raw, arch)
        for image in catalog.all_images():
            wanted = image.arch == arch and (image.version.major, image.version.minor) == minor
            got = match(pattern, image.filename)
            assert (got is not None) == wanted, (pattern, image.filename)
            if wanted:
                assert got == str(image.version.patch)
        # The image Ignition placed is an installed instance of the same transfer (no target
        # MatchPattern means the source's): sysupdate must recognize it to rotate it out later.
        (booted,) = [f.path for f in cfg.files if f.remote is not None]
        assert match(pattern, booted.rsplit("/", 1)[1]) is not None
        for other in ("SHA256SUMS", f"kubernetes-v{request}.conf", "noop.conf"):
            assert match(pattern, other) is None
        assert names  # sanity: the loop above saw the whole catalog


# ---- the reboot drop-in --------------------------------------------------------------------


def _dropin_steps() -> list[tuple[str, list[str]]]:
    """(key, argv) of the drop-in's Exec lines, split by systemd's rules."""
    cfg = node_config({"sysupdate.enabled": "1"})
    (dropin,) = unit(cfg, "systemd-sysupdate.service").dropins
    lines = exec_lines([dropin.contents])
    return [(key, exec_argv(line)[1]) for key, values in lines.items() for line in values]


def _rebase(script: str, root: Path) -> str:
    # The absolute node paths the logic touches, moved under a scratch root.
    return re.sub(r"(?<=[\s>])/(etc|run|opt)/", lambda m: f"{root}/{m.group(1)}/", script)


def test_dropin_runs_sysupdate_between_the_two_records() -> None:
    steps = _dropin_steps()
    assert [k for k, _ in steps] == ["ExecStartPre", "ExecStartPre", "ExecStartPost"]
    assert steps[1][1] == ["/usr/lib/systemd/systemd-sysupdate", "-C", "kubernetes", "update"]
    for _, argv in (steps[0], steps[2]):
        assert argv[:2] == ["/usr/bin/sh", "-c"] and len(argv) == 3
        assert "$" not in argv[2]  # envsubst would rewrite $NAME / ${...} in the CAPI output


def test_sentinel_ignores_a_relinked_same_image(tmp_path: Path) -> None:
    """Ignition writes an absolute link, systemd-sysupdate a relative one: comparing resolved
    paths (readlink -f), not link text, keeps a relink to the same image from asking for a
    reboot. The real tool never relinks without an update, so this case is staged by hand; the
    other cases run with the real tool in tests/test_sysupdate_engine.py."""
    steps = _dropin_steps()
    before, after = steps[0][1][2], steps[2][1][2]
    root = tmp_path / "root"
    images = root / "opt/extensions/kubernetes"
    images.mkdir(parents=True)
    (root / "etc/extensions").mkdir(parents=True)
    (root / "run").mkdir()
    old = images / "kubernetes-v1.33.2-x86-64.raw"
    old.write_text("old")
    link = root / "etc/extensions/kubernetes.raw"
    link.symlink_to(old)

    def sh(script: str) -> None:
        proc = subprocess.run(
            ["/bin/sh", "-c", _rebase(script, root)],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        # A failing ExecStartPost would mark systemd-sysupdate.service failed (FACTS s.3).
        assert proc.returncode == 0, proc.stderr

    sh(before)
    link.unlink()
    link.symlink_to("../../opt/extensions/kubernetes/kubernetes-v1.33.2-x86-64.raw")
    sh(after)
    assert not (root / "run/reboot-required").exists()


# ---- node units -------------------------------------------------------------------------------


def test_timer_state_has_one_owner_and_is_always_explicit() -> None:
    assert unit(node_config({}), "systemd-sysupdate.timer").enabled is False
    on = node_config({"sysupdate.enabled": "true"})
    assert unit(on, "systemd-sysupdate.timer").enabled is True
    off = node_config({"sysupdate.enabled": "false"})
    assert not [f for f in off.files if "sysupdate" in f.path]
    assert unit(off, "systemd-sysupdate.service") is None


def test_default_os_updates_never_reboot_undrained() -> None:
    # Before: update-engine on and locksmithd unmasked, so every node rebooted itself undrained.
    cfg = node_config({})
    assert unit(cfg, "update-engine.service").mask
    assert unit(cfg, "locksmithd.service").mask
    on = node_config({"sysupdate.enabled": "true"})
    assert unit(on, "locksmithd.service").mask  # no Kured, still no undrained reboot


def test_kured_keeps_os_updates_and_masks_locksmithd() -> None:
    cfg = node_config({"kured.enabled": "true"})
    assert unit(cfg, "locksmithd.service").mask
    engine = unit(cfg, "update-engine.service")
    assert engine.enabled is True and not engine.mask  # Kured reboots for OS updates too
    off = node_config({"kured.enabled": "true", "os.updates": "off"})
    assert unit(off, "update-engine.service").mask and unit(off, "locksmithd.service").mask


def test_os_updates_reboot_is_an_explicit_opt_in_with_a_warning() -> None:
    cfg = node_config({"os.updates": "reboot"})
    assert unit(cfg, "update-engine.service").enabled is True
    assert unit(cfg, "locksmithd.service").enabled is True
    assert not unit(cfg, "locksmithd.service").mask
    result = CliRunner().invoke(
        cli, ["render-node", "--k8s", "1.33", "--offline", "--os-updates", "reboot"]
    )
    assert result.exit_code == 0, result.output
    assert "without draining" in result.stderr


@pytest.mark.parametrize(
    ("flags", "fix"),
    [
        (["--os-updates", "kured"], "--kured"),
        (["--os-updates", "reboot", "--kured"], "--os-updates kured"),
        (["--os-updates", "sometimes"], "--os-updates"),
    ],
)
def test_contradictory_os_update_inputs_are_refused(flags: list[str], fix: str) -> None:
    result = CliRunner().invoke(cli, ["render-node", "--k8s", "1.33", "--offline", *flags])
    assert result.exit_code == 2, result.output
    assert fix in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("role", ["worker", "control-plane"])
def test_three_formats_carry_the_same_update_config(role: str) -> None:
    cfg = node_config({"sysupdate.enabled": "1", "kured.enabled": "1", "os.updates": "off"}, role)
    (butane,) = load_all(render_butane(cfg), "butane")
    for f in butane["storage"]["files"]:
        if "inline" in f["contents"]:
            f["contents"] = {"source": data_url(f["contents"].pop("inline"))}
    butane.pop("variant"), butane.pop("version")
    from_butane = parse_ignition({"ignition": {"version": "3.3.0"}, **butane})
    assert parse_clc(render_clc(cfg)) == parse_ignition(json.loads(render_ignition_json(cfg)))
    assert parse_clc(render_clc(cfg)) == from_butane == cfg


# ---- through the real Ignition engine ---------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("sysupdate", [True, False])
def test_ignition_engine_lands_update_config(tmp_path: Path, sysupdate: bool) -> None:
    import enginelib

    enginelib.require_engines()
    release = resolve_release(
        build_node_spec(RawInputs(flags={"kubernetesVersion": "1.33"}), load_file)[0],
        load_embedded(),
    )
    served_dir = tmp_path / "served"
    enginelib.build_sysext(served_dir, str(release.image.version), "x86-64")
    with enginelib.serve_directory(served_dir) as served:
        flags = [
            "--k8s", "1.33", "--format", "ignition", "--sysext-base-url", served.base_url,
            # Both OS-update modes that go with Kured, one per run.
            "--kured", "--os-updates", "kured" if sysupdate else "off",
            "--sysupdate" if sysupdate else "--no-sysupdate",
        ]  # fmt: skip
        result = CliRunner().invoke(cli, ["render-node", *flags], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        config = json.loads(result.stdout)
        config["ignition"]["timeouts"] = {"httpResponseHeaders": 5, "httpTotal": 20}
        accepted, output = enginelib.ignition_validate(config, strict=True)
        assert accepted, output
        root = enginelib.make_scratch_root(tmp_path)
        run = enginelib.run_ignition(config, root)
    assert run.ok, run.errors or run.log
    cfg = parse_ignition(json.loads(result.stdout))
    transfer = root / "etc/sysupdate.kubernetes.d/kubernetes-v1.33.conf"
    noop = root / "etc/sysupdate.d/noop.conf"
    timer = "systemd-sysupdate.timer"
    if sysupdate:
        assert transfer.read_text() == file_text(cfg, "/" + transfer.relative_to(root).as_posix())
        assert noop.read_text() == file_text(cfg, "/etc/sysupdate.d/noop.conf")
        (dropin,) = unit(cfg, "systemd-sysupdate.service").dropins
        assert enginelib.dropins(root, "systemd-sysupdate.service") == {
            dropin.name: dropin.contents
        }
        assert enginelib.unit_state(root, timer) == "enabled"
        assert enginelib.systemctl_state(root, timer) == "enabled"
    else:
        assert not transfer.exists() and not noop.exists()
        assert enginelib.dropins(root, "systemd-sysupdate.service") == {}
        assert enginelib.unit_state(root, timer) == "disabled"
        assert enginelib.systemctl_state(root, timer) == "disabled"
    assert enginelib.unit_state(root, "locksmithd.service") == "masked"
    engine = "enabled" if sysupdate else "masked"
    assert enginelib.unit_state(root, "update-engine.service") == engine
    # Nothing but the image itself was fetched at boot.
    assert served.requests == [f"/{release.image.filename}"]


# ---- cluster documents ------------------------------------------------------------------------


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    # Kured's own CRS/ConfigMap (other add-ons, e.g. a StorageClass, bring their own).
    if kind in ("ClusterResourceSet", "ConfigMap"):
        return [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith("-kured")]
    return [d for d in docs if d["kind"] == kind]


def test_kured_documents_select_this_cluster() -> None:
    docs = documents("--kured")
    (cluster,) = _by_kind(docs, "Cluster")
    (crs,) = _by_kind(docs, "ClusterResourceSet")
    (cm,) = _by_kind(docs, "ConfigMap")
    selector = crs["spec"]["clusterSelector"]["matchLabels"]
    assert selector.items() <= cluster["metadata"]["labels"].items()
    assert crs["spec"]["resources"] == [{"kind": "ConfigMap", "name": cm["metadata"]["name"]}]
    assert cm["metadata"]["namespace"] == crs["metadata"]["namespace"] == "default"
    assert docs.index(cm) < docs.index(crs)
    assert not _by_kind(documents(), "ClusterResourceSet")
    plain = _by_kind(documents(), "Cluster")[0]["metadata"].get("labels", {})
    assert not any("kured" in key for key in plain)


def _kured_manifests(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (cm,) = _by_kind(docs, "ConfigMap")
    return load_all(cm["data"]["kured.yaml"], "kured ConfigMap")


@pytest.mark.parametrize("k8s", ["1.33", "1.35"])
def test_kured_manifests_validate_against_kubernetes_schemas(k8s: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    result = generate("--k8s", k8s, "--kured", "--kured-blocking-pod-selector", "app=db,tier=x")
    assert result.exit_code == 0, result.output
    manifests = _kured_manifests(load_all(result.stdout, "generate"))
    assert [m["kind"] for m in manifests] == [
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "DaemonSet",
    ]  # fmt: skip
    for manifest in manifests:
        kubernetes_validate.validate(manifest, k8s, strict=True)
    broken = json.loads(json.dumps(manifests[-1]))
    broken["spec"]["template"]["spec"]["hostPid"] = True  # a typo the strict schema catches
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, k8s, strict=True)


def test_kured_daemonset_semantics() -> None:
    docs = documents(
        "--kured", "--kured-window", "22:00-04:30", "--kured-days", "Saturday,sun,sat",
        "--kured-timezone", "Europe/Berlin", "--kured-concurrency", "2",
        "--kured-drain-timeout", "1h30m", "--kured-lock-ttl", "2h",
        "--kured-blocking-pod-selector", "app=db,tier=storage",
        "--kured-image", "registry.example.com/kured:1.23.0",
        "--set", "kured.prometheusUrl=http://prometheus.monitoring:9090",
        "--set", "kured.alertFilterRegexp=^(Watchdog|RebootRequired)$",
        "--set", "kured.rebootDelay=90s", "--set", "kured.drainGracePeriod=30",
        "--health-check-node-timeout", "2h",
    )  # fmt: skip
    manifests = _kured_manifests(docs)
    ds = manifests[-1]
    pod = ds["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    (container,) = pod["containers"]
    args = container["args"]
    flags = dict(a.split("=", 1) for a in args)
    # The sentinel path Kured checks inside the pod is the host's /run/reboot-required.
    (mount,) = container["volumeMounts"]
    (volume,) = pod["volumes"]
    assert volume["name"] == mount["name"] and volume["hostPath"]["path"] == "/run"
    sentinel = flags["--reboot-sentinel"]
    assert sentinel == f"{mount['mountPath']}/reboot-required"
    assert "/run/" + sentinel.removeprefix(mount["mountPath"] + "/") == updates.REBOOT_SENTINEL
    assert (
        flags["--reboot-command"] == "/bin/systemctl reboot"
        and container["securityContext"]["privileged"]
    )
    assert flags["--start-time"] == "22:00" and flags["--end-time"] == "04:30"
    assert flags["--reboot-days"] == "su,sa"
    assert flags["--time-zone"] == "Europe/Berlin"
    assert flags["--concurrency"] == "2"
    assert parse_duration()(flags["--drain-timeout"]) == 5400
    assert parse_duration()(flags["--lock-ttl"]) == 7200
    assert flags["--blocking-pod-selector"] == "app=db,tier=storage"
    assert flags["--prometheus-url"] == "http://prometheus.monitoring:9090"
    assert flags["--alert-filter-regexp"] == "^(Watchdog|RebootRequired)$"
    assert flags["--reboot-delay"] == "1m30s" and flags["--drain-grace-period"] == "30"
    assert container["image"] == "registry.example.com/kured:1.23.0"
    assert {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
            "effect": "NoSchedule"} in pod["tolerations"]  # fmt: skip
    env = {e["name"]: e for e in container["env"]}
    assert env["KURED_NODE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    # Least privilege: the only write on DaemonSets is the lock on Kured's own.
    (role,) = [m for m in manifests if m["kind"] == "Role"]
    assert role["rules"] == [
        {"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["kured"],
         "verbs": ["update"]}
    ]  # fmt: skip
    (crole,) = [m for m in manifests if m["kind"] == "ClusterRole"]
    verbs = {
        (r["apiGroups"][0], res): set(r["verbs"]) for r in crole["rules"] for res in r["resources"]
    }
    assert verbs == {
        ("", "nodes"): {"get", "patch"},
        ("", "pods"): {"get", "list", "delete"},
        ("", "pods/eviction"): {"create"},
        ("apps", "daemonsets"): {"get"},
    }


def test_health_checks_select_the_machines_and_outlast_a_reboot() -> None:
    for api in ("v1beta2", "v1beta1"):
        docs = documents("--capi-api", api, "--kured", "--kured-drain-timeout", "40m")
        (kcp,) = _by_kind(docs, "KubeadmControlPlane")
        (md,) = _by_kind(docs, "MachineDeployment")
        cp_mhc, md_mhc = _by_kind(docs, "MachineHealthCheck")
        assert cp_mhc["spec"]["selector"]["matchLabels"] == {
            "cluster.x-k8s.io/control-plane-name": kcp["metadata"]["name"]
        }
        assert md_mhc["spec"]["selector"]["matchLabels"] == {
            "cluster.x-k8s.io/deployment-name": md["metadata"]["name"]
        }
        for mhc in (cp_mhc, md_mhc):
            if api == "v1beta2":
                timeouts = [
                    c["timeoutSeconds"] for c in mhc["spec"]["checks"]["unhealthyNodeConditions"]
                ]
            else:
                timeouts = [
                    parse_duration()(c["timeout"]) for c in mhc["spec"]["unhealthyConditions"]
                ]
            assert min(timeouts) > 40 * 60 + 10 * 60
    assert not _by_kind(documents("--no-health-checks"), "MachineHealthCheck")
    assert len(_by_kind(documents("--worker-count", "0"), "MachineHealthCheck")) == 1


# ---- strict CRD validation ------------------------------------------------------------------


@pytest.mark.parametrize("api", ["v1beta2", "v1beta1"])
def test_new_documents_validate_strictly_against_the_crds(api: str) -> None:
    docs = documents("--capi-api", api, "--sysupdate", "--kured", "--no-csi")
    checked = [d for d in docs if d["kind"] in ("ClusterResourceSet", "MachineHealthCheck")]
    assert len(checked) == 3
    for doc in docs:  # the whole output, ConfigMap and add-ons included
        assert crd_errors(doc) == [], doc["kind"]
    wrong = json.loads(json.dumps(checked[-1]))
    wrong["spec"]["unhealthyConditions" if api == "v1beta2" else "checks"] = []
    assert crd_errors(wrong)  # the other shape's field is rejected: the check is not vacuous


# ---- inputs -----------------------------------------------------------------------------------


def test_list_variables_shows_the_update_switches() -> None:
    result = CliRunner().invoke(cli, ["generate", "--provider", "azure", "--list-variables"])
    assert result.exit_code == 0, result.output
    for key, flag in [
        ("sysupdate.enabled", "--sysupdate/--no-sysupdate"),
        ("kured.enabled", "--kured/--no-kured"),
        ("kured.window", "--kured-window"),
        ("healthChecks.unhealthyNodeTimeout", "--health-check-node-timeout"),
        ("kured.alertFilterRegexp", ""),
    ]:
        assert re.search(rf"^  {re.escape(key)}\s+{re.escape(flag)}", result.stdout, re.M), key


def test_values_file_sets_kured(tmp_path: Path) -> None:
    values = tmp_path / "v.yaml"
    values.write_text(
        "sysupdate: {enabled: true}\n"
        "kured:\n  enabled: true\n  rebootDays: [mon, tue]\n"
        "  blockingPodSelectors: [a=b, 'c in (d,e)']\n"
    )
    docs = documents("--values", str(values))
    args = _kured_manifests(docs)[-1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--reboot-days=mo,tu" in args
    assert [a for a in args if a.startswith("--blocking")] == [
        "--blocking-pod-selector=a=b",
        "--blocking-pod-selector=c in (d,e)",
    ]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--kured-window", "25:00-03:00"], "--kured-window"),
        (["--kured-window", "22:00"], "--kured-window"),
        (["--kured-window", "10:00-10:00"], "--kured-window"),
        (["--kured-days", "mon,funday"], "--kured-days"),
        (["--kured-days", ","], "--kured-days"),
        (["--kured-timezone", "Mars/Olympus_Mons"], "--kured-timezone"),
        (["--kured-concurrency", "0"], "--kured-concurrency"),
        (["--kured-drain-timeout", "30 minutes"], "--kured-drain-timeout"),
        (["--kured-drain-timeout", "10s"], "--kured-drain-timeout"),
        (["--kured-lock-ttl", "soon"], "--kured-lock-ttl"),
        (["--kured-image", "not an image"], "--kured-image"),
        (["--set", "kured.alertFilterRegexp=(unclosed"], "kured.alertFilterRegexp"),
        (["--set", "kured.alertFilterRegexp=x${HOME}"], "kured.alertFilterRegexp"),
        (["--set", "kured.prometheusUrl=http://p/$TOKEN"], "kured.prometheusUrl"),
        (["--set", "kured.period=5s"], "kured.period"),
        (["--set", "kured.forceReboot=maybe"], "kured.forceReboot"),
        (["--set", "kured.drainGracePeriod=-2"], "kured.drainGracePeriod"),
        (["--set", "kured.rebootDelay=1d"], "kured.rebootDelay"),
        (["--sysupdate-instances-max", "1"], "--sysupdate-instances-max"),
        (["--sysupdate", "--set", "sysupdate.verify=perhaps"], "sysupdate.verify"),
        (["--health-check-startup-timeout", "1y"], "--health-check-startup-timeout"),
        (["--kured", "--health-check-node-timeout", "35m"], "--health-check-node-timeout"),
        (["--health-check-node-timeout", "5m"], "--health-check-node-timeout"),
        (
            ["--kured", "--kured-drain-timeout", "50m", "--health-check-reboot-allowance", "15m"],
            "--health-check-node-timeout",
        ),
    ],
)
def test_bad_update_inputs_exit_2_with_one_clear_message(args: list[str], names: str) -> None:
    result = generate("--k8s", "1.33", *args, catch=True)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1, result.output
    assert names in result.output


def test_mhc_timeout_check_ignores_drain_timeout_without_kured() -> None:
    assert generate("--k8s", "1.33", "--health-check-node-timeout", "15m").exit_code == 0
    assert generate("--k8s", "1.33", "--no-health-checks", "--kured",
                    "--health-check-node-timeout", "1m").exit_code == 0  # fmt: skip


def test_kured_settings_without_kured_are_noted() -> None:
    result = generate("--k8s", "1.33", "--kured-window", "01:00-02:00")
    assert result.exit_code == 0
    assert "Kured is off (add --kured)" in result.stderr
    assert "Kured is off" not in generate("--k8s", "1.33").stderr
    assert "Kured is off" not in generate("--k8s", "1.33", "--kured").stderr


def test_render_node_accepts_the_same_options() -> None:
    result = CliRunner().invoke(
        cli,
        ["render-node", "--k8s", "1.33", "--format", "butane", "--sysupdate", "--kured-window",
         "bad"],
    )  # fmt: skip
    assert result.exit_code == 2 and "--kured-window" in result.output


def test_durations_round_trip() -> None:
    parse = parse_duration()
    for text, seconds in [("30m", 1800), ("1h30m", 5400), ("90s", 90), ("0s", 0), ("2h", 7200)]:
        assert parse(text) == seconds
        assert parse(format_duration(seconds)) == seconds
    assert format_duration(5400) == "1h30m"
    for bad in ("", "m", "30", "1d", "-5m", "1h 30m", "30mm"):
        with pytest.raises(ValueError):
            parse(bad)


def test_output_has_no_envsubst_sequences() -> None:
    for case in sorted((REPO / "tests/golden").glob("*.out")):
        text = case.read_text()
        assert not re.search(r"\$(\{|[A-Za-z_])", text), case.name


def _obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, "spec": spec}


def test_owning_cluster_follows_the_reference_of_that_kind() -> None:
    """Two Clusters: the one whose controlPlaneRef names this KubeadmControlPlane owns it, not the
    one referring to another kind of the same name; a MachineDeployment's configRef leads to its
    Cluster (clusterapi.REFERENCE_PATHS, v1beta1 and v1beta2 places)."""
    from capi_sysext.contracts import DocumentSet

    kcp = _obj("KubeadmControlPlane", "x", {})
    kct = _obj("KubeadmConfigTemplate", "x", {})
    other_cp = {"kind": "AWSManagedControlPlane", "name": "x"}
    wrong = _obj("Cluster", "a", {"controlPlaneRef": other_cp})
    right = _obj("Cluster", "b", {"controlPlaneRef": {"kind": "KubeadmControlPlane", "name": "x"}})
    md = _obj(
        "MachineDeployment",
        "md",
        {
            "clusterName": "b",
            "template": {
                "spec": {"bootstrap": {"configRef": {"kind": "KubeadmConfigTemplate", "name": "x"}}}
            },
        },
    )
    docs = DocumentSet([wrong, right, kcp, kct, md])
    assert updates.owning_cluster(docs, "KubeadmControlPlane", kcp) is right
    assert updates.owning_cluster(docs, "KubeadmConfigTemplate", kct) is right
