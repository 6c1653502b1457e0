"""Each fact has one home (issue #14 item 3): the spellings below occur as a whole string only in
the module that owns them; everyone else imports the name."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "capi_sysext"

# A fragment of the spelling -> the modules allowed to spell it.
HOMES = {
    "capi-sysext.io": {"labels.py", "contracts.py"},  # our labels; the validate skip annotation
    "cluster.x-k8s.io": {"clusterapi.py"},
    "/run/metadata/": {"layout.py"},
    "coreos-metadata.service": {"layout.py"},
    "/opt/extensions": {"layout.py"},
    "/etc/extensions": {"layout.py"},
    "/etc/sysupdate": {"layout.py"},
}


def _spellings(path: Path) -> set[str]:
    """String constants that are one word (a name, label or path), not prose around it."""
    return {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
        if node.value and not any(c.isspace() for c in node.value)
    }


SPELLINGS = {str(p.relative_to(PACKAGE)): _spellings(p) for p in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("fragment", sorted(HOMES))
def test_fact_is_spelled_only_at_home(fragment: str) -> None:
    elsewhere = sorted(
        f"{module}: {text}"
        for module, texts in SPELLINGS.items()
        for text in texts
        if fragment in text and module not in HOMES[fragment]
    )
    assert elsewhere == []
