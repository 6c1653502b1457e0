"""Catalog options shared by every command that resolves versions (versions, generate, render-node,
mirror): --sysext-base-url, --offline, --refresh, --max-age, and the stderr note."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import click

from capi_sysext.index import DEFAULT_BASE_URL, CatalogChoice, load_catalog, parse_max_age

F = TypeVar("F", bound=Callable[..., Any])


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> timedelta:
    # A callback rather than a ParamType subclass: ParamType is generic only in newer click.
    try:
        return parse_max_age(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from exc


def base_url_option(f: F) -> F:
    return click.option(
        "--sysext-base-url",
        default=DEFAULT_BASE_URL,
        show_default=True,
        envvar="CAPI_SYSEXT_BASE_URL",
        metavar="URL",
        help="Where images live: <URL>/kubernetes-vX.Y.Z-<arch>.raw, index at "
        "<URL>/kubernetes/SHA256SUMS (the bakery or a `capi-sysext mirror`).",
    )(f)


def freshness_options(f: F) -> F:
    """--offline, --refresh, --max-age: for commands whose base URL comes from their inputs."""
    f = click.option(
        "--max-age",
        default="24h",
        callback=_duration,
        show_default=True,
        help="Refresh the cached index when older than this (e.g. 24h, 90m, 0).",
    )(f)
    f = click.option(
        "--refresh", is_flag=True, help="Re-check the index now even if the cache is fresh."
    )(f)
    return click.option(
        "--offline",
        is_flag=True,
        envvar="CAPI_SYSEXT_OFFLINE",
        help="Do not touch the network: use the cached index, else the embedded catalog "
        "[env: CAPI_SYSEXT_OFFLINE=1].",
    )(f)


def catalog_options(f: F) -> F:
    """--sysext-base-url, --offline, --refresh, --max-age (in that order in --help)."""
    return base_url_option(freshness_options(f))


def choose_catalog(
    sysext_base_url: str,
    *,
    offline: bool = False,
    refresh: bool = False,
    max_age: timedelta = timedelta(hours=24),
) -> CatalogChoice:
    """load_catalog plus the stderr report: the note, then one warning per malformed index line."""
    choice = load_catalog(sysext_base_url, offline=offline, refresh=refresh, max_age=max_age)
    click.echo(choice.note, err=True)
    for w in choice.warnings:
        click.echo(f"warning: {w}", err=True)
    return choice
