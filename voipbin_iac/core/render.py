"""Pure rendering: a `Plan` or `ApplyResult` as terminal text, JSON or GitHub Markdown.

Output is deterministic (sorted, no times) so it can be diffed and golden-tested. Sensitive
fields show as `(sensitive, changed)`; multi-line prompts as a line diff; every change carries
its impact: `routing` (a SIP URI appears, changes or disappears), `behaviour`, `cosmetic`.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from .model import ApplyResult, Change, FieldChange, Plan
from .serialize import plan_to_data, result_to_data

_SYMBOL = {"create": "+", "update": "~", "adopt": "=", "delete": "-"}
_COLOUR = {"create": "32", "update": "33", "adopt": "36", "delete": "31"}


@dataclass(frozen=True)
class Context:
    """What the plan is about, for headings."""

    files: tuple[str, ...] = ()
    target: str = ""
    color: bool = False


def _paint(text: str, code: str, ctx: Context) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if ctx.color and code else text


def value_text(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _multiline(change: FieldChange) -> bool:
    return any(isinstance(v, str) and "\n" in v.rstrip("\n") for v in (change.old, change.new))


def _sensitive_text(change: FieldChange, action: str) -> str:
    if change.template or (change.sensitive and change.field != "engine_key"):
        written = f" {json.dumps(change.template, ensure_ascii=False)}" if change.template else ""
        if action == "create":
            return f"(from the environment{':' if written else ''}{written})"
        return (f"(from the environment{':' if written else ''}{written}; changed "
                f"{change.old or '(none)'} -> {change.new or '(none)'})")
    if action == "create":
        return "(sensitive)"
    if not change.new:
        return "(sensitive, removed)"
    if change.old is None:
        return "(sensitive, not shown by VoIPBin: will be set)"
    return "(sensitive, changed)"


def line_diff(old: str | None, new: str | None) -> list[str]:
    """Changed lines of a multi-line text, as `- old` / `+ new` / `  context` lines."""
    old_lines = (old or "").splitlines()
    new_lines = (new or "").splitlines()
    out = []
    for line in difflib.unified_diff(old_lines, new_lines, lineterm="", n=1):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            if out:
                out.append("  ...")
            continue
        out.append(f"{line[:1] or ' '} {line[1:]}")
    return out


def _field_lines(change: Change, ctx: Context, indent: str) -> list[str]:
    lines = []
    width = max((len(f.field) for f in change.fields), default=0)
    for f in change.fields:
        label = f"{f.field}:".ljust(width + 1)
        if f.sensitive:
            lines.append(f"{indent}{label} {_sensitive_text(f, change.action)}")
        elif _multiline(f):
            lines.append(f"{indent}{f.field}:")
            for line in line_diff(f.old, f.new):
                code = {"+": "32", "-": "31"}.get(line[:1], "")
                lines.append(indent + "  " + _paint(line, code, ctx))
        elif change.action == "create":
            lines.append(f"{indent}{label} {value_text(f.new)}")
        else:
            lines.append(f"{indent}{label} {value_text(f.old)} -> {value_text(f.new)}")
    return lines


def _label(change: Change) -> str:
    """`key`, or `key (team)` for kinds other than agents."""
    return change.key if change.kind == "agent" else f"{change.key} ({change.kind})"


def _heading(change: Change) -> str:
    ident = f" ({change.id})" if change.id else ""
    name = f" \"{change.name}\"" if change.name and change.name != change.key else ""
    drift = "  [drift]" if change.drift else ""
    return f"{_label(change)}{name}{ident}: {change.action}, {change.impact} impact{drift}"


def plural(count: int, word: str) -> str:
    """`1 agent`, `2 agents`, `1 unmanaged AI`, `2 unmanaged AIs`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


_NOUNS = {"agent": "AI", "team": "team"}


def unmanaged_text(plan: Plan) -> str:
    parts = [plural(n, f"unmanaged {_NOUNS.get(kind, kind)}")
             for kind, n in sorted(plan.unmanaged.items()) if n or kind == "agent"]
    return ", ".join(parts) or "0 unmanaged AIs"


