"""`capi-sysext mirror`: real downloads from a bakery on 127.0.0.1, verification, resume, layout."""

from __future__ import annotations

import errno
import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

import capi_sysext.cli.commands  # noqa: F401  (registers the commands)
from capi_sysext.cli import cli
from capi_sysext.errors import CatalogError
from capi_sysext.fetch import FetchError, HttpClient
from capi_sysext.index import load_catalog
from capi_sysext.mirror import (
    PARTIAL_DIR,
    MirrorError,
    plan_mirror,
    run_mirror,
    transfer_conf,
)

try:  # tests/ may or may not become a package
    from tests.bakery_server import BakeryServer
except ImportError:
    from bakery_server import BakeryServer

NAMES = [
    "kubernetes-v1.33.2-x86-64.raw",
    "kubernetes-v1.33.3-x86-64.raw",
    "kubernetes-v1.34.1-x86-64.raw",
    "kubernetes-v1.34.2-x86-64.raw",
    "kubernetes-v1.33.2-arm64.raw",
    "kubernetes-v1.34.2-arm64.raw",
]
CONTENT = {n: (f"fake sysext {n}\n".encode() * 4000) for n in NAMES}  # ~120 KiB each
WANTED = {
    "kubernetes-v1.33.3-x86-64.raw",
    "kubernetes-v1.34.2-x86-64.raw",
    "kubernetes-v1.33.2-arm64.raw",
    "kubernetes-v1.34.2-arm64.raw",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


INDEX = "".join(f"{sha(CONTENT[n])}  {n}\n" for n in NAMES) + "0" * 64 + "  noop.conf\n"


def client() -> HttpClient:
    return HttpClient(timeout=2.0, retries=2, backoff=0.01, sleep=lambda _s: None)


@pytest.fixture
def bakery():
    files = {f"/{n}": c for n, c in CONTENT.items()}
    files["/kubernetes/SHA256SUMS"] = INDEX.encode()
    with BakeryServer(files=files) as srv:
        yield srv


def plan(srv: BakeryServer, cache: Path, versions: tuple[str, ...] = ("1.33", "v1.34.2")):
    catalog = load_catalog(srv.url, cache_dir=cache, client=client()).catalog
    return plan_mirror(catalog, versions, ["x86-64", "arm64"])


def image_gets(srv: BakeryServer) -> list[str]:
    return [r.path for r in srv.requests if r.path.endswith(".raw")]


def test_mirror_two_versions_two_arches_is_a_complete_base_url(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    images = plan(bakery, tmp_path / "cache")
    assert {i.filename for i in images} == WANTED
    result = run_mirror(
        images, dest, bakery.url, serve_base_url="http://mirror.example/ext/", client=client()
    )
    assert {i.filename for i in result.downloaded} == WANTED and not result.present
    assert result.bytes_downloaded == sum(len(CONTENT[n]) for n in WANTED)
    for name in WANTED:
        top, sub = dest / name, dest / "kubernetes" / name
        assert sub.read_bytes() == CONTENT[name]
        assert top.stat().st_ino == sub.stat().st_ino  # hard link, not a copy
        assert sub.stat().st_mode & 0o777 == 0o644
    sums = (dest / "kubernetes" / "SHA256SUMS").read_text()
    assert sums == "".join(
        f"{sha(CONTENT[n])}  {n}\n"
        for n in [
            "kubernetes-v1.33.2-arm64.raw",
            "kubernetes-v1.33.3-x86-64.raw",
            "kubernetes-v1.34.2-arm64.raw",
            "kubernetes-v1.34.2-x86-64.raw",
        ]
    )
    conf = (dest / "kubernetes" / "kubernetes-v1.33.conf").read_text()
    assert conf == transfer_conf("http://mirror.example/ext", "v1.33")
    assert "Path=http://mirror.example/ext/kubernetes/\n" in conf
    assert "MatchPattern=kubernetes-v1.33.@v-%a.raw\n" in conf
    assert "CurrentSymlink=/etc/extensions/kubernetes.raw\n" in conf
    assert (dest / "kubernetes" / "kubernetes-v1.34.conf").is_file()
    assert (dest / "noop.conf").is_file()
    assert not (dest / PARTIAL_DIR).exists()

    # Served over plain HTTP, the mirror is itself a valid --sysext-base-url.
    with BakeryServer(root=dest) as mirror:
        choice = load_catalog(mirror.url, cache_dir=tmp_path / "cache2", client=client())
        assert choice.kind == "index" and not choice.warnings
        for arch in ("x86-64", "arm64"):
            for request in ("1.33", "1.34"):
                img = choice.catalog.resolve(request, arch)
                assert img.filename in WANTED
                assert img.sha256 == sha(CONTENT[img.filename])
        again = run_mirror(
            plan(mirror, tmp_path / "cache3"), tmp_path / "m2", mirror.url, client=client()
        )
        assert len(again.downloaded) == 4  # first-boot paths (<base>/<file>) all resolve


def test_second_run_downloads_nothing(bakery: BakeryServer, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    images = plan(bakery, tmp_path / "c")
    run_mirror(images, dest, bakery.url, serve_base_url="http://m/", client=client())
    snapshot = {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    n = len(image_gets(bakery))
    result = run_mirror(images, dest, bakery.url, serve_base_url="http://m/", client=client())
    assert len(image_gets(bakery)) == n
    assert not result.downloaded and len(result.present) == 4
    assert {p: p.read_bytes() for p in dest.rglob("*") if p.is_file()} == snapshot


def test_incremental_run_keeps_earlier_images_listed(bakery: BakeryServer, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    run_mirror(plan(bakery, tmp_path / "c", ("1.33",)), dest, bakery.url, client=client())
    run_mirror(plan(bakery, tmp_path / "c", ("1.34",)), dest, bakery.url, client=client())
    listed = [
        line.split("  ")[1]
        for line in (dest / "kubernetes" / "SHA256SUMS").read_text().splitlines()
    ]
    assert set(listed) == WANTED


def test_corrupted_download_is_detected_and_not_kept(bakery: BakeryServer, tmp_path: Path) -> None:
    name = "kubernetes-v1.34.2-arm64.raw"
    bakery.fault(f"/{name}", "corrupt")
    dest = tmp_path / "m"
    with pytest.raises(MirrorError, match=rf"{name}: sha256 mismatch.*discarded"):
        run_mirror(plan(bakery, tmp_path / "c"), dest, bakery.url, client=client())
    assert not (dest / "kubernetes" / name).exists()
    assert not (dest / name).exists()
    assert not (dest / PARTIAL_DIR / f"{name}.part").exists()
    # what verified before the failure is listed; the corrupt image is not
    sums = (dest / "kubernetes" / "SHA256SUMS").read_text()
    assert name not in sums and "kubernetes-v1.33.2-arm64.raw" in sums


def test_resumed_download_uses_range(bakery: BakeryServer, tmp_path: Path) -> None:
    name = "kubernetes-v1.33.3-x86-64.raw"
    dest = tmp_path / "m"
    part = dest / PARTIAL_DIR / f"{name}.part"
    part.parent.mkdir(parents=True)
    half = len(CONTENT[name]) // 2
    part.write_bytes(CONTENT[name][:half])
    result = run_mirror(plan(bakery, tmp_path / "c"), dest, bakery.url, client=client())
    reqs = bakery.seen(f"/{name}")
    assert len(reqs) == 1
    assert reqs[0].headers["range"] == f"bytes={half}-" and reqs[0].status == 206
    assert [i.filename for i in result.resumed] == [name]
    assert (dest / "kubernetes" / name).read_bytes() == CONTENT[name]
    assert not part.exists()


def test_resume_from_a_bad_partial_restarts_cleanly(bakery: BakeryServer, tmp_path: Path) -> None:
    name = "kubernetes-v1.33.3-x86-64.raw"
    dest = tmp_path / "m"
    part = dest / PARTIAL_DIR / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"X" * 1000)  # not a prefix of the real file
    run_mirror(plan(bakery, tmp_path / "c"), dest, bakery.url, client=client())
    reqs = bakery.seen(f"/{name}")
    assert [r.headers.get("range") for r in reqs] == ["bytes=1000-", None]
    assert (dest / "kubernetes" / name).read_bytes() == CONTENT[name]


def test_server_ignoring_range_restarts(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.honor_range = False
    name = "kubernetes-v1.33.2-arm64.raw"
    dest = tmp_path / "m"
    part = dest / PARTIAL_DIR / f"{name}.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(CONTENT[name][:500])
    result = run_mirror(plan(bakery, tmp_path / "c"), dest, bakery.url, client=client())
    assert bakery.seen(f"/{name}")[0].status == 200
    assert not result.resumed
    assert (dest / "kubernetes" / name).read_bytes() == CONTENT[name]


def test_truncated_download_resumes_on_retry(bakery: BakeryServer, tmp_path: Path) -> None:
    name = "kubernetes-v1.34.2-x86-64.raw"
    bakery.fault(f"/{name}", "truncate", times=1)
    dest = tmp_path / "m"
    result = run_mirror(plan(bakery, tmp_path / "c"), dest, bakery.url, client=client())
    reqs = bakery.seen(f"/{name}")
    assert len(reqs) == 2 and reqs[1].headers.get("range") and reqs[1].status == 206
    assert name in {i.filename for i in result.resumed}
    assert (dest / "kubernetes" / name).read_bytes() == CONTENT[name]


def test_missing_image_is_an_error_naming_the_url(bakery: BakeryServer, tmp_path: Path) -> None:
    name = "kubernetes-v1.33.2-arm64.raw"
    bakery.fault(f"/{name}", "404")
    with pytest.raises(FetchError, match=rf"{bakery.url}/{name}: HTTP 404"):
        run_mirror(plan(bakery, tmp_path / "c"), tmp_path / "m", bakery.url, client=client())
    assert not (tmp_path / "m" / name).exists()


def test_embedded_catalog_cannot_be_mirrored_unverified(tmp_path: Path) -> None:
    catalog = load_catalog("http://127.0.0.1:9/none", offline=True, cache_dir=tmp_path).catalog
    with pytest.raises(CatalogError, match="no sha256"):
        plan_mirror(catalog, ["1.33"], ["x86-64"])


def test_copy_when_hard_links_fail(
    bakery: BakeryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(self: Path, target: Path) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    monkeypatch.setattr(Path, "hardlink_to", no_link)
    dest = tmp_path / "m"
    run_mirror(plan(bakery, tmp_path / "c", ("1.33",)), dest, bakery.url, client=client())
    name = "kubernetes-v1.33.3-x86-64.raw"
    assert (dest / name).read_bytes() == CONTENT[name]
    assert (dest / name).stat().st_ino != (dest / "kubernetes" / name).stat().st_ino


def test_cli_mirror_is_quiet_without_a_terminal(bakery: BakeryServer, tmp_path: Path) -> None:
    dest = tmp_path / "m"
    args = [
        "mirror",
        "--k8s",
        "1.33",
        "--k8s",
        "v1.34.2",
        "--arch",
        "x86-64",
        "--arch",
        "aarch64",
        "--to",
        str(dest),
        "--sysext-base-url",
        bakery.url,
        "--base-url",
        "http://10.0.0.5:8080",
    ]
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "4 downloaded" in result.stdout and "lists 4 image(s)" in result.stdout
    assert result.stderr.startswith(f"catalog: {bakery.url}/kubernetes/SHA256SUMS (")
    assert (tmp_path / "xdg" / "capi-sysext").is_dir()
    again = CliRunner().invoke(cli, args, env=env)
    assert again.exit_code == 0 and "0 downloaded" in again.stdout
    assert "4 already present" in again.stdout


def test_cli_mirror_errors(bakery: BakeryServer, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    base = ["mirror", "--to", str(tmp_path / "m"), "--sysext-base-url", bakery.url]
    r = CliRunner().invoke(cli, [*base, "--k8s", "1.33.3", "--arch", "arm64"], env=env)
    assert r.exit_code == 2
    assert "v1.33.3 is not published for arm64" in r.stderr and "v1.33.2" in r.stderr
    r = CliRunner().invoke(cli, [*base, "--k8s", "1.33", "--arch", "s390x"], env=env)
    assert r.exit_code == 2 and "--arch 's390x'" in r.stderr
    bakery.fault("/kubernetes-v1.33.3-x86-64.raw", "corrupt")
    r = CliRunner().invoke(cli, [*base, "--k8s", "1.33", "--arch", "x86-64"], env=env)
    assert r.exit_code == 1 and "sha256 mismatch" in r.stderr
    assert "Traceback" not in r.output
