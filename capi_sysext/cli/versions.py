"""`capi-sysext versions`: what the catalog says the bakery publishes."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import click

from capi_sysext.cli import cli
from capi_sysext.cli.catalogopts import catalog_options, choose_catalog


@cli.command()
@click.option(
    "-o",
    "--output",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    help="Output format.",
)
@click.option("--all", "show_all", is_flag=True, help="List every image, not one line per minor.")
@catalog_options
def versions(
    fmt: str, show_all: bool, sysext_base_url: str, offline: bool, refresh: bool, max_age: timedelta
) -> None:
    """List the published Kubernetes sysext versions per minor and arch."""
    from capi_sysext.catalog import ARCHES
    from capi_sysext.errors import CapiSysextError, Problem
    from capi_sysext.layout import index_url

    choice = choose_catalog(sysext_base_url, offline=offline, refresh=refresh, max_age=max_age)
    if refresh and not offline and choice.kind != "index":
        # Asked for explicitly (e.g. in CI before a release): a fallback is a failure here.
        raise CapiSysextError(
            [
                Problem(
                    f"could not refresh the catalog from {index_url(sysext_base_url)}",
                    "check the URL and the network, or drop --refresh to use the cache",
                )
            ]
        )
    catalog = choice.catalog
    if fmt == "json":
        rows: list[dict[str, Any]] = [
            {
                "version": str(i.version),
                "minor": i.version.minor_str,
                "arch": i.arch,
                "file": i.filename,
                "sha256": i.sha256,
            }
            for i in catalog.all_images()
        ]
        click.echo(json.dumps({"source": catalog.source, "images": rows}, indent=2))
        return
    click.echo(f"catalog: {catalog.source}")
    if show_all:
        click.echo(f"{'VERSION':<10} {'ARCH':<7} SHA256")
        for i in catalog.all_images():
            click.echo(f"{i.version!s:<10} {i.arch:<7} {i.sha256 or '-'}")
        return
    minors = sorted(
        {v.minor_str for a in ARCHES for v in catalog.versions(a)},
        key=lambda m: tuple(int(x) for x in m[1:].split(".")),
    )
    click.echo(
        f"{'MINOR':<7} "
        + " ".join(f"{a.upper() + ' NEWEST':<14} {'PATCHES':<22}" for a in ARCHES).rstrip()
    )
    for minor in reversed(minors):
        cells = []
        for arch in ARCHES:
            vs = catalog.minors(arch).get(minor, [])
            span = f"{vs[0]}..{vs[-1]} ({len(vs)})" if vs else "-"
            cells.append(f"{(str(vs[-1]) if vs else '-'):<14} {span:<22}")
        click.echo(f"{minor:<7} " + " ".join(cells).rstrip())
