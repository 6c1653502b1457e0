"""`capi-sysext generate`: a complete cluster definition as multi-document YAML."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from capi_sysext import clouds, writers
from capi_sysext.cli import cli, note, warn
from capi_sysext.cli.catalogopts import freshness_options
from capi_sysext.cli.lockopts import finish, lock_option, open_catalog
from capi_sysext.cli.options import (
    emit,
    output_options,
    output_target,
    raw_inputs,
    values_options,
    variable_options,
)
from capi_sysext.spec import CLUSTER_VARIABLES, NODE_VARIABLES
from capi_sysext.specbuild import PROVIDER_VARIABLE, feature_variables

if TYPE_CHECKING:
    from capi_sysext.catalog import Catalog
    from capi_sysext.spec import NodeSpec

_PROVIDER_FLAGGED = tuple(v for name in clouds.NAMES for v in clouds.get(name).variables if v.flag)
_VARIABLES = (
    PROVIDER_VARIABLE,
    *NODE_VARIABLES,
    *CLUSTER_VARIABLES,
    *feature_variables(),
    *_PROVIDER_FLAGGED,
)


@cli.command()
@variable_options(_VARIABLES)
@values_options
@output_options("Write to FILE, or DIR/<name>.yaml; default stdout.")
@freshness_options
@lock_option
@click.option(
    "--diff-against",
    metavar="FILE",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Say on stderr which machines this output would roll relative to FILE (a previous "
    "output); stdout is unchanged.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(writers.NAMES),
    default=writers.DEFAULT,
    show_default=True,
    help="Output mode: cluster = every object of one cluster; clusterclass = a ClusterClass "
    "with its templates and a topology Cluster that uses it; clusterctl-template = a template "
    "for `clusterctl generate cluster --from` with ${VAR} inputs.",
)
@click.option(
    "--class",
    "class_name",
    metavar="NAME",
    default=None,
    help="Emit only a topology Cluster (and its add-ons) that uses the existing ClusterClass NAME.",
)
@click.option(
    "--fleet",
    "fleet_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    default=None,
    help="Render every values file in DIR (one cluster each; DIR/_common.yaml is read before "
    "each) into the directory -o OUT/, all or nothing.",
)
@click.option(
    "--list-variables",
    is_flag=True,
    help="List the inputs the provider needs (required and optional) and exit.",
)
def generate(
    output: str | None,
    force: bool,
    list_variables: bool,
    offline: bool,
    refresh: bool,
    max_age: timedelta,
    lock_path: str | None,
    diff_against: str | None,
    output_format: str,
    fleet_dir: str | None,
    class_name: str | None,
    **params: Any,
) -> None:
    """Generate the cluster definition (Cluster, infrastructure, control plane, workers)."""
    from capi_sysext import yamlio
    from capi_sysext.generate import generate as run
    from capi_sysext.specbuild import build_cluster_spec

    raw = raw_inputs(_VARIABLES, params)
    if list_variables:
        from capi_sysext.cli.listing import print_variables

        print_variables(raw)
        return
    if fleet_dir is not None:
        _fleet(
            raw,
            fleet_dir,
            output,
            force,
            output_format,
            lock_path,
            diff_against,
            offline,
            refresh,
            max_age,
        )
        return
    if output_format == "clusterctl-template":
        from capi_sysext.writers.clusterctl_template import template_inputs

        provider = raw.flags.get("provider") or raw.env.get("CAPI_SYSEXT_PROVIDER")
        if provider in clouds.NAMES:
            # The templated inputs become ${VAR}: their sentinels win over every source.
            raw = raw._replace(flags={**raw.flags, **template_inputs(provider)})
    spec = build_cluster_spec(raw, yamlio.load_file)
    # Before the catalog (which may touch the network): refuse an existing file early.
    target = output_target(output, f"{spec.name}.yaml", force)
    opened = open_catalog(lock_path, spec.node, offline=offline, refresh=refresh, max_age=max_age)
    if opened.lock is not None:
        from capi_sysext.lock import pin_addons

        spec = pin_addons(spec, opened.lock)
    result = run(spec, opened.catalog)
    from capi_sysext.writers.base import single_file

    if class_name is not None:
        from capi_sysext.writers.clusterclass import topology_only

        written = topology_only(result, class_name)
    else:
        written = writers.get(output_format).write(result)
    text = single_file(written)
    for message in finish(lock_path, opened, spec.node, result.release, result.warnings):
        warn(message)
    for message in result.notes:
        note(message)
    if diff_against:
        from capi_sysext.rollout import rollout_notes

        for message in rollout_notes(diff_against, [*written.shared, *written.own]):
            note(message)
    emit(text, target)


def _fleet(
    raw: Any,
    fleet_dir: str,
    output: str | None,
    force: bool,
    output_format: str,
    lock_path: str | None,
    diff_against: str | None,
    offline: bool,
    refresh: bool,
    max_age: timedelta,
) -> None:
    """--fleet DIR -o OUT/: every problem of every cluster first, then all files or none."""
    from pathlib import Path

    from capi_sysext import yamlio
    from capi_sysext.errors import InputError, Problem
    from capi_sysext.fleet import render_fleet

    problems = []
    if output is None or not Path(output).is_dir():
        problems.append(
            Problem(
                "--fleet writes one file per cluster into a directory",
                "give an existing directory with -o OUT/",
            )
        )
    if lock_path:
        # One lock pins one cluster's release; a fleet would need a lock per cluster, which is
        # not built: refuse rather than pin every cluster to the first one's versions.
        problems.append(
            Problem(
                "--lock does not go with --fleet (a lock file pins one cluster)",
                "lock each cluster on its own (generate --values FILE --lock FILE.lock), or "
                "drop --lock",
            )
        )
    if diff_against:
        problems.append(Problem("--diff-against does not go with --fleet", "drop it"))
    if output_format == "clusterctl-template":
        # A template is the same for every cluster: clusterctl fills in the per-cluster values.
        problems.append(
            Problem(
                "--format clusterctl-template does not go with --fleet (one template serves "
                "every cluster)",
                "generate the template once, without --fleet",
            )
        )
    if problems:
        raise InputError(problems)
    assert output is not None
    catalogs: dict[str, Catalog] = {}

    def catalog_for(node: NodeSpec) -> Catalog:
        # One catalog per base URL for the whole fleet (the index is read at most once each).
        if node.sysext_base_url not in catalogs:
            catalogs[node.sysext_base_url] = open_catalog(
                None, node, offline=offline, refresh=refresh, max_age=max_age
            ).catalog
        return catalogs[node.sysext_base_url]

    result = render_fleet(raw, fleet_dir, output_format, catalog_for, yamlio.load_file)
    targets = {Path(output) / name: text for name, text in result.files.items()}
    from capi_sysext.output import check_all_writable, write_files

    check_all_writable(targets, lambda _path: force)
    for message in result.warnings:
        warn(message)
    for message in result.notes:
        note(message)
    write_files(targets)
    click.echo(f"wrote {len(targets)} files to {output}", err=True)
