"""Proof with the real engines that the PRODUCT's node configs boot (issue #3).

For every provider, role and arch the node config that ``render-node`` produces is fed to
``ignition-validate``, to the real Ignition engine (``fetch`` + ``files`` against a scratch root,
downloading a fake Kubernetes sysext from 127.0.0.1 and checking its hash), and then to
``systemd-sysext --root``, which must overlay ``usr/bin/kubelet``. Unit enablement is read the
way systemd will see it on first boot.

The CLC path cannot run here: CABPK converts our CLC to Ignition 2.3, which Debian's Ignition
2.14 does not run. Instead we prove that the CLC carries exactly the model the Ignition JSON
carries, and run the sha256 guard unit's own check (taken from the rendered unit file) against
the scratch root, once with the intact image and once with a tampered one.

Run: ``CAPI_SYSEXT_SHARED=/work/shared python -m pytest tests/test_boot.py`` (as root, with
``ignition`` and ``squashfs-tools`` installed; skips otherwise, fails under CI=true).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import enginelib
import pytest

from capi_sysext import clouds, yamlio
from capi_sysext.catalog import ARCHES, Catalog, Image, Version, load_embedded
from capi_sysext.clccheck import check_clc
from capi_sysext.generate import generate, node_config, render_node, resolve_release
from capi_sysext.inputs import RawInputs
from capi_sysext.layout import SYSEXT_LINK
from capi_sysext.model import PINNED_SUMS_PATH, NodeConfig
from capi_sysext.node import KUBEADM_UNIT, VERIFY_UNIT, NodeContext
from capi_sysext.render.clc import render_clc
from capi_sysext.render.clc_parse import parse_clc, parse_ignition
from capi_sysext.render.ignition import render_ignition
from capi_sysext.spec import ROLES, NodeSpec
from capi_sysext.specbuild import build_cluster_spec, build_node_spec

REPO = Path(__file__).resolve().parent.parent
VERSION = "v1.33.13"
# A different, equally valid image: only a hash check can tell it from the real one.
TAMPERED_VERSION = "v1.33.12"
HOST_ARCH = enginelib.host_sysext_arch()
SYSUPDATE_TIMER = "systemd-sysupdate.timer"
# None: render-node without --provider (bare metal, Terraform, a local VM).
PROVIDERS: tuple[str | None, ...] = (*clouds.NAMES, None)
PROVIDER_IDS = [p or "no-provider" for p in PROVIDERS]


# --------------------------------------------------------------------------------------------
# Fixtures: one set of fake images and one HTTP server for the whole module
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bakery:
    """Served tree: ``good/`` real images, ``tampered/`` same names other bytes, ``empty/``."""

    served: enginelib.ServedDirectory
    sha256: dict[str, str]  # arch -> sha256 of the good image

    @property
    def catalog(self) -> Catalog:
        """A catalog that pins the good images, as the one filled from the bakery index will."""
        images = [Image(Version.parse(VERSION), arch, sha) for arch, sha in self.sha256.items()]
        return Catalog.from_images(images, source="test")

    def url(self, kind: str) -> str:
        return self.served.url(kind)

    def mark(self) -> int:
        return len(self.served.records)

    def requests_since(self, mark: int) -> list[tuple[str, str, int]]:
        return [(r.client, r.path, r.status) for r in self.served.records[mark:]]


@pytest.fixture(scope="module")
def bakery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bakery]:
    enginelib.require_engines()
    base = tmp_path_factory.mktemp("bakery")
    sums = {
        arch: enginelib.sha256_file(enginelib.build_sysext(base / "good", VERSION, arch))
        for arch in ARCHES
    }
    enginelib.build_sysext(
        base / "tampered",
        TAMPERED_VERSION,
        HOST_ARCH,
        name=enginelib.sysext_file_name(VERSION, HOST_ARCH),
    )
    # The bakery's index: <base>/kubernetes/SHA256SUMS naming images that sit under <base>.
    index = base / "good/kubernetes/SHA256SUMS"
    index.parent.mkdir()
    index.write_text(
        "".join(f"{sums[a]}  {enginelib.sysext_file_name(VERSION, a)}\n" for a in sorted(sums))
    )
    (base / "empty").mkdir()
    with enginelib.serve_directory(base) as served:
        yield Bakery(served, sums)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def node_spec(base_url: str, arch: str) -> NodeSpec:
    """The node inputs exactly as render-node builds them from its flags."""
    flags = {"kubernetesVersion": VERSION, "arch": arch, "sysext.baseUrl": base_url}
    node, _ = build_node_spec(RawInputs(flags=flags), yamlio.load_file)
    return node


def node_model(node: NodeSpec, role: str, provider: str | None, catalog: Catalog) -> NodeConfig:
    """The model render_node renders (same release resolution, same provider)."""
    release = resolve_release(node, catalog)
    return node_config(NodeContext(node, release, role), provider or None)


def image_path(arch: str) -> str:
    return f"/opt/extensions/kubernetes/{enginelib.sysext_file_name(VERSION, arch)}"


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Section -> key -> values in order, like systemd reads a unit (repeated keys accumulate).

    An empty assignment (``Requires=``) resets the list, as in systemd.
    """
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"line continuations are not modelled: {raw!r}"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"not a unit file line: {raw!r}"
        values = current.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return sections


