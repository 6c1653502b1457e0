"""Benchmark: `capi-sysext generate` as a whole process (what a user or CI job pays).

Reports median wall time and peak RSS over N runs next to two baselines (the bare interpreter, and
the interpreter importing only click and PyYAML: the floor no code of ours goes under), the
instruction count of one run when valgrind is installed, and the slowest imports
(python -X importtime). Budget (issue #2): median < 100 ms and peak RSS < 50 MiB for one cluster
on the 2-core reference machine. No assertions: this measures.

Wall time on a shared VM drifts by +-20 % between minutes; the instruction count does not, so
compare changes by instructions and report wall time against the budget.

By default it measures what a user gets from README's `pipx install .`: a fresh venv in a
temporary directory with this checkout installed (non-editable, compiled bytecode). It needs only
the standard library, so any Python >= 3.11 with venv runs it. The development venv (.venv/, made
by scripts/test) is not representative: an editable install's import hook and other .pth files
there cost tens of milliseconds before any code of ours runs. `--here` measures the interpreter
running this script instead, e.g. the pipx install itself
(`"$(pipx environment --value PIPX_LOCAL_VENVS)/capi-sysext/bin/python" bench/... --here`):

`generate --lock` (issue #15) runs the same command with an existing lock file, which replaces the
catalog: it must not be slower than `--offline`. `--source` runs this checkout's source with
`python -m capi_sysext` (PYTHONPATH=checkout), for a machine where the interpreter's installed
capi-sysext is another checkout; both `generate` rows then pay the same overhead.

    python3 bench/bench_generate.py [--runs 20] [--no-instructions] [--here] [--source]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def _command(python: str) -> list[str]:
    # The installed console script, not a pyenv/asdf shim (shims add a shell and ~50 ms).
    script = Path(python).parent / "capi-sysext"
    if script.exists():
        return [str(script)]
    found = shutil.which("capi-sysext")
    return [found] if found else [python, "-m", "capi_sysext"]


def fresh_venv(root: Path) -> str:
    """A new venv under root with this checkout installed as users install it; its python."""
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    python = str(root / "bin" / "python")
    print(f"installing this checkout into a fresh venv ({root}) ...", file=sys.stderr)
    try:
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(REPO)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    except subprocess.CalledProcessError:
        raise SystemExit(
            "could not install into a fresh venv (no package index?); "
            "measure an existing non-editable install with --here"
        ) from None
    return python


def _env() -> dict[str, str]:
    return {**os.environ, "CAPI_SYSEXT_OFFLINE": "1"}


def measure(cmds: dict[str, list[str]], runs: int) -> dict[str, tuple[float, float]]:
    """Median wall seconds and peak RSS (MiB) per command; runs interleave so drift hits all."""
    walls: dict[str, list[float]] = {name: [] for name in cmds}
    peaks = dict.fromkeys(cmds, 0.0)
    env = _env()
    for _ in range(runs):
        for name, cmd in cmds.items():
            start = time.perf_counter()
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
            )
            # wait4 gives this child's own rusage; ru_maxrss is KiB on Linux.
            _, status, usage = os.wait4(proc.pid, 0)
            walls[name].append(time.perf_counter() - start)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{cmd} failed")
            peaks[name] = max(peaks[name], usage.ru_maxrss / 1024)
    return {name: (statistics.median(walls[name]), peaks[name]) for name in cmds}


def instructions(cmd: list[str]) -> int | None:
    """Instructions executed by one run (valgrind's callgrind), or None without valgrind."""
    if shutil.which("valgrind") is None:
        return None
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
    )
    for line in proc.stderr.splitlines():
        if "refs:" in line:
            return int(line.rsplit(None, 1)[-1].replace(",", ""))
    return None


def import_breakdown(python: str, top: int = 15) -> list[str]:
    proc = subprocess.run(
        [python, "-X", "importtime", "-m", "capi_sysext", *ARGS],
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
    parser.add_argument("--no-instructions", action="store_true", help="skip the valgrind run")
    parser.add_argument("--here", action="store_true", help="measure this interpreter's install")
    parser.add_argument(
        "--source", action="store_true", help="with --here: run this checkout's source (-m)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="capi-sysext-bench-") as tmp:
        python = sys.executable if args.here else fresh_venv(Path(tmp) / "venv")
        if args.source:
            os.environ["PYTHONPATH"] = str(REPO)
        lock = str(Path(tmp) / "bench.lock")
        report(
            python, args.runs, lock, instructions_too=not args.no_instructions, source=args.source
        )


def report(
    python: str, runs: int, lock: str, *, instructions_too: bool, source: bool = False
) -> None:
    base = [python, "-m", "capi_sysext"] if source else _command(python)
    cmd = [*base, *ARGS]
    locked = [*cmd, "--lock", lock]
    for warm in (cmd, locked):  # the first --lock run writes the lock; later runs read it
        subprocess.run(warm, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    cmds = {
        "python -c pass": [python, "-c", "pass"],
        # PyYAML as capi_sysext imports it (see yamlio.py): the floor no code of ours goes under.
        "click + PyYAML": [python, "-c", "import click, capi_sysext.yamlio"],
        "generate": cmd,
        "generate --lock": locked,
    }
    results = measure(cmds, runs)
    print(f"command: {' '.join(cmd[:1])} {' '.join(ARGS)}")
    print(f"{'':20s} {'median':>9s} {'peak RSS':>10s} {'instructions':>14s}")
    for name, (wall, rss) in results.items():
        count = instructions(cmds[name]) if instructions_too else None
        shown = f"{count / 1e6:12.0f} M" if count else f"{'-':>14s}"
        print(f"{name:20s} {wall * 1000:6.1f} ms {rss:6.1f} MiB {shown}")
    print(f"budget (generate): median < 100 ms, peak RSS < 50 MiB ({runs} runs each)")
    print("slowest imports (cumulative):")
    for row in import_breakdown(python):
        print("  " + row)


if __name__ == "__main__":
    main()
