"""Which Kubernetes sysext images the bakery publishes, and resolving a user's request to one.

The embedded catalog (data/catalog.json) is the offline default. It is our own record of what the
bakery index lists; scripts/regen-catalog.py rebuilds it from an index.
"""

import json
import re
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from capi_sysext.errors import CatalogError, Problem

ARCHES = ("x86-64", "arm64")
# Users type the Go/Debian/kernel spellings; the bakery and sysupdate's %a use x86-64/arm64.
ARCH_ALIASES = {
    "x86-64": "x86-64",
    "x86_64": "x86-64",
    "amd64": "x86-64",
    "arm64": "arm64",
    "aarch64": "arm64",
}

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$", re.ASCII)  # only ASCII digits
_IMAGE_RE = r"^kubernetes-v([0-9]+)\.([0-9]+)\.([0-9]+)-(x86-64|arm64)\.raw$"
SHA256_RE = r"^[0-9a-f]{64}$"
# The bakery, through its redirect service to the GitHub releases (flatcar/sysext-bakery README.md:
# 227-241 and tools/http-url-rewrite-server/Caddyfile:22-58, at 80959c1); a mirror replaces it.
DEFAULT_BASE_URL = "https://extensions.flatcar.org/extensions"


def normalize_arch(value: str) -> str | None:
    return ARCH_ALIASES.get(value.strip().lower())


class Version(NamedTuple):
    """Orders like the tuple it is: (major, minor, patch)."""

    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> "Version":
        m = _VERSION_RE.match(text.strip())
        if not m or m.group(3) is None:
            raise ValueError(f"not a Kubernetes version: {text!r}")
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)))

    @property
    def minor_str(self) -> str:
        return f"v{self.major}.{self.minor}"

    def __str__(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


class Image(NamedTuple):
    """One published sysext image: what a node downloads at first boot."""

    version: Version
    arch: str
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return image_filename(self.version, self.arch)


def image_filename(version: Version, arch: str) -> str:
    return f"kubernetes-{version}-{arch}.raw"


def parse_image_filename(name: str) -> tuple[Version, str] | None:
    m = re.match(_IMAGE_RE, name)
    if not m:
        return None
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3))), m.group(4)


class Catalog(NamedTuple):
    """Published images per arch, each with its sha256 when known."""

    images: Mapping[str, Mapping[Version, str | None]]
    source: str = "embedded"

    @classmethod
    def from_images(cls, images: Iterable[Image], source: str) -> "Catalog":
        table: dict[str, dict[Version, str | None]] = {a: {} for a in ARCHES}
        for img in images:
            table.setdefault(img.arch, {})[img.version] = img.sha256
        return cls(images=table, source=source)

    def versions(self, arch: str) -> list[Version]:
        return sorted(self.images.get(arch, {}))

    def all_images(self) -> list[Image]:
        return [
            Image(v, arch, self.images[arch][v])
            for arch in sorted(self.images)
            for v in self.versions(arch)
        ]

    def minors(self, arch: str) -> dict[str, list[Version]]:
        out: dict[str, list[Version]] = {}
        for v in self.versions(arch):
            out.setdefault(v.minor_str, []).append(v)
        return out

    def describe_available(self, arch: str) -> str:
        parts = [
            f"{minor} ({vs[0]}..{vs[-1]})" if len(vs) > 1 else f"{minor} ({vs[0]})"
            for minor, vs in self.minors(arch).items()
        ]
        return ", ".join(parts) if parts else "none"

    def resolve(self, request: str, arch: str, flag: str = "--k8s") -> Image:
        """Turn '1.33', 'v1.33' or '1.33.2' into a published image for arch, or explain why not."""
        published = self.images.get(arch, {})
        available = f"published for {arch}: {self.describe_available(arch)}"
        m = _VERSION_RE.match(request.strip())
        if not m:
            raise CatalogError(
                [
                    Problem(
                        f"{flag} {request!r} is not a Kubernetes version like 1.33 or 1.33.2",
                        available,
                    )
                ]
            )
        major, minor = int(m.group(1)), int(m.group(2))
        if m.group(3) is None:
            candidates = [v for v in published if (v.major, v.minor) == (major, minor)]
            if not candidates:
                raise CatalogError(
                    [
                        Problem(
                            f"{flag} {request}: no Kubernetes v{major}.{minor} sysext is "
                            f"published (catalog: {self.source})",
                            available,
                        )
                    ]
                )
            version = max(candidates)
        else:
            version = Version(major, minor, int(m.group(3)))
            if version not in published:
                same_minor = [v for v in published if (v.major, v.minor) == (major, minor)]
                closest = sorted(same_minor, key=lambda v: (abs(v.patch - version.patch), v))[:3]
                near = ", ".join(str(v) for v in sorted(closest)) or "none in that minor"
                raise CatalogError(
                    [
                        Problem(
                            f"{flag} {request}: {version} is not published for {arch} "
                            f"(catalog: {self.source}); nearest available: {near}",
                            available,
                        )
                    ]
                )
        return Image(version, arch, published[version])


def catalog_from_json(data: Mapping[str, object], source: str) -> Catalog:
    images_raw = data.get("images")
    if not isinstance(images_raw, dict):
        raise ValueError("catalog has no 'images' table")
    images: list[Image] = []
    for arch, versions in images_raw.items():
        if arch not in ARCHES or not isinstance(versions, dict):
            raise ValueError(f"catalog: bad arch entry {arch!r}")
        for ver, sha in versions.items():
            if sha is not None and not (isinstance(sha, str) and re.match(SHA256_RE, sha)):
                raise ValueError(f"catalog: bad sha256 for {ver} {arch}")
            images.append(Image(Version.parse(ver), arch, sha))
    return Catalog.from_images(images, source)


def catalog_to_json(catalog: Catalog, note: str) -> dict[str, object]:
    return {
        "note": note,
        "images": {
            arch: {str(v): catalog.images[arch][v] for v in catalog.versions(arch)}
            for arch in ARCHES
        },
    }


def load_embedded() -> Catalog:
    from capi_sysext.package_data import read_data

    text = read_data("data", "catalog.json")
    return catalog_from_json(json.loads(text), "embedded")