def unit_deps(texts: list[str], key: str, section: str = "Unit") -> set[str]:
    """Every unit named by ``key`` (space-separated lists) across files read in order.

    Drop-ins act as if appended to the unit (each starts with its section header), so parsing
    them concatenated gives systemd's result, including resets by an empty assignment.
    """
    values = parse_unit("\n".join(texts)).get(section, {}).get(key, [])
    return {word for value in values for word in value.split()}


def kubeadm_dropins(root: Path) -> dict[str, str]:
    return enginelib.dropins(root, KUBEADM_UNIT)


def assert_model_written(
    root: Path, cfg: NodeConfig, *, hashes_checked: bool = True, part: bool = False
) -> None:
    """Every path, link, unit and drop-in of the model is on disk as the node will see it.

    ``part``: ``cfg`` is one contributor's share, so other drop-ins may sit beside its own.
    """
    for d in cfg.directories:
        path = root / d.path.lstrip("/")
        assert path.is_dir() and path.stat().st_mode & 0o7777 == d.mode, d.path
    for f in cfg.files:
        path = root / f.path.lstrip("/")
        assert path.is_file(), f.path
        assert path.stat().st_mode & 0o7777 == f.mode, f.path
        if f.inline is not None:
            assert path.read_text() == f.inline, f.path
        elif hashes_checked and f.remote is not None and f.remote.sha256 is not None:
            assert enginelib.sha256_file(path) == f.remote.sha256, f.path
    for link in cfg.links:
        path = root / link.path.lstrip("/")
        assert path.is_symlink() and str(path.readlink()) == link.target, link.path
    for u in cfg.units:
        if u.contents is not None:
            assert (root / "etc/systemd/system" / u.name).read_text() == u.contents, u.name
        expected = {d.name: d.contents for d in u.dropins}
        written = enginelib.dropins(root, u.name)
        if part:
            written = {name: text for name, text in written.items() if name in expected}
        assert written == expected, u.name
        if u.mask:
            assert enginelib.unit_state(root, u.name) == "masked", u.name
        elif u.enabled is not None:
            want = "enabled" if u.enabled else "disabled"
            assert enginelib.unit_state(root, u.name) == want, u.name
            assert enginelib.preset_for(root, u.name) == want[:-1], u.name


