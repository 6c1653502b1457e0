"""Benchmark: `generate` with the index unreachable versus `--offline`, in the same run.

Three network situations, each a fresh cache directory, all on this machine only:

* dns:       --sysext-base-url http://capi-sysext-bench.invalid (RFC 6761: .invalid never
             resolves), so the resolver answers NXDOMAIN;
* blackhole: a 127.0.0.1 port that accepts connections and never answers (never a
             non-loopback address);
* offline:   --offline, the reference.

For each: the first run (cold: it pays the DNS failure or the automatic-refresh deadline and
writes the negative cache), then the median of N warm runs (the negative cache makes them skip
the network). The warm medians should be within a few percent of offline. No assertions.

    python bench/bench_unreachable.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
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
]


class Blackhole:
    """Accepts on 127.0.0.1 and holds every connection open without a byte of answer."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.stop = True
        self.thread.join(timeout=2)
        for conn in self.held:
            conn.close()
        self.sock.close()


def one_run(extra: list[str], cache: Path) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("CAPI_SYSEXT_OFFLINE", None)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "capi_sysext", *ARGS, *extra],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def measure(
    cases: list[tuple[str, list[str]]], runs: int, root: Path
) -> list[tuple[str, float, float, float]]:
    """(name, cold, warm median, warm min) per case; warm runs interleaved round-robin so a
    shared machine's drift hits every case alike."""
    cold = {name: one_run(extra, root / name) for name, extra in cases}
    warm: dict[str, list[float]] = {name: [] for name, _ in cases}
    for _ in range(runs):
        for name, extra in cases:
            warm[name].append(one_run(extra, root / name))
    return [(name, cold[name], statistics.median(warm[name]), min(warm[name])) for name, _ in cases]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    hole = Blackhole()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cases = [
                ("offline", ["--offline"]),
                ("dns", ["--sysext-base-url", "http://capi-sysext-bench.invalid"]),
                ("blackhole", ["--sysext-base-url", hole.url]),
            ]
            rows = measure(cases, args.runs, Path(tmp))
    finally:
        hole.close()
    offline = rows[0][2]
    print(f"{'case':<10} {'first run':>10} {'warm median':>12} {'warm min':>9} {'vs offline':>11}")
    for name, cold, median, low in rows:
        ratio = median / offline - 1
        print(
            f"{name:<10} {cold * 1000:>7.0f} ms {median * 1000:>9.0f} ms {low * 1000:>6.0f} ms "
            f"{ratio:>+10.1%}"
        )


if __name__ == "__main__":
    main()
