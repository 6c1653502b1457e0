"""Self-tests of the real-engine harness, using hand-written Ignition 3.3.0 configs.

The product's renderers are tested elsewhere by feeding their output through ``enginelib``;
these tests pin down that the harness itself reports success and failure truthfully.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import enginelib
import pytest

pytestmark = pytest.mark.engine

VERSION = "v1.33.13"


@pytest.fixture
def engines() -> None:
    enginelib.require_engines()


def kubernetes_config(
    base_url: str,
    file_name: str,
    sha256: str,
    *,
    extra_units: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A hand-written Ignition 3.3.0 config shaped like what the product should render."""
    image_path = f"/opt/extensions/kubernetes/{file_name}"
    return {
        "ignition": {
            "version": "3.3.0",
            # Keep failing fetches short; the defaults retry for minutes.
            "timeouts": {"httpResponseHeaders": 5, "httpTotal": 20},
        },
        "storage": {
            "files": [
                {
                    "path": image_path,
                    "mode": 0o644,
                    "contents": {
                        "source": f"{base_url}/{file_name}",
                        "verification": {"hash": f"sha256-{sha256}"},
                    },
                },
                {
                    "path": "/etc/harness/node.conf",
                    "mode": 0o644,
                    "contents": {"source": "data:,role%3Dworker%0A"},
                },
            ],
            "links": [
                {
                    "path": "/etc/extensions/kubernetes.raw",
                    "target": image_path,
                    "hard": False,
                }
            ],
        },
        "systemd": {
            "units": [
                {
                    "name": "kubelet.service",
                    "dropins": [
                        {
                            "name": "20-harness.conf",
                            "contents": "[Service]\nEnvironment=HARNESS=1\n",
                        }
                    ],
                },
                {"name": "systemd-sysupdate.timer", "enabled": True},
                {"name": "update-engine.service", "enabled": False},
                {"name": "locksmithd.service", "mask": True},
                *(extra_units or []),
            ]
        },
    }


def image_files(root: Path) -> list[Path]:
    base = root / "opt/extensions"
    return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []


# --------------------------------------------------------------------------------------------
# require_engines
# --------------------------------------------------------------------------------------------


def test_require_engines_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(enginelib, "missing_engines", lambda: ["mksquashfs"])
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y ignition squashfs-tools"):
        enginelib.require_engines()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="mksquashfs"):
        enginelib.require_engines()


