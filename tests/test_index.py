"""The live catalog: index parsing, fetching (real HTTP on 127.0.0.1), cache and fallbacks."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from capi_sysext.catalog import Version
from capi_sysext.errors import CatalogError
from capi_sysext.fetch import FetchError, HttpClient
from capi_sysext.index import (
    CacheEntry,
    IndexFormatError,
    cache_path,
    fetch_index,
    load_catalog,
    parse_index,
    read_cache,
    write_cache,
)

try:  # tests/ may or may not become a package
    from tests.bakery_server import BakeryServer
except ImportError:
    from bakery_server import BakeryServer

INDEX = "/kubernetes/SHA256SUMS"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def index_text(*names: str) -> str:
    return "".join(f"{sha(n)}  {n}\n" for n in names)


STANDARD = index_text(
    "kubernetes-v1.33.2-x86-64.raw",
    "kubernetes-v1.33.3-x86-64.raw",
    "kubernetes-v1.33.2-arm64.raw",
    "kubernetes-v1.34.1-x86-64.raw",
    "kubernetes-v1.34.2-x86-64.raw",
    "kubernetes-v1.34.1-arm64.raw",
    "kubernetes-v1.33.conf",
    "noop.conf",
    "docker-v27.1.1-x86-64.raw",
)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def client(sleeps: Sleeps | None = None, timeout: float = 2.0, retries: int = 2) -> HttpClient:
    return HttpClient(timeout=timeout, retries=retries, backoff=0.5, sleep=sleeps or Sleeps())


@pytest.fixture
def bakery():
    with BakeryServer(files={INDEX: STANDARD.encode()}) as srv:
        yield srv


# --- parsing ------------------------------------------------------------------------------------


def test_parse_index_keeps_kubernetes_images_and_ignores_other_files() -> None:
    images, warnings = parse_index(STANDARD, "idx")
    assert warnings == []
    assert {(str(i.version), i.arch) for i in images} == {
        ("v1.33.2", "x86-64"),
        ("v1.33.3", "x86-64"),
        ("v1.33.2", "arm64"),
        ("v1.34.1", "x86-64"),
        ("v1.34.2", "x86-64"),
        ("v1.34.1", "arm64"),
    }
    assert all(i.sha256 == sha(i.filename) for i in images)


def test_parse_index_reports_malformed_and_partial_lines_with_line_numbers() -> None:
    good = f"{sha('a')}  kubernetes-v1.33.2-x86-64.raw"
    text = "\n".join(
        [
            good,  # 1 ok
            f"{sha('b')[:40]}  kubernetes-v1.33.3-x86-64.raw",  # 2 short hex
            f"{'z' * 64}  kubernetes-v1.33.4-x86-64.raw",  # 3 not hex
            f"{sha('c')} kubernetes-v1.33.5-x86-64.raw",  # 4 one space
            "",  # 5 blank: fine
            f"{sha('d')}  kubernetes-v1.33.6-x8",  # 6 truncated name
            f"{sha('e')}  kubernetes-v1.33.conf",  # 7 conf: silent
            f"{sha('f')[:20]}",  # 8 truncated line
            f"{sha('g')} *kubernetes-v1.34.1-arm64.raw",  # 9 binary mode: ok
        ]
    )
    images, warnings = parse_index(text, "idx")
    assert sorted(i.filename for i in images) == [
        "kubernetes-v1.33.2-x86-64.raw",
        "kubernetes-v1.34.1-arm64.raw",
    ]
    joined = "\n".join(warnings)
    for n in (2, 3, 4, 6, 8):
        assert f"idx:{n}:" in joined
    assert "idx:5:" not in joined and "idx:7:" not in joined and "idx:9:" not in joined
    assert len(warnings) == 5


def test_parse_index_without_usable_lines_is_an_error() -> None:
    with pytest.raises(IndexFormatError, match="lists no Kubernetes sysext image"):
        parse_index("<html>captive portal</html>\n", "idx")
    with pytest.raises(IndexFormatError, match="idx:1"):
        parse_index("deadbeef  kubernetes-v1.33.2-x86-64.raw\n", "idx")


# --- fetching -----------------------------------------------------------------------------------


def test_refresh_fetches_parses_and_caches(bakery: BakeryServer, tmp_path: Path) -> None:
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    assert choice.kind == "index"
    assert choice.note.startswith(f"catalog: {bakery.url}/kubernetes/SHA256SUMS (fetched ")
    assert choice.catalog.resolve("1.33", "x86-64").version == Version(1, 33, 3)
    # arm64 resolves to the newest patch that exists for arm64, not for x86-64
    img = choice.catalog.resolve("1.33", "arm64")
    assert img.version == Version(1, 33, 2)
    assert img.sha256 == sha("kubernetes-v1.33.2-arm64.raw")
    data = json.loads(Path(cache_path(bakery.url, tmp_path)).read_text())
    assert data["base_url"] == bakery.url and data["etag"] and data["last_modified"]
    assert data["images"]["arm64"]["v1.34.1"] == sha("kubernetes-v1.34.1-arm64.raw")


def test_exact_version_missing_for_arch_lists_nearest(bakery: BakeryServer, tmp_path: Path) -> None:
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    with pytest.raises(CatalogError, match=r"v1\.33\.3 is not published for arm64.*v1\.33\.2"):
        choice.catalog.resolve("1.33.3", "arm64")


def test_fresh_cache_is_used_without_network(bakery: BakeryServer, tmp_path: Path) -> None:
    load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    assert choice.kind == "cache" and "younger than 24 h" in choice.note
    assert len(bakery.seen(INDEX)) == 1


def test_conditional_refresh_gets_304(bakery: BakeryServer, tmp_path: Path) -> None:
    first = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    later = lambda: datetime.now(UTC) + timedelta(hours=25)  # noqa: E731
    second = load_catalog(bakery.url, cache_dir=tmp_path, client=client(), now=later)
    reqs = bakery.seen(INDEX)
    assert len(reqs) == 2
    etag = json.loads(Path(cache_path(bakery.url, tmp_path)).read_text())["etag"]
    assert reqs[1].headers.get("if-none-match") == etag
    assert reqs[1].headers.get("if-modified-since")
    assert reqs[1].status == 304
    assert second.kind == "index" and "not modified" in second.note
    assert second.catalog.images == first.catalog.images
    # the fetch time was bumped, so the next call within max_age uses the cache
    entry, _ = read_cache(cache_path(bakery.url, tmp_path), bakery.url)
    assert entry is not None and entry.fetched_at > first.fetched_at  # type: ignore[operator]


def test_if_modified_since_alone_also_revalidates(tmp_path: Path) -> None:
    with BakeryServer(files={INDEX: STANDARD.encode()}) as srv:
        load_catalog(srv.url, cache_dir=tmp_path, client=client())
        path = Path(cache_path(srv.url, tmp_path))
        data = json.loads(path.read_text())
        data["etag"] = None
        path.write_text(json.dumps(data))
        result = fetch_index(srv.url, cache_dir=tmp_path, client=client())
        assert result.not_modified
        assert "if-none-match" not in srv.seen(INDEX)[-1].headers


def test_changed_index_replaces_cache(bakery: BakeryServer, tmp_path: Path) -> None:
    load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    bakery.files[INDEX] = (STANDARD + index_text("kubernetes-v1.34.3-arm64.raw")).encode()
    bakery.mtime += 60
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client(), refresh=True)
    assert choice.catalog.resolve("1.34", "arm64").version == Version(1, 34, 3)


def test_offline_uses_cache_then_embedded(bakery: BakeryServer, tmp_path: Path) -> None:
    empty = load_catalog(bakery.url, cache_dir=tmp_path, offline=True)
    assert empty.kind == "embedded" and "offline" in empty.note
    load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    n = len(bakery.requests)
    choice = load_catalog(bakery.url, cache_dir=tmp_path, offline=True, refresh=True)
    assert choice.kind == "cache" and choice.note.endswith("offline)")
    assert len(bakery.requests) == n


def test_unreachable_falls_back_to_cache_then_embedded(tmp_path: Path) -> None:
    with BakeryServer(files={INDEX: STANDARD.encode()}) as srv:
        url = srv.url
        load_catalog(url, cache_dir=tmp_path, client=client())
    # the server is gone: connection refused
    sleeps = Sleeps()
    stale = load_catalog(url, cache_dir=tmp_path, client=client(sleeps), refresh=True)
    assert stale.kind == "cache" and "index unreachable" in stale.note
    assert sleeps.calls == [0.5, 1.0]  # exponential backoff, injected
    other = tmp_path / "other"
    none = load_catalog(url, cache_dir=other, client=client())
    assert none.kind == "embedded"
    assert none.note.startswith("catalog: embedded (index unreachable: connection failed")
    assert none.catalog.resolve("1.33", "x86-64").version.minor == 33


def test_404_is_a_clear_error_naming_the_url(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.fault(INDEX, "404")
    sleeps = Sleeps()
    with pytest.raises(FetchError) as info:
        load_catalog(bakery.url, cache_dir=tmp_path, client=client(sleeps))
    msg = str(info.value)
    assert f"{bakery.url}/kubernetes/SHA256SUMS" in msg and "HTTP 404" in msg
    assert "--sysext-base-url" in msg
    assert sleeps.calls == []  # not retried


def test_5xx_is_retried_with_backoff(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.fault(INDEX, "500", times=2)
    sleeps = Sleeps()
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client(sleeps))
    assert choice.kind == "index" and sleeps.calls == [0.5, 1.0]


def test_timeout_falls_back_and_names_the_reason(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.fault(INDEX, "stall")
    sleeps = Sleeps()
    with pytest.raises(FetchError, match=r"SHA256SUMS: timed out after 0.2 s \(gave up after 2"):
        fetch_index(bakery.url, cache_dir=tmp_path, client=client(sleeps, 0.2, 1))
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client(sleeps, 0.2, 0))
    assert choice.kind == "embedded" and "timed out after 0.2 s" in choice.note


def test_truncated_index_is_retried(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.fault(INDEX, "truncate", times=1)
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    assert choice.kind == "index"
    assert len(choice.catalog.all_images()) == 6


def test_malformed_index_lines_are_warnings(tmp_path: Path) -> None:
    body = STANDARD + "nonsense\n" + f"{sha('x')} kubernetes-v1.35.0-x86-64.raw\n"
    with BakeryServer(files={INDEX: body.encode()}) as srv:
        choice = load_catalog(srv.url, cache_dir=tmp_path, client=client())
    assert choice.kind == "index"
    assert [w.split(": ")[0].rsplit(":", 1)[1] for w in choice.warnings] == ["10", "11"]


def test_garbage_index_is_an_error(tmp_path: Path) -> None:
    with (
        BakeryServer(files={INDEX: b"<html>hello</html>"}) as srv,
        pytest.raises(IndexFormatError, match="lists no Kubernetes sysext image"),
    ):
        load_catalog(srv.url, cache_dir=tmp_path, client=client())


# --- cache --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        '{"format": 1}',
        '{"format": 1, "base_url": "X", "fetched_at": "2026-01-01T00:00:00+00:00", '
        '"images": {"x86-64": {"v1.33.2": "nothex"}}}',
        "",
    ],
)
def test_corrupt_cache_is_detected_and_replaced(
    bakery: BakeryServer, tmp_path: Path, content: str
) -> None:
    path = Path(cache_path(bakery.url, tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content.replace("X", bakery.url))
    entry, problem = read_cache(path, bakery.url)
    assert entry is None and problem and "corrupt cache" in problem
    offline = load_catalog(bakery.url, cache_dir=tmp_path, offline=True)
    assert offline.kind == "embedded" and "corrupt cache" in offline.note
    choice = load_catalog(bakery.url, cache_dir=tmp_path, client=client())
    assert choice.kind == "index"
    # no conditional headers were sent from a corrupt cache
    assert "if-none-match" not in bakery.seen(INDEX)[-1].headers
    entry, problem = read_cache(path, bakery.url)
    assert entry is not None and problem is None


def test_cache_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images, _ = parse_index(STANDARD, "idx")
    now = datetime(2026, 11, 24, 6, 10, tzinfo=UTC)
    path = tmp_path / "c" / "index.json"
    write_cache(path, CacheEntry("http://a", now, tuple(images), '"e"', None))
    before = path.read_bytes()

    def boom(*_: object) -> None:
        raise OSError("disk full")

    # A failure before the rename leaves the old file intact and no temp file behind.
    monkeypatch.setattr("os.fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        write_cache(path, CacheEntry("http://a", now, tuple(images[:1]), None, None))
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["index.json"]
    entry, _ = read_cache(path, "http://a")
    assert entry is not None and entry.fetched_at == now and len(entry.images) == 6


def test_cache_is_per_base_url(tmp_path: Path) -> None:
    assert cache_path("http://a/ext", tmp_path) == cache_path("http://a/ext/", tmp_path)
    assert cache_path("http://a/ext", tmp_path) != cache_path("http://b/ext", tmp_path)


# --- maintainer script --------------------------------------------------------------------------


def _regen_main():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "scripts" / "regen-catalog.py"
    spec = importlib.util.spec_from_file_location("regen_catalog", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_regen_catalog_from_url_and_file_is_deterministic(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    main = _regen_main()
    out = tmp_path / "catalog.json"
    assert main([bakery.url, "-o", str(out)]) == 0
    first = out.read_text()
    index_file = tmp_path / "SHA256SUMS"
    index_file.write_text(STANDARD)
    assert main([str(index_file), "-o", str(out), "--check"]) == 0
    assert main([str(index_file), "-o", str(out)]) == 0
    assert out.read_text() == first
    data = json.loads(first)
    assert data["images"]["arm64"] == {
        "v1.33.2": sha("kubernetes-v1.33.2-arm64.raw"),
        "v1.34.1": sha("kubernetes-v1.34.1-arm64.raw"),
    }
    index_file.write_text(STANDARD + index_text("kubernetes-v1.35.0-arm64.raw"))
    assert main([str(index_file), "-o", str(out), "--check"]) == 1


def test_unwritable_cache_is_a_warning_not_a_failure(bakery: BakeryServer, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the cache directory should be
    choice = load_catalog(bakery.url, cache_dir=blocker / "sub", client=client())
    assert choice.kind == "index"
    assert any("cannot write cache" in w for w in choice.warnings)


def test_fetch_index_keyword_overrides(bakery: BakeryServer, tmp_path: Path) -> None:
    bakery.fault(INDEX, "500", times=1)
    sleeps = Sleeps()
    result = fetch_index(bakery.url, cache_dir=tmp_path, timeout=1.0, retries=1, sleep=sleeps)
    assert not result.not_modified and sleeps.calls == [1.0]


def test_automatic_refresh_makes_one_short_attempt_then_falls_back(
    bakery: BakeryServer, tmp_path: Path
) -> None:
    # `generate` on a machine without network must not stall on retries.
    bakery.fault(INDEX, "500", times=5)
    choice = load_catalog(bakery.url, cache_dir=tmp_path)
    assert choice.kind == "embedded" and "500" in choice.note
    assert len(bakery.seen(INDEX)) == 1


def test_explicit_refresh_that_falls_back_fails_the_versions_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    monkeypatch.setattr(time, "sleep", lambda seconds: None)  # the retries, without the waiting
    from click.testing import CliRunner

    from capi_sysext.cli import cli

    with socket.socket() as s:  # a port on 127.0.0.1 where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/extensions"
    result = CliRunner().invoke(
        cli, ["versions", "--refresh", "--sysext-base-url", url], env={"CAPI_SYSEXT_OFFLINE": ""}
    )
    assert result.exit_code == 1, result.output
    assert f"could not refresh the catalog from {url}/kubernetes/SHA256SUMS" in result.stderr
