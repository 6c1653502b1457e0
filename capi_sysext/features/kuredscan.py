"""Finding Kured in any input (the validate rules of updates and healthchecks): a module of its
own, so those features need not import the Kured feature (updates is Kured's dependency)."""

from collections.abc import Mapping
from typing import Any

from capi_sysext import yamlio
from capi_sysext.contracts import DocumentSet, dig
from capi_sysext.errors import InputError
from capi_sysext.inputs import parse_duration

# The Kured chart's and image's name.
NAME = "kured"


def _drain_timeout_of(container: Mapping[str, Any]) -> int | None:
    """A Kured container's --drain-timeout (flag or KURED_DRAIN_TIMEOUT), in seconds."""
    values: list[Any] = [
        a.split("=", 1)[1]
        for a in container.get("args") or []
        if isinstance(a, str) and a.startswith("--drain-timeout=")
    ]
    values += [
        e.get("value")
        for e in container.get("env") or []
        if isinstance(e, Mapping) and e.get("name") == "KURED_DRAIN_TIMEOUT"
    ]
    for value in values:
        try:
            return int(parse_duration(0)(value))
        except ValueError:
            continue
    return None


def _kured_daemonsets(doc: Any) -> list[int | None]:
    if not isinstance(doc, Mapping) or doc.get("kind") != "DaemonSet":
        return []
    containers = dig(doc, "spec", "template", "spec", "containers")
    found = []
    for c in containers if isinstance(containers, list) else []:
        image = c.get("image") if isinstance(c, Mapping) else None
        if isinstance(image, str) and "kured" in image.rsplit("/", 1)[-1]:
            found.append(_drain_timeout_of(c))
    return found


def kured_in(docs: DocumentSet) -> list[int | None]:
    """One entry per Kured found in the input, with its drain timeout in seconds if it sets one:
    a DaemonSet, one inside a ConfigMap (a ClusterResourceSet's payload, as we deliver it), or a
    HelmChartProxy of the kured chart (drain timeout unknown)."""
    found: list[int | None] = []
    for _i, doc in docs.of_kind("DaemonSet"):
        found += _kured_daemonsets(doc)
    for _i, cm in docs.of_kind("ConfigMap"):
        data = cm.get("data")
        for text in data.values() if isinstance(data, Mapping) else []:
            if not isinstance(text, str) or "kured" not in text:
                continue
            try:
                inner = yamlio.load_all(text, "ConfigMap data")
            except InputError:  # unparseable payloads are other rules' business
                continue
            for d in inner:
                found += _kured_daemonsets(d)
    for _i, hcp in docs.of_kind("HelmChartProxy"):
        if dig(hcp, "spec", "chartName") == NAME:
            found.append(None)
    return found
