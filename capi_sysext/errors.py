"""Domain errors. The CLI boundary (cli/__init__.py) is the only place that turns them into exit
codes."""

from typing import NamedTuple


# Value records are NamedTuples, not dataclasses, throughout the start-up path: on Python 3.11
# each dataclass compiles its generated methods at import (~0.5 ms a class), and `generate` has a
# start-up budget (README "Development", tests/test_startup.py, bench/). For the same reason the
# modules that define them do not use `from __future__ import annotations`: NamedTuple would
# compile every string annotation.
class Problem(NamedTuple):
    """One thing the user has to fix, with the knob that fixes it."""

    message: str
    fix: str = ""

    def __str__(self) -> str:
        return f"{self.message} ({self.fix})" if self.fix else self.message


class CapiSysextError(Exception):
    """Base class: an error the user can act on. Never shown with a traceback."""

    exit_code = 1

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems)]
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class InputError(CapiSysextError):
    """Bad or missing user input (flags, values files, --set, environment)."""

    exit_code = 2


class CatalogError(InputError):
    """A requested Kubernetes version is not published."""


class RenderError(CapiSysextError):
    """The inputs are valid but the output cannot be produced (e.g. a size limit)."""


class NotImplementedYet(CapiSysextError):
    """A part of the product that is not built yet; says so instead of emitting a stub."""

    # Exit 2 like bad input: the user gets a result only by choosing another option.
    exit_code = 2
