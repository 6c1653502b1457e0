"""`capi-sysext render-node`: one node's config as CLC, Butane or Ignition JSON."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from capi_sysext.cli import cli, warn
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
from capi_sysext.render import FORMATS, NODE_FORMATS
from capi_sysext.spec import NODE_VARIABLES, ROLES
from capi_sysext.specbuild import feature_variables

_VARIABLES = (*NODE_VARIABLES, *feature_variables(node_scope_only=True))


@cli.command("render-node")
@click.option("--role", type=click.Choice(ROLES), default="worker", show_default=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="butane",
    show_default=True,
    help="clc: what goes into CABPK additionalConfig; butane: variant flatcar 1.0.0; "
    "ignition: spec 3.3.0 JSON.",
)
@click.option(
    "--provider",
    default=None,
    help="Add that provider's node wiring (kubeadm ordering after its metadata agent).",
)
@variable_options(_VARIABLES)
@values_options
@output_options("Write to FILE (or DIR/<role>.<ext>); default stdout.")
@freshness_options
@lock_option
def render_node(
    role: str,
    fmt: str,
    provider: str | None,
    output: str | None,
    force: bool,
    offline: bool,
    refresh: bool,
    max_age: timedelta,
    lock_path: str | None,
    **params: Any,
) -> None:
    """Render a Flatcar node config that pulls Kubernetes as a sysext, for use outside CAPI."""
    from capi_sysext import yamlio
    from capi_sysext.generate import render_node as run
    from capi_sysext.specbuild import build_node_spec

    target = output_target(output, f"{role}.{NODE_FORMATS[fmt].extension}", force)
    node, _ = build_node_spec(raw_inputs(_VARIABLES, params), yamlio.load_file)
    opened = open_catalog(lock_path, node, offline=offline, refresh=refresh, max_age=max_age)
    result = run(node, role, fmt, opened.catalog, provider)
    for message in finish(lock_path, opened, node, result.release, result.warnings):
        warn(message)
    emit(result.text, target)
