"""Pure rendering: a `Plan` or `ApplyResult` as terminal text, JSON or GitHub Markdown.

Output is deterministic (sorted, no times) so it can be diffed and golden-tested. Sensitive
fields show as `(sensitive, changed)`; long and multi-line texts as `textdiff` shows them (around
their change, never whole); every change carries
its impact: `routing` (a SIP URI appears, changes or disappears), `behaviour`, `cosmetic`.
The Markdown plan is a pull-request comment: the summary and every safety or destructive
warning first, details collapsed, and never more than `COMMENT_BUDGET` characters (GitHub
refuses comments over 65,536): what does not fit is left out with a note saying where the
full plan is. `quiet` renderings (`-q`) are the summary and the failures only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from .model import ApplyResult, Change, FieldChange, Plan
from .serialize import plan_to_data, result_to_data
from .textdiff import line_diff, value_text

_SYMBOL = {"create": "+", "update": "~", "adopt": "=", "delete": "-"}
_COLOUR = {"create": "32", "update": "33", "adopt": "36", "delete": "31"}
COMMENT_BUDGET = 60_000  # characters of a Markdown plan; GitHub's limit is 65,536
ARTIFACT = "voipbin-iac-plan"  # the name the GitHub Actions example uploads the full plan under


@dataclass(frozen=True)
class Context:
    """What the plan is about, for headings; `full_plan` says where the whole plan is when a
    Markdown plan has to be cut."""

    files: tuple[str, ...] = ()
    target: str = ""
    color: bool = False
    full_plan: str = ""


def full_plan_note(env: Mapping[str, str], command: str) -> str:
    """Where the full plan is: the `ARTIFACT` of this GitHub Actions run (from its
    environment), or the command that prints it."""
    run = [env.get(n, "") for n in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if env.get("GITHUB_ACTIONS") == "true" and all(run):
        return (f"the full plan is the `{ARTIFACT}` artifact of "
                f"[this workflow run]({run[0]}/{run[1]}/actions/runs/{run[2]})")
    return f"`{command}` prints the full plan"


def _paint(text: str, code: str, ctx: Context) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if ctx.color and code else text


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
            lines.append(f"{indent}{label} {value_text(f.old, f.new)} -> "
                         f"{value_text(f.new, f.old)}")
    return lines


def _label(change: Change) -> str:
    """`key`, or `key (team)` for kinds other than agents."""
    return change.key if change.kind == "agent" else f"{change.key} ({change.kind})"


def _impact(change: Change, before: str = ", ") -> str:
    """`, behaviour impact`; nothing for a change without one (an adopt as it is)."""
    return f"{before}{change.impact} impact" if change.impact != "none" else ""


def _heading(change: Change) -> str:
    ident = f" ({change.id})" if change.id else ""
    name = f" \"{change.name}\"" if change.name and change.name != change.key else ""
    drift = "  [drift]" if change.drift else ""
    return f"{_label(change)}{name}{ident}: {change.action}{_impact(change)}{drift}"


def plural(count: int, word: str) -> str:
    """`1 agent`, `2 agents`, `1 unmanaged AI`, `2 unmanaged AIs`."""
    return f"{count} {word}{'' if count == 1 else 's'}"


_NOUNS = {"agent": "AI", "team": "team"}


def unmanaged_text(plan: Plan) -> str:
    parts = [plural(n, f"unmanaged {_NOUNS.get(kind, kind)}")
             for kind, n in sorted(plan.unmanaged.items()) if n or kind == "agent"]
    return ", ".join(parts) or "0 unmanaged AIs"


def _moved_only(plan: Plan) -> list[str]:
    """The keys that only move (a moved key with changes counts among the changes)."""
    changed = {c.key for c in plan.changes}
    return [new for new in plan.moves.values() if new not in changed]


def _unchanged(plan: Plan) -> int:
    """Resources left as they are, a moved one not counted again."""
    moved = set(plan.moves.values())
    return sum(1 for key in plan.unchanged if key not in moved)


def summary_line(plan: Plan) -> str:
    parts = [f"{plan.count(a)} to {a}" for a in ("create", "update", "adopt", "delete")]
    extra = [f"{_unchanged(plan)} unchanged", unmanaged_text(plan)]
    if _moved_only(plan):
        extra.insert(0, f"{len(_moved_only(plan))} moved")
    if plan.kept:
        extra.append(f"{len(plan.kept)} kept (not in the file)")
    return f"Plan: {', '.join(parts)}; {', '.join(extra)}."


def _verdict(plan: Plan) -> str:
    if plan.has_changes:
        return summary_line(plan)
    scope = " for the targeted resources" if plan.targeted else ""
    return (f"No changes. The account matches the desired state{scope} "
            f"({plural(_unchanged(plan), 'resource')} unchanged, {unmanaged_text(plan)}).")


def text(plan: Plan, ctx: Context = Context(), *, quiet: bool = False) -> str:
    """The plan for a terminal; `quiet`: its summary (and the safety refusal) only."""
    if quiet:
        safety = [_safety_text(plan)] if plan.safety.exceeded else []
        return "\n".join([*safety, _verdict(plan)]) + "\n"
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
    out.append(_verdict(plan))
    return "\n".join(out) + "\n"


def _safety_text(plan: Plan) -> str:
    s = plan.safety
    return (f"safety: this plan updates or deletes {s.touched} of {s.owned} owned agents "
            f"({s.percent:.0f}%, over the {s.limit_percent:g}% limit); apply needs --force")


def json_text(plan: Plan) -> str:
    return json.dumps(plan_to_data(plan), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


class _Budget:
    """Markdown lines within a number of characters: what does not fit is counted, not cut."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.size = 0
        self.left_out = 0

    def add(self, *lines: str, reserve: int = 0) -> bool:
        size = sum(len(line) + 1 for line in lines)
        if self.left_out or self.size + size + reserve > self.limit:
            self.left_out += 1
            return False
        self.lines += lines
        self.size += size
        return True

    def force(self, *lines: str) -> None:
        """Lines that must be there (closing tags, the note): they come out of the reserve."""
        self.lines += lines
        self.size += sum(len(line) + 1 for line in lines)


