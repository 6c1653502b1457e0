"""Benchmark: `capi-sysext generate` as a whole process (what a user or CI job pays).

Reports median wall time and peak RSS over N runs, the interpreter's own baseline for comparison,
and the slowest imports (python -X importtime). Budget (issue #2): median < 100 ms and peak RSS
< 50 MiB for one cluster on the 2-core reference machine. No assertions: this measures.

    python bench/bench_generate.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARGS = [
    "generate",
    "--provider",
    "azure",
    "--k8s",
    "1.33",
    "--name",
    "demo",
    "--values",
    str(REPO / "examples" / "azure.yaml"),
    "--offline",
]


def _command() -> list[str]:
    # The installed console script, not a pyenv/asdf shim (shims add a shell and ~50 ms).
    script = Path(sys.executable).parent / "capi-sysext"
    if script.exists():
        return [str(script)]
    found = shutil.which("capi-sysext")
    return [found] if found else [sys.executable, "-m", "capi_sysext"]


def measure(cmd: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and peak RSS (MiB) of `cmd` over `runs` runs."""
    walls = []
    peak = 0.0
    env = {**os.environ, "CAPI_SYSEXT_OFFLINE": "1"}
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        # wait4 gives this child's own rusage; ru_maxrss is KiB on Linux.
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{cmd} failed")
        peak = max(peak, usage.ru_maxrss / 1024)
    return statistics.median(walls), peak


def import_breakdown(top: int = 15) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "capi_sysext", *ARGS],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return [f"{us / 1000:8.1f} ms  {name}" for us, name in rows[:top]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    cmd = [*_command(), *ARGS]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)  # warm
    base_wall, base_rss = measure([sys.executable, "-c", "pass"], args.runs)
    wall, rss = measure(cmd, args.runs)
    print(f"command: {' '.join(cmd[:1])} {' '.join(ARGS)}")
    print(f"python -c pass baseline: median {base_wall * 1000:.1f} ms, peak RSS {base_rss:.1f} MiB")
    print(
        f"generate ({args.runs} runs):  median {wall * 1000:.1f} ms, peak RSS {rss:.1f} MiB"
        f"   [budget: < 100 ms, < 50 MiB]"
    )
    print("slowest imports (cumulative):")
    for row in import_breakdown():
        print("  " + row)


if __name__ == "__main__":
    main()