def assert_node_units(root: Path, provider: str | None, role: str, *, pinned: bool) -> None:
    """The units the node needs, named explicitly (not only "whatever the model said")."""
    # Flatcar enables sysupdate's timer by default; it must be off explicitly, not "unset".
    assert enginelib.unit_state(root, SYSUPDATE_TIMER) == "disabled"
    assert enginelib.preset_for(root, SYSUPDATE_TIMER) == "disable"
    # Default OS updates are off: neither update-engine nor locksmithd can reboot the node.
    assert enginelib.unit_state(root, "update-engine.service") == "masked"
    assert enginelib.unit_state(root, "locksmithd.service") == "masked"

    dropins = kubeadm_dropins(root)
    assert "10-capi-sysext.conf" in dropins
    texts = [dropins[name] for name in sorted(dropins)]  # systemd's drop-in order
    assert "systemd-sysext.service" in unit_deps(texts, "After")
    assert "containerd.service" in unit_deps(texts, "Requires")
    assert "containerd.service" in unit_deps(texts, "After")

    if provider is not None:
        # The provider's node pieces, whatever they are, landed on disk next to the core's.
        # Today's providers wire nodes by role alone (no node inputs, no settings in render-node).
        ctx = NodeContext(node=None, release=None, role=role)  # type: ignore[arg-type]
        piece = clouds.get(provider).node_config(ctx)
        assert piece.units or piece.files or piece.links, f"{provider} contributes nothing"
        assert_model_written(root, piece, part=True)

    sums = root / PINNED_SUMS_PATH.lstrip("/")
    if pinned:
        assert enginelib.unit_state(root, VERIFY_UNIT) == "enabled"
        assert enginelib.preset_for(root, VERIFY_UNIT) == "enable"
        # kubeadm must not run when the guard failed: Requires= (fail with it) and After=
        # (wait for its verdict), not just one of the two.
        assert VERIFY_UNIT in unit_deps(texts, "Requires")
        assert VERIFY_UNIT in unit_deps(texts, "After")
        assert sums.is_file()
    else:
        assert enginelib.find_unit_file(root, VERIFY_UNIT) is None
        assert enginelib.unit_state(root, VERIFY_UNIT) == "unset"
        assert VERIFY_UNIT not in unit_deps(texts, "Requires") | unit_deps(texts, "After")
        assert not sums.exists()


def assert_systemd_agrees(root: Path, *, pinned: bool) -> None:
    """Cross-check with systemctl itself (mutates the root: applies presets like first boot)."""
    assert enginelib.systemctl_state(root, SYSUPDATE_TIMER) == "disabled"
    if pinned:
        assert enginelib.systemctl_state(root, VERIFY_UNIT) == "enabled"
        # Enabled means pulled in by systemd-sysext.service, which it must run before.
        wants = root / "etc/systemd/system/systemd-sysext.service.wants" / VERIFY_UNIT
        assert wants.is_symlink()


def assert_merges_kubelet(root: Path, version: str = VERSION) -> None:
    merge = enginelib.merge_sysext(root)
    assert merge.ok, merge.log
    assert merge.merged and merge.problems == [], merge.log
    assert merge.kubelet is not None and version in merge.kubelet, merge.log
    assert "usr/bin/kubelet" in merge.appeared
    assert merge.leftover_mounts == ()
    assert not (root / "usr/bin/kubelet").exists()  # unmerged again


def assert_merges_nothing(root: Path) -> enginelib.MergeResult:
    merge = enginelib.merge_sysext(root)
    assert not merge.merged and merge.kubelet is None, merge.log
    assert "usr/bin/kubelet" not in merge.appeared
    assert merge.leftover_mounts == ()
    return merge


# --------------------------------------------------------------------------------------------
# The Ignition path: pinned node configs, every provider / role / arch
# --------------------------------------------------------------------------------------------