_RESERVE = 2_000  # for closing tags and the note on what was left out
_OPEN_TABLE = 30  # more changes than this: the table is collapsed too


def _alerts(plan: Plan) -> list[str]:
    """What a reviewer must see first: the safety refusal, deletions, warnings."""
    out = []
    if plan.safety.exceeded:
        out.append(f"> :warning: **{_safety_text(plan)}**")
    deleted = [c for c in plan.changes if c.action == "delete"]
    if deleted:
        keys = ", ".join(f"`{_md_cell(_label(c))}`" for c in deleted[:20])
        more = f" and {len(deleted) - 20} more" if len(deleted) > 20 else ""
        out.append(f"> :warning: **{plural(len(deleted), 'resource')} deleted**: {keys}{more}; "
                   f"{'its SIP URI stops' if len(deleted) == 1 else 'their SIP URIs stop'} "
                   "working at once")
    out += [f"> :warning: {_md_cell(w)}" for w in plan.warnings]
    return out


def markdown(plan: Plan, ctx: Context = Context(), budget: int = COMMENT_BUDGET) -> str:
    """The plan as a pull-request comment (GitHub-flavoured Markdown), at most `budget`
    characters: summary and warnings first, then the changes, then each change's details."""
    where = ", ".join(f"`{f}`" for f in ctx.files) or "the desired state"
    out = _Budget(budget - _RESERVE)
    out.force(f"### voipbin-iac plan for {where}", "")
    if not plan.has_changes:
        out.force(f"**No changes.** The account matches "
                  f"({plural(_unchanged(plan), 'resource')} unchanged, {unmanaged_text(plan)}).")
        return "\n".join(out.lines) + "\n"
    out.force(f"**{summary_line(plan)[6:-1]}**", "")
    for alert in _alerts(plan):
        out.add(alert, "")
    collapsed = len(plan.changes) > _OPEN_TABLE and out.add(
        f"<details><summary>{plural(len(plan.changes), 'change')}</summary>", "")
    rows = 0
    if plan.changes and out.add("| | key | action | impact | fields |", "|---|---|---|---|---|"):
        for c in plan.changes:
            drift = " (drift)" if c.drift else ""
            fields = ", ".join(f"`{f.field}`" for f in c.fields) or "-"
            impact = c.impact if c.impact != "none" else "-"
            rows += out.add(f"| `{_SYMBOL[c.action]}` | `{_md_cell(_label(c))}` | {c.action}"
                            f"{drift} | {impact} | {_md_cell(fields)} |")
        out.force("", *(["</details>", ""] if collapsed else []))
    extra = [f"- moved `{o}` -> `{n}` (same AI, same SIP URI)" for o, n in plan.moves.items()]
    extra += [f"- kept `{k}`: owned but not in the file (`--prune` deletes it)" for k in plan.kept]
    for line in extra:
        out.add(line)
    if extra:
        out.force("")
    shown = 0
    for c in plan.changes:
        block = [f"<details><summary><code>{_label(c)}</code>: {c.action}"
                 f"{_impact(c, ' (')}{')' if c.impact != 'none' else ''}</summary>", "",
                 "```diff", *_diff_block(c), "```", ""]
        if c.notes:
            block += [*(f"> {note}" for note in c.notes), ""]
        shown += out.add(*block, "</details>", "")
    if out.left_out:
        where_full = ctx.full_plan or "`voipbin-iac plan` prints the full plan"
        out.force("---", "", f"**Cut to fit a pull-request comment:** {rows} of "
                  f"{plural(len(plan.changes), 'change')} listed, {shown} shown in full; "
                  f"{where_full}.")
    return "\n".join(out.lines) + "\n"


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
                lines.append(f"- {f.field}: {value_text(f.old, f.new)}")
            lines.append(f"+ {f.field}: {value_text(f.new, f.old)}")
    if change.action == "delete":
        lines.append(f"- sip_uri: {change.sip_uri or '(none)'}")
    return lines


