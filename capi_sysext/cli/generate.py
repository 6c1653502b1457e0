"""`capi-sysext generate`: a complete cluster definition as multi-document YAML."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from capi_sysext import clouds, writers
from capi_sysext.cli import cli, note, warn
from capi_sysext.cli.catalogopts import freshness_options
from capi_sysext.cli.lockopts import as_locked, finish, lock_option, open_catalog
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
    from capi_sysext.writers.base import Writer

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
    "--class-file",
    "class_file",
    metavar="FILE",
    default=None,
    help="With --class: the YAML file holding that ClusterClass; the Cluster's variables, "
    "version and worker class are checked against it.",
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
    class_file: str | None,
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
    topology = _topology_writer(class_name, class_file, output_format)
    if fleet_dir is not None:
        _fleet(
            raw,
            fleet_dir,
            output,
            force,
            topology or output_format,
            lock_path,
            diff_against,
            offline,
            refresh,
            max_age,
        )
        return
    replaced: list[str] = []
    if output_format == "clusterctl-template":
        from capi_sysext.inputs import layer
        from capi_sysext.specbuild import chosen_provider
        from capi_sysext.writers.clusterctl_template import replaced_values, template_inputs

        # The provider may come from any source (a values file's `provider:` too): the template
        # must not keep the user's values just because the flag was not used.
        layered = layer(raw, yamlio.load_file)
        provider = chosen_provider(layered)
        if provider is not None:
            replaced = replaced_values(provider, layered)
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
    locked = as_locked(lock_path, opened, result.release)
    if locked is not None:
        result = result._replace(catalog=locked)
    from capi_sysext.writers.base import single_file

    if topology is not None:
        written = topology.write(result)
    else:
        written = writers.get(output_format).write(result)
    text = single_file(written)
    for message in finish(lock_path, opened, spec.node, result.release, result.warnings):
        warn(message)
    for message in replaced:
        warn(message)
    for message in result.notes:
        note(message)
    if diff_against:
        from capi_sysext.rollout import rollout_notes

        for message in rollout_notes(diff_against, [*written.shared, *written.own]):
            note(message)
    emit(text, target)


def _topology_writer(
    class_name: str | None, class_file: str | None, output_format: str
) -> Writer | None:
    """--class NAME [--class-file FILE]: the writer of topology Clusters for that class."""
    from capi_sysext.errors import InputError, Problem

    if class_name is None:
        if class_file is not None:
            raise InputError(
                [Problem("--class-file needs --class NAME", "add --class with the class's name")]
            )
        return None
    from capi_sysext.crdschema import is_dns1123_subdomain

    problems = []
    if not is_dns1123_subdomain(class_name):
        problems.append(
            Problem(
                f"--class {class_name!r} is no ClusterClass name (a DNS-1123 subdomain: lower "
                "case letters, digits, '-' and '.')",
                "give the name of the class on the management cluster",
            )
        )
    if output_format != writers.DEFAULT:
        problems.append(
            Problem(
                f"--class does not go with --format {output_format} (--class emits only a "
                "topology Cluster for a class that exists)",
                "drop --format, or drop --class to generate a class",
            )
        )
    if problems:
        raise InputError(problems)
    from capi_sysext.writers.clusterclass import TopologyWriter

    if class_file is None:
        return TopologyWriter(class_name)
    from capi_sysext.writers.classfile import read_class

    return TopologyWriter(class_name, read_class(class_file, class_name), class_file)


def _fleet(
    raw: Any,
    fleet_dir: str,
    output: str | None,
    force: bool,
    output_format: str | Writer,
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
