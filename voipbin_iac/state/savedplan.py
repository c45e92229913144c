"""Saved plans: `plan --out FILE` and `apply --plan FILE`.

A saved plan is the plan's JSON plus checksums of what it was made from: the desired state
(after env expansion, secrets by fingerprint), the manifest, the account (a fingerprint of the
accesskey and the base URL) and the options. `apply --plan` refuses when any of them changed,
and the apply refuses when a live object the plan relies on changed, all before the first
write, so what a reviewer approved is what gets applied, entirely or not at all. It holds no
secret.

It also records where those inputs are (`Recorded`: the desired files, the manifest and the
emulator's state, relative to the plan file's directory), so `apply --plan FILE` needs nothing
else, from any directory, as `terraform apply plan.tfplan` does.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..core.kinds import shown
from ..core.model import DesiredState, Manifest, Plan
from ..core.plan import PlanOptions
from ..core.serialize import plan_from_data, plan_to_data
from ..errors import StalePlanError
from .files import write_atomic
from .manifest import dumps as manifest_text

KIND = "voipbin-iac saved plan"


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def desired_checksum(desired: DesiredState) -> str:
    """Changes whenever the desired state does (secrets enter as fingerprints, and so do
    values from the environment: the digest is not reversible)."""
    return _digest({
        kind: {
            key: {
                "fields": {name: shown(value) for name, value in res.fields.items()},
                "protect": res.protect,
                "ignore_changes": sorted(res.ignore_changes),
            }
            for key, res in of_kind.items()
        }
        for kind, of_kind in desired.resources.items()
    } | {
        "moved": dict(desired.moved),
        "safety": [desired.safety.max_change_percent, desired.safety.min_owned,
                   desired.safety.adopt],
    })


def manifest_checksum(manifest: Manifest) -> str:
    return hashlib.sha256(manifest_text(manifest).encode()).hexdigest()


def _options(options: PlanOptions) -> dict[str, Any]:
    return {"prune": options.prune, "targets": sorted(options.targets),
            "excludes": sorted(options.excludes)}


@dataclass(frozen=True)
class Recorded:
    """Where a saved plan's inputs are: paths as the plan file's directory sees them
    (`relative_to`), or absolute. `emulator_state` is None for a plan of a real account."""

    files: tuple[str, ...]
    manifest: str
    emulator_state: str | None = None

    def to_data(self, base: Path) -> dict[str, object]:
        def rel(p: str) -> str:
            return Path(os.path.relpath(Path(p).resolve(), base.resolve())).as_posix()

        return {"files": [rel(f) for f in self.files], "manifest": rel(self.manifest),
                "emulator_state": None if self.emulator_state is None
                else rel(self.emulator_state)}

    @classmethod
    def from_data(cls, data: object, base: Path) -> Recorded | None:
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            return None

        def at(p: object) -> str:
            return str(base / str(p))

        state = data.get("emulator_state")
        return cls(tuple(at(f) for f in data["files"]), at(data.get("manifest")),
                   None if state is None else at(state))


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    options: PlanOptions
    desired: str
    manifest: str
    account: str
    recorded: Recorded | None = None  # None: made by a version that did not record them


def save(path: Path, plan: Plan, desired: DesiredState, manifest: Manifest,
         options: PlanOptions, account: str, recorded: Recorded | None = None) -> None:
    body = {
        "kind": KIND,
        "tool_version": __version__,
        "files": list(desired.files),
        "recorded": None if recorded is None else recorded.to_data(path.parent),
        "account": account,
        "desired_checksum": desired_checksum(desired),
        "manifest_checksum": manifest_checksum(manifest),
        "options": _options(options),
        "plan": plan_to_data(plan),
    }
    body["checksum"] = _digest(body)
    write_atomic(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def load(path: Path) -> SavedPlan:
    hint = "run `voipbin-iac plan --out PLAN` again"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StalePlanError(f"saved plan {path} not found", hint=hint) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StalePlanError(f"saved plan {path} cannot be read: {exc}", hint=hint) from None
    if not isinstance(body, dict) or body.get("kind") != KIND:
        raise StalePlanError(f"{path} is not a voipbin-iac saved plan", hint=hint)
    checksum = body.pop("checksum", None)
    if checksum != _digest(body):
        raise StalePlanError(f"saved plan {path} was modified after it was made", hint=hint)
    opts = body.get("options", {})
    return SavedPlan(
        plan=plan_from_data(body.get("plan")),
        options=PlanOptions(prune=bool(opts.get("prune")),
                            targets=frozenset(opts.get("targets", ())),
                            excludes=frozenset(opts.get("excludes", ()))),
        desired=str(body.get("desired_checksum")),
        manifest=str(body.get("manifest_checksum")),
        account=str(body.get("account")),
        recorded=Recorded.from_data(body.get("recorded"), path.parent),
    )


def same_paths(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two lists name the same files, in the same order."""
    return [Path(p).resolve() for p in a] == [Path(p).resolve() for p in b]


def check(saved: SavedPlan, desired: DesiredState, manifest: Manifest, account: str) -> None:
    """Refuse a saved plan whose inputs changed since it was made."""
    hint = "run `voipbin-iac plan --out PLAN` again, review it, and apply the new plan"
    if saved.account != account:
        raise StalePlanError("the saved plan was made for another account or API URL",
                             hint="check VOIPBIN_API_KEY and VOIPBIN_API_BASE_URL")
    if saved.desired != desired_checksum(desired):
        raise StalePlanError("the desired state changed since the plan was made "
                             "(the file, an included prompt, or an environment variable)",
                             hint=hint)
    if saved.manifest != manifest_checksum(manifest):
        raise StalePlanError("the manifest changed since the plan was made (another apply?)",
                             hint=hint)
