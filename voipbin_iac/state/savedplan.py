"""Saved plans: `plan --out FILE` and `apply --plan FILE`.

A saved plan is the plan's JSON plus checksums of what it was made from: the desired state
(after env expansion, secrets by fingerprint), the manifest, the account (a fingerprint of the
accesskey and the base URL) and the options. `apply --plan` refuses when any of them changed,
and `check_live` refuses when a live object the plan relies on changed, all before the first
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
from ..api.client import VoipbinClient
from ..core.fields import shown
from ..core.model import DesiredState, LiveAgent, Manifest, Plan
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
    """Changes whenever the desired state does (secrets enter as fingerprints)."""
    return _digest({
        "agents": {
            key: {
                "fields": {name: shown(value) for name, value in agent.fields.items()},
                "protect": agent.protect,
                "ignore_changes": sorted(agent.ignore_changes),
            }
            for key, agent in desired.agents.items()
        },
        "moved": dict(desired.moved),
        "safety": [desired.safety.max_change_percent, desired.safety.min_owned],
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


def check_live(client: VoipbinClient, plan: Plan, manifest: Manifest
               ) -> dict[str, LiveAgent]:
    """Refuse a saved plan whose live objects changed since it was made; return them by id.

    Each AI the plan updates or deletes must still have the `tm_update` the plan saw: one
    `GET` each. A plan that creates also lists the account once (which then serves for the
    touched AIs too): an AI carrying a planned create's name that appeared since would now be
    adopted, not created beside.
    """
    touched = [c for c in plan.changes if c.action != "create" and c.id]
    creates = [c for c in plan.changes if c.action == "create"]
    listed = {a.id: a for a in client.list_ais()} if creates else None
    seen: dict[str, LiveAgent] = {}
    stale: list[str] = []
    for change in touched:
        assert change.id is not None
        live = listed.get(change.id) if listed is not None else client.get_ai(change.id)
        if live is None or live.tm_delete is not None:
            stale.append(f"{change.key} ({change.id}) was deleted")
            continue
        seen[change.id] = live
        if live.tm_update != change.tm_update:
            stale.append(f"{change.key} ({change.id}) changed at {live.tm_update}")
    if listed is not None:
        known = set(plan.bindings.values()) | {e.id for e in manifest.agents.values()}
        names = {c.name: c.key for c in creates}
        for ai in listed.values():
            if ai.id not in known and ai.name in names:
                stale.append(f"an AI named '{ai.name}' ({ai.id}) appeared; {names[ai.name]} "
                             "would now adopt it instead of creating another")
    if stale:
        raise StalePlanError(
            "the saved plan is stale: " + "; ".join(stale) + " since it was made",
            hint="run `voipbin-iac plan --out` again, review it, and apply the new plan",
        )
    return seen
