"""Real-engine test harness: run Ignition 2.14 and systemd-sysext 252 against a scratch root.

The product renders Ignition configs that make a Flatcar node download a Kubernetes sysext,
link it into /etc/extensions and enable units. Schema checks cannot prove that such a node
boots, so these helpers feed a config through the real engines instead:

* ``build_sysext`` makes a tiny fake image laid out like the sysext-bakery's;
* ``serve_directory`` serves it over HTTP on 127.0.0.1 (the only network traffic);
* ``make_scratch_root`` + ``run_ignition`` run Ignition's ``fetch`` and ``files`` stages;
* ``merge_sysext`` overlays the image with systemd-sysext in a private mount namespace;
* ``unit_state`` / ``systemctl_state`` read unit enablement the way systemd will see it.

Everything needs root and the Debian packages ``ignition`` and ``squashfs-tools``; tests call
``require_engines()`` first.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import http.server
import json
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

IGNITION_ENGINE = Path("/usr/lib/dracut/modules.d/30ignition/ignition")
INSTALL_HINT = "apt-get install -y ignition squashfs-tools (as root)"

# Fixed timestamp for every file in a fake image, so builds are byte-for-byte reproducible.
_EPOCH = 1_700_000_000

# Executables the harness shells out to; the engine itself is checked by path.
_TOOLS = ("ignition-validate", "mksquashfs", "systemd-sysext", "systemctl", "unshare", "mount")


# --------------------------------------------------------------------------------------------
# Engine availability
# --------------------------------------------------------------------------------------------


def missing_engines() -> list[str]:
    """Return what keeps the engine tests from running here (empty when all is fine)."""
    missing: list[str] = []
    if os.geteuid() != 0:
        missing.append("root privileges (mount namespaces, loop devices)")
    missing.extend(tool for tool in _TOOLS if shutil.which(tool) is None)
    if not os.access(IGNITION_ENGINE, os.X_OK):
        missing.append(str(IGNITION_ENGINE))
    if not Path("/dev/loop-control").exists():
        # systemd-sysext loop-mounts the image; some containers hide loop devices.
        missing.append("loop devices (/dev/loop-control)")
    return missing


def require_engines() -> None:
    """Skip the calling test when the engines are unavailable; fail instead under CI=true.

    CI must never go green by silently skipping the only tests that boot-check the output.
    """
    missing = missing_engines()
    if not missing:
        return
    message = f"real-engine tests need: {', '.join(missing)}; install with: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


# --------------------------------------------------------------------------------------------
# Process helper
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    returncode: int | None  # None: killed on timeout
    output: str


def _run(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> _Proc:
    """Run ``cmd`` with stdout+stderr combined; kill its whole process group on timeout."""
    with subprocess.Popen(
        list(cmd),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env) if env is not None else None,
        text=True,
        start_new_session=True,  # own process group, so a timeout kills grandchildren too
    ) as proc:
        try:
            out, _ = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            return _Proc(None, f"{out}\n[harness] killed after {timeout}s: {' '.join(cmd)}\n")
        return _Proc(proc.returncode, out)


def _base_env() -> dict[str, str]:
    # No proxies: Ignition honours *_PROXY and must talk to 127.0.0.1 directly.
    return {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
    }


# --------------------------------------------------------------------------------------------
# Fake Kubernetes sysext
# --------------------------------------------------------------------------------------------


def sysext_file_name(version: str = "v1.33.13", arch: str = "x86-64") -> str:
    """The bakery's image file name, e.g. ``kubernetes-v1.33.13-x86-64.raw``."""
    return f"kubernetes-{version}-{arch}.raw"


