"""--lock FILE for `generate` and `render-node`: the catalog comes from the lock when it exists,
and a new lock is written on first use (capi_sysext/lock.py). No ruamel here: this is the start-up
path of `generate`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import click

from capi_sysext.cli.catalogopts import choose_catalog

if TYPE_CHECKING:
    from capi_sysext.catalog import Catalog, Image
    from capi_sysext.lock import Lock
    from capi_sysext.spec import NodeSpec

F = TypeVar("F", bound=Callable[..., Any])


def lock_option(f: F) -> F:
    return click.option(
        "--lock",
        "lock_path",
        metavar="FILE",
        type=click.Path(dir_okay=False),
        default=None,
        help="Take every version and hash from FILE (no network); written on first use. "
        "Move it with `capi-sysext lock --upgrade FILE`.",
    )(f)


class LockedCatalog(NamedTuple):
    catalog: Catalog
    lock: Lock | None  # None: no lock given, or it is written after this run
    source: str  # where the versions came from, for a new lock


def open_catalog(
    lock_path: str | None,
    node: NodeSpec,
    *,
    offline: bool,
    refresh: bool,
    max_age: timedelta,
) -> LockedCatalog:
    from capi_sysext.errors import InputError

    if lock_path:
        from capi_sysext.lock import read_lock, request_problems

        lock = read_lock(lock_path)
        if lock is not None:
            problems = request_problems(lock, node.kubernetes, node.arch, node.sysext_base_url)
            if problems:
                raise InputError(problems)
            click.echo(f"catalog: lock {lock_path} ({lock.describe()}; no index read)", err=True)
            return LockedCatalog(lock.catalog(), lock, lock.source)
        from capi_sysext.output import check_writable, output_path

        check_writable(output_path(lock_path, "capi-sysext.lock"), force=False)
    choice = choose_catalog(node.sysext_base_url, offline=offline, refresh=refresh, max_age=max_age)
    return LockedCatalog(choice.catalog, None, choice.note.removeprefix("catalog: "))


def as_locked(lock_path: str | None, opened: LockedCatalog, image: Image) -> Catalog | None:
    """The catalog a writer sees: on the run that writes a new lock, the one that lock will give
    (its image only), so a ClusterClass's allowed versions are the same on that run as on every
    later run from the lock; None: keep the run's own."""
    if not lock_path or opened.lock is not None:
        return None
    from capi_sysext.catalog import Catalog

    return Catalog.from_images([image], f"lock {lock_path}")


def finish(
    lock_path: str | None,
    opened: LockedCatalog,
    node: NodeSpec,
    image: Image,
    warnings: list[str],
) -> list[str]:
    """Write a first-use lock; return the warnings to print (the lock's own unpinned advice)."""
    if not lock_path:
        return warnings
    from capi_sysext.generate import pinning_warnings
    from capi_sysext.node import NodeRelease

    generic = set(pinning_warnings(NodeRelease(image, node.sysext_base_url)))
    kept = [w for w in warnings if w not in generic]
    if opened.lock is None:
        from capi_sysext.lock import new_lock_text, parse_lock
        from capi_sysext.output import output_path, write_atomic

        text = new_lock_text(node.sysext_base_url, opened.source, image)
        write_atomic(output_path(lock_path, "capi-sysext.lock"), text)
        click.echo(f"wrote lock {lock_path} ({image.version} {image.arch})", err=True)
        from capi_sysext import yamlio

        lock = parse_lock(yamlio.load_all(text, lock_path)[0], lock_path)
    else:
        lock = opened.lock
    from capi_sysext.lock import unpinned_warning

    advice = unpinned_warning(lock, image.arch)
    return [*kept, advice] if advice else kept
