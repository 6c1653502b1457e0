"""The process entry point (console script `capi-sysext`, `python -m capi_sysext`).

It tunes the cyclic garbage collector before the CLI and its libraries load. A run builds tens of
thousands of objects that live until exit (modules, classes, option tables, the documents) and
creates almost no reference cycles, so collections during start-up only re-scan live objects, and
the collection at interpreter exit scans them all once more. Together that was ~10% of
`generate`'s start-up budget (README "Development"; bench/). mypy tunes its collector the same
way. Library users importing capi_sysext are unaffected: only this function changes the settings.
"""

from __future__ import annotations

import gc


def main() -> None:
    # Collect far less often; reference counting frees almost everything anyway.
    gc.set_threshold(100_000, 50, 100)
    try:
        from capi_sysext.cli import main as cli_main

        cli_main()
    finally:
        # Everything alive now lives until exit: skip it in the collection at shutdown.
        gc.freeze()
