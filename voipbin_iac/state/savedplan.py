"""Saved plans: `plan --out FILE` and `apply --plan FILE`.

A saved plan is the plan's JSON plus checksums of what it was made from: the desired state
(after env expansion, secrets by fingerprint), the manifest, the account (a fingerprint of the
accesskey and the base URL) and the options. `apply --plan` refuses when any of them changed,
and the apply refuses when a live object the plan relies on changed, all before the first
write, so what a reviewer approved is what gets applied, entirely or not at all. It holds no
secret.
"""

from __future__ import annotations

import hashlib
import json
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
class SavedPlan:
    plan: Plan
    options: PlanOptions
    desired: str
    manifest: str
    account: str


def save(path: Path, plan: Plan, desired: DesiredState, manifest: Manifest,
         options: PlanOptions, account: str) -> None:
    body = {
        "kind": KIND,
        "tool_version": __version__,
        "files": list(desired.files),
        "account": account,
        "desired_checksum": desired_checksum(desired),
        "manifest_checksum": manifest_checksum(manifest),
        "options": _options(options),
        "plan": plan_to_data(plan),
    }
    body["checksum"] = _digest(body)
    write_atomic(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def load(path: Path) -> SavedPlan:
    hint = "run `voipbin-iac plan --out` again"
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
    )


def check(saved: SavedPlan, desired: DesiredState, manifest: Manifest, account: str) -> None:
    """Refuse a saved plan whose inputs changed since it was made."""
    hint = "run `voipbin-iac plan --out` again, review it, and apply the new plan"
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
