"""The live version catalog: the bakery's sha256sum index, a per-URL cache, and the fallbacks.

`load_catalog` is the one entry point commands use. Order of preference: a fresh cache, a
(conditional) refresh of the index, the cache however old, the embedded catalog. The returned note
says which one was used so the CLI can print it on stderr.
"""

import contextlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from capi_sysext import cachedir
from capi_sysext.catalog import (
    DEFAULT_BASE_URL,
    SHA256_RE,
    Catalog,
    Image,
    catalog_from_json,
    catalog_to_json,
    load_embedded,
    parse_image_filename,
)
from capi_sysext.errors import CapiSysextError, Problem
from capi_sysext.inputs import StrPath
from capi_sysext.layout import index_url, normalize_base_url

if TYPE_CHECKING:
    # The network client loads only when a command really fetches (start-up budget,
    # tests/test_startup.py).
    from capi_sysext.fetch import HttpClient

AUTO_REFRESH_TIMEOUT = 5.0  # seconds: per connect and read, and the whole automatic refresh
# After an automatic refresh found the index unreachable, later runs skip the network for this
# long (a negative cache), so an air-gapped `generate` is as fast as --offline.
NEGATIVE_TTL = timedelta(minutes=10)
DEFAULT_MAX_AGE = timedelta(hours=24)
CACHE_FORMAT = 1
# Names that look like a Kubernetes image but do not parse are worth a warning (a truncated line
# or a typo); confs and other extensions in the same index are expected and ignored silently.
_K8S_IMAGE_LIKE = r"^kubernetes-v\d(?!.*\.conf$)"
_HEX_RE = r"^[0-9a-fA-F]+$"
_MAX_CACHE_CHARS = 64 << 20


class IndexFormatError(CapiSysextError):
    """The index answered but lists no usable Kubernetes image (wrong URL, HTML page, garbage)."""


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_index(text: str, source: str) -> tuple[list[Image], list[str]]:
    """Kubernetes images listed in a sha256sum-format index, plus warnings for malformed lines.

    Lines are `<64 hex>  <file>` (or `<hex> *<file>`, sha256sum's binary mode). Other files in
    the index are skipped silently; malformed lines become warnings naming source and line number.
    Raises IndexFormatError when not a single usable image line remains.
    """
    images: dict[str, Image] = {}
    warnings: list[str] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{lineno}"
        parts = line.split(None, 1)
        digest = parts[0]
        if len(parts) == 1:
            warnings.append(f"{where}: incomplete line (no file name): {_clip(line)}")
            continue
        rest = line[len(digest) :]
        if rest.startswith(("  ", " *")):
            name = rest[2:]
        else:
            warnings.append(
                f"{where}: expected '<sha256>  <file>' (two spaces) but got: {_clip(line)}"
            )
            continue
        name = name.strip().removeprefix("./")
        parsed = parse_image_filename(name)
        if parsed is None:
            if re.match(_K8S_IMAGE_LIKE, name):
                warnings.append(f"{where}: not a valid Kubernetes image name: {_clip(name)}")
            continue
        if not (re.match(_HEX_RE, digest) and len(digest) == 64):
            warnings.append(f"{where}: bad sha256 for {name} (need 64 hex digits): {_clip(digest)}")
            continue
        digest = digest.lower()
        previous = images.get(name)
        if previous is not None:
            if previous.sha256 != digest:
                warnings.append(
                    f"{where}: {name} listed again with a different sha256; keeping the first"
                )
            continue
        images[name] = Image(parsed[0], parsed[1], digest)
    if not images:
        detail = f" ({len(warnings)} malformed lines, first: {warnings[0]})" if warnings else ""
        raise IndexFormatError(
            [
                Problem(
                    f"{source} lists no Kubernetes sysext image{detail}",
                    "check --sysext-base-url points at a sysext-bakery layout, or use --offline",
                )
            ]
        )
    ordered = sorted(images.values(), key=lambda i: (i.arch, i.version))
    return ordered, warnings


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# ---------------------------------------------------------------------------------------------
# Cache


