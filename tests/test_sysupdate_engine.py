"""In-place patch updates proven with the REAL systemd-sysupdate (systemd 257), issue #15 item 5.

Each test boots a node the way tests/test_boot.py does: ``render-node --sysupdate`` pins the
image from a bakery on 127.0.0.1 (its ``kubernetes/SHA256SUMS``), the real Ignition engine
writes the node files into a scratch root. Then the node's ``systemd-sysupdate.service`` runs:
its unit file (systemd 257's own) plus the drop-in Ignition wrote, every Exec line split by
systemd's rules and executed in the node view (tests/sysupdatelib.py), where
``/usr/lib/systemd/systemd-sysupdate -C kubernetes update`` is the real tool reading the real
transfer file and downloading with the real systemd-pull.

Needs root, Ignition + squashfs-tools (enginelib) and a Debian 13 root (scripts/debian13-root);
skips without them, fails under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import enginelib
import pytest
import sysupdatelib
from click.testing import CliRunner

from capi_sysext import layout
from capi_sysext.catalog import ARCHES, load_embedded
from capi_sysext.cli import cli, commands  # noqa: F401  (registers the commands)
from capi_sysext.features import updates

REPO = Path(__file__).resolve().parent.parent

HOST = enginelib.host_sysext_arch()
FOREIGN = next(a for a in ARCHES if a != HOST)
BOOT = "v1.33.10"
OLDER = "v1.33.9"  # older than BOOT only numerically ("9" > "10" as text)
PATCHES = ("v1.33.11", "v1.33.12", "v1.33.13")
NEWEST = PATCHES[-1]
NEXT_MINOR = "v1.34.1"
FOREIGN_NEWER = "v1.33.14"  # newer, but for the other architecture
IMAGES = "opt/extensions/kubernetes"
LINK = "etc/extensions/kubernetes.raw"
SENTINEL = "run/reboot-required"
SUMS = "/kubernetes/SHA256SUMS"


def name(version: str, arch: str = HOST) -> str:
    return enginelib.sysext_file_name(version, arch)


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def d13() -> Path:
    # Session scope: a first build takes minutes, outside the per-test SIGALRM deadline.
    return sysupdatelib.debian13_root()


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    enginelib.require_engines()
    out = tmp_path_factory.mktemp("sysupdate-images")
    for version in (OLDER, BOOT, *PATCHES, NEXT_MINOR):
        enginelib.build_sysext(out, version, HOST)
    enginelib.build_sysext(out, FOREIGN_NEWER, FOREIGN)
    return out


@dataclass
class Bakery:
    """The bakery layout: first-boot images under <base>/, sysupdate's under <base>/kubernetes/
    next to the SHA256SUMS that lists them (FACTS s.2; the product's mirror writes the same)."""

    root: Path
    images: Path
    served: enginelib.ServedDirectory
    published: list[str] = field(default_factory=list)

    def publish(self, *names: str) -> None:
        directory = self.root / "kubernetes"
        for file_name in names:
            shutil.copyfile(self.images / file_name, directory / file_name)
            self.published.append(file_name)
        enginelib.write_sha256sums(directory)

    def corrupt(self, file_name: str) -> None:
        """Change the served bytes after SHA256SUMS was written (a tampered or broken mirror)."""
        path = self.root / "kubernetes" / file_name
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))

    def restore(self, file_name: str) -> None:
        shutil.copyfile(self.images / file_name, self.root / "kubernetes" / file_name)

    def mark(self) -> int:
        return len(self.served.records)

    def images_fetched_since(self, mark: int) -> list[str]:
        return [r.path for r in self.served.records[mark:] if r.path.endswith(".raw")]

    def fetched_since(self, mark: int) -> list[str]:
        return [r.path for r in self.served.records[mark:]]


@pytest.fixture
def bakery(tmp_path: Path, images: Path) -> Iterator[Bakery]:
    root = tmp_path / "bakery"
    (root / "kubernetes").mkdir(parents=True)
    shutil.copyfile(images / name(BOOT), root / name(BOOT))
    with enginelib.serve_directory(root) as served:
        b = Bakery(root, images, served)
        b.publish(name(BOOT))
        yield b


def boot_node(
    bakery: Bakery,
    tmp_path: Path,
    d13: Path,
    monkeypatch: pytest.MonkeyPatch,
    *flags: str,
) -> sysupdatelib.NodeView:
    """render-node (pinned from the bakery's index) -> real Ignition -> the node's scratch root."""
    monkeypatch.delenv("CAPI_SYSEXT_OFFLINE", raising=False)
    monkeypatch.chdir(REPO)
    args = ["render-node", "--format", "ignition", "--k8s", BOOT, "--arch", HOST, "--refresh",
            "--sysext-base-url", bakery.served.base_url, "--sysupdate", *flags]  # fmt: skip
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "not pinned" not in result.stderr
    config = json.loads(result.stdout)
    config["ignition"]["timeouts"] = {"httpResponseHeaders": 5, "httpTotal": 20}
    root = enginelib.make_scratch_root(tmp_path)
    run = enginelib.run_ignition(config, root, timeout=30)
    assert run.ok, run.errors or run.log
    assert installed(root) == [name(BOOT)]
    return sysupdatelib.NodeView(root, d13)


