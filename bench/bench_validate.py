"""Benchmark `validate` on one generated-size cluster definition. Reports medians; asserts nothing.

    .venv/bin/python bench/bench_validate.py [FILE] [--crds DIR ...] [--runs N]

(.venv/ is the development venv that scripts/test makes: this needs jsonschema and PyYAML.)

Phases timed:
  load     read + parse the CRD files, index served versions (once per process)
  cold     validate FILE with a fresh store: builds each needed validator, then validates
  warm     validate FILE again with the same store (validators cached)
  cli      the whole `python -m capi_sysext validate` process, as a pre-commit hook runs it,
           without and with the parsed-CRD cache
Without FILE, the hand-written v1beta2 Azure fixture (10 documents, 2 CLC blocks) is used.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from capi_sysext.crdschema import SchemaStore  # noqa: E402
from capi_sysext.validate import validate_documents  # noqa: E402


def _default_crds() -> list[Path]:
    env = os.environ.get("CAPI_SYSEXT_SHARED")
    roots = [Path(env)] if env else [p / "shared" for p in REPO.parents]
    for shared in roots:
        crds = shared / "reference" / "crds"
        if crds.is_dir():
            return [crds / "cluster-api", crds / "cluster-api-provider-azure"]
    sys.exit("reference CRDs not found; pass --crds or set CAPI_SYSEXT_SHARED")


def _median_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=REPO / "tests" / "fixtures" / "validate" / "azure-v1beta2.yaml",
    )
    ap.add_argument("--crds", action="append", type=Path)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    crds: list[Path] = args.crds or _default_crds()
    sources = [(str(args.file), args.file.read_text("utf-8"))]

    def cold() -> None:
        store = SchemaStore.from_dirs(crds)
        report = validate_documents(sources, store)
        assert report.documents

    results: dict[str, tuple[float, float]] = {}
    results["load"] = _median_ms(lambda: SchemaStore.from_dirs(crds), args.runs)
    results["load+cold"] = _median_ms(cold, args.runs)
    warm_store = SchemaStore.from_dirs(crds)
    validate_documents(sources, warm_store)
    results["warm"] = _median_ms(lambda: validate_documents(sources, warm_store), args.runs * 3)
    cmd = [sys.executable, "-m", "capi_sysext", "validate", str(args.file)]
    for d in crds:
        cmd += ["--crds", str(d)]
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": cache}
        cli_runs = max(3, args.runs // 2)

        def run_cli(*extra: str) -> None:
            subprocess.run([*cmd, *extra], env=env, stdout=subprocess.DEVNULL, check=False)

        results["cli --no-cache"] = _median_ms(lambda: run_cli("--no-cache"), cli_runs)
        run_cli()  # fill the CRD cache
        results["cli cached"] = _median_ms(run_cli, cli_runs)
    report = validate_documents(sources, warm_store)
    print(f"file: {args.file} ({len(report.documents)} documents; {report.summary()})")
    print(f"crds: {', '.join(str(d) for d in crds)}")
    for name, (median, best) in results.items():
        print(f"{name:>15}: median {median:8.1f} ms   min {best:8.1f} ms")


if __name__ == "__main__":
    main()
