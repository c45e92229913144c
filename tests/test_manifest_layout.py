"""The fast manifest reader (issue: performance) reads only this tool's own layout, and reads it
exactly as the careful YAML reader does; everything else falls back to the careful reader.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from voipbin_iac.core.model import Manifest, ManifestEntry
from voipbin_iac.desired.yamlsrc import parse
from voipbin_iac.errors import ManifestError
from voipbin_iac.state import layout
from voipbin_iac.state import manifest as manifests

UUID = "4f1c9a7e-0000-4000-8000-{:012d}"
NAMES = ["Bot", "Support: Line", "it's", "'quoted'", '"double"', "123", "0x1F", "1e3", "true",
         "no", "null", "~", "- dash", "# hash", "a #b", "tab\there", "ünïcödé ✓", "",
         " padded ", "trailing ", "x" * 150, "word " * 30, "multi\nline", "12:30",
         "2026-01-01", "[list]", "{map}", "*star", "&amp", "!tag", "%pct", "@at", "`tick",
         "a: b", "café", "\u2028sep", "CR\r", "=", "<<", ".5", "+1", "-1", "yes please",
         "Off", "0d8c", "NaN", ".inf"]


def entry(i: int, name: str, **extra: object) -> ManifestEntry:
    return ManifestEntry(id=UUID.format(i), name=name, direct_hash=f"direct.{i:012x}",
                         engine_key_fingerprint="3c9a1e0b7d21", fingerprint=f"{i:016x}",
                         **extra)  # type: ignore[arg-type]


def sample(names: list[str], **extra: object) -> Manifest:
    agents = {f"k{i:03d}": entry(i, n, **extra) for i, n in enumerate(names)}
    teams = {"desk": ManifestEntry(id=UUID.format(999), name="Desk",
                                   direct_hash="direct.0000000003e7", fingerprint="ab" * 8,
                                   members={"front": UUID.format(0)})}
    return Manifest({"agent": agents, "team": teams}, account=UUID.format(777),
                    files=("agents.yaml", "env/prod.yaml"))


def careful(text: str) -> object:
    return parse(text, "m").data


@pytest.mark.parametrize("name", NAMES)
def test_each_name_is_read_as_the_careful_reader_reads_it_or_left_to_it(name: str) -> None:
    text = manifests.dumps(sample([name, "Plain"]))
    fast = layout.parse(text, manifests.HEADER)
    assert fast is None or fast == careful(text)


def test_random_manifests_round_trip_through_either_reader(tmp_path: Path) -> None:
    rng = random.Random(7)
    alphabet = string.printable + "éü✓\u2028\x85'\"#:-"
    fast_used = 0
    for round_no in range(150):
        names = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
                 for _ in range(rng.randint(1, 5))]
        wanted = sample(names, protect=rng.random() < 0.5)
        text = manifests.dumps(wanted)
        fast = layout.parse(text, manifests.HEADER)
        if fast is not None:
            fast_used += 1
            assert fast == careful(text), names
        path = tmp_path / f"m{round_no}.manifest.yaml"
        path.write_text(text)
        assert manifests.read(path) == wanted
    assert fast_used > 30  # the fast path is the common one


def test_an_ordinary_manifest_takes_the_fast_path() -> None:
    text = manifests.dumps(sample(["Support Bot", "Sales", "Booking Assistant"]))
    assert layout.parse(text, manifests.HEADER) == careful(text)
    empty = manifests.dumps(Manifest())
    assert layout.parse(empty, manifests.HEADER) == careful(empty) == {"version": 1,
                                                                         "agents": {}}


@pytest.mark.parametrize("edit", [
    lambda t: t.replace("  k001:\n", "  k000:\n", 1),  # a duplicate key (a merge gone wrong)
    lambda t: t + "# a comment\n",
    lambda t: t.replace("\n", "\r\n"),
    lambda t: t.replace("version: 1", "version: 1.0"),
    lambda t: t.replace("    name: Plain", '    name: "Plain"'),
    lambda t: t.replace("    protect: true", "    protect: yes"),
    lambda t: t.replace("agents:\n", "agents:\n\n"),
    lambda t: t.replace("    name: Plain", "    name:"),
    lambda t: t.replace("  k001:", "  k001:  "),
    lambda t: t.replace("    name: Plain", "    name: Plain:"),  # not YAML at all
    lambda t: t.rstrip("\n"),
    lambda t: t[t.index("\n") + 1:],  # no header: written by hand
])
def test_anything_else_goes_to_the_careful_reader(edit, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = edit(manifests.dumps(sample(["Bot", "Plain"], protect=True)))
    assert layout.parse(text, manifests.HEADER) is None
    path = tmp_path / "agents.manifest.yaml"
    path.write_text(text, newline="")
    try:
        read = manifests.read(path)
    except ManifestError as exc:  # the careful reader's own verdict, located
        assert "agents.manifest.yaml" in exc.message
    else:
        assert read.agents["k000"].id == UUID.format(0)


def test_a_duplicate_key_is_still_refused_with_its_line(tmp_path: Path) -> None:
    text = manifests.dumps(sample(["Bot", "Other"])).replace("  k001:\n", "  k000:\n", 1)
    path = tmp_path / "agents.manifest.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"manifest.yaml:\d+:\d+: duplicate key 'k000'"):
        manifests.read(path)


def test_a_schema_problem_is_reported_by_the_careful_reader_with_its_line(
        tmp_path: Path) -> None:
    text = manifests.dumps(sample(["Bot"])).replace(UUID.format(0), "not-a-uuid", 1)
    assert layout.parse(text, manifests.HEADER) is not None  # the layout itself is fine
    path = tmp_path / "agents.manifest.yaml"
    path.write_text(text)
    with pytest.raises(ManifestError, match=r"manifest.yaml:\d+:\d+: .*not-a-uuid"):
        manifests.read(path)


def pyyaml(data: dict) -> str:  # type: ignore[type-arg]
    import yaml

    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                     sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)


@pytest.mark.parametrize("name", NAMES)
def test_each_name_is_written_as_pyyaml_writes_it_or_left_to_pyyaml(name: str) -> None:
    data = manifests.to_data(sample([name, "Plain"]))
    fast = layout.emit(data)
    assert fast is None or fast == pyyaml(data)


def test_random_values_are_written_as_pyyaml_writes_them() -> None:
    rng = random.Random(11)
    alphabet = "0123456789abcdefeE.+-_: xyzTtNnYyOo~@/=#'\"\t\u00e9"
    written = 0
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        value = rng.choice([0, 1, -5, True, False, {}, [], text, text * 9])
        data = {"version": 1, "account": text, "files": [text, "agents.yaml"],
                "agents": {rng.choice(["a", "b1", "x_y", "k-1"]): {"name": text, "n": value}}}
        fast = layout.emit(data)
        if fast is not None:
            written += 1
            assert fast == pyyaml(data), data
    assert written > 500


def test_a_large_ordinary_manifest_is_written_by_emit() -> None:
    wanted = sample([f"Bench Agent {i:05d}" for i in range(300)])
    data = manifests.to_data(wanted)
    assert layout.emit(data) == pyyaml(data)  # hex digests that read as numbers are quoted
    assert manifests.dumps(wanted) == manifests.HEADER + pyyaml(data)
