"""Plans and apply results as plain data: the stable JSON schema, and back again.

`plan --format json` prints `plan_to_data`; `plan --out` saves it inside a saved-plan file and
`apply --plan` reads it back with `plan_from_data`. The schema is versioned (`format_version`);
fields are only ever added. Secrets never appear: sensitive fields carry fingerprints.
"""

from __future__ import annotations

from typing import Any

from ..errors import StalePlanError
from .model import ApplyResult, Change, FieldChange, Plan, SafetyCheck

FORMAT_VERSION = 1


def summary(plan: Plan) -> dict[str, Any]:
    return {
        "create": plan.count("create"),
        "update": plan.count("update"),
        "adopt": plan.count("adopt"),
        "delete": plan.count("delete"),
        "moved": len(plan.moves),
        "unchanged": len(plan.unchanged),
        "kept": len(plan.kept),
        "unmanaged": plan.unmanaged_total,
        "unmanaged_by_kind": dict(plan.unmanaged),
        "live": plan.live_count,
        "has_changes": plan.has_changes,
    }


def change_to_data(change: Change) -> dict[str, Any]:
    return {
        "kind": change.kind,
        "action": change.action,
        "key": change.key,
        "name": change.name,
        "id": change.id,
        "impact": change.impact,
        "drift": change.drift,
        "sip_uri": change.sip_uri,
        "tm_update": change.tm_update,
        "tm_create": change.tm_create,
        "notes": list(change.notes),
        "fields": [_field_data(f) for f in change.fields],
    }


def _field_data(f: FieldChange) -> dict[str, Any]:
    data = {"field": f.field, "old": f.old, "new": f.new, "impact": f.impact,
            "sensitive": f.sensitive}
    if f.template:
        data["template"] = f.template
    return data


def plan_to_data(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "summary": summary(plan),
        "changes": [change_to_data(c) for c in plan.changes],
        "moves": dict(plan.moves),
        "unchanged": list(plan.unchanged),
        "kept": list(plan.kept),
        "forgotten": list(plan.forgotten),
        "bindings": dict(plan.bindings),
        "kinds": dict(plan.kinds),
        "targeted": plan.targeted,
        "safety": {
            "owned": plan.safety.owned,
            "touched": plan.safety.touched,
            "percent": round(plan.safety.percent, 1),
            "limit_percent": plan.safety.limit_percent,
            "min_owned": plan.safety.min_owned,
            "exceeded": plan.safety.exceeded,
        },
        "warnings": list(plan.warnings),
    }


def plan_from_data(data: Any) -> Plan:
    """Rebuild a `Plan` from `plan_to_data` output; `StalePlanError` if it is not one."""
    try:
        if data["format_version"] != FORMAT_VERSION:
            raise StalePlanError(
                f"the saved plan has format version {data['format_version']}, this voipbin-iac "
                f"reads {FORMAT_VERSION}", hint="run `voipbin-iac plan --out PLAN` again")
        changes = tuple(
            Change(
                action=c["action"], key=c["key"], name=c["name"], id=c["id"],
                impact=c["impact"], drift=bool(c["drift"]), sip_uri=c["sip_uri"],
                tm_update=c["tm_update"], notes=tuple(c["notes"]),
                fields=tuple(FieldChange(f["field"], f["old"], f["new"], f["impact"],
                                         bool(f["sensitive"]), str(f.get("template", "")))
                             for f in c["fields"]),
                kind=str(c.get("kind", "agent")), tm_create=c.get("tm_create"),
            )
            for c in data["changes"]
        )
        safety = data["safety"]
        return Plan(
            changes=changes,
            bindings=dict(data["bindings"]),
            moves=dict(data["moves"]),
            unchanged=tuple(data["unchanged"]),
            kept=tuple(data["kept"]),
            forgotten=tuple(data["forgotten"]),
            unmanaged={str(k): int(v) for k, v in data["summary"].get(
                "unmanaged_by_kind", {"agent": data["summary"]["unmanaged"]}).items()},
            live_count=int(data["summary"]["live"]),
            safety=SafetyCheck(int(safety["owned"]), int(safety["touched"]),
                               float(safety["limit_percent"]), int(safety["min_owned"])),
            warnings=tuple(data["warnings"]),
            kinds={str(k): str(v) for k, v in data.get("kinds", {}).items()},
            targeted=bool(data.get("targeted", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StalePlanError(f"the saved plan is damaged ({type(exc).__name__}: {exc})",
                             hint="run `voipbin-iac plan --out PLAN` again") from None


def result_to_data(result: ApplyResult) -> dict[str, Any]:
    counts: dict[str, int] = {"done": 0, "failed": 0, "skipped": 0, "unknown": 0}
    for outcome in result.outcomes:
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return {
        "format_version": FORMAT_VERSION,
        "ok": result.ok,
        "verified": result.verified,
        "remaining": result.remaining,
        "interrupted": result.interrupted,
        "manifest": result.manifest_path,
        "counts": counts,
        "regenerated": list(result.regenerated),
        "targeted": result.targeted,
        "sip_uris": dict(result.sip_uris),
        "save_errors": list(result.save_errors),
        "stopped": result.stopped,
        "outcomes": [
            {
                "kind": o.change.kind,
                "key": o.change.key,
                "action": o.change.action,
                "status": o.status,
                "id": o.id,
                "reason": o.reason,
                "sip_uri": o.live.sip_uri if o.live else o.change.sip_uri,
            }
            for o in result.outcomes
        ],
    }