def summary_line(plan: Plan) -> str:
    parts = [f"{plan.count(a)} to {a}" for a in ("create", "update", "adopt", "delete")]
    extra = [f"{len(plan.unchanged)} unchanged", unmanaged_text(plan)]
    if plan.moves:
        extra.insert(0, f"{len(plan.moves)} moved")
    if plan.kept:
        extra.append(f"{len(plan.kept)} kept (not in the file)")
    return f"Plan: {', '.join(parts)}; {', '.join(extra)}."


def text(plan: Plan, ctx: Context = Context()) -> str:
    """The plan for a terminal."""
    where = ", ".join(ctx.files) or "the desired state"
    against = f" against {ctx.target}" if ctx.target else ""
    count = plural(plan.live_count, "live resource")
    out = [f"voipbin-iac plan for {where}{against} ({count})", ""]
    for change in plan.changes:
        symbol = _paint(_SYMBOL[change.action], _COLOUR[change.action], ctx)
        out.append(f"{symbol} {_heading(change)}")
        out.extend(_field_lines(change, ctx, "    "))
        out.extend(f"    note: {note}" for note in change.notes)
    if plan.changes:
        out.append("")
    for old, new in plan.moves.items():
        out.append(f"moved: {old} -> {new} (same AI, same SIP URI)")
    if plan.kept:
        out.append(f"kept: {', '.join(plan.kept)} (owned but not in the file; --prune deletes)")
    if plan.forgotten:
        out.append(f"forgotten: {', '.join(plan.forgotten)} (their AIs are gone; dropped from "
                   "the manifest)")
    out.extend(f"warning: {w}" for w in plan.warnings)
    if plan.safety.exceeded:
        out.append(_safety_text(plan))
    if plan.moves or plan.kept or plan.forgotten or plan.warnings or plan.safety.exceeded:
        out.append("")
    if not plan.has_changes:
        scope = " for the targeted resources" if plan.targeted else ""
        out.append(f"No changes. The account matches the desired state{scope} "
                   f"({plural(len(plan.unchanged), 'resource')} unchanged, "
                   f"{unmanaged_text(plan)}).")
    else:
        out.append(summary_line(plan))
    return "\n".join(out) + "\n"


def _safety_text(plan: Plan) -> str:
    s = plan.safety
    return (f"safety: this plan updates or deletes {s.touched} of {s.owned} owned agents "
            f"({s.percent:.0f}%, over the {s.limit_percent:g}% limit); apply needs --force")


def json_text(plan: Plan) -> str:
    return json.dumps(plan_to_data(plan), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan, ctx: Context = Context()) -> str:
    """The plan as a pull-request comment (GitHub-flavoured Markdown)."""
    where = ", ".join(f"`{f}`" for f in ctx.files) or "the desired state"
    out = [f"### voipbin-iac plan for {where}", ""]
    if not plan.has_changes:
        out.append(f"**No changes.** The account matches "
                   f"({plural(len(plan.unchanged), 'resource')} unchanged, "
                   f"{unmanaged_text(plan)}).")
        return "\n".join(out) + "\n"
    out.append(f"**{summary_line(plan)[6:-1]}**")
    out.append("")
    if plan.changes:
        out += ["| | key | action | impact | fields |", "|---|---|---|---|---|"]
        for c in plan.changes:
            drift = " (drift)" if c.drift else ""
            fields = ", ".join(f"`{f.field}`" for f in c.fields) or "-"
            out.append(f"| `{_SYMBOL[c.action]}` | `{_md_cell(_label(c))}` | {c.action}{drift} | "
                       f"{c.impact} | {_md_cell(fields)} |")
        out.append("")
        for c in plan.changes:
            out.append(f"<details><summary><code>{_label(c)}</code>: {c.action} "
                       f"({c.impact} impact)</summary>")
            out += ["", "```diff"]
            out += _diff_block(c)
            out += ["```", ""]
            if c.notes:
                out += [*(f"> {note}" for note in c.notes), ""]
            out += ["</details>", ""]
    extra = [f"- moved `{o}` -> `{n}` (same AI, same SIP URI)" for o, n in plan.moves.items()]
    extra += [f"- kept `{k}`: owned but not in the file (`--prune` deletes it)" for k in plan.kept]
    extra += [f"- :warning: {w}" for w in plan.warnings]
    if plan.safety.exceeded:
        extra.append(f"- :warning: {_safety_text(plan)}")
    if extra:
        out += [*extra, ""]
    return "\n".join(out) + "\n"


