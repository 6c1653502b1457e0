"""The lock file: every version and hash `generate`/`render-node --lock FILE` took, so the output
does not move by itself (README, "Lock files").

Written on first use; when it exists it replaces the catalog entirely (no index, cache or
network), so the same inputs give the same bytes online and offline. This module is on the
`generate` path: it reads with the fast loader (yamlio) and writes a new lock by serializing data.
Round-trip edits of an existing lock (comments and key order kept) live in capi_sysext/roundtrip.py,
which loads ruamel.yaml and is only imported by `capi-sysext lock`.

Moving a lock is `capi-sysext lock --upgrade FILE` (cli/lock.py): the newest patch of the locked
minor, or the next minor, never a skip (kubeadm supports one minor at a time:
https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/ "Skipping MINOR
versions when upgrading is unsupported", and the version skew policy it links).
"""

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from capi_sysext.catalog import ARCHES, SHA256_RE, Catalog, Image, Version
from capi_sysext.errors import InputError, Problem

if TYPE_CHECKING:
    from capi_sysext.spec import ClusterSpec

P = TypeVar("P")
LOCK_FORMAT = 1
_REQUEST_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")

HEADER = """\
# capi-sysext lock file. `generate` and `render-node` with --lock take every version and hash
# from here and never touch the network, so the same inputs give the same output online and
# offline. Commit it next to your values files.
#
# Move it on purpose, never by hand:
#   capi-sysext lock --upgrade FILE              newest published patch of the locked minor
#   capi-sysext lock --upgrade FILE --k8s X.Y    the next minor (one at a time, as kubeadm needs)
#   capi-sysext lock --upgrade FILE --arch A     also lock architecture A
# then regenerate and apply: a new Kubernetes version rolls every machine through Cluster API.
#
# kubernetes: per architecture, the resolved patch and its sha256 from the index (null: the
#             catalog had none, so downloads are not pinned; `lock --upgrade` records it).
# addons:     Helm chart versions for every add-on capi-sysext pins for this minor.
# catalog:    where the versions were resolved (nodes download from catalog.baseUrl).
"""


class ChartPin(tuple[str, str]):
    """(chart name, chart version). A tuple subclass, not a NamedTuple: this module loads on
    every `generate --lock`, and each NamedTuple class costs ~0.6 M instructions to create, which
    made `--lock` measurably slower than `--offline` (bench/RESULTS.md)."""

    __slots__ = ()

    def __new__(cls, chart: str, version: str) -> "ChartPin":
        return super().__new__(cls, (chart, version))

    @property
    def chart(self) -> str:
        return self[0]

    @property
    def version(self) -> str:
        return self[1]


class Lock:
    """A parsed lock file. A plain class for the reason given at ChartPin."""

    __slots__ = ("addons", "base_url", "images", "path", "source")

    def __init__(
        self,
        path: str,
        base_url: str,
        source: str,
        images: Mapping[str, Image],  # arch -> locked image
        addons: Mapping[str, ChartPin],  # "<role>/<name>" (e.g. cni/calico) -> chart pin
    ) -> None:
        self.path = path
        self.base_url = base_url
        self.source = source
        self.images = images
        self.addons = addons

    @property
    def minor(self) -> tuple[int, int]:
        v = next(iter(self.images.values())).version
        return v.major, v.minor

    def catalog(self) -> Catalog:
        return Catalog.from_images(self.images.values(), f"lock {self.path}")

    def describe(self) -> str:
        return ", ".join(f"{img.version} ({arch})" for arch, img in sorted(self.images.items()))


def upgrade_command(path: str, extra: str = "") -> str:
    return f"capi-sysext lock --upgrade {path}{extra}"


# ---------------------------------------------------------------------------------------------
# Reading


def read_lock(path: str) -> Lock | None:
    """The lock at path, None when there is none yet; a malformed lock is an InputError."""
    import os

    from capi_sysext import yamlio

    if not os.path.lexists(path):
        return None
    return parse_lock(yamlio.load_file(path), path)


