"""End to end with the real engines: a node boots from a `capi-sysext mirror` (issue #6).

One pipeline for the module, every step through the real CLI (``python -m capi_sysext``):

1. a fake upstream bakery on 127.0.0.1 holds two patch releases x two arches in the bakery
   layout (``kubernetes-vX.Y.Z-<arch>.raw`` at the root, index at ``kubernetes/SHA256SUMS``);
2. ``mirror --k8s 1.33`` copies the newest patch for both arches into a directory, which a
   second 127.0.0.1 server then serves; the upstream server is stopped right after;
3. ``generate`` and ``render-node`` point at the mirror and refresh their catalog from the
   mirror's own index, so the image is hash-pinned;
4. the rendered Ignition goes through ``ignition-validate``, the real Ignition engine (which
   downloads from the mirror and checks the sha256) and ``systemd-sysext``;
5. the sysupdate transfer written on the node points at the mirror, and the mirror serves the
   index and image that sysupdate will ask for.

So the mirror is a complete base URL for first boot and for sysupdate, and nothing is fetched
from upstream once the mirror exists.

Run: ``CAPI_SYSEXT_SHARED=/work/shared python -m pytest tests/test_mirror_boot.py`` (as root,
with ``ignition`` and ``squashfs-tools``; skips otherwise, fails under CI=true).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import enginelib
import pytest
import yaml

from capi_sysext import clouds
from capi_sysext.features.updates import SYSUPDATE_SERVICE, SYSUPDATE_TIMER
from capi_sysext.layout import SYSEXT_LINK, transfer_path
from capi_sysext.model import PINNED_SUMS_PATH, parse_pinned_sums
from capi_sysext.render.clc_parse import parse_clc, parse_ignition
from capi_sysext.specbuild import PROVIDER_VARIABLE, cluster_variables

REPO = Path(__file__).resolve().parent.parent
PROVIDER = "azure"
MINOR = "1.33"
OLD, NEW = "v1.33.12", "v1.33.13"  # mirror --k8s 1.33 must take the newest patch only
UPSTREAM_ARCHES = ("x86-64", "arm64")
HOST_ARCH = enginelib.host_sysext_arch()
CLI_TIMEOUT_S = 30
HTTP_TIMEOUT_S = 5


@dataclass(frozen=True)
class Pipeline:
    mirror: enginelib.ServedDirectory  # still serving for the tests
    mirror_dir: Path
    upstream_url: str  # stopped: nothing listens there any more
    upstream_sums: dict[str, str]  # image file name -> sha256 (the upstream index)
    upstream_requests: list[str]
    cluster_yaml: str
    generate_stderr: str
    ignition: str
    render_stderr: str

    @property
    def image(self) -> str:
        return enginelib.sysext_file_name(NEW, HOST_ARCH)


def cli_env(cache_home: Path) -> dict[str, str]:
    """The developer's environment minus what could steer the CLI: proxies and input vars."""
    # Module-scoped, so conftest's per-test environment cleanup has not run yet: do it here.
    inputs = {PROVIDER_VARIABLE.env} | {
        v.env for name in clouds.NAMES for v in cluster_variables(name) if v.env
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in inputs and not k.lower().endswith("_proxy") and not k.startswith("CAPI_")
    }
    env["PYTHONPATH"] = str(REPO)  # this checkout, not an installed copy
    env["XDG_CACHE_HOME"] = str(cache_home)
    return env  # CAPI_SYSEXT_OFFLINE unset: the CLI fetches the (local) index


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "capi_sysext", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, f"{args[0]} failed:\n{proc.stderr}"
    return proc


def build_upstream(root: Path) -> dict[str, str]:
    """Fake bakery: images at the root, their index at kubernetes/SHA256SUMS."""
    for version in (OLD, NEW):
        for arch in UPSTREAM_ARCHES:
            enginelib.build_sysext(root, version, arch)
    index = root / "kubernetes" / "SHA256SUMS"
    index.parent.mkdir()
    enginelib.write_sha256sums(root).replace(index)
    return read_sums(index.read_text())


def read_sums(text: str) -> dict[str, str]:
    return {
        name: digest for digest, _, name in (line.partition("  ") for line in text.splitlines())
    }


