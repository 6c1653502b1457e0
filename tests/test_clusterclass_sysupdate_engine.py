"""`--format clusterclass --sysupdate` with the REAL engines: a node config the class's patch gave
for a topology version boots that version (real Ignition) and its real systemd-sysupdate takes
the newest patch of that version's minor only, for a topology in either allowed minor.

The node runs as in tests/test_sysupdate_engine.py (systemd 257's unit plus the drop-in Ignition
wrote, executed in the node view of tests/sysupdatelib.py). Needs root, Ignition + squashfs-tools
and a Debian 13 root; skips without them, fails under CI=true.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import enginelib
import pytest
import sysupdatelib
from test_clusterclass import (
    VERSIONS,
    catalog,
    clc_by_role,
    topology_apply,
    topology_of,
    write_class,
)

from capi_sysext.render.clc_parse import parse_clc
from capi_sysext.render.ignition import render_ignition

IMAGES = "opt/extensions/kubernetes"
# Published for sysupdate: the newest patch of each allowed minor.
NEWEST = {"v1.33": "v1.33.13", "v1.34": "v1.34.10"}


@pytest.mark.engine
@pytest.mark.parametrize("version", ["v1.33.12", "v1.34.9"])
def test_class_node_updates_within_the_topology_minor(tmp_path: Path, version: str) -> None:
    enginelib.require_engines()
    d13 = sysupdatelib.debian13_root()
    arch = enginelib.host_sysext_arch()
    built = tmp_path / "built"
    for v in {*VERSIONS, *NEWEST.values()}:
        enginelib.build_sysext(built, v, arch)
    bakery = tmp_path / "bakery"
    (bakery / "kubernetes").mkdir(parents=True)
    for v in VERSIONS:  # first-boot images, pinned by the class variable
        name = enginelib.sysext_file_name(v, arch)
        shutil.copyfile(built / name, bakery / name)
    for v in NEWEST.values():  # sysupdate's directory and its SHA256SUMS
        name = enginelib.sysext_file_name(v, arch)
        shutil.copyfile(built / name, bakery / "kubernetes" / name)
    enginelib.write_sha256sums(bakery / "kubernetes")
    shas = {
        v: enginelib.sha256_file(bakery / enginelib.sysext_file_name(v, arch)) for v in VERSIONS
    }
    with enginelib.serve_directory(bakery) as served:
        out = write_class("gcp", "v1beta2", arch, served.base_url, catalog(arch, shas), True)
        templates = topology_apply(out.shared, version, cluster=topology_of(out))
        clc = clc_by_role(templates)["worker"]
        config = render_ignition(parse_clc(clc))
        config["ignition"]["timeouts"] = {"httpResponseHeaders": 5, "httpTotal": 20}
        root = enginelib.make_scratch_root(tmp_path / "node")
        run = enginelib.run_ignition(config, root, timeout=30)
        assert run.ok, run.log
        first = enginelib.sysext_file_name(version, arch)
        assert sorted(p.name for p in (root / IMAGES).iterdir()) == [first]
        mark = len(served.records)
        service = sysupdatelib.NodeView(root, d13).run_service(timeout=30)
        assert service.ok, service.log
        minor = ".".join(version.split(".")[:2])
        newest = enginelib.sysext_file_name(NEWEST[minor], arch)
        fetched = [r.path for r in served.records[mark:] if r.path.endswith(".raw")]
        assert fetched == [f"/kubernetes/{newest}"]
        assert sorted(p.name for p in (root / IMAGES).iterdir()) == sorted([first, newest])
