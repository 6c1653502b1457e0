#!/usr/bin/env python3
"""Maintainer script: rebuild capi_sysext/data/catalog.json (the offline default) from an index.

    python scripts/regen-catalog.py                                  # the bakery's live index
    python scripts/regen-catalog.py https://mirror.example/ext       # a base URL
    python scripts/regen-catalog.py path/to/SHA256SUMS --check       # a file; exit 1 if stale

The output is deterministic (sorted versions, fixed note), so a re-run without upstream changes
leaves git clean.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from capi_sysext.catalog import Catalog, catalog_to_json  # noqa: E402
from capi_sysext.errors import CapiSysextError  # noqa: E402
from capi_sysext.fetch import HttpClient  # noqa: E402
from capi_sysext.index import DEFAULT_BASE_URL, index_url, parse_index  # noqa: E402

NOTE = (
    "Kubernetes sysext images published by the Flatcar sysext-bakery{when}. Regenerate with "
    "scripts/regen-catalog.py from a SHA256SUMS index. null = sha256 not recorded."
)


def read_index(source: str, timeout: float) -> tuple[str, str]:
    """(text, label) from a file, a SHA256SUMS URL or a base URL."""
    if not source.startswith(("http://", "https://")):
        return Path(source).read_text("utf-8"), source
    url = source if source.endswith("/SHA256SUMS") else index_url(source)
    client = HttpClient(timeout=timeout)

    def attempt() -> bytes:
        return client.read_all(url, client.open(url))

    return client.with_retries(attempt).decode("utf-8", errors="replace"), url


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "source",
        nargs="?",
        default=DEFAULT_BASE_URL,
        help="SHA256SUMS file, its URL, or a base URL (default: the bakery)",
    )
    ap.add_argument("-o", "--output", type=Path, default=REPO / "capi_sysext/data/catalog.json")
    ap.add_argument(
        "--snapshot",
        default="",
        help="label for the note, e.g. 2026-11 (kept out by default: deterministic)",
    )
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if output differs")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args(argv)
    try:
        text, label = read_index(args.source, args.timeout)
        images, warnings = parse_index(text, label)
    except (CapiSysextError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    when = f" (snapshot {args.snapshot})" if args.snapshot else ""
    data = catalog_to_json(Catalog.from_images(images, label), NOTE.format(when=when))
    out = json.dumps(data, indent=1) + "\n"
    current = args.output.read_text("utf-8") if args.output.exists() else ""
    if args.check:
        if out != current:
            print(f"{args.output} is out of date with {label}", file=sys.stderr)
            return 1
        return 0
    if out != current:
        args.output.write_text(out, "utf-8")
    print(f"{args.output}: {len(images)} images from {label}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
