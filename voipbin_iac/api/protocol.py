"""`AiApi`: what the use cases need from VoIPBin, as a protocol.

The workflow, executor, recovery and verification speak only this interface, so they get direct
unit tests with an in-memory fake beside the loopback tests of the real `VoipbinClient`. Every
method takes the resource's kind (`core.kinds`): AIs and AI teams share paging, retries and
errors. Errors are the `errors` tree (`NotFoundError`, `OutcomeUnknownError`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from ..core.kinds import Kind
from ..core.model import LiveResource


class AiApi(Protocol):
    """Read and write resources of every kind on one VoIPBin account."""

    def list(self, kind: Kind) -> list[LiveResource]:
        """Every live (not deleted) resource of `kind`, in pages of 100."""
        ...

    def get(self, kind: Kind, resource_id: str) -> LiveResource:
        """One resource by id, deleted or not (`tm_delete` says); `NotFoundError` if none."""
        ...

    def create(self, kind: Kind, body: Mapping[str, Any]) -> LiveResource:
        """POST; `OutcomeUnknownError` when the request went out and no answer came back."""
        ...

    def update(self, kind: Kind, resource_id: str, body: Mapping[str, Any]) -> LiveResource:
        """PUT (a full replace)."""
        ...

    def delete(self, kind: Kind, resource_id: str) -> LiveResource:
        """DELETE (a soft delete: the object comes back with `tm_delete` set)."""
        ...

    def regenerate(self, kind: Kind, resource_id: str) -> LiveResource:
        """A new direct hash (a new SIP URI); the old one stops routing at once."""
        ...
