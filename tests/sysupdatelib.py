"""Run the REAL systemd-sysupdate (systemd 257, Debian 13) against node files Ignition wrote.

A Flatcar node is an OS image on /usr plus the node's own /etc, /opt, /var and /run. The
harness builds exactly that view in a private mount namespace: the scratch root Ignition
filled keeps its /etc, /opt, /var and /run, and the Debian 13 root's /usr takes the place of
the OS image (it carries systemd 257: systemd-sysupdate, systemd-pull, sh, readlink, cmp).
Commands then run chrooted into that view with their node paths unchanged, so the product's
transfer file and drop-in are exercised as written: no --root, no rewritten paths.

The service is run the way systemd runs it: the Exec lines are read from the unit file and the
drop-ins on disk, split by systemd's command-line rules (``exec_argv``) and run one after the
other, stopping at the first failure (systemd.service(5), ExecStartPre=/ExecStartPost=,
https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html).

Where the Debian 13 root comes from: env ``CAPI_SYSEXT_D13_ROOT``, else ``scripts/debian13-root``
(cached; "/" on a Debian 13 host).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from enginelib import _base_env, _run

REPO = Path(__file__).resolve().parent.parent
SYSUPDATE = "usr/lib/systemd/systemd-sysupdate"
SERVICE = "systemd-sysupdate.service"
# What the view needs from the Debian 13 /usr: the tool, the downloader it calls for every
# url-file transfer, and the programs the product's drop-in runs.
_D13_FILES = (SYSUPDATE, "usr/lib/systemd/systemd-pull", "usr/bin/sh", "usr/bin/readlink",
              "usr/bin/cmp", "usr/bin/mkdir", "usr/bin/touch",
              f"usr/lib/systemd/system/{SERVICE}")  # fmt: skip
_HOST_TOOLS = ("unshare", "mount", "chroot")
D13_HINT = "scripts/debian13-root (as root; builds a cached Debian 13 root with debootstrap)"


# --------------------------------------------------------------------------------------------
# The Debian 13 root
# --------------------------------------------------------------------------------------------


def _fail_or_skip(message: str) -> None:
    # Like enginelib.require_engines: CI must never go green by skipping the real tool.
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def debian13_root() -> Path:
    """The Debian 13 root, building it when needed (minutes: call from a session fixture)."""
    if os.geteuid() != 0:
        _fail_or_skip("real systemd-sysupdate tests need root (mount namespaces, chroot)")
    missing = [tool for tool in _HOST_TOOLS if shutil.which(tool) is None]
    if missing:
        _fail_or_skip(f"real systemd-sysupdate tests need: {', '.join(missing)}")
    configured = os.environ.get("CAPI_SYSEXT_D13_ROOT")
    if configured and (Path(configured) / SYSUPDATE).exists():
        root = Path(configured)
    else:
        try:
            proc = subprocess.run(
                [str(REPO / "scripts/debian13-root")],
                capture_output=True,
                text=True,
                timeout=1800,  # a first debootstrap downloads ~100 MB
                check=False,
            )
        except subprocess.TimeoutExpired:
            _fail_or_skip("scripts/debian13-root did not finish within 30 minutes")
            raise AssertionError("unreachable") from None
        if proc.returncode != 0 or not proc.stdout.strip():
            _fail_or_skip(f"scripts/debian13-root failed: {proc.stderr.strip()[-2000:]}")
        root = Path(proc.stdout.strip().splitlines()[-1])
    absent = [rel for rel in _D13_FILES if not (root / rel).exists()]
    if absent:
        _fail_or_skip(f"the Debian 13 root {root} lacks {', '.join(absent)}; rebuild: {D13_HINT}")
    return root


# --------------------------------------------------------------------------------------------
# systemd command lines
# --------------------------------------------------------------------------------------------


class UnsupportedExec(ValueError):
    """A command line uses syntax this harness does not model (it never guesses)."""


_C_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", " ": " ", "s": " "}


def exec_argv(line: str) -> tuple[bool, list[str]]:
    """(ignore_failure, argv) of an ExecStart=-style value, split as systemd splits it.

    systemd.service(5) "Command lines": `%` specifiers are resolved first (only `%%` here, the
    product's lines use none), then the line is split into words at whitespace with double or
    single quotes and C escapes, then `$$` becomes `$` (variables are refused: these units set
    none). A leading `-` on the program means a failure is ignored; other prefixes are refused.
    """
    if "%" in line.replace("%%", ""):
        raise UnsupportedExec(f"specifier in {line!r}")
    text = line.replace("%%", "%")
    words: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            break
        word: list[str] = []
        quote: str | None = None
        while i < n and (quote is not None or not text[i].isspace()):
            c = text[i]
            if c == "\\":
                if i + 1 >= n or text[i + 1] not in _C_ESCAPES:
                    raise UnsupportedExec(f"escape at {i} in {line!r}")
                word.append(_C_ESCAPES[text[i + 1]])
                i += 2
                continue
            if quote is None and c in "\"'":
                quote = c
            elif c == quote:
                quote = None
            else:
                word.append(c)
            i += 1
        if quote is not None:
            raise ValueError(f"unterminated quote in {line!r}")
        words.append("".join(word))
    if not words:
        raise ValueError("empty command line")
    if ";" in words:
        raise UnsupportedExec(f"a lone ';' in {line!r}")
    expanded = []
    for w in words:
        if "$" in w.replace("$$", ""):
            raise UnsupportedExec(f"environment variable in {w!r}")
        expanded.append(w.replace("$$", "$"))
    program = expanded[0]
    ignore = program.startswith("-")
    program = program.removeprefix("-")
    if program[:1] in "@:+!":
        raise UnsupportedExec(f"prefix of {program!r}")
    if not program.startswith("/"):
        raise ValueError(f"not an absolute program path: {program!r}")
    return ignore, [program, *expanded[1:]]


_EXEC_KEYS = ("ExecStartPre", "ExecStart", "ExecStartPost")


def exec_lines(texts: list[str]) -> dict[str, list[str]]:
    """The [Service] Exec lines of a unit file followed by its drop-ins, merged like systemd:
    each assignment appends, an empty one resets the list (systemd.service(5))."""
    merged: dict[str, list[str]] = {key: [] for key in _EXEC_KEYS}
    for text in texts:
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.endswith("\\"):
                raise UnsupportedExec(f"continuation line {line!r}")
            if line.startswith("["):
                section = line
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if section == "[Service]" and key in _EXEC_KEYS:
                merged[key] = merged[key] + [value] if value else []
    return merged


# --------------------------------------------------------------------------------------------
# The node view and the service
# --------------------------------------------------------------------------------------------

# Runs in a fresh, private mount namespace (mounts die with it; nothing reaches the host's table).
# The node's os-release is pinned under the view's /tmp before the Debian /usr hides it, then put
# back over the Debian one, so the tool sees the node's OS identity.
_VIEW_SCRIPT = r"""
set -eu
NODE=$1 D13=$2; shift 2
mount -t tmpfs -o mode=1777 tmpfs "$NODE/tmp"
cp "$NODE/usr/lib/os-release" "$NODE/tmp/.node-os-release"
mount --bind "$D13/usr" "$NODE/usr"
mount --bind "$NODE/tmp/.node-os-release" "$NODE/usr/lib/os-release"
mount -t proc proc "$NODE/proc"
mount --rbind /dev "$NODE/dev"
exec chroot "$NODE" "$@"
"""

# Flatcar's root: /usr-merged, so /bin, /sbin, /lib and /lib64 are links into the OS image.
_USR_LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}


@dataclass(frozen=True)
class Step:
    key: str  # ExecStartPre / ExecStart / ExecStartPost
    argv: tuple[str, ...]
    returncode: int | None  # None: killed on timeout
    output: str
    ignore_failure: bool = False  # the "-" prefix

    @property
    def ok(self) -> bool:
        return self.returncode == 0 or (self.ignore_failure and self.returncode is not None)


@dataclass(frozen=True)
class ServiceRun:
    steps: tuple[Step, ...]
    not_run: tuple[tuple[str, tuple[str, ...]], ...]  # skipped after a failure

    @property
    def ok(self) -> bool:
        return not self.not_run and all(s.ok for s in self.steps)

    @property
    def log(self) -> str:
        return "".join(
            f"== {s.key} {' '.join(s.argv)} (rc={s.returncode})\n{s.output}" for s in self.steps
        )


@dataclass(frozen=True)
class NodeView:
    node: Path  # the scratch root Ignition wrote
    d13: Path

    def prepare(self) -> None:
        """Add what a Flatcar root has and the scratch root lacks: the /usr links, mount points."""
        for name, target in _USR_LINKS.items():
            link = self.node / name
            if not link.is_symlink():
                link.symlink_to(target)
        for directory in ("proc", "dev", "tmp", "run", "var"):
            (self.node / directory).mkdir(exist_ok=True)

    def run(
        self, argv: list[str] | tuple[str, ...], *, timeout: float = 30
    ) -> tuple[int | None, str]:
        """Run ``argv`` inside the node view; (returncode, combined output)."""
        self.prepare()
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", _VIEW_SCRIPT, "view",
               str(self.node.resolve()), str(self.d13.resolve()), *argv]  # fmt: skip
        # No proxies: systemd-pull honours them and must reach 127.0.0.1 directly.
        proc = _run(cmd, timeout=timeout, env=_base_env())
        return proc.returncode, proc.output

    def unit_texts(self) -> list[str]:
        """The service's unit file (the OS image's) and the node's drop-ins, in systemd's order."""
        unit = self.d13 / "usr/lib/systemd/system" / SERVICE
        dropin_dir = self.node / "etc/systemd/system" / f"{SERVICE}.d"
        dropins = sorted(dropin_dir.glob("*.conf")) if dropin_dir.is_dir() else []
        return [unit.read_text(), *(p.read_text() for p in dropins)]

    def run_service(self, *, timeout: float = 30) -> ServiceRun:
        """Run systemd-sysupdate.service's commands as systemd would: serially, stop on failure.

        With Type=simple systemd starts ExecStartPost= right after forking ExecStart=; running
        them one after the other here is the stricter order (the product's update sits in an
        ExecStartPre=, which systemd does wait for).
        """
        lines = exec_lines(self.unit_texts())
        plan = [(key, line) for key in _EXEC_KEYS for line in lines[key]]
        steps: list[Step] = []
        for index, (key, line) in enumerate(plan):
            ignore, argv = exec_argv(line)
            rc, output = self.run(argv, timeout=timeout)
            steps.append(Step(key, tuple(argv), rc, output, ignore))
            if not steps[-1].ok:
                rest = tuple((k, tuple(exec_argv(v)[1])) for k, v in plan[index + 1 :])
                return ServiceRun(tuple(steps), rest)
        return ServiceRun(tuple(steps), ())