class CacheEntry(NamedTuple):
    """What we keep per base URL: the parsed index plus what a conditional request needs."""

    base_url: str
    fetched_at: datetime
    images: tuple[Image, ...]
    etag: str | None = None
    last_modified: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def index_url(self) -> str:
        return index_url(self.base_url)

    def catalog(self, source: str) -> Catalog:
        return Catalog.from_images(self.images, source)

    def to_json(self) -> dict[str, object]:
        table = catalog_to_json(Catalog.from_images(self.images, "cache"), "")["images"]
        return {
            "format": CACHE_FORMAT,
            "base_url": self.base_url,
            "index_url": self.index_url,
            "fetched_at": self.fetched_at.astimezone(UTC).isoformat(),
            "etag": self.etag,
            "last_modified": self.last_modified,
            "warnings": list(self.warnings),
            "images": table,
        }

    @classmethod
    def from_json(cls, data: object) -> "CacheEntry":
        """Raises ValueError on any shape problem: the caller treats the cache as corrupt."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        if data.get("format") != CACHE_FORMAT:
            raise ValueError(f"unknown cache format {data.get('format')!r}")
        base_url = data.get("base_url")
        fetched = data.get("fetched_at")
        etag = data.get("etag")
        last_modified = data.get("last_modified")
        warnings = data.get("warnings", [])
        if not isinstance(base_url, str) or not isinstance(fetched, str):
            raise ValueError("missing base_url or fetched_at")
        if not (etag is None or isinstance(etag, str)) or not (
            last_modified is None or isinstance(last_modified, str)
        ):
            raise ValueError("bad etag or last_modified")
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            raise ValueError("bad warnings list")
        fetched_at = datetime.fromisoformat(fetched)
        if fetched_at.tzinfo is None:
            raise ValueError("fetched_at has no time zone")
        catalog = catalog_from_json(data, "cache")
        images = tuple(catalog.all_images())
        if not images:
            raise ValueError("no images")
        if any(img.sha256 is None or not re.match(SHA256_RE, img.sha256) for img in images):
            raise ValueError("image without sha256")
        return cls(base_url, fetched_at, images, etag, last_modified, tuple(warnings))


# Cache paths are plain strings (os.path): `generate` looks for its cache on every run, and
# pathlib would cost its start-up budget more than the whole lookup (bench/).


def cache_path(base_url: str, cache_dir: StrPath | None = None) -> str:
    """One file per base URL, named by a checksum of it because a URL is not a safe file name.

    The name only has to spread URLs apart: read_cache compares the URL stored inside, so a
    collision costs a refetch, never a wrong catalog. zlib is loaded at interpreter start-up,
    where hashlib would load OpenSSL for it.
    """
    import zlib

    url = normalize_base_url(base_url).encode()
    digest = f"{zlib.crc32(url):08x}{zlib.adler32(url):08x}"
    return os.path.join(cache_dir or cachedir.cache_dir(), f"index-{digest}.json")


def read_cache(path: StrPath, base_url: str) -> tuple[CacheEntry | None, str | None]:
    """(entry, None), (None, None) when absent, or (None, why) when the file is corrupt."""
    try:
        with open(path, encoding="utf-8") as f:
            # Bounded like the index it was parsed from (JSON of a 16 MiB index stays far below).
            text = f.read(_MAX_CACHE_CHARS + 1)
    except FileNotFoundError:
        return None, None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        return None, f"cannot read cache {path}: {why}; it will be replaced"
    if len(text) > _MAX_CACHE_CHARS:
        return None, f"cache {path} is larger than any index we write; it will be replaced"
    try:
        entry = CacheEntry.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return None, f"corrupt cache {path} ({exc}); it will be replaced"
    if normalize_base_url(entry.base_url) != normalize_base_url(base_url):
        return None, f"cache {path} belongs to {entry.base_url}; it will be replaced"
    return entry, None


def write_cache(path: StrPath, entry: CacheEntry) -> None:
    """Atomic: a reader (or a crash) sees the old file or the new one, never half of one."""
    from pathlib import Path

    from capi_sysext.output import write_atomic

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, json.dumps(entry.to_json(), indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# Fetching


class FetchResult(NamedTuple):
    entry: CacheEntry
    not_modified: bool  # the server answered 304: the cached images were re-validated
    warnings: list[str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def fetch_index(
    base_url: str,
    *,
    cache_dir: StrPath | None = None,
    timeout: float | None = None,
    retries: int | None = None,
    sleep: Callable[[float], None] | None = None,
    client: "HttpClient | None" = None,
    now: Callable[[], datetime] = _utcnow,
) -> FetchResult:
    """GET <base>/kubernetes/SHA256SUMS (conditional when cached), parse it, update the cache.

    Raises FetchError (naming the URL) when unreachable after retries or on an HTTP error, and
    IndexFormatError when the body lists no usable image. The cache is left untouched on errors.
    """
    import dataclasses

    from capi_sysext.fetch import INDEX_LIMIT, FetchError, HttpClient

    client = client or HttpClient()
    overrides: dict[str, object] = {
        k: v
        for k, v in (("timeout", timeout), ("retries", retries), ("sleep", sleep))
        if v is not None
    }
    if overrides:
        client = dataclasses.replace(client, _pool=None, **overrides)  # type: ignore[arg-type]
    base = normalize_base_url(base_url)
    url = index_url(base)
    path = cache_path(base, cache_dir)
    cached, _ = read_cache(path, base)

    headers: dict[str, str] = {}
    if cached is not None:
        if cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified

    limit = INDEX_LIMIT

    def attempt() -> tuple[int, bytes, str | None, str | None]:
        resp = client.open(url, headers, ok=frozenset({304}), max_bytes=limit.max_bytes)
        body = client.read_all(url, resp, limit.max_bytes)
        return resp.status, body, resp.headers.get("ETag"), resp.headers.get("Last-Modified")

    status, body, etag, last_modified = client.with_retries(attempt, limit)
    if status == 304 and cached is not None:
        entry = CacheEntry(
            base,
            now(),
            cached.images,
            etag or cached.etag,
            last_modified or cached.last_modified,
            cached.warnings,
        )
        return FetchResult(entry, not_modified=True, warnings=_try_write(path, entry))
    if status == 304:
        raise FetchError(url, "HTTP 304 for an unconditional request", transient=False)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="replace")
    images, warnings = parse_index(text, url)
    entry = CacheEntry(base, now(), tuple(images), etag, last_modified, tuple(warnings))
    return FetchResult(entry, not_modified=False, warnings=warnings + _try_write(path, entry))


def _try_write(path: StrPath, entry: CacheEntry) -> list[str]:
    """A cache we cannot write (read-only home, full disk) must not fail the command."""
    try:
        write_cache(path, entry)
    except OSError as exc:
        return [f"cannot write cache {path}: {exc.strerror or exc}"]
    return []


def negative_path(base_url: str, cache_dir: StrPath | None = None) -> str:
    return cache_path(base_url, cache_dir).removesuffix(".json") + ".unreachable"


def read_negative(
    path: str, base_url: str, now: datetime, ttl: timedelta = NEGATIVE_TTL
) -> tuple[datetime, str] | None:
    """(when, why) of a recent failed refresh of base_url; None when absent, stale or unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.loads(f.read(4096))
        failed_at = datetime.fromisoformat(data["failed_at"])
        reason = data["reason"]
        if data["base_url"] != normalize_base_url(base_url) or not isinstance(reason, str):
            return None
        age = now - failed_at
    except (OSError, ValueError, TypeError, KeyError):  # absent or not ours: just try again
        return None
    # A clock set back (negative age) must not silence refreshes for longer than ttl.
    return (failed_at, reason) if timedelta(0) <= age < ttl else None


