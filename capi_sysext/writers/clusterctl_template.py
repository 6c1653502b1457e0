"""`--format clusterctl-template`: a template for `clusterctl generate cluster --from FILE`.

Not built yet: it raises NotImplementedYet (exit 2). The design it is to follow (issue #16 item 3):
- clusterctl substitutes with drone/envsubst (cluster-api cmd/clusterctl/client/yamlprocessor/
  simple_processor.go:98-131): only `${VAR}` forms are expanded, `$NAME` stays as it is, and `$$`
  becomes `$` (drone/envsubst parse/scan.go scanLbrack, scanEscaped). So every `$` of ours must
  be written `$$`, and `--list-variables` lists every top-level `${VAR}` (simple_processor.go
  traverse, :160-184). clusterctl always sets CLUSTER_NAME, NAMESPACE,
  CONTROL_PLANE_MACHINE_COUNT and WORKER_MACHINE_COUNT (cmd/clusterctl/client/config.go:385-437).
- The provider variables as the providers' own templates name them (templates/
  cluster-template.yaml of CAPZ: AZURE_SUBSCRIPTION_ID, AZURE_LOCATION, AZURE_TENANT_ID,
  AZURE_CLIENT_ID_USER_ASSIGNED_IDENTITY, AZURE_*_MACHINE_TYPE; CAPA: AWS_REGION,
  AWS_SSH_KEY_NAME, AWS_*_MACHINE_TYPE; CAPG: GCP_PROJECT, GCP_REGION, GCP_*_MACHINE_TYPE), which
  are the env names of our Variables already. Strings double-quoted (as CAPA and CAPG do: a
  cluster named `123` or `y` must stay a string); replicas plain, so `3` arrives as an integer.
- The sysext version and its sha256 cannot be variables: they stay pinned, said in the header.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from capi_sysext.errors import NotImplementedYet, Problem

if TYPE_CHECKING:
    from capi_sysext.generate import GenerateResult
    from capi_sysext.writers.base import Output


class ClusterctlTemplateWriter:
    name = "clusterctl-template"

    def write(self, result: GenerateResult) -> Output:
        raise NotImplementedYet(
            [
                Problem(
                    "--format clusterctl-template is not built yet",
                    "use --format cluster (one cluster per generate, or --fleet for many)",
                )
            ]
        )


WRITER = ClusterctlTemplateWriter()