def _fake_tree(version: str, arch: str) -> dict[str, tuple[str, int]]:
    """Relative path -> (content, mode) of a fake image shaped like the bakery's."""
    tool = "#!/bin/sh\necho '{name} {version} (fake, capi-sysext test harness)'\n"
    tree: dict[str, tuple[str, int]] = {
        "usr/lib/extension-release.d/extension-release.kubernetes": (
            f"ID=_any\nARCHITECTURE={arch}\nEXTENSION_RELOAD_MANAGER=1\n",
            0o644,
        ),
        "usr/local/share/kubernetes-version": (f"{version}\n", 0o644),
        "usr/local/bin/cni/bridge": (tool.format(name="bridge", version=version), 0o755),
        "usr/lib/systemd/system/kubelet.service": (
            "[Unit]\nDescription=kubelet (fake)\n\n"
            "[Service]\nExecStartPre=/bin/mkdir -p /opt/cni/bin\n"
            "ExecStartPre=/bin/sh -c 'cp -n /usr/local/bin/cni/* /opt/cni/bin/'\n"
            "ExecStart=/usr/bin/kubelet\nRestart=always\n\n"
            "[Install]\nWantedBy=multi-user.target\n",
            0o644,
        ),
        "usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf": (
            "[Service]\nEnvironment=KUBELET_KUBECONFIG_ARGS=--kubeconfig=/etc/kubernetes/kubelet.conf\n",
            0o644,
        ),
        "usr/lib/systemd/system/multi-user.target.d/10-kubelet-service.conf": (
            "[Unit]\nUpholds=kubelet.service\n",
            0o644,
        ),
    }
    for name in ("kubelet", "kubeadm", "kubectl"):
        tree[f"usr/bin/{name}"] = (tool.format(name=name, version=version), 0o755)
    return tree


