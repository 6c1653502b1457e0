"""What `generate` loads. Start-up time itself is measured in bench/ (never asserted here); these
tests keep out of the start-up path the modules that were measured to cost it (issue #2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# Never needed to render: each belongs to another command or was replaced.
HEAVY = (
    "jinja2",  # ~30 ms: unit files are built as data (capi_sysext/unitfile.py)
    "kubernetes",  # apply only
    "jsonschema",  # validate only
    "urllib3",  # only when a catalog refresh really fetches
    "capi_sysext.fetch",
    "capi_sysext.apply",
    "capi_sysext.validate",
    "dataclasses",  # ~0.6 ms a class at import: records are NamedTuples
)
# Each was measured on the `generate` path (bench/RESULTS.md) and has no business there.
NOT_ON_GENERATE_PATH = (
    *HEAVY,
    "pathlib",  # with urllib.parse and ipaddress ~5 ms: os.path where generate runs
    "hashlib",  # loads OpenSSL: the cache file name uses zlib
    "zoneinfo",  # only to validate a non-default --kured-time-zone
    "tempfile",  # only when -o writes a file
    "ipaddress",  # only to validate a user's --pod-cidr/--service-cidr
    "ruamel",  # round-trip YAML: only `lock` and `init` (capi_sysext/roundtrip.py)
    "capi_sysext.roundtrip",
)


def _site_dirs() -> list[str]:
    """This interpreter's site directories (a venv's own, the user's, the system's)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]


def _modules_after(args: list[str], cwd: Path = REPO) -> set[str]:
    """Modules the command loaded beyond what the interpreter had at start-up.

    Without site (-S): an editable install's finder (a .pth hook) loads pathlib and tempfile
    itself, which would hide the same imports by the command. The site directories come from this
    process instead: under -S a venv's interpreter does not know it is in a venv (site.py reads
    pyvenv.cfg), so the child cannot find them itself.
    """
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO)!r}]\n"
        f"sys.path.extend({_site_dirs()!r})\n"
        "before = set(sys.modules)\n"
        f"sys.argv = ['capi-sysext', *{args!r}]\n"
        "from capi_sysext.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)), file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={"CAPI_SYSEXT_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(REPO)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr  # the command's own error, not just an exit code
    return set(proc.stderr.split())


def test_generate_loads_nothing_it_does_not_need() -> None:
    loaded = _modules_after(
        [
            "generate",
            "--provider",
            "azure",
            "--k8s",
            "1.33",
            "--name",
            "demo",
            "--values",
            "examples/azure.yaml",
            "--offline",
        ]
    )
    assert "capi_sysext.generate" in loaded  # the command really ran
    assert sorted(m for m in NOT_ON_GENERATE_PATH if m in loaded) == []


def test_render_node_loads_nothing_it_does_not_need() -> None:
    loaded = _modules_after(["render-node", "--k8s", "1.33", "--format", "ignition", "--offline"])
    assert "capi_sysext.render.ignition" in loaded
    assert [m for m in HEAVY if m in loaded] == []


def test_generate_with_an_existing_lock_loads_nothing_it_does_not_need(tmp_path: Path) -> None:
    """--lock replaces the catalog: reading it must not bring in ruamel (or anything else)."""
    args = [
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
        "--lock",
        str(tmp_path / "cluster.lock"),
    ]
    _modules_after(args)  # first use writes the lock
    assert (tmp_path / "cluster.lock").exists()
    loaded = _modules_after(args)
    assert "capi_sysext.lock" in loaded
    assert sorted(m for m in NOT_ON_GENERATE_PATH if m in loaded) == []
