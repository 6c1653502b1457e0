"""Network and file bounds (issue #13 classes 4 and 5) against a hostile server on 127.0.0.1.

Every test is bounded in time (the assertions say how long each case may take) and the server
caps how long it holds a connection, so nothing here can hang the suite.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import capi_sysext.cli.commands  # noqa: F401  (registers the commands)
from capi_sysext import index as index_mod
from capi_sysext import mirror as mirror_mod
from capi_sysext.cli import cli
from capi_sysext.fetch import FetchError, HttpClient, Limit
from capi_sysext.index import load_catalog, negative_path
from capi_sysext.mirror import MirrorError, plan_mirror, run_mirror

try:  # tests/ may or may not become a package
    from tests.hostile_server import HostileServer
except ImportError:
    from hostile_server import HostileServer

INDEX = "/kubernetes/SHA256SUMS"
IMAGE = "kubernetes-v1.33.2-x86-64.raw"
CONTENT = b"fake sysext image\n" * 2000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


GOOD_INDEX = f"{sha(CONTENT)}  {IMAGE}\n".encode()


def fast(deadline: float = 1.0, timeout: float = 0.5, retries: int = 0) -> HttpClient:
    return HttpClient(
        timeout=timeout, retries=retries, backoff=0.01, deadline=deadline, sleep=lambda _s: None
    )


@pytest.fixture
def srv() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


class Clock:
    """Wall time of a block, for the 'bounded in time' assertions."""

    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


def fetch_error(srv: HostileServer, tmp_path: Path, client: HttpClient | None = None) -> FetchError:
    with pytest.raises(FetchError) as info:
        index_mod.fetch_index(srv.url, cache_dir=tmp_path, client=client or fast())
    return info.value


# --- deadlines ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["drip", "drip_head", "blackhole"])
def test_a_slow_server_cannot_outlast_the_total_deadline(
    srv: HostileServer, tmp_path: Path, kind: str
) -> None:
    # One byte every 0.2 s never trips the 0.5 s per-read timeout: only the total deadline can.
    srv.rule(INDEX, kind, body=GOOD_INDEX * 4, interval=0.2)
    with Clock() as clock:
        exc = fetch_error(srv, tmp_path, fast(deadline=1.0, timeout=0.5))
    assert clock.elapsed < 2.5
    assert exc.unreachable
    assert "1 s" in exc.reason or "timed out" in exc.reason


def test_retries_stop_at_the_deadline_too(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "blackhole")
    client = HttpClient(timeout=0.3, retries=50, backoff=0.2, deadline=1.2)
    with Clock() as clock:
        exc = fetch_error(srv, tmp_path, client)
    assert clock.elapsed < 2.5
    assert exc.unreachable


# --- sizes and encodings ------------------------------------------------------------------------


def test_an_announced_huge_index_is_refused_before_reading(
    srv: HostileServer, tmp_path: Path
) -> None:
    srv.rule(INDEX, "huge", size=50 << 30)
    with Clock() as clock:
        exc = fetch_error(srv, tmp_path)
    assert clock.elapsed < 2
    assert not exc.unreachable
    assert "larger than the 16 MiB" in exc.reason and str(50 << 30) in exc.reason


def test_an_unannounced_endless_index_stops_at_the_cap(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "endless")
    exc = fetch_error(srv, tmp_path, fast(deadline=20.0, timeout=2.0))
    assert "larger than the 16 MiB" in exc.reason


def test_a_compressed_body_is_refused_not_inflated(srv: HostileServer, tmp_path: Path) -> None:
    # ~32 KiB on the wire, 32 MiB (twice the index cap) once inflated.
    srv.rule(INDEX, "gzip_bomb", size=32 << 20)
    exc = fetch_error(srv, tmp_path, fast(deadline=5.0, timeout=3.0))
    assert "gzip" in exc.reason and "refusing to decompress" in exc.reason


def test_we_ask_for_identity_encoding(tmp_path: Path) -> None:
    from bakery_server import BakeryServer

    with BakeryServer(files={INDEX: GOOD_INDEX}) as bakery:
        index_mod.fetch_index(bakery.url, cache_dir=tmp_path, client=fast())
        assert bakery.seen(INDEX)[0].headers["accept-encoding"] == "identity"


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "needle"),
    [
        ("ftp://example.invalid/SHA256SUMS", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        (None, "without a Location header"),
        ("http://127.0.0.1:1/\x01x", "control characters"),
    ],
)
def test_bad_redirects_are_clear_errors(
    srv: HostileServer, tmp_path: Path, location: str | None, needle: str
) -> None:
    srv.rule(INDEX, "redirect", location=location)
    exc = fetch_error(srv, tmp_path)
    assert needle in exc.reason
    assert not exc.unreachable


def test_a_redirect_loop_is_bounded(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "redirect", location=INDEX)
    exc = fetch_error(srv, tmp_path)
    assert "more than 10 redirects" in exc.reason
    assert srv.count(INDEX) == 11


def test_a_good_relative_redirect_is_followed(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "redirect", location="/real/SHA256SUMS", status=307)
    srv.rule("/real/SHA256SUMS", "body", body=GOOD_INDEX)
    result = index_mod.fetch_index(srv.url, cache_dir=tmp_path, client=fast())
    assert [i.filename for i in result.entry.images] == [IMAGE]


def test_traversal_names_in_the_index_are_ignored(srv: HostileServer, tmp_path: Path) -> None:
    evil = "".join(
        f"{sha(n.encode())}  {n}\n"
        for n in ("../../etc/passwd", "kubernetes-v1.33.9-x86-64.raw/../../../x", "/abs.raw")
    )
    srv.rule(INDEX, "body", body=evil.encode() + GOOD_INDEX)
    result = index_mod.fetch_index(srv.url, cache_dir=tmp_path, client=fast())
    assert [i.filename for i in result.entry.images] == [IMAGE]


# --- load_catalog: fallbacks and the negative cache ---------------------------------------------


def test_a_reset_falls_back_and_is_remembered(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "reset")
    first = load_catalog(srv.url, cache_dir=tmp_path, client=fast())
    assert first.kind == "embedded" and "index unreachable" in first.note
    assert Path(negative_path(srv.url, tmp_path)).is_file()
    second = load_catalog(srv.url, cache_dir=tmp_path, client=fast())
    assert second.kind == "embedded" and "not retried for 10 min" in second.note
    assert srv.count(INDEX) == 1  # the second run did not touch the network


def test_the_negative_cache_expires_and_refresh_bypasses_it(
    srv: HostileServer, tmp_path: Path
) -> None:
    srv.rule(INDEX, "reset")
    load_catalog(srv.url, cache_dir=tmp_path, client=fast())
    srv.rule(INDEX, "body", body=GOOD_INDEX)
    forced = load_catalog(srv.url, cache_dir=tmp_path, client=fast(), refresh=True)
    assert forced.kind == "index" and srv.count(INDEX) == 2
    assert not Path(negative_path(srv.url, tmp_path)).exists()  # success forgets the outage

    other = tmp_path / "other"
    srv.rule(INDEX, "reset")
    load_catalog(srv.url, cache_dir=other, client=fast())
    srv.rule(INDEX, "body", body=GOOD_INDEX)

    def later() -> datetime:
        return datetime.now(UTC) + index_mod.NEGATIVE_TTL + timedelta(seconds=1)

    expired = load_catalog(srv.url, cache_dir=other, client=fast(), now=later)
    assert expired.kind == "index"


def test_a_hostile_negative_cache_file_is_ignored(srv: HostileServer, tmp_path: Path) -> None:
    srv.rule(INDEX, "body", body=GOOD_INDEX)
    for n, garbage in enumerate((b"\xff\xfe", b"[]", b'{"failed_at": "x"}', b"{" * 10000)):
        cache = tmp_path / str(n)
        path = Path(negative_path(srv.url, cache))
        path.parent.mkdir(parents=True)
        path.write_bytes(garbage)
        assert load_catalog(srv.url, cache_dir=cache, client=fast()).kind == "index"


def test_a_non_transient_answer_is_an_error_not_a_fallback(
    srv: HostileServer, tmp_path: Path
) -> None:
    srv.rule(INDEX, "gzip_bomb", size=1 << 20)
    with pytest.raises(FetchError, match="check --sysext-base-url"):
        load_catalog(srv.url, cache_dir=tmp_path, client=fast())


# --- generate end to end ------------------------------------------------------------------------

EXAMPLE = str(Path(__file__).resolve().parent.parent / "examples" / "gcp.yaml")
GENERATE = ["generate", "--provider", "gcp", "--k8s", "1.33", "--name", "demo", "--values", EXAMPLE]


def test_generate_against_a_blackhole_is_bounded_then_as_fast_as_offline(
    srv: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.rule(INDEX, "blackhole")
    monkeypatch.setattr(index_mod, "AUTO_REFRESH_TIMEOUT", 1.0)
    env = {"CAPI_SYSEXT_OFFLINE": "", "XDG_CACHE_HOME": str(tmp_path)}
    args = [*GENERATE, "--sysext-base-url", srv.url]
    with Clock() as first:
        result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert first.elapsed < 3.0
    assert "index unreachable" in result.stderr
    with Clock() as second:
        again = CliRunner().invoke(cli, args, env=env)
    assert again.exit_code == 0 and again.stdout == result.stdout
    assert "not retried" in again.stderr and srv.count(INDEX) == 1
    assert second.elapsed < 1.0


@pytest.mark.parametrize(
    ("kind", "kw"),
    [("redirect", {"location": "file:///etc/passwd"}), ("huge", {"size": 1 << 40})],
)
def test_generate_reports_a_hostile_index_without_traceback(
    srv: HostileServer, tmp_path: Path, kind: str, kw: dict[str, object]
) -> None:
    srv.rule(INDEX, kind, **kw)
    env = {"CAPI_SYSEXT_OFFLINE": "", "XDG_CACHE_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, [*GENERATE, "--sysext-base-url", srv.url], env=env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error: cannot fetch ")


# --- mirror -------------------------------------------------------------------------------------


def mirror_plan(srv: HostileServer, tmp_path: Path) -> list[mirror_mod.Image]:
    srv.rule(INDEX, "body", body=GOOD_INDEX)
    catalog = load_catalog(srv.url, cache_dir=tmp_path / "cache", client=fast()).catalog
    return plan_mirror(catalog, ["1.33"], ["x86-64"])


def test_mirror_image_drip_stops_at_the_deadline(srv: HostileServer, tmp_path: Path) -> None:
    images = mirror_plan(srv, tmp_path)
    srv.rule(f"/{IMAGE}", "drip", body=CONTENT, interval=0.1)
    with Clock() as clock, pytest.raises(FetchError, match="within 1 s"):
        run_mirror(images, tmp_path / "m", srv.url, client=fast(deadline=1.0))
    assert clock.elapsed < 3
    assert not (tmp_path / "m" / "kubernetes" / IMAGE).exists()


def test_mirror_image_size_is_capped(
    srv: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = mirror_plan(srv, tmp_path)
    monkeypatch.setattr(mirror_mod, "IMAGE_LIMIT", Limit(1 << 20, 10.0))
    srv.rule(f"/{IMAGE}", "endless")
    with pytest.raises(FetchError, match="larger than the 1 MiB"):
        run_mirror(images, tmp_path / "m", srv.url, client=fast(deadline=10.0, timeout=2.0))
    part = tmp_path / "m" / ".partial" / f"{IMAGE}.part"
    assert part.stat().st_size <= 1 << 20


def test_mirror_wrong_hash_leaves_nothing_under_the_final_name(
    srv: HostileServer, tmp_path: Path
) -> None:
    images = mirror_plan(srv, tmp_path)
    srv.rule(f"/{IMAGE}", "body", body=CONTENT + b"tampered")
    with pytest.raises(MirrorError, match="sha256 mismatch"):
        run_mirror(images, tmp_path / "m", srv.url, client=fast())
    assert not (tmp_path / "m" / "kubernetes" / IMAGE).exists()
    assert not (tmp_path / "m" / IMAGE).exists()


def test_mirror_never_writes_through_a_planted_part_symlink(
    srv: HostileServer, tmp_path: Path
) -> None:
    images = mirror_plan(srv, tmp_path)
    srv.rule(f"/{IMAGE}", "body", body=CONTENT)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    dest = tmp_path / "m"
    (dest / ".partial").mkdir(parents=True)
    (dest / ".partial" / f"{IMAGE}.part").symlink_to(victim)
    with pytest.raises(MirrorError, match="symbolic link"):
        run_mirror(images, dest, srv.url, client=fast())
    assert victim.read_bytes() == b"precious"


@pytest.mark.parametrize("sub", ["kubernetes", ".partial"])
def test_mirror_refuses_a_work_directory_that_is_a_symlink(
    srv: HostileServer, tmp_path: Path, sub: str
) -> None:
    images = mirror_plan(srv, tmp_path)
    srv.rule(f"/{IMAGE}", "body", body=CONTENT)
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / sub).symlink_to(outside)
    with pytest.raises(MirrorError, match="symbolic link"):
        run_mirror(images, dest, srv.url, client=fast())
    assert list(outside.iterdir()) == []


def test_mirror_replaces_a_planted_final_symlink_instead_of_following_it(
    srv: HostileServer, tmp_path: Path
) -> None:
    images = mirror_plan(srv, tmp_path)
    srv.rule(f"/{IMAGE}", "body", body=CONTENT)
    victim = tmp_path / "victim"
    victim.write_bytes(CONTENT)  # even with the right content, a link is not our file
    dest = tmp_path / "m"
    (dest / "kubernetes").mkdir(parents=True)
    (dest / "kubernetes" / IMAGE).symlink_to(victim)
    result = run_mirror(images, dest, srv.url, client=fast())
    assert [i.filename for i in result.downloaded] == [IMAGE]
    assert not (dest / "kubernetes" / IMAGE).is_symlink()
    assert victim.read_bytes() == CONTENT
    assert (dest / IMAGE).samefile(dest / "kubernetes" / IMAGE)


def test_versions_refresh_against_a_drip_is_bounded_by_the_index_deadline(
    srv: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from capi_sysext import fetch

    monkeypatch.setattr(fetch, "INDEX_LIMIT", Limit(16 << 20, 1.5))
    srv.rule(INDEX, "drip", body=GOOD_INDEX, interval=0.2)
    env = {"CAPI_SYSEXT_OFFLINE": "", "XDG_CACHE_HOME": str(tmp_path)}
    with Clock() as clock:
        result = CliRunner().invoke(
            cli, ["versions", "--refresh", "--sysext-base-url", srv.url], env=env
        )
    assert clock.elapsed < 4
    assert isinstance(result.exception, SystemExit), result.output
    assert "within 1.5 s" in result.stderr


def test_mirror_cli_reports_a_planted_link_and_a_full_disk_without_traceback(
    srv: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    srv.rule(INDEX, "body", body=GOOD_INDEX)
    srv.rule(f"/{IMAGE}", "body", body=CONTENT)
    env = {"CAPI_SYSEXT_OFFLINE": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / "kubernetes").symlink_to(tmp_path)
    args = ["mirror", "--k8s", "1.33", "--arch", "x86-64", "--to", str(dest)]
    args += ["--sysext-base-url", srv.url]
    linked = CliRunner().invoke(cli, args, env=env)
    assert linked.exit_code == 1 and isinstance(linked.exception, SystemExit)
    assert "is a symbolic link; the mirror writes only into directories it made" in linked.stderr

    (dest / "kubernetes").unlink()

    def full(*_a: object, **_k: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dest / "noop.conf"))

    monkeypatch.setattr(mirror_mod, "write_atomic", full)
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "No space left on device" in result.stderr


def test_a_binary_or_oversized_cache_file_is_replaced_not_a_traceback(
    srv: HostileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    srv.rule(INDEX, "body", body=GOOD_INDEX)
    path = Path(index_mod.cache_path(srv.url, tmp_path))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xfe garbage")
    entry, why = index_mod.read_cache(path, srv.url)
    assert entry is None and why is not None and "not UTF-8" in why
    assert load_catalog(srv.url, cache_dir=tmp_path, client=fast()).kind == "index"
    monkeypatch.setattr(index_mod, "_MAX_CACHE_CHARS", 10)
    entry, why = index_mod.read_cache(path, srv.url)
    assert entry is None and why is not None and "larger than any index" in why