def parse_lock(data: Any, path: str) -> Lock:
    def bad(why: str) -> InputError:
        return InputError(
            [
                Problem(
                    f"lock file {path}: {why}",
                    "restore it from version control, or delete it to lock anew",
                )
            ]
        )

    if not isinstance(data, Mapping) or data.get("lockVersion") != LOCK_FORMAT:
        raise bad(f"not a capi-sysext lock (needs lockVersion: {LOCK_FORMAT})")
    catalog = data.get("catalog")
    if not isinstance(catalog, Mapping) or not isinstance(catalog.get("baseUrl"), str):
        raise bad("catalog.baseUrl is missing")
    kubernetes = data.get("kubernetes")
    if not isinstance(kubernetes, Mapping) or not kubernetes:
        raise bad("kubernetes lists no architecture")
    images: dict[str, Image] = {}
    for arch, entry in kubernetes.items():
        if arch not in ARCHES or not isinstance(entry, Mapping):
            raise bad(f"kubernetes.{arch}: not one of {', '.join(ARCHES)}")
        sha = entry.get("sha256")
        if sha is not None and not (isinstance(sha, str) and re.match(SHA256_RE, sha)):
            raise bad(f"kubernetes.{arch}.sha256 is not 64 lower-case hex digits")
        try:
            version = Version.parse(str(entry.get("version")))
        except ValueError as exc:
            raise bad(f"kubernetes.{arch}.version: {exc}") from None
        images[arch] = Image(version, arch, sha)
    if len({(i.version.major, i.version.minor) for i in images.values()}) > 1:
        raise bad("the architectures lock different Kubernetes minors")
    addons: dict[str, ChartPin] = {}
    raw_addons = data.get("addons") or {}
    if not isinstance(raw_addons, Mapping):
        raise bad("addons must be a mapping")
    for key, pin in raw_addons.items():
        if not isinstance(pin, Mapping) or not pin.get("chart") or not pin.get("version"):
            raise bad(f"addons.{key} needs chart and version")
        addons[str(key)] = ChartPin(str(pin["chart"]), str(pin["version"]))
    source = catalog.get("source")
    return Lock(
        path,
        catalog["baseUrl"].rstrip("/"),
        source if isinstance(source, str) else "",
        images,
        addons,
    )


# ---------------------------------------------------------------------------------------------
# Checking a request against the lock


def request_problems(lock: Lock, request: str, arch: str, base_url: str) -> list[Problem]:
    """Every way the request contradicts the lock, each naming the command that moves the lock."""
    problems: list[Problem] = []
    m = _REQUEST_RE.match(request.strip())
    if m is not None:
        major, minor = int(m.group(1)), int(m.group(2))
        locked = lock.images.get(arch) or next(iter(lock.images.values()))
        patch_differs = m.group(3) is not None and int(m.group(3)) != locked.version.patch
        if (major, minor) != lock.minor or patch_differs:
            problems.append(
                Problem(
                    f"--k8s {request} contradicts the lock {lock.path}, which pins Kubernetes "
                    f"{lock.describe()}",
                    f"move the lock with `{upgrade_command(lock.path, f' --k8s {request}')}` "
                    "and regenerate, or ask for the locked version",
                )
            )
    # A malformed request is reported by the catalog, with the published versions.
    if arch not in lock.images:
        problems.append(
            Problem(
                f"--arch {arch}: the lock {lock.path} has no image for {arch} (it locks "
                f"{', '.join(sorted(lock.images))})",
                f"add it with `{upgrade_command(lock.path, f' --arch {arch}')}` (which also moves "
                f"to the newest patch; add --k8s {_locked_patch(lock)} to stay)",
            )
        )
    if base_url.rstrip("/") != lock.base_url:
        problems.append(
            Problem(
                f"--sysext-base-url {base_url}: the lock {lock.path} was resolved against "
                f"{lock.base_url}",
                "re-resolve it with "
                f"`{upgrade_command(lock.path, f' --sysext-base-url {base_url}')}`, or use the "
                "locked URL",
            )
        )
    return problems


def _locked_patch(lock: Lock) -> str:
    return str(max(i.version for i in lock.images.values()))


# ---------------------------------------------------------------------------------------------
# Writing a new lock (first use) without ruamel: data, serialized, under a static header


