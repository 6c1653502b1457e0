"""Builds the node provisioning model from the resolved release, the role and the options.

Pipeline position: inputs -> resolved release -> *node model* -> rendered node config.
"""

from collections.abc import Iterable
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from capi_sysext import unitfile
from capi_sysext.catalog import Image
from capi_sysext.layout import SYSEXT_LINK, image_path, image_url
from capi_sysext.model import (
    PINNED_SUMS_PATH,
    Dropin,
    File,
    Link,
    NodeConfig,
    NodeConfigBuilder,
    Remote,
    Unit,
    format_pinned_sums,
)
from capi_sysext.spec import NodeSpec

VERIFY_UNIT = "capi-sysext-verify.service"
KUBEADM_UNIT = "kubeadm.service"


P = TypeVar("P")


class NodeRelease(NamedTuple):
    """What a node boots: one published image and where to fetch it."""

    image: Image
    base_url: str

    @property
    def image_path(self) -> str:
        return image_path(self.image.filename)

    @property
    def image_url(self) -> str:
        return image_url(self.base_url, self.image.filename)


def verify_check_script(release: NodeRelease) -> str:
    """The shell check the verify unit runs from /; tests run the same text in a scratch root.

    On a mismatch it unlinks the image only while the link still points at it (sysupdate may have
    moved the link to a newer, verified image), and keeps the bad file: the check then fails again
    on every boot, visibly, instead of kubeadm failing later for a missing Kubernetes. No `$`
    anywhere: this text travels through clusterctl/Flux substitution inside the CAPI objects.
    """
    link = SYSEXT_LINK.lstrip("/")
    link_dir, link_name = link.rsplit("/", 1)
    return (
        f"sha256sum --check --strict --status {PINNED_SUMS_PATH.lstrip('/')} || "
        f"{{ echo 'capi-sysext: {release.image.filename} does not match its pinned sha256; "
        f"not merging it' >&2; find {link_dir} -maxdepth 1 -name {link_name} "
        f"-lname {release.image_path} -delete; exit 1; }}"
    )


def _sysext(release: NodeRelease) -> NodeConfig:
    sha = release.image.sha256
    files = [File(release.image_path, 0o644, remote=Remote(release.image_url, sha))]
    # systemd-sysupdate (timer included) belongs to features/updates.py.
    units: list[Unit] = []
    kubeadm = unitfile.load("kubeadm-sysext.conf")
    if sha is not None:
        files.append(
            File(PINNED_SUMS_PATH, 0o644, inline=format_pinned_sums({release.image_path: sha}))
        )
        verify = (
            unitfile.load("sysext-verify.service")
            .add(
                "Unit",
                "ConditionPathExists",
                release.image_path,
                comment="Once sysupdate has rotated the first image out, there is nothing left "
                "to check.",
            )
            .add("Service", "ExecStart", unitfile.shell(verify_check_script(release)))
        )
        units.append(Unit(VERIFY_UNIT, enabled=True, contents=verify.render()))
        kubeadm = kubeadm.add(
            "Unit",
            "Requires",
            VERIFY_UNIT,
            comment="A sysext that failed its pinned sha256 check was not merged: do not run "
            "kubeadm at all.",
        ).add("Unit", "After", VERIFY_UNIT)
    units.append(Unit(KUBEADM_UNIT, dropins=(Dropin("10-capi-sysext.conf", kubeadm.render()),)))
    return NodeConfig(
        files=tuple(files),
        links=(Link(SYSEXT_LINK, release.image_path),),
        units=tuple(units),
    )


class NodeContext(NamedTuple, Generic[P]):
    """What every node hook gets (features' and the provider's node_config), for one role."""

    node: NodeSpec
    release: NodeRelease
    role: str
    # The provider's typed settings, so its node wiring can depend on its inputs; None where no
    # provider inputs exist (`render-node`, `render-cluster`).
    provider_settings: P | None = None


class NodeContributor(Protocol):
    """A feature or a provider, as far as the node stage is concerned."""

    def node_config(self, ctx: NodeContext[Any]) -> NodeConfig: ...


def build_node_config(ctx: NodeContext[Any], contributors: Iterable[NodeContributor]) -> NodeConfig:
    """The core sysext wiring plus each contributor's pieces. Callers pass the contributors
    (the feature registry's features, then the provider if any): this module knows no plug-in."""
    builder = NodeConfigBuilder()
    builder.add(_sysext(ctx.release))
    for contributor in contributors:
        builder.add(contributor.node_config(ctx))
    return builder.build()