def _diff_block(change: Change) -> list[str]:
    lines = []
    for f in change.fields:
        if f.sensitive:
            lines.append(f"! {f.field}: {_sensitive_text(f, change.action)}")
        elif _multiline(f):
            lines.append(f"  {f.field}:")
            lines += [f"{d[:1]}   {d[2:]}" if d[:1] in "+-" else f"    {d[2:]}"
                      for d in line_diff(f.old, f.new)]
        else:
            if change.action != "create":
                lines.append(f"- {f.field}: {value_text(f.old)}")
            lines.append(f"+ {f.field}: {value_text(f.new)}")
    if change.action == "delete":
        lines.append(f"- sip_uri: {change.sip_uri or '(none)'}")
    return lines


def result_text(result: ApplyResult, ctx: Context = Context()) -> str:
    """What an apply did, one line per change, then a recap of what failed and the verdict."""
    out = []
    verbs = {"create": "created", "update": "updated", "adopt": "adopted", "delete": "deleted"}
    for o in result.outcomes:
        c = o.change
        if o.status == "done":
            uri = o.live.sip_uri if o.live and c.action != "delete" else ""
            mark = _paint("ok", "32", ctx)
            out.append(f"{mark}      {verbs[c.action]} {_label(c)}" + (f"  {uri}" if uri else ""))
        elif o.status == "failed":
            out.append(f"{_paint('FAILED', '31', ctx)}  {c.action} {_label(c)}: {o.reason}")
        elif o.status == "unknown":
            out.append(f"{_paint('UNKNOWN', '33', ctx)} {c.action} {_label(c)}: {o.reason}")
        else:
            out.append(f"skipped {c.action} {_label(c)}: {o.reason}")
    for key in result.regenerated:
        out.append(f"ok      gave {key} a direct hash (it had none)")
    if result.save_errors:
        out.append("")
        out.append("The SIP URIs the account now has (the manifest could not be saved):")
        out += [f"  {key}: {uri or '(no direct hash)'}" for key, uri in result.sip_uris.items()]
    failed = [o for o in result.outcomes if o.status in ("failed", "unknown")]
    if failed:
        out.append("")
        out.append(f"{plural(len(failed), 'change')} did not go through:")
        out += [f"  {_label(o.change)}: {o.change.action} {o.status}: "
                f"{o.reason.splitlines()[0] if o.reason else ''}" for o in failed]
    data = result_to_data(result)["counts"]
    tail = f"Apply: {data['done']} done, {data['failed']} failed, {data['skipped']} skipped"
    tail += f", {data['unknown']} unknown." if data["unknown"] else "."
    if result.stopped:
        tail += f" Stopped: {result.stopped}."
    if result.interrupted:
        tail += " Interrupted: the manifest records what was done; run apply again to finish."
    elif result.verified and result.targeted:
        tail += (" Verified for the targeted resources (--target/--exclude); others may still "
                 "differ: run plan to see them.")
    elif result.verified:
        tail += " Verified: the account matches the desired state."
    elif result.remaining is None:
        tail += " Not verified: the account could not be re-read; run plan to check."
    elif not result.failed:
        tail += f" Not verified: {plural(result.remaining, 'change')} remain; run plan to see them."
    for problem in result.save_errors:
        tail += f" Not saved: {problem}."
    if result.manifest_path and not result.save_errors:
        tail += f" Manifest: {result.manifest_path}"
    out.append(tail)
    return "\n".join(out) + "\n"


def result_json(result: ApplyResult) -> str:
    return json.dumps(result_to_data(result), indent=2, ensure_ascii=False) + "\n"
