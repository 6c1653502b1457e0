"""The provider-neutral node provisioning model.

Everything a node needs from its first-boot config, independent of the format it is rendered in
(CLC for CABPK's additionalConfig, Butane, Ignition JSON). Renderers only translate this model; they
never add content of their own, which is what keeps the three outputs equivalent.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, TypeVar

T = TypeVar("T")

# Guard file listing the sha256 of every pinned remote file (sha256sum format, paths relative to
# "/"). CLC can only carry sha512, so for CLC this file is the only place the sums survive; the
# renderer, the CLC parser and the node builder all key on this path.
PINNED_SUMS_PATH = "/etc/capi-sysext/sysext.sha256sums"


class Remote(NamedTuple):
    url: str
    sha256: str | None = None  # hex; None when the catalog has no sum for the image


class _FileFields(NamedTuple):
    path: str
    mode: int
    inline: str | None = None
    remote: Remote | None = None


class File(_FileFields):
    """A file with exactly one of inline or remote contents, at an absolute path."""

    __slots__ = ()

    def __new__(
        cls, path: str, mode: int, inline: str | None = None, remote: Remote | None = None
    ) -> "File":
        if (inline is None) == (remote is None):
            raise ValueError(f"{path}: a file has exactly one of inline or remote contents")
        if not path.startswith("/"):
            raise ValueError(f"{path}: paths must be absolute")
        return super().__new__(cls, path, mode, inline, remote)


class Directory(NamedTuple):
    path: str
    mode: int = 0o755


class Link(NamedTuple):
    path: str
    target: str
    hard: bool = False


class Dropin(NamedTuple):
    name: str
    contents: str


class Unit(NamedTuple):
    name: str
    enabled: bool | None = None  # None: leave the preset alone
    mask: bool = False
    contents: str | None = None
    dropins: tuple[Dropin, ...] = ()


class User(NamedTuple):
    """An account Ignition updates (or creates); only what render-cluster needs so far."""

    name: str
    ssh_authorized_keys: tuple[str, ...] = ()


class NodeConfig(NamedTuple):
    directories: tuple[Directory, ...] = ()
    files: tuple[File, ...] = ()
    links: tuple[Link, ...] = ()
    units: tuple[Unit, ...] = ()
    # Last, so positional construction elsewhere keeps its meaning.
    users: tuple[User, ...] = ()


class NodeConfigBuilder:
    """Collects contributions (core, options, provider) and merges units that share a name.

    Paths and unit names must be unique; a second contribution to the same unit may only add
    drop-ins or set fields the first left unset, so no contributor silently overrides another.
    """

    def __init__(self) -> None:
        self._dirs: dict[str, Directory] = {}
        self._files: dict[str, File] = {}
        self._links: dict[str, Link] = {}
        self._units: dict[str, Unit] = {}
        self._users: dict[str, User] = {}

    def directory(self, d: Directory) -> None:
        self._dirs[d.path] = d

    def file(self, f: File) -> None:
        if f.path in self._files or f.path in self._links:
            raise ValueError(f"two contributions write {f.path}")
        self._files[f.path] = f

    def link(self, link: Link) -> None:
        if link.path in self._files or link.path in self._links:
            raise ValueError(f"two contributions write {link.path}")
        self._links[link.path] = link

    def unit(self, u: Unit) -> None:
        old = self._units.get(u.name)
        if old is None:
            self._units[u.name] = u
            return
        if u.contents is not None and old.contents is not None:
            raise ValueError(f"two contributions define the contents of {u.name}")
        if u.enabled is not None and old.enabled is not None and u.enabled != old.enabled:
            raise ValueError(f"contributions disagree on enabling {u.name}")
        names = {d.name for d in old.dropins}
        clash = [d.name for d in u.dropins if d.name in names]
        if clash:
            raise ValueError(f"two contributions write drop-in {u.name}/{clash[0]}")
        self._units[u.name] = old._replace(
            enabled=old.enabled if u.enabled is None else u.enabled,
            mask=old.mask or u.mask,
            contents=old.contents if u.contents is None else u.contents,
            dropins=old.dropins + u.dropins,
        )

    def user(self, u: User) -> None:
        if u.name in self._users:
            raise ValueError(f"two contributions define user {u.name}")
        self._users[u.name] = u

    def add(self, cfg: NodeConfig) -> None:
        for d in cfg.directories:
            self.directory(d)
        for f in cfg.files:
            self.file(f)
        for link in cfg.links:
            self.link(link)
        for u in cfg.units:
            self.unit(u)
        for user in cfg.users:
            self.user(user)

    def build(self) -> NodeConfig:
        # Sorted so that output does not depend on the order contributors ran in.
        return NodeConfig(
            directories=_sorted(self._dirs.values(), lambda d: d.path),
            files=_sorted(self._files.values(), lambda f: f.path),
            links=_sorted(self._links.values(), lambda link: link.path),
            units=tuple(
                u._replace(dropins=tuple(sorted(u.dropins, key=lambda d: d.name)))
                for u in _sorted(self._units.values(), lambda u: u.name)
            ),
            users=_sorted(self._users.values(), lambda u: u.name),
        )


def _sorted(items: Iterable[T], key: Callable[[T], str]) -> tuple[T, ...]:
    return tuple(sorted(items, key=key))


_SUM_LINE = r"^([0-9a-f]{64})  ([^/\n][^\n]*)$"


def format_pinned_sums(sums: Mapping[str, str]) -> str:
    """Guard file contents: one `<hex>  <path relative to />` line per absolute path, sorted."""
    lines = []
    for path in sorted(sums):
        if not path.startswith("/") or not re.match(_HEX64, sums[path]):
            raise ValueError(f"{path}: pinned sums need an absolute path and a lowercase sha256")
        lines.append(f"{sums[path]}  {path[1:]}\n")
    return "".join(lines)


def parse_pinned_sums(text: str) -> dict[str, str]:
    """Inverse of format_pinned_sums: absolute path -> sha256 hex. Rejects malformed lines."""
    sums: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(_SUM_LINE, line)
        if m is None:
            raise ValueError(f"{PINNED_SUMS_PATH} line {n}: expected '<sha256 hex>  <path>'")
        path = "/" + m.group(2)
        if path in sums:
            raise ValueError(f"{PINNED_SUMS_PATH}: {path} listed twice")
        sums[path] = m.group(1)
    return sums


_HEX64 = r"^[0-9a-f]{64}$"
