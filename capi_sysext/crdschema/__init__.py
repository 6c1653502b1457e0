"""CustomResourceDefinitions -> strict JSON schemas, and validation of documents against them.

The API server prunes unknown fields (or, with strict field validation, rejects them); plain JSON
schema validation of a CRD's openAPIV3Schema accepts them silently. So every object schema with
`properties` is closed here, which is what turns a typo like `vmsize` into an error.

Not enforced (documented limits): `x-kubernetes-validations` (CEL rules), list-map key uniqueness,
defaulting. apiVersion/kind/metadata are checked here by hand because CRD schemas leave them open.

`jsonschema` is imported inside functions only: the CLI must start fast for every other command.

Modules: findings (Issue, JSON paths), names (Kubernetes name and metadata rules), convert
(CRD -> strict schema), messages (jsonschema errors -> Issues), builtins, store (SchemaStore).
"""

from capi_sysext.crdschema.builtins import BUILTIN_METADATA_ONLY, split_api_version
from capi_sysext.crdschema.convert import CRDVersion, strict_schema
from capi_sysext.crdschema.findings import Issue, describe, json_path
from capi_sysext.crdschema.messages import value_issues
from capi_sysext.crdschema.names import (
    LABEL_RULE,
    SUBDOMAIN_RULE,
    check_metadata,
    is_dns1123_label,
    is_dns1123_subdomain,
)
from capi_sysext.crdschema.store import SchemaStore, crd_versions, default_cache_dir

__all__ = [
    "BUILTIN_METADATA_ONLY",
    "LABEL_RULE",
    "SUBDOMAIN_RULE",
    "CRDVersion",
    "Issue",
    "SchemaStore",
    "check_metadata",
    "crd_versions",
    "default_cache_dir",
    "describe",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "json_path",
    "split_api_version",
    "strict_schema",
    "value_issues",
]
