"""Where capi-sysext keeps its caches: $XDG_CACHE_HOME/capi-sysext, else ~/.cache/capi-sysext.

XDG Base Directory Specification (https://specifications.freedesktop.org/basedir-spec/latest/,
"Basics" and "Environment variables"): an unset or empty XDG_CACHE_HOME means $HOME/.cache, and
every path in these variables must be absolute: a relative one is invalid and is ignored.
Plain strings (os.path): `generate` looks up its index cache on every run, and pathlib would cost
its start-up budget (tests/test_startup.py).
"""

import os


def cache_dir(*parts: str) -> str:
    """The capi-sysext cache directory, or a directory inside it (not created here)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "capi-sysext", *parts)
