"""`capi-sysext validate`: check cluster definitions against CRDs, embedded CLC and references."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from capi_sysext.cli import cli
from capi_sysext.errors import InputError, Problem

if TYPE_CHECKING:
    from capi_sysext.crdschema import SchemaStore


def _read_sources(files: tuple[str, ...]) -> list[tuple[str, str]]:
    sources: list[tuple[str, str]] = []
    problems: list[Problem] = []
    from capi_sysext.readers import read_bounded

    for name in files or ("-",):
        try:
            sources.append(("<stdin>" if name == "-" else name, read_bounded(name, "FILES")))
        except InputError as exc:  # every unreadable file reported at once
            problems.extend(exc.problems)
    if problems:
        raise InputError(problems)
    return sources


def load_store(
    crds: tuple[Path, ...],
    from_cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    use_cache: bool = True,
) -> SchemaStore:
    if not crds and not from_cluster:
        raise InputError(
            [
                Problem(
                    "no CRDs to validate against",
                    "pass --crds DIR (repeatable; e.g. clusterctl's provider components) "
                    "or --from-cluster",
                )
            ]
        )
    if crds and from_cluster:
        raise InputError([Problem("--crds and --from-cluster are mutually exclusive")])
    if from_cluster:
        from capi_sysext.kubecrds import store_from_cluster

        return store_from_cluster(kubeconfig=kubeconfig, context=context)
    from capi_sysext.crdschema import SchemaStore, default_cache_dir

    return SchemaStore.from_dirs(list(crds), cache_dir=default_cache_dir() if use_cache else None)


@cli.command("validate")
@click.argument("files", nargs=-1, type=str)
@click.option(
    "--crds",
    "crds",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Directory (searched recursively) or file of CRD YAML. Repeatable; for a kind defined "
    "more than once, the first --crds wins.",
)
@click.option("--from-cluster", is_flag=True, help="Read the CRDs from the current cluster.")
@click.option("--kubeconfig", type=str, default=None, help="Kubeconfig for --from-cluster.")
@click.option("--context", type=str, default=None, help="Kubeconfig context for --from-cluster.")
@click.option(
    "--cache/--no-cache",
    default=True,
    show_default=True,
    help="Keep parsed CRD files in $XDG_CACHE_HOME/capi-sysext/crds (keyed by content hash).",
)
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate_cmd(
    files: tuple[str, ...],
    crds: tuple[Path, ...],
    from_cluster: bool,
    kubeconfig: str | None,
    context: str | None,
    cache: bool,
    output: str,
) -> None:
    """Validate cluster definitions (FILES, or - / nothing for stdin) strictly.

    Every document is checked against its CRD schema (unknown fields are errors), the Container
    Linux Config in kubeadm specs is checked, and references between documents must resolve.
    Exit 0 when valid, 1 when issues were found, 2 for usage errors.
    """
    if (kubeconfig or context) and not from_cluster:
        raise InputError([Problem("--kubeconfig and --context need --from-cluster")])
    # Inputs first: an unreadable or oversized file is reported before any CRD is loaded
    # (which may mean talking to a cluster).
    sources = _read_sources(files)
    store = load_store(crds, from_cluster, kubeconfig, context, use_cache=cache)
    from capi_sysext.plugins import registered
    from capi_sysext.validate import validate_documents

    report = validate_documents(sources, store, registered())
    click.echo(report.render_json() if output == "json" else report.render_text(), nl=False)
    if not report.ok:
        sys.exit(1)