def test_require_engines_passes_here(engines: None) -> None:
    assert enginelib.missing_engines() == []


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def test_build_sysext_layout_and_reproducibility(engines: None, tmp_path: Path) -> None:
    first = enginelib.build_sysext(tmp_path / "a", VERSION, "x86-64")
    second = enginelib.build_sysext(tmp_path / "b", VERSION, "x86-64")
    assert first.name == f"kubernetes-{VERSION}-x86-64.raw"
    assert first.stat().st_size < 64 * 1024
    assert enginelib.sha256_file(first) == enginelib.sha256_file(second)

    out = tmp_path / "unpacked"
    subprocess.run(
        ["unsquashfs", "-no-progress", "-d", str(out), str(first)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    release = out / "usr/lib/extension-release.d/extension-release.kubernetes"
    assert release.read_text().splitlines() == [
        "ID=_any",
        "ARCHITECTURE=x86-64",
        "EXTENSION_RELOAD_MANAGER=1",
    ]
    for tool in ("kubelet", "kubeadm", "kubectl"):
        assert (out / "usr/bin" / tool).stat().st_mode & 0o111
    assert any((out / "usr/local/bin/cni").iterdir())
    units = out / "usr/lib/systemd/system"
    assert (units / "kubelet.service").is_file()
    assert (units / "kubelet.service.d/10-kubeadm.conf").is_file()
    upholds = units / "multi-user.target.d/10-kubelet-service.conf"
    assert upholds.read_text() == "[Unit]\nUpholds=kubelet.service\n"
    assert (out / "usr/local/share/kubernetes-version").read_text() == f"{VERSION}\n"
    assert not (out / "usr/lib/os-release").exists()

    named = enginelib.build_sysext(tmp_path / "c", VERSION, "arm64", name="other.raw")
    assert named.name == "other.raw"


def test_write_sha256sums(engines: None, tmp_path: Path) -> None:
    images = [enginelib.build_sysext(tmp_path, VERSION, arch) for arch in ("x86-64", "arm64")]
    sums = enginelib.write_sha256sums(tmp_path)
    result = subprocess.run(
        ["sha256sum", "--check", "--strict", sums.name],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(line.split()[1] for line in sums.read_text().splitlines()) == sorted(
        image.name for image in images
    )


def test_serve_directory_records_and_shuts_down(engines: None, tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_text("hi")
    with enginelib.serve_directory(tmp_path) as served:
        assert served.base_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(served.url("hello.txt"), timeout=5) as response:
            assert response.read() == b"hi"
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(served.url("nope"), timeout=5)
        missing.value.close()
        base_url = served.base_url
    assert served.requests == ["/hello.txt", "/nope"]
    assert [r.status for r in served.records] == [200, 404]
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{base_url}/hello.txt", timeout=2)


def test_resolve_in_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "opt/ext").mkdir(parents=True)
    (root / "opt/ext/img.raw").write_bytes(b"x")
    (root / "etc").mkdir()
    (root / "etc/abs").symlink_to("/opt/ext/img.raw")  # node path: must not hit the host's /opt
    (root / "etc/rel").symlink_to("../opt/ext/img.raw")
    (root / "etc/esc").symlink_to("../../../../outside")
    assert enginelib.resolve_in_root(root, "/etc/abs") == root / "opt/ext/img.raw"
    assert enginelib.resolve_in_root(root, "/etc/rel") == root / "opt/ext/img.raw"
    with pytest.raises(enginelib.OutsideRootError):
        enginelib.resolve_in_root(root, "/etc/esc")


def test_ignition_validate_versions_and_strictness(engines: None) -> None:
    ok, output = enginelib.ignition_validate({"ignition": {"version": "3.4.0"}})
    assert not ok and "unsupported config version" in output
    # CLC-style key in a 3.x config: accepted with a warning, rejected under strict.
    clc_style = {
        "ignition": {"version": "3.3.0"},
        "storage": {
            "files": [{"path": "/a", "filesystem": "root", "contents": {"source": "data:,x"}}]
        },
    }
    assert enginelib.ignition_validate(clc_style)[0]
    ok, output = enginelib.ignition_validate(clc_style, strict=True)
    assert not ok and "filesystem" in output


def test_run_ignition_is_bounded(engines: None, tmp_path: Path) -> None:
    # A listener that never answers: Ignition would keep waiting; the harness must not.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        config = {
            "ignition": {"version": "3.3.0"},
            "storage": {
                "files": [{"path": "/a", "contents": {"source": f"http://127.0.0.1:{port}/x"}}]
            },
        }
        started = time.monotonic()
        result = enginelib.run_ignition(config, enginelib.make_scratch_root(tmp_path), timeout=2)
    assert time.monotonic() - started < 10
    assert not result.ok and result.timed_out and result.failed_stage == "files"


# --------------------------------------------------------------------------------------------
# The engines, end to end
# --------------------------------------------------------------------------------------------


def test_happy_path_ignition_then_sysext(engines: None, tmp_path: Path) -> None:
    image = enginelib.build_sysext(tmp_path / "srv", VERSION, "x86-64")
    digest = enginelib.sha256_file(image)
    root = enginelib.make_scratch_root(tmp_path)
    with enginelib.serve_directory(tmp_path / "srv") as served:
        config = kubernetes_config(served.base_url, image.name, digest)
        ok, output = enginelib.ignition_validate(config)
        assert ok, output
        result = enginelib.run_ignition(json.dumps(config), root, timeout=40)
    assert result.ok, result.log

    # (e) the image came from the local server, over loopback, exactly once
    assert served.base_url.startswith("http://127.0.0.1:")
    assert served.requests == [f"/{image.name}"]
    assert [(r.client, r.status) for r in served.records] == [("127.0.0.1", 200)]

    written = root / "opt/extensions/kubernetes" / image.name
    assert enginelib.sha256_file(written) == digest
    assert written.stat().st_mode & 0o777 == 0o644
    link = root / "etc/extensions/kubernetes.raw"
    assert link.is_symlink()
    assert str(link.readlink()) == f"/opt/extensions/kubernetes/{image.name}"
    node_conf = root / "etc/harness/node.conf"
    assert node_conf.read_text() == "role=worker\n"
    assert node_conf.stat().st_mode & 0o777 == 0o644
    assert enginelib.dropins(root, "kubelet.service") == {
        "20-harness.conf": "[Service]\nEnvironment=HARNESS=1\n"
    }

    merge = enginelib.merge_sysext(root)
    assert merge.ok, merge.log
    assert merge.merged and merge.problems == []
    assert merge.kubelet is not None and VERSION in merge.kubelet
    assert "usr/bin/kubelet" in merge.appeared
    assert "usr/lib/systemd/system/multi-user.target.d/10-kubelet-service.conf" in merge.appeared
    assert merge.leftover_mounts == ()
    assert not (root / "usr/bin/kubelet").exists()  # unmerged again

    assert enginelib.unit_state(root, "systemd-sysupdate.timer") == "enabled"
    assert enginelib.unit_state(root, "update-engine.service") == "disabled"
    assert enginelib.unit_state(root, "locksmithd.service") == "masked"
    assert enginelib.unit_state(root, "kubelet.service") == "unset"  # drop-in only
    preset = root / "etc/systemd/system-preset/20-ignition.preset"
    # Ignition 2.14 writes the preset lines in map order, which varies between runs.
    assert sorted(preset.read_text().splitlines()) == [
        "disable update-engine.service",
        "enable systemd-sysupdate.timer",
    ]
    # systemd agrees once first boot applies the presets (stub units stand in for the OS's).
    assert enginelib.systemctl_state(root, "systemd-sysupdate.timer") == "enabled"
    assert enginelib.systemctl_state(root, "update-engine.service") == "disabled"
    assert enginelib.systemctl_state(root, "locksmithd.service") == "masked"


def test_tampered_image_is_rejected(engines: None, tmp_path: Path) -> None:
    good = enginelib.build_sysext(tmp_path / "good", VERSION, "x86-64")
    served_dir = tmp_path / "srv"
    served_dir.mkdir()
    # Same name, different bytes: a real (arm64) image, so only the hash can catch it.
    enginelib.build_sysext(served_dir, VERSION, "arm64", name=good.name)
    root = enginelib.make_scratch_root(tmp_path)
    with enginelib.serve_directory(served_dir) as served:
        config = kubernetes_config(served.base_url, good.name, enginelib.sha256_file(good))
        result = enginelib.run_ignition(config, root, timeout=40)
    assert not result.ok
    assert result.failed_stage == "files" and not result.timed_out
    assert any("hash verification failed" in line for line in result.errors), result.log
    assert served.requests == [f"/{good.name}"]
    assert image_files(root) == []


def test_missing_image_fails_ignition(engines: None, tmp_path: Path) -> None:
    served_dir = tmp_path / "srv"
    served_dir.mkdir()
    root = enginelib.make_scratch_root(tmp_path)
    name = enginelib.sysext_file_name("v1.32.9", "x86-64")  # the version that bricked CAPZ
    with enginelib.serve_directory(served_dir) as served:
        config = kubernetes_config(served.base_url, name, "0" * 64)
        result = enginelib.run_ignition(config, root, timeout=40)
    assert not result.ok and result.failed_stage == "files" and not result.timed_out
    assert "resource not found" in result.log
    assert [(r.path, r.status) for r in served.records] == [(f"/{name}", 404)]
    assert image_files(root) == []


def test_foreign_arch_image_is_ignored_by_sysext(engines: None, tmp_path: Path) -> None:
    assert enginelib.host_sysext_arch() != "arm64", "arch guard test assumes a non-arm64 host"
    image = enginelib.build_sysext(tmp_path / "srv", VERSION, "arm64")
    root = enginelib.make_scratch_root(tmp_path)
    with enginelib.serve_directory(tmp_path / "srv") as served:
        config = kubernetes_config(served.base_url, image.name, enginelib.sha256_file(image))
        result = enginelib.run_ignition(config, root, timeout=40)
    assert result.ok, result.log  # Ignition does not care what it downloads
    merge = enginelib.merge_sysext(root)
    assert merge.problems == []
    assert not merge.merged and merge.kubelet is None, merge.log
    assert "incompatible" in merge.log
    assert merge.leftover_mounts == ()


def test_broken_links_are_reported_not_merged(engines: None, tmp_path: Path) -> None:
    root = enginelib.make_scratch_root(tmp_path)
    extensions = root / "etc/extensions"
    extensions.mkdir(parents=True)
    (extensions / "kubernetes.raw").symlink_to("/opt/extensions/kubernetes/missing.raw")
    (extensions / "escape.raw").symlink_to("../../../../../../outside.raw")
    merge = enginelib.merge_sysext(root)
    problems = dict(p.split(": ", 1) for p in merge.problems)
    assert problems["kubernetes.raw"].startswith("dangling")
    assert problems["escape.raw"].startswith("points outside")
    assert not merge.merged and merge.kubelet is None
    assert merge.ok, merge.log  # nothing to merge is not an engine failure
    assert (extensions / "kubernetes.raw").is_symlink()  # the root is left untouched


def test_link_must_be_named_after_the_extension_release(engines: None, tmp_path: Path) -> None:
    # The bakery's release file is extension-release.kubernetes: under any other link name
    # systemd-sysext 252 aborts the whole merge, taking every other extension down with it.
    root = enginelib.make_scratch_root(tmp_path)
    image = enginelib.build_sysext(root / "opt/extensions/kubernetes", VERSION, "x86-64")
    extensions = root / "etc/extensions"
    extensions.mkdir(parents=True)
    (extensions / "k8s.raw").symlink_to(f"/opt/extensions/kubernetes/{image.name}")
    merge = enginelib.merge_sysext(root)
    assert merge.problems == []
    assert not merge.ok and not merge.merged and merge.kubelet is None
    assert merge.leftover_mounts == ()


def test_systemctl_state_without_unit_file(engines: None, tmp_path: Path) -> None:
    root = enginelib.make_scratch_root(tmp_path)
    assert enginelib.systemctl_state(root, "kubelet.service", stub=False) == "not-found"
    # No preset rule matches at all: systemd's fallback is to enable. Renderers must say
    # enabled: false explicitly for anything that has to stay off.
    assert enginelib.unit_state(root, "kubelet.service") == "unset"
    assert enginelib.systemctl_state(root, "kubelet.service") == "enabled"
