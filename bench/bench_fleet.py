"""Benchmark: `generate --fleet` of N clusters in one process, next to one `generate`.

Marginal time per cluster = (wall(fleet of N) - wall(fleet of 1)) / (N - 1): what each further
cluster costs once the process, click, PyYAML and the catalog are paid for. Target (issue #16):
under 5 ms per cluster for N = 100. Runs this checkout's source (PYTHONPATH, `python -m
capi_sysext`), --offline. No assertions: this measures. `--profile` prints a cProfile of the
fleet of N, in process.

    python3 bench/bench_fleet.py [--clusters 100] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = (REPO / "examples" / "azure.yaml").read_text()
BASE = [sys.executable, "-m", "capi_sysext", "generate", "--provider", "azure", "--offline"]


def make_fleet(root: Path, count: int) -> tuple[Path, Path]:
    src, out = root / f"in-{count}", root / f"out-{count}"
    src.mkdir()
    out.mkdir()
    for i in range(count):
        (src / f"c{i:03d}.yaml").write_text(EXAMPLE.replace("name: demo", f"name: c{i:03d}"))
    return src, out


def wall(args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": tempfile.mkdtemp()}
    start = time.perf_counter()
    # cwd: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH.
    subprocess.run(args, check=True, env=env, capture_output=True, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        one, out1 = make_fleet(root, 1)
        many, out_n = make_fleet(root, opts.clusters)
        single = [*BASE, "--values", str(one / "c000.yaml")]
        rows: dict[str, list[float]] = {"single": [], "fleet1": [], "fleetN": []}
        for _ in range(opts.runs):  # interleaved: every row sees the same VM drift
            rows["single"].append(wall(single))
            rows["fleet1"].append(wall([*BASE, "--fleet", str(one), "-o", str(out1), "--force"]))
            rows["fleetN"].append(wall([*BASE, "--fleet", str(many), "-o", str(out_n), "--force"]))
        med = {k: statistics.median(v) * 1000 for k, v in rows.items()}
        marginal = (med["fleetN"] - med["fleet1"]) / (opts.clusters - 1)
        print(f"single generate          {med['single']:7.1f} ms")
        print(f"fleet of 1               {med['fleet1']:7.1f} ms")
        print(f"fleet of {opts.clusters:<4}            {med['fleetN']:7.1f} ms")
        print(f"marginal per cluster     {marginal:7.2f} ms  (target < 5 ms)")
        if opts.profile:
            sys.path.insert(0, str(REPO))
            import cProfile
            import pstats

            from capi_sysext.cli import (
                cli,
                commands,  # noqa: F401
            )

            args = ["generate", "--provider", "azure", "--offline", "--fleet", str(many)]
            prof = cProfile.Profile()
            prof.enable()
            try:
                cli([*args, "-o", str(out_n), "--force"], standalone_mode=False)
            finally:
                prof.disable()
            pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