def build_sysext(
    dest_dir: Path,
    version: str = "v1.33.13",
    arch: str = "x86-64",
    *,
    name: str | None = None,
) -> Path:
    """Build a small, reproducible fake Kubernetes sysext in ``dest_dir`` and return its path.

    ``name`` overrides the image file name (default: the bakery's
    ``kubernetes-<version>-<arch>.raw``); the extension-release stays ``kubernetes`` like the
    bakery's, which is why the image only activates through ``/etc/extensions/kubernetes.raw``.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    image = dest_dir / (name or sysext_file_name(version, arch))
    with tempfile.TemporaryDirectory(prefix="fake-sysext-") as staging_str:
        staging = Path(staging_str)
        for rel, (content, mode) in _fake_tree(version, arch).items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            path.chmod(mode)
        for directory in [staging, *(p for p in staging.rglob("*") if p.is_dir())]:
            directory.chmod(0o755)  # umask-independent, for reproducibility
        proc = _run(
            [
                "mksquashfs",
                str(staging),
                str(image),
                "-noappend",
                "-all-root",
                "-no-xattrs",
                "-reproducible",
                "-all-time",
                str(_EPOCH),
                "-mkfs-time",
                str(_EPOCH),
                "-processors",
                "1",
                "-quiet",
                "-no-progress",
            ],
            timeout=60,
            env=_base_env(),
        )
    if proc.returncode != 0:
        raise RuntimeError(f"mksquashfs failed for {image}:\n{proc.output}")
    return image


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_sha256sums(directory: Path, pattern: str = "*.raw") -> Path:
    """Write ``directory/SHA256SUMS`` in sha256sum format (``<hex>  <file>``), sorted by name."""
    directory = Path(directory)
    lines = [
        f"{sha256_file(path)}  {path.name}\n"
        for path in sorted(directory.glob(pattern))
        if path.is_file()
    ]
    sums = directory / "SHA256SUMS"
    sums.write_text("".join(lines))
    return sums


# --------------------------------------------------------------------------------------------
# Local HTTP server
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    client: str
    status: int


@dataclass
class ServedDirectory:
    """What ``serve_directory`` yields: the URL to put in configs and what was requested."""

    base_url: str
    records: list[RequestRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> list[str]:
        """Request paths in arrival order (including ones answered with an error)."""
        with self._lock:
            return [record.path for record in self.records]

    def url(self, name: str) -> str:
        return f"{self.base_url}/{name.lstrip('/')}"

    def _add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)


class _Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # drop idle keep-alive connections so handler threads end promptly
    served: ServedDirectory

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if isinstance(code, http.HTTPStatus):
            status = code.value
        else:
            status = int(code) if str(code).isdigit() else 0
        client = str(self.client_address[0])
        self.served._add(RequestRecord(self.command or "", self.path, client, status))

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest output stays clean
        pass


@contextlib.contextmanager
def serve_directory(path: Path) -> Iterator[ServedDirectory]:
    """Serve ``path`` on 127.0.0.1 (ephemeral port) for the duration of the ``with`` block."""
    root = str(Path(path).resolve())

    class Handler(_Handler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=root, **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    served = ServedDirectory(base_url=f"http://{host!s}:{port}")
    Handler.served = served
    thread = threading.Thread(target=server.serve_forever, name="enginelib-http", daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Scratch root and Ignition
# --------------------------------------------------------------------------------------------


def host_sysext_arch() -> str:
    """The architecture systemd-sysext compares ``ARCHITECTURE=`` with (the running kernel's).

    systemd 252 takes it from uname, not from the root's os-release, so an arm64 image is
    rejected on an x86-64 host even under ``--root``.
    """
    machine = platform.machine()
    return {"x86_64": "x86-64", "aarch64": "arm64"}.get(machine, machine)


def make_scratch_root(
    tmp_path: Path, *, version_id: str = "4459.2.0", sysext_level: str = "1.0"
) -> Path:
    """Create ``tmp_path/root``: the minimal tree Ignition's files stage and systemd-sysext need."""
    root = Path(tmp_path) / "root"
    # Debian's Ignition relabels after the files stage; SELINUX=disabled keeps that harmless.
    selinux = root / "etc/selinux/config"
    selinux.parent.mkdir(parents=True, exist_ok=True)
    selinux.write_text("SELINUX=disabled\nSELINUXTYPE=targeted\n")
    os_release = root / "usr/lib/os-release"
    os_release.parent.mkdir(parents=True, exist_ok=True)
    os_release.write_text(
        'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\n'
        f"VERSION_ID={version_id}\nSYSEXT_LEVEL={sysext_level}\n"
    )
    (root / "etc/os-release").symlink_to("../usr/lib/os-release")
    for directory in ("usr/lib/systemd/system", "etc/systemd/system", "opt", "var", "run"):
        (root / directory).mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class IgnitionResult:
    ok: bool
    log: str
    failed_stage: str | None = None
    timed_out: bool = False

    @property
    def errors(self) -> list[str]:
        """The engine's CRITICAL lines (why a stage failed)."""
        return [line for line in self.log.splitlines() if line.startswith("CRITICAL")]


def _config_text(config: Mapping[str, Any] | str) -> str:
    return config if isinstance(config, str) else json.dumps(config, indent=2)


def run_ignition(
    config: Mapping[str, Any] | str,
    root: Path,
    *,
    timeout: float = 60,
    stages: Sequence[str] = ("fetch", "files"),
) -> IgnitionResult:
    """Run the real Ignition engine's stages (default ``fetch`` then ``files``) against ``root``.

    All engine state (config cache, state file, neednet flag) lives in a throwaway directory, so
    nothing is written to the host's /run. Stops at the first failing stage.
    """
    root = Path(root).resolve()
    log_parts: list[str] = []
    with tempfile.TemporaryDirectory(prefix="ignition-run-") as work_str:
        work = Path(work_str)
        config_file = work / "config.ign"
        config_file.write_text(_config_text(config))
        bin_dir = work / "bin"
        bin_dir.mkdir()
        setfiles = bin_dir / "setfiles"
        setfiles.write_text("#!/bin/sh\n# no SELinux here: relabeling is a no-op\nexit 0\n")
        setfiles.chmod(0o755)
        env = _base_env()
        env["PATH"] = f"{bin_dir}:{env['PATH']}"
        env["IGNITION_CONFIG_FILE"] = str(config_file)
        deadline = timeout
        for stage in stages:
            cmd = [
                str(IGNITION_ENGINE),
                "-platform",
                "file",
                "-stage",
                stage,
                "-root",
                str(root),
                "-log-to-stdout",
                "-config-cache",
                str(work / "ignition.json"),
                "-state-file",
                str(work / "state"),
                "-neednet",
                str(work / "neednet"),
                "-fetch-timeout",
                f"{max(1, int(timeout))}s",
            ]
            proc = _run(cmd, timeout=deadline, env=env)
            log_parts.append(f"== ignition stage {stage} (rc={proc.returncode}) ==\n{proc.output}")
            if proc.returncode != 0:
                return IgnitionResult(
                    ok=False,
                    log="".join(log_parts),
                    failed_stage=stage,
                    timed_out=proc.returncode is None,
                )
    return IgnitionResult(ok=True, log="".join(log_parts))


def ignition_validate(
    config: Mapping[str, Any] | str, *, strict: bool = False, timeout: float = 30
) -> tuple[bool, str]:
    """Run ``ignition-validate`` on a config; returns (accepted, combined output).

    The tool exits 0 on warnings (e.g. an unused CLC-style ``filesystem`` key in a 3.x
    config); ``strict=True`` counts any warning as a rejection.
    """
    with tempfile.TemporaryDirectory(prefix="ignition-validate-") as work_str:
        config_file = Path(work_str) / "config.ign"
        config_file.write_text(_config_text(config))
        proc = _run(["ignition-validate", str(config_file)], timeout=timeout, env=_base_env())
    ok = proc.returncode == 0 and not (strict and "warning" in proc.output.lower())
    return ok, proc.output


# --------------------------------------------------------------------------------------------
# systemd-sysext
# --------------------------------------------------------------------------------------------


class OutsideRootError(ValueError):
    """A path, resolved like the node would, leaves the scratch root."""


def resolve_in_root(root: Path, node_path: str, *, max_links: int = 40) -> Path:
    """Resolve ``node_path`` (absolute, as seen on the node) with ``root`` acting as ``/``.

    Every symlink along the way is followed with its target interpreted inside ``root``
    (absolute targets restart at ``root``). Returns the host path, which may not exist
    (dangling). Raises ``OutsideRootError`` when ``..`` climbs above the root, and
    ``RuntimeError`` on symlink loops.
    """
    root = Path(root)
    pending = list(PurePosixPath(node_path).parts)
    if pending and pending[0] == "/":
        pending.pop(0)
    current: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise OutsideRootError(f"{node_path!r} climbs above the root")
            current.pop()
            continue
        candidate = root.joinpath(*current, part)
        if candidate.is_symlink():
            hops += 1
            if hops > max_links:
                raise RuntimeError(f"too many symlinks resolving {node_path!r}")
            target = PurePosixPath(candidate.readlink())
            parts = list(target.parts)
            if target.is_absolute():
                current = []
                parts = parts[1:]
            pending = parts + pending
            continue
        current.append(part)
    return root.joinpath(*current)


@dataclass(frozen=True)
class ExtensionImage:
    """One entry of ``<root>/etc/extensions`` and what it resolves to inside the root."""

    name: str
    link_target: str | None  # the raw symlink text, None for a regular file
    source: Path | None  # host path of the image to merge, None when unusable
    problem: str | None  # why it is unusable: dangling / outside the root / not a file


def inspect_extensions(root: Path) -> list[ExtensionImage]:
    """Resolve every ``etc/extensions/*.raw`` of ``root`` the way the node would."""
    ext_dir = Path(root) / "etc/extensions"
    found: list[ExtensionImage] = []
    if not ext_dir.is_dir():
        return found
    for entry in sorted(ext_dir.iterdir()):
        if not entry.name.endswith(".raw"):
            continue
        link = str(entry.readlink()) if entry.is_symlink() else None
        try:
            source = resolve_in_root(root, f"/etc/extensions/{entry.name}")
        except OutsideRootError as exc:
            found.append(ExtensionImage(entry.name, link, None, f"points outside the root: {exc}"))
            continue
        except RuntimeError as exc:
            found.append(ExtensionImage(entry.name, link, None, str(exc)))
            continue
        if not source.exists():
            found.append(ExtensionImage(entry.name, link, None, f"dangling link to {link}"))
        elif not source.is_file():
            found.append(ExtensionImage(entry.name, link, None, f"{source} is not a regular file"))
        else:
            found.append(ExtensionImage(entry.name, link, source, None))
    return found


@dataclass(frozen=True)
class MergeResult:
    ok: bool  # merge and unmerge both exited 0 and no mount was left behind
    merged: bool  # systemd-sysext actually overlaid something onto <root>/usr
    appeared: tuple[str, ...]  # paths (relative to root) present only while merged
    kubelet: str | None  # content of <root>/usr/bin/kubelet while merged
    extensions: tuple[ExtensionImage, ...]
    leftover_mounts: tuple[str, ...]
    log: str

    @property
    def has_kubelet(self) -> bool:
        return self.kubelet is not None

    @property
    def problems(self) -> list[str]:
        return [f"{ext.name}: {ext.problem}" for ext in self.extensions if ext.problem]


# The whole merge runs in one shell inside a fresh mount namespace. Mounts made there die with
# the namespace; the script still unmounts in order and reports what is left, so a leak would
# be visible in the result rather than silently hidden.
_MERGE_SCRIPT = r"""
set -u
ROOT=$1; shift
# systemd-sysext mounts from a helper namespace and relies on propagation back to ours:
# make our (private, hence new) peer groups shared. Starting private keeps the host's
# mount table out of reach even where the host's / is shared (systemd hosts, CI runners).
mount --make-rshared /
mount -t tmpfs -o mode=0755 tmpfs /run
# A tmpfs over etc/extensions lets us present each resolved image under its link name
# (systemd 252 ignores symlinked images with --root) without touching the scratch root.
# Sources may live in etc/extensions itself, so pin them under /run before hiding it.
mkdir /run/harness-images
n=0
for arg in "$@"; do
    n=$((n + 1))
    if [ $((n % 2)) -eq 0 ]; then
        : > "/run/harness-images/$n"
        mount --bind "$arg" "/run/harness-images/$n"
    fi
done
mount -t tmpfs -o mode=0755 tmpfs "$ROOT/etc/extensions"
n=0
while [ $# -ge 2 ]; do
    n=$((n + 2))
    : > "$ROOT/etc/extensions/$1"
    mount --bind "/run/harness-images/$n" "$ROOT/etc/extensions/$1"
    shift 2
done
echo "@@BEFORE"; (cd "$ROOT" && find usr opt -mindepth 1 2>/dev/null | sort)
echo "@@MERGE"; systemd-sysext --root="$ROOT" merge 2>&1; echo "@@MERGE_RC $?"
echo "@@MOUNTS"; awk -v r="$ROOT/usr" '$5 == r {print $5, $9}' /proc/self/mountinfo
echo "@@AFTER"; (cd "$ROOT" && find usr opt -mindepth 1 2>/dev/null | sort)
echo "@@KUBELET"
if [ -f "$ROOT/usr/bin/kubelet" ]; then echo yes; cat "$ROOT/usr/bin/kubelet"; else echo no; fi
echo "@@UNMERGE"; systemd-sysext --root="$ROOT" unmerge 2>&1; echo "@@UNMERGE_RC $?"
for m in $(awk -v r="$ROOT/etc/extensions/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo); do
    umount "$m"
done
umount "$ROOT/etc/extensions"
for m in $(awk 'index($5, "/run/harness-images/") == 1 {print $5}' /proc/self/mountinfo); do
    umount "$m"
done
umount /run
echo "@@LEFT"; awk -v r="$ROOT" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo
echo "@@END"
"""


def _sections(output: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = "preamble"
    for line in output.splitlines():
        if line.startswith("@@"):
            key, _, rest = line[2:].partition(" ")
            current = key
            sections.setdefault(key, [])
            if rest:
                sections[key].append(rest)
            continue
        sections.setdefault(current, []).append(line)
    return sections


def _host_mounts_under(root: Path) -> list[str]:
    prefix = str(root)
    with Path("/proc/self/mountinfo").open() as handle:
        fields = (line.split() for line in handle)
        return [f[4] for f in fields if f[4] == prefix or f[4].startswith(prefix + "/")]


def merge_sysext(root: Path, *, timeout: float = 30) -> MergeResult:
    """Merge ``root``'s extensions with systemd-sysext, record what appears, then unmerge.

    Runs inside ``unshare -m`` so nothing leaks into the host's mount table. Images under
    ``etc/extensions`` that are symlinks are resolved inside the root first (their targets are
    node paths); dangling or escaping links are reported in ``extensions`` and left out.
    """
    root = Path(root).resolve()
    extensions = tuple(inspect_extensions(root))
    pairs: list[str] = []
    for ext in extensions:
        if ext.source is not None:
            pairs += [ext.name, str(ext.source)]
    (root / "etc/extensions").mkdir(parents=True, exist_ok=True)
    proc = _run(
        [
            "unshare",
            "-m",
            "--propagation",
            "private",
            "sh",
            "-c",
            _MERGE_SCRIPT,
            "merge",
            str(root),
            *pairs,
        ],
        timeout=timeout,
        env=_base_env(),
    )
    sections = _sections(proc.output)
    before = set(sections.get("BEFORE", []))
    after = sections.get("AFTER", [])
    # systemd-sysext's own bookkeeping directory is not content of the image.
    appeared = tuple(
        p for p in after if p and p not in before and not p.startswith("usr/.systemd-sysext")
    )
    kubelet_lines = sections.get("KUBELET", ["no"])
    kubelet = "\n".join(kubelet_lines[1:]) + "\n" if kubelet_lines[:1] == ["yes"] else None
    merged = bool([line for line in sections.get("MOUNTS", []) if line.strip()])
    leftovers = [m for m in sections.get("LEFT", []) if m.strip()] + _host_mounts_under(root)
    ok = (
        proc.returncode == 0
        and sections.get("MERGE_RC") == ["0"]
        and sections.get("UNMERGE_RC") == ["0"]
        and "END" in sections
        and not leftovers
    )
    return MergeResult(
        ok=ok,
        merged=merged,
        appeared=appeared,
        kubelet=kubelet,
        extensions=extensions,
        leftover_mounts=tuple(leftovers),
        log=proc.output,
    )


# --------------------------------------------------------------------------------------------
# Unit state after Ignition
# --------------------------------------------------------------------------------------------

_UNIT_DIRS = ("etc/systemd/system", "run/systemd/system", "usr/lib/systemd/system")
_PRESET_DIRS = (
    "etc/systemd/system-preset",
    "run/systemd/system-preset",
    "usr/lib/systemd/system-preset",
)


def is_masked(root: Path, unit: str) -> bool:
    """Ignition masks by symlinking ``etc/systemd/system/<unit>`` to /dev/null."""
    path = Path(root) / "etc/systemd/system" / unit
    return path.is_symlink() and str(path.readlink()) == "/dev/null"


def preset_rules(root: Path) -> list[tuple[str, str, str]]:
    """(action, pattern, file) in systemd's evaluation order: by file name, etc wins ties."""
    by_name: dict[str, Path] = {}
    for directory in reversed(_PRESET_DIRS):  # later (higher-priority) dirs overwrite
        base = Path(root) / directory
        if base.is_dir():
            for path in base.glob("*.preset"):
                by_name[path.name] = path
    rules: list[tuple[str, str, str]] = []
    for name in sorted(by_name):
        for line in by_name[name].read_text().splitlines():
            words = line.split()
            if (
                len(words) >= 2
                and words[0] in ("enable", "disable")
                and not line.startswith(("#", ";"))
            ):
                rules.append((words[0], words[1], str(by_name[name])))
    return rules


def preset_for(root: Path, unit: str) -> str | None:
    """First matching preset action for ``unit`` ("enable"/"disable"), None if no rule matches."""
    for action, pattern, _ in preset_rules(root):
        if fnmatch.fnmatchcase(unit, pattern):
            return action
    return None


def _enablement_links(root: Path, unit: str) -> list[Path]:
    base = Path(root) / "etc/systemd/system"
    if not base.is_dir():
        return []
    return [
        link
        for pattern in ("*.wants", "*.requires", "*.upholds")
        for link in base.glob(f"{pattern}/{unit}")
    ]


def unit_state(root: Path, unit: str) -> str:
    """Return masked / enabled / disabled / unset, as systemd will see ``unit`` on first boot.

    Ignition 3 records ``enabled: true/false`` as lines in
    ``etc/systemd/system-preset/20-ignition.preset``; systemd applies presets on first boot
    (preset-all), so a matching preset decides. Enablement symlinks count when no preset does.
    "unset" means no rule matched: systemd then falls back to *enable* for an installable unit,
    unless the OS ships a catch-all ``disable *`` preset (not modelled in the scratch root).
    """
    if is_masked(root, unit):
        return "masked"
    action = preset_for(root, unit)
    if action == "enable":
        return "enabled"
    if action == "disable":
        return "disabled"
    return "enabled" if _enablement_links(root, unit) else "unset"


def find_unit_file(root: Path, unit: str) -> Path | None:
    for directory in _UNIT_DIRS:
        path = Path(root) / directory / unit
        if path.exists() or path.is_symlink():
            return path
    return None


def dropins(root: Path, unit: str) -> dict[str, str]:
    """Drop-ins Ignition wrote for ``unit`` (``etc/systemd/system/<unit>.d/*.conf``)."""
    base = Path(root) / "etc/systemd/system" / f"{unit}.d"
    if not base.is_dir():
        return {}
    return {path.name: path.read_text() for path in sorted(base.glob("*.conf"))}


def _stub_unit(unit: str) -> str:
    """A minimal installable unit of the right type, so ``systemctl preset`` has work to do."""
    body = {
        ".service": ("[Service]\nExecStart=/bin/true\n", "multi-user.target"),
        ".timer": ("[Timer]\nOnCalendar=daily\n", "timers.target"),
        ".socket": ("[Socket]\nListenStream=/run/harness-stub.sock\n", "sockets.target"),
        ".path": ("[Path]\nPathExists=/run/harness-stub\n", "paths.target"),
    }
    section, wanted_by = body.get(Path(unit).suffix, ("", "multi-user.target"))
    return (
        "[Unit]\nDescription=stub written by the capi-sysext test harness\n\n"
        f"{section}\n[Install]\nWantedBy={wanted_by}\n"
    )


def systemctl_state(root: Path, unit: str, *, stub: bool = True, timeout: float = 30) -> str:
    """Cross-check with systemd itself: ``systemctl --root preset`` then ``is-enabled``.

    MUTATES ``root``: applies the unit's preset (creating enablement symlinks, as first boot
    would) and, with ``stub=True``, writes a stub unit to ``usr/lib/systemd/system`` when the
    root has no unit file (real units come from the sysext or the base OS, absent here).
    Returns is-enabled's word ("enabled", "disabled", "masked", ...) or "not-found".
    """
    root = Path(root).resolve()
    if stub and find_unit_file(root, unit) is None:
        path = root / "usr/lib/systemd/system" / unit
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_stub_unit(unit))
    env = _base_env()
    env["SYSTEMD_LOG_LEVEL"] = "err"
    if not is_masked(root, unit):
        _run(["systemctl", f"--root={root}", "preset", unit], timeout=timeout, env=env)
    proc = _run(["systemctl", f"--root={root}", "is-enabled", unit], timeout=timeout, env=env)
    if "No such file" in proc.output:
        return "not-found"  # e.g. a unit that only the (unmerged) sysext would provide
    return proc.output.strip().splitlines()[-1] if proc.output.strip() else "unknown"