def result_text(result: ApplyResult, ctx: Context = Context(), *, quiet: bool = False) -> str:
    """What an apply did, one line per change, then a recap of what failed and the verdict;
    `quiet`: the failures, the recap and the verdict only."""
    out = []
    verbs = {"create": "created", "update": "updated", "adopt": "adopted", "delete": "deleted"}
    for o in result.outcomes:
        c = o.change
        if quiet:  # the failures are in the recap below
            continue
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
    for key in () if quiet else result.regenerated:
        out.append(f"ok      gave {key} a direct hash (it had none)")
    if result.save_errors:
        out.append("")
        out.append("The SIP URIs the account now has (the manifest could not be saved):")
        out += [f"  {key}: {uri or '(no direct hash)'}" for key, uri in result.sip_uris.items()]
    failed = [o for o in result.outcomes if o.status in ("failed", "unknown")]
    if failed:
        if out:
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
                 "differ: run `voipbin-iac plan` to see them.")
    elif result.verified:
        tail += " Verified: the account matches the desired state."
    elif result.remaining is None:
        tail += (" Not verified: the account could not be re-read; run `voipbin-iac plan` to "
                 "check.")
    elif not result.failed:
        tail += (f" Not verified: {plural(result.remaining, 'change')} remain; run "
                 "`voipbin-iac plan` to see them.")
    for problem in result.save_errors:
        tail += f" Not saved: {problem}."
    if result.manifest_path and not result.save_errors:
        tail += f" Manifest: {result.manifest_path}"
    out.append(tail)
    return "\n".join(out) + "\n"


def result_json(result: ApplyResult) -> str:
    return json.dumps(result_to_data(result), indent=2, ensure_ascii=False) + "\n"