@pytest.mark.engine
@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("arch", ARCHES)
def test_pinned_node_config_boots(
    bakery: Bakery, tmp_path: Path, arch: str, role: str, provider: str | None
) -> None:
    node = node_spec(bakery.url("good"), arch)
    cfg = node_model(node, role, provider, bakery.catalog)
    result = render_node(node, role, "ignition", bakery.catalog, provider)
    assert result.warnings == []  # pinned: no warning
    assert parse_ignition(json.loads(result.text)) == cfg

    ok, output = enginelib.ignition_validate(result.text, strict=True)
    assert ok, output

    root = enginelib.make_scratch_root(tmp_path)
    mark = bakery.mark()
    run = enginelib.run_ignition(result.text, root, timeout=40)
    assert run.ok, run.log
    name = enginelib.sysext_file_name(VERSION, arch)
    assert bakery.requests_since(mark) == [("127.0.0.1", f"/good/{name}", 200)]
    # The engine itself compared the download with the pinned sum.
    assert f"file matches expected sum of: {bakery.sha256[arch]}" in run.log

    assert_model_written(root, cfg)
    assert enginelib.sha256_file(root / image_path(arch).lstrip("/")) == bakery.sha256[arch]
    assert str((root / SYSEXT_LINK.lstrip("/")).readlink()) == image_path(arch)
    assert_node_units(root, provider, role, pinned=True)

    if arch == HOST_ARCH:
        assert_merges_kubelet(root)
    # else: this host cannot run a foreign-arch image; see test_foreign_arch_image_is_ignored.
    assert_systemd_agrees(root, pinned=True)


# --------------------------------------------------------------------------------------------
# The Ignition path: failures
# --------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_missing_image_fails_the_files_stage(bakery: Bakery, tmp_path: Path) -> None:
    node = node_spec(bakery.url("empty"), HOST_ARCH)
    text = render_node(node, "worker", "ignition", bakery.catalog, None).text
    root = enginelib.make_scratch_root(tmp_path)
    mark = bakery.mark()
    run = enginelib.run_ignition(text, root, timeout=40)
    assert not run.ok and run.failed_stage == "files" and not run.timed_out, run.log
    assert "resource not found" in run.log
    name = enginelib.sysext_file_name(VERSION, HOST_ARCH)
    assert bakery.requests_since(mark) == [("127.0.0.1", f"/empty/{name}", 404)]
    assert not (root / image_path(HOST_ARCH).lstrip("/")).exists()
    assert_merges_nothing(root)


@pytest.mark.engine
def test_wrong_hash_fails_the_files_stage(bakery: Bakery, tmp_path: Path) -> None:
    node = node_spec(bakery.url("tampered"), HOST_ARCH)
    text = render_node(node, "worker", "ignition", bakery.catalog, None).text
    root = enginelib.make_scratch_root(tmp_path)
    mark = bakery.mark()
    run = enginelib.run_ignition(text, root, timeout=40)
    assert not run.ok and run.failed_stage == "files" and not run.timed_out, run.log
    assert any("hash verification failed" in line for line in run.errors), run.log
    name = enginelib.sysext_file_name(VERSION, HOST_ARCH)
    assert bakery.requests_since(mark) == [("127.0.0.1", f"/tampered/{name}", 200)]
    assert not (root / image_path(HOST_ARCH).lstrip("/")).exists()
    assert_merges_nothing(root)


@pytest.mark.engine
def test_foreign_arch_image_is_ignored(bakery: Bakery, tmp_path: Path) -> None:
    foreign = next(a for a in ARCHES if a != HOST_ARCH)
    node = node_spec(bakery.url("good"), foreign)
    text = render_node(node, "worker", "ignition", bakery.catalog, None).text
    root = enginelib.make_scratch_root(tmp_path)
    run = enginelib.run_ignition(text, root, timeout=40)
    assert run.ok, run.log  # Ignition does not care what architecture it downloads
    merge = assert_merges_nothing(root)
    # The arch guard: systemd-sysext skips the image instead of failing the merge.
    assert merge.problems == [] and "incompatible" in merge.log, merge.log


# --------------------------------------------------------------------------------------------
# The unpinned path, through the real CLI
# --------------------------------------------------------------------------------------------


