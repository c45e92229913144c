"""An in-memory `AiApi` for unit tests of the executor, recovery and the end of apply.

It keeps objects as the platform shows them (the body that was written plus id, customer,
direct hash and timestamps) and reads them back through each kind's `from_api`, so the use
cases see exactly what the HTTP client would give them. Faults are scripted per call: a create
whose answer is lost after it was committed (`lose`), one that never arrived (`drop`), a
definite refusal (`refuse`).
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from voipbin_iac.core.kinds import Kind
from voipbin_iac.core.model import LiveResource
from voipbin_iac.errors import NotFoundError, OutcomeUnknownError, ServerError

CUSTOMER = "c0c0c0c0-0000-4000-8000-000000000001"


@dataclass
class FakeApi:
    """Objects by id; `faults` is a list of (method, kind name, fault) consumed in order."""

    customer: str = CUSTOMER
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    kinds_of: dict[str, str] = field(default_factory=dict)
    faults: list[tuple[str, str, str]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    hidden: set[str] = field(default_factory=set)  # ids the listing skips (a cursor gap)
    _clock: Any = field(default_factory=lambda: itertools.count(1))

    def _stamp(self) -> str:
        return f"2026-03-01T00:00:{next(self._clock):02d}.000001Z"

    def _fault(self, method: str, kind: Kind) -> str:
        for i, (m, k, fault) in enumerate(self.faults):
            if m == method and k == kind.name:
                del self.faults[i]
                return fault
        return ""

    def _read(self, kind: Kind, obj: Mapping[str, Any]) -> LiveResource:
        return kind.from_api(dict(obj))

    def list(self, kind: Kind) -> list[LiveResource]:
        self.calls[f"list {kind.name}"] += 1
        return [self._read(kind, o) for i, o in self.objects.items()
                if self.kinds_of[i] == kind.name and o["tm_delete"] is None
                and i not in self.hidden]

    def get(self, kind: Kind, resource_id: str) -> LiveResource:
        self.calls[f"get {kind.name}"] += 1
        obj = self.objects.get(resource_id)
        if obj is None or self.kinds_of[resource_id] != kind.name:
            raise NotFoundError(method="GET", path=f"{kind.path}/{resource_id}", status=404)
        return self._read(kind, obj)

    def create(self, kind: Kind, body: Mapping[str, Any]) -> LiveResource:
        self.calls[f"create {kind.name}"] += 1
        fault = self._fault("create", kind)
        if fault == "drop":
            raise OutcomeUnknownError(method="POST", path=kind.path, cause="dropped")
        if fault == "refuse":
            raise ServerError(method="POST", path=kind.path, status=500, reason="INTERNAL")
        res_id = str(uuid.uuid4())
        self.objects[res_id] = {**body, "id": res_id, "customer_id": self.customer,
                                "direct_hash": "direct." + uuid.uuid4().hex[:12],
                                "tm_create": self._stamp(), "tm_update": None,
                                "tm_delete": None}
        self.kinds_of[res_id] = kind.name
        if fault == "lose":
            raise OutcomeUnknownError(method="POST", path=kind.path, cause="answer lost")
        return self._read(kind, self.objects[res_id])

    def update(self, kind: Kind, resource_id: str, body: Mapping[str, Any]) -> LiveResource:
        self.calls[f"update {kind.name}"] += 1
        obj = self.objects[resource_id]
        keep = {k: obj[k] for k in ("id", "customer_id", "direct_hash", "tm_create",
                                    "tm_delete")}
        self.objects[resource_id] = {**body, **keep, "tm_update": self._stamp()}
        return self._read(kind, self.objects[resource_id])

    def delete(self, kind: Kind, resource_id: str) -> LiveResource:
        self.calls[f"delete {kind.name}"] += 1
        obj = self.objects[resource_id]
        obj["tm_delete"] = obj["tm_update"] = self._stamp()
        return self._read(kind, obj)

    def regenerate(self, kind: Kind, resource_id: str) -> LiveResource:
        self.calls[f"regenerate {kind.name}"] += 1
        self.objects[resource_id]["direct_hash"] = "direct." + uuid.uuid4().hex[:12]
        return self._read(kind, self.objects[resource_id])

    def live(self, kind_name: str) -> list[dict[str, Any]]:
        return [o for i, o in self.objects.items()
                if self.kinds_of[i] == kind_name and o["tm_delete"] is None]
