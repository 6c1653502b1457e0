"""`capi-sysext render-cluster`: one Butane/Ignition config per node of a kubeadm cluster."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from capi_sysext.cli import cli, note, warn
from capi_sysext.cli.catalogopts import choose_catalog, freshness_options
from capi_sysext.cli.options import (
    output_options,
    param_name,
    raw_inputs,
    values_options,
    variable_options,
)
from capi_sysext.render import MACHINE_FORMATS
from capi_sysext.standalone import REPEATABLE, cli_variables

if TYPE_CHECKING:
    from capi_sysext.errors import Problem

_VARIABLES = cli_variables()
_SINGLE = tuple(v for v in _VARIABLES if v not in REPEATABLE)


def _repeatable_options(func: Any) -> Any:
    for var in reversed(REPEATABLE):
        assert var.flag is not None
        func = click.option(
            var.flag, param_name(var), multiple=True, metavar="TEXT", help=var.help
        )(func)
    return func


def _ssh_key_lines(given: tuple[str, ...]) -> tuple[list[str], list[Problem]]:
    """--ssh-key KEY or FILE: a value that is not a key line (nor a private key, which the
    parser names as such) is read as a file of key lines."""
    from capi_sysext.errors import InputError
    from capi_sysext.readers import read_bounded

    lines: list[str] = []
    problems: list[Problem] = []
    for value in given:
        text = value.strip()
        if " " in text or "PRIVATE KEY" in text:
            lines.append(text)
            continue
        try:
            read = read_bounded(text, "--ssh-key", limit=1 << 20).splitlines()
            # authorized_keys syntax: blank lines and # comments carry no key.
            lines += [x for x in read if x.strip() and not x.lstrip().startswith("#")]
        except InputError as exc:
            problems += [
                p._replace(
                    message=f"--ssh-key {text}: neither an SSH public key line nor a readable "
                    f"file ({p.message})"
                )
                for p in exc.problems
            ]
    return lines, problems


@cli.command("render-cluster")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(MACHINE_FORMATS),
    default="ignition",
    show_default=True,
    help="butane: variant flatcar 1.0.0 (<node>.bu); ignition: spec 3.3.0 JSON (<node>.ign).",
)
@click.option(
    "--state",
    type=click.Path(file_okay=False),
    default=None,
    help="Directory keeping the cluster CA and bootstrap token (ca.crt, ca.key, token): reused "
    "when present, written when empty. Without it every run mints new secrets.",
)
@click.option(
    "--admin-kubeconfig",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also write an admin kubeconfig (client certificate in system:masters) to FILE.",
)
@variable_options(_SINGLE)
@_repeatable_options
@values_options
@output_options("Existing directory for the node configs (DIR/<node>.<ext>); required.")
@freshness_options
def render_cluster(
    fmt: str,
    state: str | None,
    admin_kubeconfig: str | None,
    output: str | None,
    force: bool,
    offline: bool,
    refresh: bool,
    max_age: timedelta,
    **params: Any,
) -> None:
    """Render a whole kubeadm cluster (1 control plane + N workers) without a management cluster."""
    from capi_sysext import yamlio
    from capi_sysext.errors import InputError, Problem
    from capi_sysext.output import check_all_writable
    from capi_sysext.pki import SECRET_MODE, load_or_mint, state_files
    from capi_sysext.pki import admin_kubeconfig as kubeconfig
    from capi_sysext.standalone import build_standalone_spec
    from capi_sysext.standalone import render_cluster as run
    from capi_sysext.writeset import write_all

    problems: list[Problem] = []
    out_dir = Path(output) if output else None
    if out_dir is None:
        problems.append(Problem("render-cluster writes one file per node", "add -o DIR/"))
    elif not out_dir.is_dir():
        problems.append(Problem(f"-o {output}: directory does not exist", "create it first"))
    keys, key_problems = _ssh_key_lines(params.get("ssh_key", ()))
    problems += key_problems
    params["ssh_key"] = keys
    # Absent repeatable flags are None, so values files and --set still apply.
    for var in REPEATABLE:
        params[param_name(var)] = list(params[param_name(var)]) or None
    try:
        spec = build_standalone_spec(raw_inputs(_VARIABLES, params), yamlio.load_file)
    except InputError as exc:
        raise InputError(problems + exc.problems) from None
    if problems:
        raise InputError(problems)
    assert out_dir is not None
    loaded = load_or_mint(Path(state) if state else None)
    secrets = loaded.secrets
    catalog = choose_catalog(
        spec.node.sysext_base_url, offline=offline, refresh=refresh, max_age=max_age
    ).catalog
    result = run(spec, fmt, catalog, secrets)
    # Every node config carries the bootstrap token, the control plane's also the CA key.
    writes: dict[Path, tuple[str, int]] = {
        out_dir / name: (text, SECRET_MODE) for name, text in result.files.items()
    }
    if state and loaded.minted:
        writes.update({Path(state) / n: (t, SECRET_MODE) for n, t in state_files(secrets).items()})
    if admin_kubeconfig:
        server = f"https://{spec.endpoint}"
        text = yamlio.dump(kubeconfig(secrets, spec.name, server))
        writes[Path(admin_kubeconfig)] = (text, SECRET_MODE)
    # State files are only written when the directory held none, so --force is not needed.
    check_all_writable(writes, lambda path: force or path.parent == Path(state or "\0"))
    for message in result.warnings:
        warn(message)
    write_all(writes)
    for path in writes:
        click.echo(f"wrote {path}", err=True)
    note(
        "these files hold cluster secrets (bootstrap token; the control plane's also the CA "
        "key) and were written mode 0600: keep them out of shared places"
    )
    if loaded.minted and not state:
        note(
            "a new CA and token were minted and kept nowhere else: a re-run mints different "
            "ones, whose configs cannot join this cluster. Use --state DIR to keep them."
        )
