"""The bakery/mirror URL layout and the node paths (capi_sysext/layout.py), against FACTS.md s.2:
first boot reads <base>/<image>, sysupdate reads <base>/kubernetes/ and its SHA256SUMS."""

from __future__ import annotations

import pytest

from capi_sysext import layout


@pytest.mark.parametrize(
    "base", ["https://b.example/ext", "https://b.example/ext/", " https://b.example/ext// "]
)
def test_urls_from_any_spelling_of_the_base(base: str) -> None:
    assert layout.index_url(base) == "https://b.example/ext/kubernetes/SHA256SUMS"
    assert layout.image_url(base, "kubernetes-v1.33.2-x86-64.raw") == (
        "https://b.example/ext/kubernetes-v1.33.2-x86-64.raw"
    )
    assert layout.source_url(base) == "https://b.example/ext/kubernetes/"


def test_node_paths() -> None:
    assert layout.image_path("kubernetes-v1.33.2-x86-64.raw") == (
        "/opt/extensions/kubernetes/kubernetes-v1.33.2-x86-64.raw"
    )
    assert layout.SYSEXT_LINK == "/etc/extensions/kubernetes.raw"
    assert layout.transfer_path("1.33") == "/etc/sysupdate.kubernetes.d/kubernetes-v1.33.conf"
    assert layout.NOOP_TRANSFER == "/etc/sysupdate.d/noop.conf"


def test_transfer_text_refuses_a_line_break_and_keeps_the_architecture_specifier() -> None:
    text = layout.transfer_text("https://b.example/a b", 1, 33, verify=False, instances_max=3)
    assert "MatchPattern=kubernetes-v1.33.@v-%a.raw" in text
    assert "Path=https://b.example/a b/kubernetes/" in text.splitlines()
    with pytest.raises(ValueError):
        layout.transfer_text("https://b.example/\n[Source]", 1, 33, verify=False, instances_max=3)
