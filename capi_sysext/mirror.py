"""Mirror chosen Kubernetes sysext images into a directory that is a complete --sysext-base-url.

Layout written under DIR (serve it over plain HTTP):

    kubernetes-vX.Y.Z-<arch>.raw             first boot downloads <base>/<file>
    kubernetes/kubernetes-vX.Y.Z-<arch>.raw  sysupdate downloads <base>/kubernetes/<file>
    kubernetes/SHA256SUMS                    what the mirror holds (sysupdate checks against it)
    kubernetes/kubernetes-vX.Y.conf          minor-pinned transfer file (only with serve_base_url)
    noop.conf                                silences sysupdate's default component

The two image names are hard links to one file. Downloads go to DIR/.partial/<file>.part, resume
with HTTP Range, are verified against the index sha256 and only then renamed into place, so a
final name never holds an unverified or partial file.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from capi_sysext.catalog import Catalog, Image, Version, parse_image_filename
from capi_sysext.errors import CapiSysextError, CatalogError, Problem
from capi_sysext.fetch import IMAGE_LIMIT, INDEX_LIMIT, FetchError, HttpClient
from capi_sysext.layout import (
    COMPONENT,
    INDEX_NAME,
    NOOP_NAME,
    image_url,
    noop_text,
    normalize_base_url,
    transfer_name,
    transfer_text,
)
from capi_sysext.output import write_atomic

PARTIAL_DIR = ".partial"
_PUBLIC = 0o644  # served over HTTP: world-readable
# Inside DIR every file we open is opened without following a final symlink: a link planted in
# the mirror (or its .partial work directory) must never make us write, chmod or hash elsewhere.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class MirrorError(CapiSysextError):
    """A download failed verification, or the plan cannot be verified at all."""


class Progress(Protocol):
    """Per-file progress; the CLI draws a bar, the core does not care."""

    def start(self, image: Image, total: int | None, done: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, image: Image, total: int | None, done: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class MirrorResult:
    dest: Path
    downloaded: list[Image] = field(default_factory=list)
    present: list[Image] = field(default_factory=list)  # already there and verified: skipped
    resumed: list[Image] = field(default_factory=list)
    bytes_downloaded: int = 0
    listed: int = 0  # images in kubernetes/SHA256SUMS after the run
    confs: list[str] = field(default_factory=list)


def plan_mirror(catalog: Catalog, requests: Sequence[str], arches: Sequence[str]) -> list[Image]:
    """Resolve each request (minor or exact) per arch; every image must carry a sha256."""
    problems: list[Problem] = []
    chosen: dict[str, Image] = {}
    for arch in arches:
        for request in requests:
            try:
                img = catalog.resolve(request, arch)
            except CatalogError as exc:
                problems.extend(exc.problems)
                continue
            if img.sha256 is None:
                problems.append(
                    Problem(
                        f"{img.filename}: no sha256 in catalog {catalog.source}, so a download "
                        "cannot be verified",
                        "make the index reachable (drop --offline) or refresh the cache first",
                    )
                )
                continue
            chosen[img.filename] = img
    if problems:
        raise CatalogError(problems)
    return sorted(chosen.values(), key=lambda i: (i.version, i.arch))


def _is_regular(path: Path) -> bool:
    """A regular file itself (lstat), not a symlink to one."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _open_nofollow(path: Path, flags: int, mode: int = _PUBLIC) -> int:
    try:
        return os.open(path, flags | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MirrorError(
                [
                    Problem(
                        f"{path} is a symbolic link; the mirror never writes through links",
                        "remove it (the mirror directory must hold only what mirror wrote)",
                    )
                ]
            ) from None
        raise


def _own_dir(path: Path) -> None:
    """Create path (one level, inside DIR) and insist it is a real directory, not a link."""
    with contextlib.suppress(FileExistsError):
        path.mkdir()
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise MirrorError(
            [
                Problem(
                    f"{path} is {what}; the mirror writes only into directories it made",
                    "remove it, or choose another --to",
                )
            ]
        )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with os.fdopen(_open_nofollow(path, os.O_RDONLY), "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def transfer_conf(serve_base_url: str, minor: str) -> str:
    """Minor-pinned sysupdate transfer, same values as the bakery's (Verify=false, InstancesMax=3:
    flatcar/sysext-bakery lib/sysupdate.conf.tmpl:2,10, filled per minor by
    kubernetes.sysext/create.sh:80-85 at 80959c1), pointing at the mirror; built by the node
    side's serializer, so the URL is escaped for systemd and a newline in it is refused."""
    major, minor_number = _minor_key(minor)[:2]
    base = normalize_base_url(serve_base_url)
    return transfer_text(base, major, minor_number, verify=False, instances_max=3)


def noop_conf() -> str:
    """A transfer whose source pattern never matches: sysupdate's default component then has a
    definition (no "No transfer definitions found") and does nothing. The node's own file."""
    return noop_text()


def _read_sums(path: Path) -> dict[str, str]:
    """The mirror's own previous SHA256SUMS (file -> sha256); tolerant, it is our own output."""
    sums: dict[str, str] = {}
    try:
        with os.fdopen(_open_nofollow(path, os.O_RDONLY), "rb") as fh:
            text = fh.read(INDEX_LIMIT.max_bytes).decode("utf-8")
    except (FileNotFoundError, UnicodeDecodeError, MirrorError):
        return sums  # absent, garbled or a planted link: rebuilt from what is verified
    for line in text.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and len(digest) == 64 and parse_image_filename(name.strip()):
            sums[name.strip()] = digest.lower()
    return sums


def _link_or_copy(src: Path, dst: Path) -> None:
    """dst becomes the same file as src: a hard link, or a copy across filesystems."""
    try:
        if _is_regular(dst) and src.samefile(dst):
            return
    except OSError:
        pass
    tmp = dst.with_name(f".{dst.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        tmp.hardlink_to(src)
    except OSError:  # EXDEV across filesystems, EPERM where links are not allowed
        shutil.copy2(src, tmp)
    tmp.replace(dst)


def _download(
    client: HttpClient, url: str, part: Path, expected: str, progress: Progress
) -> tuple[int, bool]:
    """Fetch url into part (resuming what is there), verify; returns (bytes fetched, resumed).

    On a sha256 mismatch the part file is deleted; a resumed download gets one clean retry
    (the corruption may be in the old bytes), a fresh one fails.
    """
    fetched = 0
    resumed = False
    limit = IMAGE_LIMIT

    def attempt() -> None:
        nonlocal fetched, resumed
        offset = part.lstat().st_size if _is_regular(part) else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        resp = client.open(url, headers, ok=frozenset({206, 416}), max_bytes=limit.max_bytes)
        try:
            if resp.status == 416:
                # Our part is longer than the file (it changed upstream): start over.
                part.unlink(missing_ok=True)
                raise FetchError(url, "range not satisfiable; restarting", transient=True)
            if resp.status == 206:
                start = _content_range_start(resp.headers.get("Content-Range", ""))
                if start != offset:
                    part.unlink(missing_ok=True)
                    raise FetchError(url, "server resumed at the wrong offset", transient=True)
                resumed = True
            else:
                offset = 0  # 200: the server ignored Range (or none was sent); restart
            length = (resp.headers.get("Content-Length") or "").strip()
            ok_length = length.isascii() and length.isdigit() and len(length) <= 18
            total = offset + int(length) if ok_length else None
            progress.start(Image(*_image_key(part)), total, offset)
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
            try:
                with os.fdopen(_open_nofollow(part, flags), "wb") as fh:
                    os.fchmod(fh.fileno(), _PUBLIC)  # on the fd: a link cannot redirect it
                    for chunk in client.stream(url, resp, limit.max_bytes - offset):
                        fh.write(chunk)
                        fetched += len(chunk)
                        progress.advance(len(chunk))
            finally:
                progress.finish()
        finally:
            resp.release_conn()

    for clean_retry in (False, True):
        client.with_retries(attempt, limit)
        actual = sha256_file(part)
        if actual == expected:
            return fetched, resumed
        part.unlink(missing_ok=True)
        if not resumed or clean_retry:
            break
        resumed = False
    raise MirrorError(
        [
            Problem(
                f"{url}: sha256 mismatch (index says {expected}, download is {actual}); "
                "the download was discarded",
                "retry; if it persists, the source or a proxy serves another file than its index",
            )
        ]
    )


def _image_key(part: Path) -> tuple[Version, str]:
    parsed = parse_image_filename(part.name.removesuffix(".part"))
    assert parsed is not None
    return parsed


def _minor_key(minor: str) -> tuple[int, ...]:
    return tuple(int(x) for x in minor.removeprefix("v").split("."))


def _content_range_start(value: str) -> int | None:
    # "bytes 100-199/200"
    unit, _, spec = value.partition(" ")
    if unit != "bytes":
        return None
    first, _, _ = spec.partition("-")
    return int(first) if first.isascii() and first.isdigit() and len(first) <= 18 else None


def run_mirror(
    images: Sequence[Image],
    dest: Path,
    source_base_url: str,
    *,
    serve_base_url: str | None = None,
    client: HttpClient | None = None,
    progress: Progress | None = None,
) -> MirrorResult:
    """Download images (verified against their sha256) into dest and write the index and confs.

    Idempotent: images already in place with the right sha256 are not downloaded again, and the
    index keeps what earlier runs mirrored (as long as the files are still there).
    """
    client = client or HttpClient()
    progress = progress or NoProgress()
    result = MirrorResult(dest=dest)
    kdir = dest / COMPONENT
    partial = dest / PARTIAL_DIR
    dest.mkdir(parents=True, exist_ok=True)  # DIR itself is the user's choice, link or not
    _own_dir(kdir)
    _own_dir(partial)
    sums_path = kdir / INDEX_NAME
    sums = {name: sha for name, sha in _read_sums(sums_path).items() if _is_regular(kdir / name)}

    try:
        for img in images:
            assert img.sha256 is not None, "plan_mirror guarantees a sha256"
            final = kdir / img.filename
            if _is_regular(final) and sha256_file(final) == img.sha256:
                result.present.append(img)
            else:
                part = partial / f"{img.filename}.part"
                url = image_url(source_base_url, img.filename)
                fetched, resumed = _download(client, url, part, img.sha256, progress)
                part.replace(final)  # rename: replaces a planted link at final, never follows
                result.downloaded.append(img)
                result.bytes_downloaded += fetched
                if resumed:
                    result.resumed.append(img)
            sums[img.filename] = img.sha256
    finally:
        # Also after a failed download: what did verify is listed and servable.
        _write_layout(dest, sums, serve_base_url, result)
    return result


def _write_layout(
    dest: Path, sums: dict[str, str], serve_base_url: str | None, result: MirrorResult
) -> None:
    kdir = dest / COMPONENT
    # Every listed image must also exist at the first-boot location (repairs earlier runs too).
    for name in sums:
        _link_or_copy(kdir / name, dest / name)

    def order(name: str) -> tuple[Version, str]:
        parsed = parse_image_filename(name)
        assert parsed is not None
        return parsed

    lines = [f"{sums[name]}  {name}\n" for name in sorted(sums, key=order)]
    write_atomic(kdir / INDEX_NAME, "".join(lines).encode(), _PUBLIC)
    result.listed = len(lines)
    write_atomic(dest / NOOP_NAME, noop_conf().encode(), _PUBLIC)
    if serve_base_url:
        for minor in sorted({order(n)[0].minor_str for n in sums}, key=_minor_key):
            conf = kdir / transfer_name(minor.removeprefix("v"))
            write_atomic(conf, transfer_conf(serve_base_url, minor).encode(), _PUBLIC)
            result.confs.append(str(conf.relative_to(dest)))
    with contextlib.suppress(OSError):
        (dest / PARTIAL_DIR).rmdir()  # only when empty: keep other interrupted downloads resumable