def http_get(url: str) -> bytes:
    assert url.startswith("http://127.0.0.1:"), url  # only ever the local servers
    # No proxy handler: the request must go straight to 127.0.0.1.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=HTTP_TIMEOUT_S) as resp:
        body: bytes = resp.read()
    return body


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    enginelib.require_engines()
    base = tmp_path_factory.mktemp("mirrorboot")
    env = cli_env(base / "xdg")
    upstream_dir, mirror_dir = base / "upstream", base / "mirror"
    mirror_dir.mkdir()
    upstream_sums = build_upstream(upstream_dir)

    # The mirror server comes first because `mirror --base-url` needs its URL.
    with enginelib.serve_directory(mirror_dir) as mirror:
        with enginelib.serve_directory(upstream_dir) as upstream:
            run_cli(
                env,
                "mirror",
                "--k8s",
                MINOR,
                "--arch",
                "x86-64",
                "--arch",
                "arm64",
                "--to",
                str(mirror_dir),
                "--sysext-base-url",
                upstream.base_url,
                "--base-url",
                mirror.base_url,
            )
        upstream_requests = upstream.requests
        # From here on the upstream is gone: any later fetch from it would fail loudly.
        with pytest.raises(urllib.error.URLError):
            http_get(upstream.url("kubernetes/SHA256SUMS"))

        mirror_args = ["--sysext-base-url", mirror.base_url, "--sysupdate", "--arch", HOST_ARCH]
        generated = run_cli(
            env,
            "generate",
            "--provider",
            PROVIDER,
            "--k8s",
            MINOR,
            "--name",
            "demo",
            "--values",
            str(REPO / "examples" / f"{PROVIDER}.yaml"),
            *mirror_args,
        )
        # Same inputs as generate, so the worker node config must be the same model.
        rendered = run_cli(
            env,
            "render-node",
            "--k8s",
            MINOR,
            "--role",
            "worker",
            "--format",
            "ignition",
            "--provider",
            PROVIDER,
            "--values",
            str(REPO / "examples" / f"{PROVIDER}.yaml"),
            *mirror_args,
        )
        yield Pipeline(
            mirror=mirror,
            mirror_dir=mirror_dir,
            upstream_url=upstream.base_url,
            upstream_sums=upstream_sums,
            upstream_requests=upstream_requests,
            cluster_yaml=generated.stdout,
            generate_stderr=generated.stderr,
            ignition=rendered.stdout,
            render_stderr=rendered.stderr,
        )


def worker_clc(cluster_yaml: str) -> str:
    """The CLC that CABPK turns into the worker's Ignition (KubeadmConfigTemplate)."""
    (kct,) = [
        d for d in yaml.safe_load_all(cluster_yaml) if d and d["kind"] == "KubeadmConfigTemplate"
    ]
    clc: str = kct["spec"]["template"]["spec"]["ignition"]["containerLinuxConfig"][
        "additionalConfig"
    ]
    return clc


