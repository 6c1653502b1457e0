"""`capi-sysext generate`: a complete cluster definition as multi-document YAML."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from capi_sysext import providers
from capi_sysext.cli import cli, note, warn
from capi_sysext.cli.catalogopts import choose_catalog, freshness_options
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
    catalog = choose_catalog(
        spec.node.sysext_base_url, offline=offline, refresh=refresh, max_age=max_age
    ).catalog
    result = run(spec, catalog)
    text = yamlio.dump_all(result.documents)
    for message in result.warnings:
        warn(message)
    for message in result.notes:
        note(message)
    emit(text, target)