def run_cli(
    bakery: Bakery, kind: str, role: str, provider: str, *, offline: bool
) -> tuple[str, str]:
    """``python -m capi_sysext render-node`` from this checkout; returns (stdout, stderr)."""
    cmd = [
        sys.executable,
        "-m",
        "capi_sysext",
        "render-node",
        "--format",
        "ignition",
        "--role",
        role,
        "--provider",
        provider,
        "--k8s",
        VERSION,
        "--arch",
        HOST_ARCH,
        "--sysext-base-url",
        bakery.url(kind),
    ]
    # The checkout first on sys.path, not another one installed in site-packages; no proxies,
    # so the only traffic goes straight to 127.0.0.1.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["PYTHONPATH"] = str(REPO)
    if offline:
        env["CAPI_SYSEXT_OFFLINE"] = "1"
    else:
        env.pop("CAPI_SYSEXT_OFFLINE", None)
        cmd.append("--refresh")
    proc = subprocess.run(
        cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def image_source(config: dict[str, Any]) -> dict[str, Any]:
    contents: dict[str, Any] = next(
        f["contents"] for f in config["storage"]["files"] if f["path"] == image_path(HOST_ARCH)
    )
    return contents


def boot_cli_config(
    bakery: Bakery, tmp_path: Path, text: str, provider: str, role: str, *, pinned: bool
) -> None:
    ok, output = enginelib.ignition_validate(text, strict=True)
    assert ok, output
    root = enginelib.make_scratch_root(tmp_path)
    mark = bakery.mark()
    run = enginelib.run_ignition(text, root, timeout=40)
    assert run.ok, run.log
    name = enginelib.sysext_file_name(VERSION, HOST_ARCH)
    assert bakery.requests_since(mark) == [("127.0.0.1", f"/good/{name}", 200)]
    written = root / image_path(HOST_ARCH).lstrip("/")
    assert enginelib.sha256_file(written) == bakery.sha256[HOST_ARCH]
    assert_node_units(root, provider, role, pinned=pinned)
    assert_merges_kubelet(root)
    assert_systemd_agrees(root, pinned=pinned)


@pytest.mark.engine
def test_cli_pins_from_the_index_and_boots(bakery: Bakery, tmp_path: Path) -> None:
    # The whole real path: the CLI reads <base>/kubernetes/SHA256SUMS, pins the image, and the
    # node it describes boots from the same server.
    provider, role = clouds.NAMES[0], "control-plane"
    mark = bakery.mark()
    stdout, stderr = run_cli(bakery, "good", role, provider, offline=False)
    assert bakery.requests_since(mark) == [("127.0.0.1", "/good/kubernetes/SHA256SUMS", 200)]
    assert f"catalog: {bakery.url('good')}/kubernetes/SHA256SUMS (fetched" in stderr
    assert "not pinned" not in stderr
    sha = bakery.sha256[HOST_ARCH]
    assert image_source(json.loads(stdout))["verification"] == {"hash": f"sha256-{sha}"}
    boot_cli_config(bakery, tmp_path, stdout, provider, role, pinned=True)


@pytest.mark.engine
def test_cli_unpinned_node_config_boots(bakery: Bakery, tmp_path: Path) -> None:
    # Offline, render-node falls back to the embedded catalog, which has no sums (yet).
    assert load_embedded().resolve(VERSION, HOST_ARCH).sha256 is None, (
        "the embedded catalog now pins this image: the unpinned path needs another source"
    )
    provider, role = clouds.NAMES[0], "worker"
    mark = bakery.mark()
    stdout, stderr = run_cli(bakery, "good", role, provider, offline=True)
    assert bakery.requests_since(mark) == []  # offline means offline
    name = enginelib.sysext_file_name(VERSION, HOST_ARCH)
    assert "not pinned" in stderr and name in stderr
    assert "verification" not in image_source(json.loads(stdout))
    boot_cli_config(bakery, tmp_path, stdout, provider, role, pinned=False)


# --------------------------------------------------------------------------------------------
# The CLC path: same model, and the sha256 guard unit
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "unpinned"])
@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("arch", ARCHES)
def test_clc_carries_the_same_model(
    arch: str, role: str, provider: str | None, pinned: bool
) -> None:
    sha = "ab" * 32 if pinned else None
    catalog = Catalog.from_images([Image(Version.parse(VERSION), arch, sha)], source="test")
    node = node_spec("http://127.0.0.1:1/good", arch)
    cfg = node_model(node, role, provider, catalog)
    clc = render_node(node, role, "clc", catalog, provider).text
    ign = render_node(node, role, "ignition", catalog, provider).text
    assert clc == render_clc(cfg)
    # What CABPK's ct (strict) would say about it: nothing.
    assert check_clc(clc) == []
    assert parse_clc(clc) == cfg == parse_ignition(json.loads(ign))
    units = {u.name for u in cfg.units}
    assert (VERIFY_UNIT in units) is pinned
    assert any(f.path == PINNED_SUMS_PATH for f in cfg.files) is pinned


