"""`capi-sysext generate`: a complete cluster definition as multi-document YAML."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from capi_sysext import providers, writers
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
from capi_sysext.spec import (
    CLUSTER_VARIABLES,
    NODE_VARIABLES,
    PROVIDER_VARIABLE,
    feature_variables,
)

_PROVIDER_FLAGGED = tuple(
    v for name in providers.NAMES for v in providers.get(name).variables if v.flag
)
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
    "with its templates and a topology Cluster that uses it.",
)
@click.option(
    "--class",
    "class_name",
    metavar="NAME",
    default=None,
    help="Emit only a topology Cluster (and its add-ons) that uses the existing ClusterClass NAME.",
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
    class_name: str | None,
    **params: Any,
) -> None:
    """Generate the cluster definition (Cluster, infrastructure, control plane, workers)."""
    from capi_sysext import yamlio
    from capi_sysext.generate import generate as run
    from capi_sysext.spec import build_cluster_spec

    raw = raw_inputs(_VARIABLES, params)
    if list_variables:
        from capi_sysext.cli.listing import print_variables

        print_variables(raw)
        return
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