def ini(text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> value of a systemd-style file; the transfer files set each key once."""
    values: dict[tuple[str, str], str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        assert (section, key) not in values, f"{section}.{key} set twice"
        values[section, key] = value
    return values


def match_pattern_regex(pattern: str, arch: str) -> re.Pattern[str]:
    """sysupdate's MatchPattern: @v is the version, %a the node's architecture."""
    escaped = re.escape(pattern).replace("@v", r"(?P<v>[A-Za-z0-9.~^+_-]+)")
    return re.compile(escaped.replace("%a", re.escape(arch)))


# --------------------------------------------------------------------------------------------


@pytest.mark.engine
def test_mirror_holds_the_newest_patch_for_both_arches(pipeline: Pipeline) -> None:
    wanted = {enginelib.sysext_file_name(NEW, arch) for arch in UPSTREAM_ARCHES}
    # Upstream: its index, then exactly the chosen images (the older patch is never fetched).
    assert pipeline.upstream_requests[0] == "/kubernetes/SHA256SUMS"
    assert sorted(pipeline.upstream_requests[1:]) == sorted(f"/{n}" for n in wanted)

    mirrored = read_sums((pipeline.mirror_dir / "kubernetes" / "SHA256SUMS").read_text())
    assert mirrored == {n: pipeline.upstream_sums[n] for n in wanted}
    for name in wanted:
        first_boot, sysupdate = (
            pipeline.mirror_dir / name,
            pipeline.mirror_dir / "kubernetes" / name,
        )
        assert enginelib.sha256_file(first_boot) == pipeline.upstream_sums[name]
        assert first_boot.stat().st_ino == sysupdate.stat().st_ino
    # Neither output leaks the upstream URL: nodes only know the mirror.
    assert pipeline.upstream_url not in pipeline.cluster_yaml
    assert pipeline.upstream_url not in pipeline.ignition


@pytest.mark.engine
def test_generate_and_render_node_pin_from_the_mirror(pipeline: Pipeline) -> None:
    index = f"catalog: {pipeline.mirror.url('kubernetes/SHA256SUMS')} (fetched"
    assert index in pipeline.generate_stderr
    for stderr in (pipeline.generate_stderr, pipeline.render_stderr):
        assert "not pinned" not in stderr
    clc = worker_clc(pipeline.cluster_yaml)
    assert PINNED_SUMS_PATH in clc
    model = parse_clc(clc)
    (guard,) = [f for f in model.files if f.path == PINNED_SUMS_PATH]
    assert guard.inline is not None
    assert list(parse_pinned_sums(guard.inline).values()) == [
        pipeline.upstream_sums[pipeline.image]
    ]
    # The CLC in CABPK's objects and render-node's Ignition carry the same node.
    assert model == parse_ignition(json.loads(pipeline.ignition))


@pytest.mark.engine
def test_node_boots_from_the_mirror(pipeline: Pipeline, tmp_path: Path) -> None:
    ok, output = enginelib.ignition_validate(pipeline.ignition, strict=True)
    assert ok, output

    root = enginelib.make_scratch_root(tmp_path)
    mark = len(pipeline.mirror.records)
    run = enginelib.run_ignition(pipeline.ignition, root, timeout=40)
    assert run.ok, run.log
    fetched = [(r.client, r.path, r.status) for r in pipeline.mirror.records[mark:]]
    assert fetched == [("127.0.0.1", f"/{pipeline.image}", 200)]
    sha = pipeline.upstream_sums[pipeline.image]
    assert f"file matches expected sum of: {sha}" in run.log  # the engine checked it

    link = root / SYSEXT_LINK.lstrip("/")
    assert enginelib.sha256_file(enginelib.resolve_in_root(root, SYSEXT_LINK)) == sha
    assert link.is_symlink()
    merge = enginelib.merge_sysext(root)
    assert merge.ok and merge.problems == [], merge.log
    assert merge.kubelet is not None and NEW in merge.kubelet, merge.log
    assert "usr/bin/kubelet" in merge.appeared

    assert enginelib.unit_state(root, SYSUPDATE_TIMER) == "enabled"
    assert enginelib.dropins(root, SYSUPDATE_SERVICE), "sysupdate service drop-in missing"


@pytest.mark.engine
def test_mirror_serves_what_sysupdate_asks_for(pipeline: Pipeline, tmp_path: Path) -> None:
    root = enginelib.make_scratch_root(tmp_path)
    run = enginelib.run_ignition(pipeline.ignition, root, timeout=40)
    assert run.ok, run.log
    node_conf = ini((root / transfer_path(MINOR).lstrip("/")).read_text())
    source = node_conf["Source", "Path"]
    assert source == f"{pipeline.mirror.base_url}/kubernetes/"
    # The mirror's own transfer file (for hand-made nodes) says the same.
    mirror_conf = ini(
        (pipeline.mirror_dir / "kubernetes" / f"kubernetes-v{MINOR}.conf").read_text()
    )
    for key in ("Path", "MatchPattern"):
        assert mirror_conf["Source", key] == node_conf["Source", key], key

    # What systemd-sysupdate does with Type=url-file: GET <Path>SHA256SUMS, pick the newest
    # entry matching MatchPattern for this arch, GET <Path><file> and check it against the list.
    mark = len(pipeline.mirror.records)
    listed = read_sums(http_get(f"{source}SHA256SUMS").decode())
    pattern = match_pattern_regex(node_conf["Source", "MatchPattern"], HOST_ARCH)
    candidates = [name for name in listed if pattern.fullmatch(name)]
    assert candidates == [pipeline.image]
    body = http_get(f"{source}{pipeline.image}")
    assert hashlib.sha256(body).hexdigest() == listed[pipeline.image]
    assert listed[pipeline.image] == pipeline.upstream_sums[pipeline.image]
    served = [(r.path, r.status) for r in pipeline.mirror.records[mark:]]
    assert served == [
        ("/kubernetes/SHA256SUMS", 200),
        (f"/kubernetes/{pipeline.image}", 200),
    ]
