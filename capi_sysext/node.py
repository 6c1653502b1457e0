"""Builds the node provisioning model from the resolved release, the role and the options.

Pipeline position: inputs -> resolved release -> *node model* -> rendered node config.
"""

from typing import NamedTuple

from capi_sysext import features, unitfile
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
from capi_sysext.providers.base import Provider
from capi_sysext.spec import NodeSpec

VERIFY_UNIT = "capi-sysext-verify.service"
KUBEADM_UNIT = "kubeadm.service"


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


def build_node_config(
    node: NodeSpec, release: NodeRelease, role: str, provider: Provider | None
) -> NodeConfig:
    builder = NodeConfigBuilder()
    builder.add(_sysext(release))
    for feature in features.all_features():
        builder.add(feature.node_config(node.features[feature.name], release, role))
    if provider is not None:
        builder.add(provider.node_config(role))
    return builder.build()
