"""Read CustomResourceDefinitions from a live cluster (`validate --from-cluster`).

The official `kubernetes` client is imported here only: it is slow to import and needed by this
one code path. The raw JSON is used instead of the client's models, because the models rename
`x-kubernetes-*` keys and would need converting back to the schema the API server holds.
"""

from __future__ import annotations

import json
from typing import Any

from capi_sysext.crdschema import SchemaStore
from capi_sysext.errors import InputError, Problem

PAGE_SIZE = 50
TIMEOUT_SECONDS = 30


def list_crds(kubeconfig: str | None = None, context: str | None = None) -> list[dict[str, Any]]:
    from kubernetes import client, config

    from capi_sysext.readers import check_kubeconfig

    check_kubeconfig(kubeconfig)
    new_client: Any = config.new_client_from_config  # untyped library function
    try:
        api_client = new_client(config_file=kubeconfig, context=context)
    except (config.ConfigException, OSError, TypeError, ValueError) as exc:
        raise InputError(
            [
                Problem(
                    f"cannot load kubeconfig: {exc}", "check --kubeconfig / --context / $KUBECONFIG"
                )
            ]
        ) from None
    api = client.ApiextensionsV1Api(api_client)
    items: list[dict[str, Any]] = []
    token: str | None = None
    try:
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE_SIZE}
            if token:
                kwargs["_continue"] = token
            # Raw JSON: the models would rename x-kubernetes-* keys of the schemas.
            resp: Any = api.list_custom_resource_definition(
                _preload_content=False, _request_timeout=TIMEOUT_SECONDS, **kwargs
            )
            raw = resp.data if getattr(resp, "data", None) is not None else resp.read()
            body = json.loads(raw)
            items.extend(body.get("items") or [])
            token = (body.get("metadata") or {}).get("continue")
            if not token:
                return items
    except client.ApiException as exc:
        raise InputError(
            [Problem(f"cannot list CustomResourceDefinitions: HTTP {exc.status} {exc.reason}")]
        ) from None
    except (OSError, ValueError) as exc:  # connection refused, TLS, bad JSON
        raise InputError([Problem(f"cannot list CustomResourceDefinitions: {exc}")]) from None
    finally:
        api_client.close()


def store_from_cluster(kubeconfig: str | None = None, context: str | None = None) -> SchemaStore:
    items = list_crds(kubeconfig, context)
    for crd in items:
        # The list omits apiVersion/kind on items; SchemaStore keys on them.
        crd.setdefault("apiVersion", "apiextensions.k8s.io/v1")
        crd.setdefault("kind", "CustomResourceDefinition")
    return SchemaStore.from_crds(items, "cluster")
