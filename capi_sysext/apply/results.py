"""Options, results and errors of `apply`: what the CLI passes in and gets back."""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from capi_sysext.errors import CapiSysextError, Problem

FIELD_MANAGER = "capi-sysext"


class PreflightError(CapiSysextError):
    """The management cluster cannot take these documents; nothing was written."""


class TransportError(CapiSysextError):
    """The API server could not be reached or kept failing after all retries."""


class BadAnswer(TransportError):
    """The server (or a proxy in front of it) answered with something that is not the API's."""


class ApplyFailed(CapiSysextError):
    """Applying stopped at a hard failure; ``result`` says exactly what was and was not applied."""

    def __init__(self, problems: list[Problem], result: ApplyResult) -> None:
        super().__init__(problems)
        self.result = result


class WaitTimeout(CapiSysextError):
    """The control plane did not become available in time; problems carry the last conditions."""


# --------------------------------------------------------------------------------------------
# Options and results


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff without jitter (deterministic, so tests can assert on it)."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 16.0
    # Retry-After is honoured but capped: a misbehaving proxy must not park us for an hour.
    max_retry_after: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Delay before retry number ``attempt`` (1-based); always finite and >= 0."""
        backoff = min(self.base_delay * (2.0 ** (attempt - 1)), self.max_delay)
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        return backoff


@dataclass(frozen=True)
class ApplyOptions:
    kubeconfig: str | None = None
    context: str | None = None
    dry_run: bool = False
    force_conflicts: bool = False
    create_namespace: bool = False
    field_manager: str = FIELD_MANAGER
    default_namespace: str = "default"
    # (connect, read) seconds for each HTTP request.
    request_timeout: tuple[float, float] = (10.0, 30.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Total seconds for preflight plus apply, retries included: a server that keeps answering
    # 429/5xx or trickles its answers cannot hold `apply` longer than this.
    apply_timeout: float = 10 * 60.0
    wait_timeout: float = 20 * 60.0
    poll_interval: float = 5.0


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str
    namespace: str | None

    @property
    def group(self) -> str:
        return self.api_version.rsplit("/", 1)[0] if "/" in self.api_version else ""

    @property
    def version(self) -> str:
        return self.api_version.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


class Action(enum.Enum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    NOT_APPLIED = "not applied"


@dataclass(frozen=True)
class ObjectResult:
    ref: ObjectRef
    action: Action
    detail: str = ""


@dataclass
class ApplyResult:
    objects: list[ObjectResult]
    dry_run: bool = False

    def count(self, action: Action) -> int:
        return sum(1 for o in self.objects if o.action is action)

    @property
    def applied(self) -> list[ObjectResult]:
        done = (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
        return [o for o in self.objects if o.action in done]

    @property
    def not_applied(self) -> list[ObjectResult]:
        return [o for o in self.objects if o.action in (Action.FAILED, Action.NOT_APPLIED)]

    def lines(self) -> list[str]:
        suffix = " (server dry run)" if self.dry_run else ""
        out = []
        for o in self.objects:
            detail = f": {o.detail}" if o.detail else ""
            out.append(f"{o.ref} {o.action.value}{suffix}{detail}")
        counts = ", ".join(
            f"{self.count(a)} {a.value}" for a in (Action.CREATED, Action.CHANGED, Action.UNCHANGED)
        )
        failed = self.count(Action.FAILED) + self.count(Action.NOT_APPLIED)
        out.append(f"{counts}" + (f", {failed} not applied" if failed else "") + suffix)
        return out
