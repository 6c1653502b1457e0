"""Every registered plug-in, as one table for the stages that take plug-ins as an argument
(`validate`'s contracts and references, apply's feature-gate requirements)."""

from typing import Any, NamedTuple

from capi_sysext import features, providers
from capi_sysext.features.base import Feature
from capi_sysext.providers.base import Provider


class Plugins(NamedTuple):
    providers: tuple[Provider[Any], ...]
    features: tuple[Feature[Any], ...]

    @property
    def owners(self) -> dict[str, str]:
        """Infrastructure kind -> the provider whose API defines it."""
        return {kind: p.name for p in self.providers for kind in sorted(p.kinds)}


def registered() -> Plugins:
    return Plugins(
        providers=tuple(providers.get(name) for name in providers.NAMES),
        features=features.all_features(),
    )
