"""`capi-sysext mirror`: copy chosen images into a directory that serves as --sysext-base-url."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from capi_sysext.catalog import ARCHES, Image, normalize_arch
from capi_sysext.cli import cli
from capi_sysext.cli.catalogopts import base_url_option, choose_catalog
from capi_sysext.errors import InputError, Problem


class _BarProgress:
    """click.progressbar per file; only used when stderr is a terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def start(self, image: Image, total: int | None, done: int) -> None:
        self._bar = click.progressbar(
            length=total, label=image.filename, file=sys.stderr, show_pos=False
        )
        self._bar.__enter__()
        if done:
            self._bar.update(done)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


@cli.command("mirror")
@click.option(
    "--k8s",
    "versions",
    multiple=True,
    required=True,
    metavar="VERSION",
    help="Minor (1.33: newest patch per arch) or exact version (v1.34.2). Repeatable.",
)
@click.option(
    "--arch",
    "arches",
    multiple=True,
    metavar="ARCH",
    help="x86-64 and/or arm64 (amd64/aarch64 accepted). Repeatable. Default: both.",
)
@click.option(
    "--to",
    "dest",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Mirror directory (created; re-runs resume and skip verified files).",
)
@base_url_option
@click.option(
    "--base-url",
    "serve_base_url",
    default=None,
    metavar="URL",
    help="URL the mirror will be served at; writes kubernetes/kubernetes-vX.Y.conf for sysupdate.",
)
@click.option("--offline", is_flag=True, help="Resolve against the cached index only.")
def mirror_cmd(
    *,
    versions: tuple[str, ...],
    arches: tuple[str, ...],
    dest: Path,
    sysext_base_url: str,
    serve_base_url: str | None,
    offline: bool,
) -> None:
    """Download Kubernetes sysext images, verified against the index, into a servable mirror.

    Serving DIR over plain HTTP gives a complete --sysext-base-url for first boot and sysupdate.
    """
    from capi_sysext.mirror import plan_mirror, run_mirror

    problems: list[Problem] = []
    chosen: list[str] = []
    for a in arches or ARCHES:
        norm = normalize_arch(a)
        if norm is None:
            problems.append(Problem(f"--arch {a!r} is not known", f"use {' or '.join(ARCHES)}"))
        elif norm not in chosen:
            chosen.append(norm)
    if serve_base_url is not None:
        from capi_sysext.inputs import parse_url

        try:
            # The same rule as --sysext-base-url: no whitespace or control characters, so
            # nothing can end the Path= line of the transfer file it goes into.
            serve_base_url = parse_url(serve_base_url)
        except ValueError as exc:
            problems.append(Problem(f"--base-url: {exc}", "pass the http(s) URL of the mirror"))
    if problems:
        raise InputError(problems)

    # Always re-validate (cheap with a conditional GET): a mirror must match the current index.
    choice = choose_catalog(sysext_base_url, offline=offline, refresh=not offline)
    images = plan_mirror(choice.catalog, versions, chosen)
    progress = _BarProgress() if sys.stderr.isatty() else None
    try:
        result = run_mirror(
            images, dest, sysext_base_url, serve_base_url=serve_base_url, progress=progress
        )
    except OSError as exc:  # read-only or full disk, name too long: the environment's fault
        from capi_sysext.output import OutputError

        where = exc.filename or dest
        raise OutputError(
            [
                Problem(
                    f"cannot write {where}: {exc.strerror or exc}",
                    "free space or fix permissions under --to, then re-run (downloads resume)",
                )
            ]
        ) from None
    from capi_sysext.layout import INDEX_PATH

    resumed = f", {len(result.resumed)} resumed" if result.resumed else ""
    confs = f", {len(result.confs)} sysupdate conf(s)" if result.confs else ""
    click.echo(
        f"mirror {dest}: {len(result.downloaded)} downloaded ({_mib(result.bytes_downloaded)})"
        f"{resumed}, {len(result.present)} already present; {INDEX_PATH} lists "
        f"{result.listed} image(s){confs}"
    )
