"""`capi-sysext lock --upgrade FILE`: move a lock file on purpose (capi_sysext/lock.py)."""

from __future__ import annotations

from datetime import timedelta

import click

from capi_sysext.cli import cli, note
from capi_sysext.cli.catalogopts import choose_catalog


@cli.command("lock")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--upgrade",
    is_flag=True,
    help="Move the lock: to the newest published patch of its minor, or to --k8s.",
)
@click.option(
    "--k8s",
    "k8s",
    default=None,
    metavar="X.Y[.Z]",
    help="Target: the locked minor (a newer patch) or the next minor; never a skip or a downgrade.",
)
@click.option(
    "--arch", "arches", multiple=True, metavar="ARCH", help="Also lock this architecture."
)
@click.option(
    "--sysext-base-url",
    default=None,
    metavar="URL",
    help="Resolve against this index instead of the lock's catalog.baseUrl.",
)
@click.option(
    "--values",
    "-f",
    "values_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="Values files whose kubernetesVersion follows the lock (edited round-trip).",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Resolve from the cached index (or the embedded catalog) instead of refreshing it.",
)
def lock_command(
    file: str,
    upgrade: bool,
    k8s: str | None,
    arches: tuple[str, ...],
    sysext_base_url: str | None,
    values_files: tuple[str, ...],
    offline: bool,
) -> None:
    """Upgrade a lock file written by `generate --lock` or `render-node --lock`."""
    from capi_sysext import lock as locks
    from capi_sysext import roundtrip
    from capi_sysext.catalog import normalize_arch
    from capi_sysext.errors import CapiSysextError, CatalogError, InputError, Problem
    from capi_sysext.layout import index_url

    if not upgrade:
        raise InputError(
            [Problem("capi-sysext lock needs --upgrade", f"capi-sysext lock --upgrade {file}")]
        )
    current = locks.read_lock(file)
    if current is None:
        raise InputError(
            [
                Problem(
                    f"there is no lock file {file}",
                    f"write one with `capi-sysext generate ... --lock {file}`",
                )
            ]
        )
    major, minor = current.minor
    request = k8s or f"{major}.{minor}"
    problems: list[Problem] = []
    parsed = locks.parse_request(request)
    if parsed is None:
        problems.append(Problem(f"--k8s {request!r} is not a version like 1.34 or 1.34.2"))
    else:
        moved = locks.minor_move_problem(current, *parsed)
        if moved is not None:
            problems.append(moved)
    wanted = list(current.images)
    for arch in arches:
        normal = normalize_arch(arch)
        if normal is None:
            problems.append(Problem(f"--arch {arch!r} is not x86-64 or arm64"))
        elif normal not in wanted:
            wanted.append(normal)
    if problems:
        raise InputError(problems)
    base_url = (sysext_base_url or current.base_url).rstrip("/")
    choice = choose_catalog(base_url, offline=offline, refresh=not offline, max_age=timedelta(0))
    if not offline and choice.kind != "index":
        # Like `versions --refresh`: an upgrade from a stale fallback is not what was asked for.
        raise CapiSysextError(
            [
                Problem(
                    f"could not refresh the catalog from {index_url(base_url)}",
                    "check the URL and the network, or add --offline to use the cache",
                )
            ]
        )
    images = {}
    for arch in wanted:
        try:
            images[arch] = choice.catalog.resolve(request, arch)
        except CatalogError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)
    target = max(i.version for i in images.values())
    target_minor = f"{target.major}.{target.minor}"
    if len({(i.version.major, i.version.minor) for i in images.values()}) > 1:
        raise InputError([Problem("the architectures resolved to different minors")])
    data = locks.lock_data(
        base_url,
        choice.note.removeprefix("catalog: "),
        images,
        locks.table_addon_pins(target_minor),
    )
    before = dict(current.images)
    changed = roundtrip.update_file(file, data, prune=("addons", "kubernetes"))
    for arch, img in sorted(images.items()):
        old = before.get(arch)
        was = f"{old.version}" if old else "not locked"
        pinned = "sha256 pinned" if img.sha256 else "no sha256 in the catalog"
        click.echo(f"{file}: {arch} {was} -> {img.version} ({pinned})", err=True)
    for path in values_files:
        if roundtrip.set_top_level(path, "kubernetesVersion", request):
            click.echo(f"{path}: kubernetesVersion -> {request}", err=True)
    if not changed:
        click.echo(f"{file} is up to date", err=True)
        return
    if any(before.get(a) is None or before[a].version != i.version for a, i in images.items()):
        note(
            "regenerate with --lock and apply: the new Kubernetes version rolls the control plane "
            "first, then the workers (see the README, Upgrades)"
        )