def ignition23_view(clc: str) -> dict[str, Any]:
    """What CABPK's Ignition 2.3 does with our CLC, in a form the 3.x engine here can run.

    Same model (parse_clc is proven lossless above), but CLC carries no sha256 for the image,
    so the download arrives unchecked: drop the verification Ignition 3 would have done.
    """
    config = render_ignition(parse_clc(clc))
    for f in config["storage"]["files"]:
        f["contents"].pop("verification", None)
    return config


def guard_command(root: Path) -> tuple[list[str], dict[str, dict[str, list[str]]]]:
    """The guard unit's ExecStart as argv, read from the unit file Ignition wrote."""
    unit = parse_unit((root / "etc/systemd/system" / VERIFY_UNIT).read_text())
    (exec_start,) = unit["Service"]["ExecStart"]
    # systemd unescapes specifiers (%%) and variable references ($$) before splitting.
    argv = shlex.split(exec_start.replace("%%", "%").replace("$$", "$"))
    return argv, unit


def run_guard(root: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    # WorkingDirectory=/ on the node; the scratch root plays / because the sums are relative.
    return subprocess.run(
        argv,
        cwd=root,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.engine
@pytest.mark.parametrize("tampered", [False, True], ids=["intact", "tampered"])
@pytest.mark.parametrize("provider", PROVIDERS, ids=PROVIDER_IDS)
def test_clc_guard_unit(
    bakery: Bakery, tmp_path: Path, provider: str | None, tampered: bool
) -> None:
    role = "control-plane"
    node = node_spec(bakery.url("tampered" if tampered else "good"), HOST_ARCH)
    clc = render_node(node, role, "clc", bakery.catalog, provider).text
    root = enginelib.make_scratch_root(tmp_path)
    run = enginelib.run_ignition(ignition23_view(clc), root, timeout=40)
    assert run.ok, run.log
    assert_model_written(root, parse_clc(clc), hashes_checked=False)
    assert_node_units(root, provider, role, pinned=True)
    image = root / image_path(HOST_ARCH).lstrip("/")
    link = root / SYSEXT_LINK.lstrip("/")

    unit_file = root / "etc/systemd/system" / VERIFY_UNIT
    # systemd's own parser accepts the unit (quoting, specifiers, $ escapes, ExecStart path).
    analyze = subprocess.run(
        ["systemd-analyze", "verify", str(unit_file)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert analyze.returncode == 0 and analyze.stderr == "", analyze.stderr
    argv, unit = guard_command(root)
    assert argv[:2] == ["/usr/bin/sh", "-c"] and len(argv) == 3
    assert Path(argv[0]).exists()
    # Ordering: it runs before systemd-sysext merges, is pulled in by it, and checks the image.
    assert unit["Service"]["WorkingDirectory"] == ["/"]
    assert unit["Service"]["Type"] == ["oneshot"]
    assert "systemd-sysext.service" in unit["Unit"]["Before"]
    assert unit["Install"]["WantedBy"] == ["systemd-sysext.service"]
    assert unit["Unit"]["ConditionPathExists"] == [image_path(HOST_ARCH)]
    sums = (root / PINNED_SUMS_PATH.lstrip("/")).read_text()
    assert sums == f"{bakery.sha256[HOST_ARCH]}  {image_path(HOST_ARCH).lstrip('/')}\n"

    if not tampered:
        guard = run_guard(root, argv)
        assert guard.returncode == 0 and guard.stderr == "", guard.stderr
        assert link.is_symlink() and image.is_file()
        assert_merges_kubelet(root)
        return

    assert enginelib.sha256_file(image) != bakery.sha256[HOST_ARCH]
    # Without the guard this image would be merged: it is a perfectly valid sysext.
    assert_merges_kubelet(root, TAMPERED_VERSION)
    guard = run_guard(root, argv)
    assert guard.returncode != 0
    assert "does not match its pinned sha256" in guard.stderr
    assert not link.exists() and not link.is_symlink()
    assert image.exists()  # kept, so the check fails visibly on every boot
    merge = assert_merges_nothing(root)
    assert merge.extensions == ()
    again = run_guard(root, argv)
    assert again.returncode != 0 and "does not match its pinned sha256" in again.stderr


def additional_configs(doc: Any) -> list[str]:
    """Every CLC ``additionalConfig`` inside a CAPI document, wherever its API version puts it."""
    if isinstance(doc, dict):
        clc = doc.get("containerLinuxConfig", {}).get("additionalConfig")
        found = [clc] if isinstance(clc, str) else []
        return found + [
            c for k, v in doc.items() if k != "containerLinuxConfig" for c in additional_configs(v)
        ]
    if isinstance(doc, list):
        return [c for item in doc for c in additional_configs(item)]
    return []


@pytest.mark.engine
@pytest.mark.parametrize("provider", clouds.NAMES)
def test_generated_cluster_carries_the_booted_node_config(
    bakery: Bakery, tmp_path: Path, provider: str
) -> None:
    # The CLC that `generate` puts into CABPK's objects is the same node config proven above,
    # and it boots through the guard path.
    raw = RawInputs(
        flags={
            "provider": provider,
            "kubernetesVersion": VERSION,
            "arch": HOST_ARCH,
            "sysext.baseUrl": bakery.url("good"),
        },
        values_files=[REPO / "examples" / f"{provider}.yaml"],
    )
    spec = build_cluster_spec(raw, yamlio.load_file)
    docs = generate(spec, bakery.catalog).documents
    by_kind = {d["kind"]: d for d in docs}
    clcs = {
        "control-plane": additional_configs(by_kind["KubeadmControlPlane"]),
        "worker": additional_configs(by_kind["KubeadmConfigTemplate"]),
    }
    for role, found in clcs.items():
        assert len(found) == 1, role
        assert parse_clc(found[0]) == node_model(spec.node, role, provider, bakery.catalog), role

    root = enginelib.make_scratch_root(tmp_path)
    run = enginelib.run_ignition(ignition23_view(clcs["worker"][0]), root, timeout=40)
    assert run.ok, run.log
    assert_node_units(root, provider, "worker", pinned=True)
    argv, _ = guard_command(root)
    guard = run_guard(root, argv)
    assert guard.returncode == 0, guard.stderr
    assert_merges_kubelet(root)


@pytest.mark.engine
def test_guard_leaves_a_link_to_a_newer_image_alone(bakery: Bakery, tmp_path: Path) -> None:
    """After sysupdate moved the link to a verified newer image, a tampered old image must not
    take the new one down with it."""
    node = node_spec(bakery.url("tampered"), HOST_ARCH)
    clc = render_node(node, "worker", "clc", bakery.catalog, None).text
    root = enginelib.make_scratch_root(tmp_path)
    assert enginelib.run_ignition(ignition23_view(clc), root, timeout=40).ok
    newer = "/opt/extensions/kubernetes/kubernetes-v1.33.14-x86-64.raw"
    (root / newer.lstrip("/")).write_bytes((root / image_path(HOST_ARCH).lstrip("/")).read_bytes())
    link = root / SYSEXT_LINK.lstrip("/")
    link.unlink()
    # systemd-sysupdate writes the link relative (seen with the real tool in
    # tests/test_sysupdate_engine.py::test_current_symlink_moves_and_the_new_image_merges).
    relative = f"../..{newer}"
    link.symlink_to(relative)
    guard = run_guard(root, guard_command(root)[0])
    assert guard.returncode != 0 and "does not match its pinned sha256" in guard.stderr
    assert link.is_symlink() and str(link.readlink()) == relative
