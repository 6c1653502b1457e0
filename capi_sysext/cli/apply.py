"""`capi-sysext apply`: server-side apply of generated documents, optionally waiting for them."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from capi_sysext.cli import cli
from capi_sysext.errors import InputError, Problem

if TYPE_CHECKING:
    from capi_sysext.apply import ClusterStatus

MAX_TIMEOUT_S = 7 * 86400


def parse_duration(text: str, flag: str = "--timeout") -> float:
    """`20m`, `1h30m`, `90s` or plain seconds, as seconds (at most 7 days)."""
    from capi_sysext.durations import parse_seconds

    text = text.strip()
    seconds = parse_seconds(text, human=True, bare_seconds=True, fractions=True)
    if seconds is None:
        raise InputError([Problem(f"{flag} {text!r} is not a duration", "use e.g. 20m, 90s")])
    if seconds > MAX_TIMEOUT_S:
        raise InputError([Problem(f"{flag} {text!r} is longer than 7 days", "use e.g. 20m")])
    return seconds


def _read_inputs(files: tuple[str, ...]) -> list[Any]:
    from capi_sysext.readers import read_bounded
    from capi_sysext.yamlio import load_all

    docs: list[Any] = []
    for name in files:
        label = "<stdin>" if name == "-" else name
        docs.extend(load_all(read_bounded(name, "-f/--filename"), label))
    if not docs:
        raise InputError([Problem("no documents to apply", "pass -f FILE (or - for stdin)")])
    # Only Kubernetes objects can be applied; say which document is not one, before any request.
    problems = [
        Problem(
            f"document {i} is not a Kubernetes object (a mapping with apiVersion, kind and "
            "metadata.name)",
            "check the input files",
        )
        for i, doc in enumerate(docs, 1)
        if not _is_object(doc)
    ]
    if problems:
        raise InputError(problems)
    return docs


def _is_object(doc: Any) -> bool:
    if not isinstance(doc, dict):
        return False
    meta = doc.get("metadata")
    return (
        isinstance(doc.get("apiVersion"), str)
        and isinstance(doc.get("kind"), str)
        and isinstance(meta, dict)
        and isinstance(meta.get("name"), str)
    )


@cli.command("apply")
@click.option(
    "-f",
    "--filename",
    "files",
    multiple=True,
    required=True,
    help="YAML file with the documents to apply; - reads stdin. Repeatable.",
)
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False), help="Management cluster kubeconfig."
)
@click.option("--context", help="Kubeconfig context to use.")
@click.option("--dry-run", is_flag=True, help="Let the API server validate without storing.")
@click.option(
    "--force-conflicts", is_flag=True, help="Take over fields owned by another field manager."
)
@click.option("--create-namespace", is_flag=True, help="Create missing target namespaces.")
@click.option("--wait", is_flag=True, help="Follow the Cluster until its control plane is up.")
@click.option("--timeout", default="20m", show_default=True, help="How long --wait waits.")
@click.option(
    "--apply-timeout",
    default="10m",
    show_default=True,
    help="Total time for preflight and apply, retries included.",
)
def apply_command(
    *,
    files: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    dry_run: bool,
    force_conflicts: bool,
    create_namespace: bool,
    wait: bool,
    timeout: str,
    apply_timeout: str,
) -> None:
    """Server-side apply the documents (field manager capi-sysext) in dependency order."""
    from capi_sysext.apply import ApplyFailed, ApplyOptions, apply_documents, wait_for_clusters
    from capi_sysext.plugins import registered
    from capi_sysext.prerequisites import requirements_for

    if wait and dry_run:
        raise InputError([Problem("--wait cannot follow a --dry-run", "drop one of them")])
    options = ApplyOptions(
        kubeconfig=kubeconfig,
        context=context,
        dry_run=dry_run,
        force_conflicts=force_conflicts,
        create_namespace=create_namespace,
        wait_timeout=parse_duration(timeout),
        apply_timeout=parse_duration(apply_timeout, "--apply-timeout"),
    )
    docs = _read_inputs(files)
    try:
        result = apply_documents(docs, options, requirements_for(docs, registered().providers))
    except ApplyFailed as exc:
        for line in exc.result.lines():
            click.echo(line)
        raise
    for line in result.lines():
        click.echo(line)
    if wait:
        printer = _ProgressPrinter(sys.stdout.isatty())
        try:
            wait_for_clusters(docs, options, printer)
        finally:
            printer.close()


class _ProgressPrinter:
    """One rewritten line on a terminal; plain lines (only on change) otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.open_line = False

    def __call__(self, status: ClusterStatus) -> None:
        if not self.tty:
            click.echo(status.line())
            return
        # color=True: we already know this is a terminal; click would strip the escape otherwise.
        click.echo(f"\r\033[K{status.line()}", nl=False, color=True)
        self.open_line = True

    def close(self) -> None:
        # Leave the cursor on a fresh line so the summary or error does not overwrite progress.
        if self.open_line:
            click.echo()
            self.open_line = False