def table_addon_pins(minor: str) -> dict[str, ChartPin]:
    """Every chart providers/addons.yaml pins for the minor: a later --cni or provider change
    needs no new lock."""
    from capi_sysext.features.addons import table_pins

    return {key: ChartPin(chart, version) for key, (chart, version) in table_pins(minor).items()}


def lock_data(
    base_url: str, source: str, images: Mapping[str, Image], addons: Mapping[str, ChartPin]
) -> dict[str, Any]:
    return {
        "lockVersion": LOCK_FORMAT,
        "kubernetes": {
            arch: {"version": str(img.version), "sha256": img.sha256}
            for arch, img in sorted(images.items())
        },
        "addons": {key: {"chart": p.chart, "version": p.version} for key, p in addons.items()},
        "catalog": {"baseUrl": base_url.rstrip("/"), "source": source},
    }


def new_lock_text(base_url: str, source: str, image: Image) -> str:
    from capi_sysext import yamlio

    minor = f"{image.version.major}.{image.version.minor}"
    data = lock_data(base_url, source, {image.arch: image}, table_addon_pins(minor))
    return HEADER + yamlio.dump(data)


def unpinned_warning(lock: Lock, arch: str) -> str | None:
    image = lock.images.get(arch)
    if image is None or image.sha256 is not None:
        return None
    return (
        f"the lock {lock.path} records no sha256 for {image.filename}, so its download is not "
        f"pinned; record it with `{upgrade_command(lock.path, f' --k8s {image.version}')}`"
    )


# ---------------------------------------------------------------------------------------------
# Moving a lock (the data side of `capi-sysext lock --upgrade`)


def parse_request(request: str) -> tuple[int, int, int | None] | None:
    m = _REQUEST_RE.match(request.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), None if m.group(3) is None else int(m.group(3))


def minor_move_problem(lock: Lock, major: int, minor: int, patch: int | None) -> Problem | None:
    """None when the target is the locked minor (not lower) or the next one; else why not."""
    cur_major, cur_minor = lock.minor
    locked = max(i.version for i in lock.images.values())
    target = Version(major, minor, patch if patch is not None else 0)
    doc = "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/"
    if (target.major, target.minor) == (cur_major, cur_minor):
        if patch is not None and target < locked:
            return Problem(
                f"--k8s {target}: the lock is at {locked}; going down is not an upgrade "
                "(kubeadm upgrades within a minor only to a newer patch)",
                f"pick {locked} or newer; see {doc}",
            )
        return None
    nxt = f"{cur_major}.{cur_minor + 1}"
    if target.major == cur_major and target.minor == cur_minor + 1:
        return None
    if (target.major, target.minor) < (cur_major, cur_minor):
        return Problem(
            f"--k8s {target.major}.{target.minor}: the lock is at {cur_major}.{cur_minor}; "
            "kubeadm cannot downgrade a cluster to an older minor",
            f"stay on {cur_major}.{cur_minor} or move to {nxt}",
        )
    return Problem(
        f"--k8s {target.major}.{target.minor}: the lock is at {cur_major}.{cur_minor}; "
        f"skipping minors is unsupported by kubeadm (version skew policy, {doc})",
        f"move one minor at a time: `capi-sysext lock --upgrade {lock.path} --k8s {nxt}`, "
        "regenerate, apply, wait for the rollout, then the next",
    )


# ---------------------------------------------------------------------------------------------
# Using a lock in `generate`


def pin_addons(spec: "ClusterSpec[P]", lock: Lock) -> "ClusterSpec[P]":
    """The ClusterSpec with the lock's add-on pins handed to the add-on plan, which generate
    resolves once from the resolved release (a chart the lock lacks is one of its Problems)."""
    from capi_sysext.features.addons import FEATURE, LockedCharts

    settings = FEATURE.of(spec.features)
    fix = (
        f"pin it with `{upgrade_command(lock.path, f' --k8s {_locked_patch(lock)}')}` "
        "(keeps Kubernetes, re-pins add-ons)"
    )
    charts = tuple((key, pin.chart, pin.version) for key, pin in sorted(lock.addons.items()))
    locked = LockedCharts(str(lock.path), fix, charts)
    return spec._replace(features={**spec.features, FEATURE.name: settings._replace(lock=locked)})
