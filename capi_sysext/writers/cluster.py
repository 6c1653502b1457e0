"""`--format cluster`: every object of the cluster, in apply order (today's output)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from capi_sysext.writers.base import Output

if TYPE_CHECKING:
    from capi_sysext.generate import GenerateResult


class ClusterWriter:
    name = "cluster"

    def write(self, result: GenerateResult) -> Output:
        return Output(own=result.parts.documents)


WRITER = ClusterWriter()