def write_negative(path: str, base_url: str, now: datetime, reason: str) -> None:
    """Best effort, like the cache: failing to remember a failure must not fail the command."""
    from pathlib import Path

    from capi_sysext.output import write_atomic

    data = {
        "base_url": normalize_base_url(base_url),
        "failed_at": now.astimezone(UTC).isoformat(),
        "reason": reason,
    }
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(Path(path), json.dumps(data, sort_keys=True) + "\n")
    except OSError:
        pass


def clear_negative(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


# ---------------------------------------------------------------------------------------------
# The entry point for commands


class CatalogChoice(NamedTuple):
    """The catalog to resolve versions against, and one line for stderr saying where it came from.

    `warnings` are malformed index lines from a fetch made just now (print them as warnings);
    `kind` is "index" (fetched or re-validated now), "cache" or "embedded".
    """

    catalog: Catalog
    note: str
    kind: Literal["index", "cache", "embedded"]
    warnings: tuple[str, ...] = ()
    fetched_at: datetime | None = None


def _when(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def load_catalog(
    base_url: str = DEFAULT_BASE_URL,
    *,
    offline: bool = False,
    refresh: bool = False,
    max_age: timedelta = DEFAULT_MAX_AGE,
    cache_dir: StrPath | None = None,
    client: "HttpClient | None" = None,
    now: Callable[[], datetime] = _utcnow,
) -> CatalogChoice:
    """The freshest catalog available for base_url.

    offline: never touch the network (cache, else embedded). refresh: fetch even if the cache is
    fresh. Otherwise fetch when the cache is missing, corrupt or older than max_age. When the index
    is unreachable (network error, timeout, 5xx after retries) fall back to the cache, then to the
    embedded catalog. An index that answers 404/4xx or lists nothing usable is an error: the base
    URL is wrong, and nodes pointed at it would fail at first boot.
    """
    base = normalize_base_url(base_url)
    url = index_url(base)
    path = cache_path(base, cache_dir)
    cached, cache_problem = read_cache(path, base)
    problem = f"; {cache_problem}" if cache_problem else ""

    def from_cache(why: str) -> CatalogChoice:
        assert cached is not None
        return CatalogChoice(
            cached.catalog(f"cache of {url}"),
            f"catalog: cache of {url} (fetched {_when(cached.fetched_at)}; {why})",
            "cache",
            fetched_at=cached.fetched_at,
        )

    def embedded(why: str) -> CatalogChoice:
        # The embedded catalog describes the bakery; a mirror may hold only some of it.
        caveat = "" if base == DEFAULT_BASE_URL else f"; it lists the bakery's images, not {base}'s"
        note = f"catalog: embedded ({why}{problem}{caveat})"
        return CatalogChoice(load_embedded(), note, "embedded")

    if offline:
        return from_cache("offline") if cached else embedded("offline, no cached index")
    if cached is not None and not refresh:
        age = now() - cached.fetched_at
        if timedelta(0) <= age < max_age:
            return from_cache(f"younger than {_duration(max_age)}")
    negative = negative_path(base, cache_dir)
    if not refresh:
        recent = read_negative(negative, base, now())
        if recent is not None:
            # Remembered outage: no network attempt, so air-gapped runs cost what --offline does.
            why = (
                f"index unreachable at {_when(recent[0])}: {recent[1]}; not retried for "
                f"{_duration(NEGATIVE_TTL)}, --refresh tries now"
            )
            return from_cache(why) if cached is not None else embedded(why)
    from capi_sysext.fetch import FetchError, HttpClient

    if client is None and not refresh:
        # An automatic refresh must not stall `generate` on a machine without network: one
        # short attempt (AUTO_REFRESH_TIMEOUT in total), then the cache or the embedded catalog.
        # An explicit --refresh (and `mirror`) keeps the patient default with retries.
        client = HttpClient(timeout=AUTO_REFRESH_TIMEOUT, retries=0, deadline=AUTO_REFRESH_TIMEOUT)
    try:
        result = fetch_index(base, cache_dir=cache_dir, client=client, now=now)
    except FetchError as exc:
        if not exc.unreachable:
            fix = "check --sysext-base-url, or use --offline for the cached/embedded catalog"
            raise exc.replace(fix=fix) from exc
        write_negative(negative, base, now(), exc.reason)
        if cached is not None:
            return from_cache(f"index unreachable: {exc.reason}")
        return embedded(f"index unreachable: {exc.reason}")
    clear_negative(negative)
    entry = result.entry
    state = "not modified, checked" if result.not_modified else "fetched"
    return CatalogChoice(
        entry.catalog(url),
        f"catalog: {url} ({state} {_when(entry.fetched_at)})",
        "index",
        tuple(result.warnings),
        entry.fetched_at,
    )


def _duration(d: timedelta) -> str:
    secs = int(d.total_seconds())
    if secs % 3600 == 0:
        return f"{secs // 3600} h"
    if secs % 60 == 0:
        return f"{secs // 60} min"
    return f"{secs} s"


def parse_max_age(text: str) -> timedelta:
    """'24h', '90m', '2d', '3600' (seconds) -> timedelta; ValueError otherwise. For --max-age."""
    from capi_sysext.durations import parse_seconds

    seconds = parse_seconds(text.strip(), human=True, bare_seconds=True, fractions=True)
    if seconds is None:
        raise ValueError(f"not a duration like 24h, 90m, 2d or 3600: {text!r}")
    return timedelta(seconds=seconds)