def installed(root: Path) -> list[str]:
    """Every entry of the image directory, hidden ones too (a partial download would show)."""
    return sorted(p.name for p in (root / IMAGES).iterdir())


def active(root: Path) -> Path:
    """The image /etc/extensions/kubernetes.raw resolves to, on the node."""
    return enginelib.resolve_in_root(root, "/" + LINK)


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Path -> (link target or sha256, mtime_ns) of the node's persistent state.

    Directories count by their entries only: a refused download's temporary file comes and goes.
    """
    state: dict[str, tuple[str, int]] = {}
    for top in ("etc", "opt"):
        for path in sorted((root / top).rglob("*")):
            st = path.lstat()
            if path.is_symlink():
                what = "-> " + str(path.readlink())
            elif path.is_file():
                what = enginelib.sha256_file(path)
            else:
                state[str(path.relative_to(root))] = ("dir", 0)
                continue
            state[str(path.relative_to(root))] = (what, st.st_mtime_ns)
    return state


def run_service(view: sysupdatelib.NodeView) -> sysupdatelib.ServiceRun:
    run = view.run_service(timeout=30)
    # The drop-in's three lines plus the unit's own ExecStart, in systemd's order.
    keys = [s.key for s in run.steps] + [k for k, _ in run.not_run]
    assert keys == ["ExecStartPre", "ExecStartPre", "ExecStart", "ExecStartPost"], run.log
    return run


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_newest_patch_of_the_pinned_minor_is_taken_never_the_next_minor(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    bakery.publish(
        name(OLDER), *(name(v) for v in PATCHES), name(NEXT_MINOR), name(FOREIGN_NEWER, FOREIGN)
    )
    # What the real matcher makes of the index: this minor and arch only, 9 < 10 numerically.
    rc, out = view.run(["/" + sysupdatelib.SYSUPDATE, "-C", "kubernetes", "--json=short", "list"])
    assert rc == 0, out
    listing = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    assert listing["current"] == "10"
    assert sorted(listing["all"], key=int) == ["9", "10", "11", "12", "13"]
    mark = bakery.mark()
    run = run_service(view)
    assert run.ok, run.log
    assert installed(view.node) == [name(BOOT), name(NEWEST)]
    assert bakery.images_fetched_since(mark) == [f"/kubernetes/{name(NEWEST)}"]
    assert enginelib.sha256_file(view.node / IMAGES / name(NEWEST)) == enginelib.sha256_file(
        bakery.images / name(NEWEST)
    )
    # A second run never reaches for the next minor or the other arch either.
    mark = bakery.mark()
    assert run_service(view).ok
    assert bakery.images_fetched_since(mark) == []


@pytest.mark.engine
def test_current_symlink_moves_and_the_new_image_merges(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    # Ignition wrote an absolute link; sysupdate replaces it atomically with a relative one.
    assert str((view.node / LINK).readlink()) == f"/{IMAGES}/{name(BOOT)}"
    bakery.publish(name(NEWEST))
    run = run_service(view)
    assert run.ok, run.log
    assert str((view.node / LINK).readlink()) == f"../../{IMAGES}/{name(NEWEST)}"
    assert active(view.node) == view.node / IMAGES / name(NEWEST)
    # The moved link is what systemd-sysext activates at the next boot.
    merged = enginelib.merge_sysext(view.node)
    assert merged.ok and merged.merged, merged.log
    assert merged.kubelet is not None and NEWEST in merged.kubelet


@pytest.mark.engine
@pytest.mark.parametrize(
    ("newer", "link_removed"),
    [(True, False), (False, False), (True, True)],
    ids=["newer-published", "nothing-new", "no-link-before"],
)
def test_reboot_sentinel_appears_only_when_the_image_changed(
    bakery: Bakery,
    tmp_path: Path,
    d13: Path,
    monkeypatch: pytest.MonkeyPatch,
    newer: bool,
    link_removed: bool,
) -> None:
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    if link_removed:
        (view.node / LINK).unlink()  # e.g. deleted by hand: the update brings it back
    # The next minor is always there: it must not count as a change.
    bakery.publish(name(NEXT_MINOR), *([name(NEWEST)] if newer else []))
    before = snapshot(view.node)
    run = run_service(view)
    # Nothing to do is success too: a failing unit would alarm monitoring every timer run.
    assert run.ok, run.log
    assert (view.node / SENTINEL).exists() == newer
    assert (snapshot(view.node) == before) == (not newer)
    assert active(view.node) == view.node / IMAGES / name(NEWEST if newer else BOOT)
    # The drop-in's own bookkeeping: what the link resolved to before and after.
    records = [
        (view.node / p.lstrip("/")).read_text() for p in (updates.LINK_BEFORE, updates.LINK_AFTER)
    ]
    assert records[0] == (f"/{LINK}\n" if link_removed else f"/{IMAGES}/{name(BOOT)}\n")
    assert records[1] == f"/{IMAGES}/{name(NEWEST if newer else BOOT)}\n"


@pytest.mark.engine
def test_a_second_run_changes_nothing(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    bakery.publish(name(NEWEST))
    assert run_service(view).ok
    assert (view.node / SENTINEL).exists()
    # Kured reboots the node: /run is a tmpfs, so the sentinel and the records are gone.
    shutil.rmtree(view.node / "run")
    (view.node / "run").mkdir()
    before = snapshot(view.node)
    mark = bakery.mark()
    run = run_service(view)
    assert run.ok, run.log
    assert snapshot(view.node) == before
    assert not (view.node / SENTINEL).exists()
    assert bakery.images_fetched_since(mark) == []
    assert set(bakery.fetched_since(mark)) == {SUMS}


@pytest.mark.engine
def test_an_image_that_does_not_match_sha256sums_is_refused(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    bakery.publish(name(NEWEST))
    bakery.corrupt(name(NEWEST))
    before = snapshot(view.node)
    mark = bakery.mark()
    run = view.run_service(timeout=30)
    assert not run.ok
    failed = run.steps[-1]
    assert failed.argv == ("/usr/lib/systemd/systemd-sysupdate", "-C", "kubernetes", "update")
    assert failed.returncode not in (0, None), failed.output
    assert "checksum" in failed.output.lower(), failed.output
    assert bakery.images_fetched_since(mark) == [f"/kubernetes/{name(NEWEST)}"]
    # Nothing was installed or half-written, the link did not move, no reboot was requested
    # (the unit failed before ExecStartPost=, which systemd then never runs).
    assert [k for k, _ in run.not_run] == ["ExecStart", "ExecStartPost"]
    assert installed(view.node) == [name(BOOT)]
    assert snapshot(view.node) == before
    assert not (view.node / SENTINEL).exists()
    # Once the mirror serves the right bytes, the next timer run installs it.
    bakery.restore(name(NEWEST))
    assert run_service(view).ok
    assert active(view.node) == view.node / IMAGES / name(NEWEST)
    assert (view.node / SENTINEL).exists()


@pytest.mark.engine
def test_verify_requires_a_signed_index(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --sysupdate-verify (Verify=true) is about the GPG signature of the index, SHA256SUMS.gpg,
    # which an unsigned mirror lacks: the tool asks for it and installs nothing.
    view = boot_node(bakery, tmp_path, d13, monkeypatch, "--sysupdate-verify")
    bakery.publish(name(NEWEST))
    mark = bakery.mark()
    run = view.run_service(timeout=30)
    assert not run.ok and run.steps[-1].argv[-1] == "update", run.log
    assert f"{SUMS}.gpg" in bakery.fetched_since(mark)
    assert bakery.images_fetched_since(mark) == []
    assert installed(view.node) == [name(BOOT)]
    assert not (view.node / SENTINEL).exists()


@pytest.mark.engine
@pytest.mark.parametrize("instances_max", [2, 3])
def test_instances_max_prunes_the_oldest(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch, instances_max: int
) -> None:
    view = boot_node(
        bakery, tmp_path, d13, monkeypatch, "--sysupdate-instances-max", str(instances_max)
    )
    transfer = view.node / layout.transfer_path("1.33").lstrip("/")
    assert f"InstancesMax={instances_max}\n" in transfer.read_text()
    history = [BOOT]
    for version in PATCHES:
        bakery.publish(name(version))
        run = run_service(view)
        assert run.ok, run.log
        history.append(version)
        assert installed(view.node) == sorted(name(v) for v in history[-instances_max:])
        assert active(view.node) == view.node / IMAGES / name(version)


@pytest.mark.engine
def test_real_matcher_selects_exactly_each_minor_of_the_catalog(
    bakery: Bakery, tmp_path: Path, d13: Path
) -> None:
    """Every minor's transfer file against an index naming the whole catalog (both arches) and
    lookalikes: the real tool lists exactly that minor's patches for this host's arch. (The
    other arch's %a cannot be exercised here: the tool expands it to the running kernel's, so
    the model in tests/sysupdate_pattern.py covers it, checked here against the tool.)"""
    from nodeconfiglib import file_text, ini_values, node_config
    from sysupdate_pattern import expand_specifiers, match

    catalog = load_embedded()
    lookalikes = [
        name("v1.330.1"),
        name("v1.3.3"),
        f"{name('v1.33.4')}.sig",
        name("v1.33."),
        name("v1.33.4").replace(".raw", ".img"),
        "kubernetes-v1.33.conf",
        "noop.conf",
    ]
    index = [image.filename for image in catalog.all_images()] + lookalikes
    (bakery.root / "kubernetes/SHA256SUMS").write_text(
        "".join(f"{'0' * 64}  {file_name}\n" for file_name in sorted(index))
    )
    minors = sorted({(i.version.major, i.version.minor) for i in catalog.all_images()})
    assert len(minors) > 3
    for major, minor in minors:
        request = f"{major}.{minor}"
        cfg = node_config(
            {
                "kubernetesVersion": request,
                "arch": HOST,
                "sysupdate.enabled": "1",
                "sysext.baseUrl": bakery.served.base_url,
            }
        )
        root = enginelib.make_scratch_root(tmp_path / request)
        for path in (layout.transfer_path(request), layout.NOOP_TRANSFER):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(file_text(cfg, path))
        view = sysupdatelib.NodeView(root, d13)
        rc, out = view.run(
            ["/" + sysupdatelib.SYSUPDATE, "-C", "kubernetes", "--json=short", "list"]
        )
        assert rc == 0, out
        listing = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
        wanted = {
            str(i.version.patch)
            for i in catalog.all_images()
            if i.arch == HOST and (i.version.major, i.version.minor) == (major, minor)
        }
        assert set(listing["all"]) == wanted, request
        # The model that covers the other arch (tests/sysupdate_pattern.py) agrees with the tool.
        (raw,) = ini_values(file_text(cfg, layout.transfer_path(request)), "MatchPattern")
        modelled = {match(expand_specifiers(raw, HOST), file_name) for file_name in index}
        assert modelled - {None} == wanted, request


@pytest.mark.engine
def test_the_noop_transfer_keeps_the_units_own_update_from_failing(
    bakery: Bakery, tmp_path: Path, d13: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The unit's own ExecStart= updates the default component, which has no transfer of ours.
    view = boot_node(bakery, tmp_path, d13, monkeypatch)
    assert run_service(view).ok
    (view.node / layout.NOOP_TRANSFER.lstrip("/")).unlink()
    (main,) = [s for s in view.run_service(timeout=30).steps if s.key == "ExecStart"]
    assert main.argv == ("/usr/lib/systemd/systemd-sysupdate", "update")
    assert main.returncode == 1 and "No transfer definitions found" in main.output


# --------------------------------------------------------------------------------------------
# The harness's own rules (no root needed)
# --------------------------------------------------------------------------------------------


def test_exec_lines_are_split_the_way_systemd_splits_them() -> None:
    from sysupdatelib import exec_argv

    assert exec_argv('/usr/bin/sh -c "a \\"b\\" 100%% $$x"') == (
        False,
        ["/usr/bin/sh", "-c", 'a "b" 100% $x'],
    )
    assert exec_argv("-/bin/true 'x y'  z") == (True, ["/bin/true", "x y", "z"])
    assert exec_argv("/bin/echo a\\ b") == (False, ["/bin/echo", "a b"])


@pytest.mark.parametrize(
    "line",
    ["/bin/echo %n", "/bin/echo $HOME", "/bin/echo ${X}", "/bin/a ; /bin/b", "@/bin/a b",
     "/bin/echo \\q", "/bin/echo \"open", "relative/prog", ""],
)  # fmt: skip
def test_exec_lines_it_cannot_model_are_refused(line: str) -> None:
    from sysupdatelib import exec_argv

    with pytest.raises(ValueError):
        exec_argv(line)


def test_exec_lines_merge_unit_and_dropins_in_order() -> None:
    from sysupdatelib import exec_lines

    unit = "[Unit]\nExecStart=/not/service\n[Service]\nExecStart=/bin/main\nExecStartPre=/bin/a\n"
    dropin = "[Service]\n# c\nExecStartPre=\nExecStartPre=/bin/b\nExecStartPost=/bin/c\n"
    assert exec_lines([unit, dropin]) == {
        "ExecStartPre": ["/bin/b"],
        "ExecStart": ["/bin/main"],
        "ExecStartPost": ["/bin/c"],
    }


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_prerequisites_fail_under_ci_and_skip_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="need root"):
        sysupdatelib.debian13_root()
