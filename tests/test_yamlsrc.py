"""yamlsrc: YAML read from the event stream, with a location for every key and list item."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from voipbin_iac.desired import yamlsrc
from voipbin_iac.desired.yamlsrc import Document, dotted, load_file, parse, read_text
from voipbin_iac.errors import ConfigError, Location, Problem


def _error(text: str) -> Problem:
    with pytest.raises(ConfigError) as info:
        parse(text, "f.yaml")
    assert len(info.value.problems) == 1
    return info.value.problems[0]


# -- values ---------------------------------------------------------------------------------


def test_plain_values_and_their_types() -> None:
    doc = parse(
        "s: text\nq: '123'\ni: 42\nneg: -7\nf: 1.5\nnull1: ~\nnull2:\nt: true\n"
        "lst: [a, 1]\nmap: {k: v}\n",
        "f.yaml",
    )
    assert doc.data == {
        "s": "text", "q": "123", "i": 42, "neg": -7, "f": 1.5, "null1": None, "null2": None,
        "t": True, "lst": ["a", 1], "map": {"k": "v"},
    }
    assert type(doc.data["i"]) is int and type(doc.data["t"]) is bool
    assert doc.file == "f.yaml"


@pytest.mark.parametrize(("word", "value"), [
    ("yes", True), ("Yes", True), ("YES", True), ("on", True), ("ON", True), ("true", True),
    ("no", False), ("No", False), ("off", False), ("Off", False), ("false", False),
    ("FALSE", False),
])
def test_yaml_1_1_booleans(word: str, value: bool) -> None:
    assert parse(f"v: {word}\n", "f.yaml").data == {"v": value}


@pytest.mark.parametrize("word", ["y", "n", "'yes'", '"no"', "nope", "True!"])
def test_not_booleans(word: str) -> None:
    assert isinstance(parse(f"v: {word}\n", "f.yaml").data["v"], str)


def test_yaml_1_1_numbers() -> None:
    doc = parse("hex: 0x1F\noctal: 010\nunderscores: 1_000\nsexagesimal: 1:30\n", "f.yaml")
    assert doc.data == {"hex": 31, "octal": 8, "underscores": 1000, "sexagesimal": 90}


@pytest.mark.parametrize("text", [
    "2024-01-31", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    "2002-12-14",
])
def test_timestamps_stay_strings(text: str) -> None:
    assert parse(f"when: {text}\n", "f.yaml").data == {"when": text}


def test_explicit_str_tag_and_non_specific_tag_give_text() -> None:
    assert parse("a: !!str 123\nb: ! 456\nc: !!int '7'\n", "f.yaml").data == {
        "a": "123", "b": "456", "c": 7,
    }


def test_mapping_keys_are_always_text() -> None:
    """`yes:` and `1:` as keys stay the strings written, unlike PyYAML's safe_load."""
    assert parse("yes: a\n1: b\nnull: c\n", "f.yaml").data == {"yes": "a", "1": "b", "null": "c"}


def test_block_scalar_keeps_lines() -> None:
    doc = parse("prompt: |\n  line one\n  line two\n", "f.yaml")
    assert doc.data == {"prompt": "line one\nline two\n"}


def test_utf8_bom_and_non_ascii(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes("\ufeffname: Café ☎\n".encode())
    assert load_file(path).data == {"name": "Café ☎"}


# -- locations ------------------------------------------------------------------------------


def test_locations_of_keys_and_list_items() -> None:
    text = (
        "version: 1\n"              # 1
        "agents:\n"                 # 2
        "  bot:\n"                  # 3
        "    name: Bot\n"           # 4
        "    tool_names:\n"         # 5
        "      - connect_call\n"    # 6
        "      - send_email\n"      # 7
        "    flow: [a,  b]\n"       # 8
    )
    doc = parse(text, "agents.yaml")
    assert doc.where(()) == Location("agents.yaml", 1, 1)
    assert doc.where(("version",)) == Location("agents.yaml", 1, 1)
    assert doc.where(("agents",)) == Location("agents.yaml", 2, 1)
    assert doc.where(("agents", "bot")) == Location("agents.yaml", 3, 3)
    assert doc.where(("agents", "bot", "name")) == Location("agents.yaml", 4, 5)
    assert doc.where(("agents", "bot", "tool_names")) == Location("agents.yaml", 5, 5)
    assert doc.where(("agents", "bot", "tool_names", 0)) == Location("agents.yaml", 6, 9)
    assert doc.where(("agents", "bot", "tool_names", 1)) == Location("agents.yaml", 7, 9)
    assert doc.where(("agents", "bot", "flow", 0)) == Location("agents.yaml", 8, 12)
    assert doc.where(("agents", "bot", "flow", 1)) == Location("agents.yaml", 8, 16)
    assert str(doc.where(("agents", "bot", "flow", 1))) == "agents.yaml:8:16"


def test_where_falls_back_to_the_nearest_parent() -> None:
    doc = parse("a:\n  b: 1\n", "f.yaml")
    assert doc.where(("a", "b", "missing", 3)) == Location("f.yaml", 2, 3)
    assert doc.where(("nothing",)) == Location("f.yaml", 1, 1)


def test_dotted_paths() -> None:
    assert dotted(("agents", "bot", "tool_names", 2)) == "agents.bot.tool_names[2]"
    assert dotted(("version",)) == "version"
    assert dotted(()) == "the document"


# -- anchors, aliases, merge keys -----------------------------------------------------------


def test_anchors_and_aliases() -> None:
    doc = parse("a: &x [1, 2]\nb: *x\nc: &s text\nd: *s\n", "f.yaml")
    assert doc.data == {"a": [1, 2], "b": [1, 2], "c": "text", "d": "text"}
    assert doc.where(("b",)) == Location("f.yaml", 2, 1)


def test_merge_key_explicit_keys_win_in_any_order() -> None:
    text = (
        "base: &base {tts_type: openai, stt_type: deepgram, detail: base}\n"
        "after:\n  <<: *base\n  tts_type: google\n"
        "before:\n  tts_type: google\n  <<: *base\n"
    )
    doc = parse(text, "f.yaml")
    want = {"tts_type": "google", "stt_type": "deepgram", "detail": "base"}
    assert doc.data["after"] == want
    assert doc.data["before"] == want


def test_merge_of_several_mappings_earlier_wins() -> None:
    text = "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n"
    assert parse(text, "f.yaml").data["c"] == {"x": 1, "y": 1, "z": 2}


def test_quoted_merge_key_is_an_ordinary_key() -> None:
    assert parse("'<<': x\n", "f.yaml").data == {"<<": "x"}


def test_explicit_key_repeated_after_merge_is_a_duplicate() -> None:
    problem = _error("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n")
    assert problem.location == Location("f.yaml", 5, 3)
    assert problem.message.startswith("duplicate key 'x' (first at line 4)")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a: 1\nb: *nope\n", (2, 4), "unknown alias *nope"),
    ("a: &k key\n*k : 1\n", (2, 1), "an alias cannot be used as a mapping key"),
    ("a:\n  <<: [1, 2]\n", (2, 7), "`<<` merges only mappings"),
    ("a:\n  <<: text\n", (2, 7), "`<<` merges only mappings"),
])
def test_alias_and_merge_errors(text: str, where: tuple[int, int], message: str) -> None:
    problem = _error(text)
    assert (problem.location.line, problem.location.column) == where
    assert problem.message == message


# -- what is refused ------------------------------------------------------------------------


def test_duplicate_keys_at_every_level() -> None:
    problem = _error("version: 1\nagents: {}\nversion: 2\n")
    assert problem == Problem(
        Location("f.yaml", 3, 1), "duplicate key 'version' (first at line 1): YAML would keep only "
        "the last")
    nested = _error("agents:\n  bot:\n    name: a\n    detail: b\n    name: c\n")
    assert nested.location == Location("f.yaml", 5, 5)
    assert "duplicate key 'name' (first at line 3)" in nested.message
    flow = _error("a: {x: 1, x: 2}\n")
    assert flow.location == Location("f.yaml", 1, 11)


def test_same_key_in_different_mappings_is_fine() -> None:
    assert parse("a: {name: 1}\nb: {name: 2}\n", "f.yaml").data == {
        "a": {"name": 1}, "b": {"name": 2}
    }


def test_second_document_is_refused() -> None:
    problem = _error("a: 1\n---\nb: 2\n")
    assert problem.location == Location("f.yaml", 2, 1)
    assert "found a second `---`" in problem.message
    assert parse("---\na: 1\n", "f.yaml").data == {"a": 1}
    assert parse("a: 1\n...\n", "f.yaml").data == {"a": 1}


@pytest.mark.parametrize("text", ["", "   \n\n", "# only\n  # comments\n\n"])
def test_empty_files(text: str) -> None:
    problem = _error(text)
    assert problem.location == Location("f.yaml")
    assert str(problem).startswith("f.yaml: the file is empty")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("a: [1, 2\n", (2, 1), "invalid YAML: did not find expected ',' or ']'"),
    ("a:\n  b: 1\n c: 2\n", (3, 2), "invalid YAML:"),
    ("a:\n\tb: 1\n", (2, 1), "invalid YAML:"),
    ("a: 'open\n", (2, 1), "invalid YAML:"),
    ("a: b: c\n", (1, 5), "invalid YAML: mapping values are not allowed"),
])
def test_malformed_yaml(text: str, where: tuple[int, int], message: str) -> None:
    problem = _error(text)
    assert (problem.location.line, problem.location.column) == where
    assert problem.message.startswith(message)


@pytest.mark.parametrize(("text", "message"), [
    ("a: !!python/object:os.system {}\n", "YAML tag tag:yaml.org,2002:python/object:os.system"),
    ("a: !!python/name:os.system ''\n", "YAML tag tag:yaml.org,2002:python/name:os.system"),
    ("a: !!binary aGVsbG8=\n", "YAML tag tag:yaml.org,2002:binary"),
    ("a: !!set {x, y}\n", "YAML tag tag:yaml.org,2002:set"),
    ("a: !custom value\n", "YAML tag !custom"),
    ("a: !!map [1]\n", "YAML tag tag:yaml.org,2002:map"),
])
def test_unsupported_tags(text: str, message: str) -> None:
    problem = _error(text)
    assert problem.message.startswith(message)
    assert problem.message.endswith("is not supported here")
    assert problem.location.line == 1


@pytest.mark.parametrize(("text", "message"), [
    ("? [a]\n: 1\n", "a mapping key must be a plain value, not a collection"),
    ("!!int 1: x\n", "a mapping key must be text, not tag:yaml.org,2002:int"),
    ("a: .nan\n", "'.nan' is not a valid float"),
    ("a: -.inf\n", "'-.inf' is not a valid float"),
    # float64 holds integers up to about 1.8e308; beyond, VoIPBin cannot take the number
    (f"a: {2**1024}\n", f"'{2**1024}' is beyond a 64-bit float, the largest number VoIPBin "
     "can store"),
    (f"a: [-{2**1024}]\n", f"'-{2**1024}' is beyond a 64-bit float, the largest number "
     "VoIPBin can store"),
])
def test_refused_keys_and_values(text: str, message: str) -> None:
    assert _error(text).message == message


def test_the_largest_integers_a_float_holds_are_read() -> None:
    biggest = int(sys.float_info.max)
    assert parse(f"a: {biggest}\nb: -{biggest}\n", "f.yaml").data == {"a": biggest,
                                                                        "b": -biggest}


def test_invalid_engine_key_scalar_is_not_quoted() -> None:
    problem = _error("agents:\n  bot:\n    engine_key: !!int sk-not-a-number-123\n")
    assert problem.message == "the value is not a valid int"
    assert "sk-not-a-number-123" not in str(problem)


def test_nesting_limit() -> None:
    # The top-level mapping is one level, so MAX_DEPTH - 1 lists inside it still fit.
    ok = "a: " + "[" * (yamlsrc.MAX_DEPTH - 1) + "]" * (yamlsrc.MAX_DEPTH - 1) + "\n"
    value, depth = parse(ok, "f.yaml").data["a"], 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == yamlsrc.MAX_DEPTH - 1
    too_deep = "a: " + "[" * yamlsrc.MAX_DEPTH + "]" * yamlsrc.MAX_DEPTH + "\n"
    problem = _error(too_deep)
    assert problem.message == f"nesting deeper than {yamlsrc.MAX_DEPTH} levels"
    assert problem.location == Location("f.yaml", 1, 4 + yamlsrc.MAX_DEPTH - 1)


def test_block_nesting_stops_at_the_limit() -> None:
    """5000 levels of block lists: refused at level 65, not parsed to the end."""
    problem = _error("a:\n" + "".join("  " * i + "- \n" for i in range(1, 5000)))
    assert problem.message == "nesting deeper than 64 levels"
    assert problem.location.line == 65


def _bomb(levels: int, leaf: str = "lol") -> str:
    lines = [f"l0: &l0 [{', '.join([leaf] * 9)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_by_the_value_budget() -> None:
    problem = _error(_bomb(9))
    assert problem.message == (
        f"the document expands to more than {yamlsrc.MAX_NODES} values (an alias bomb?)"
    )
    assert problem.location.line == 7  # the first alias that goes over the budget


def test_aliases_within_the_budget_are_shared_not_copied() -> None:
    doc = parse(_bomb(4), "f.yaml")  # 9**5 values, well under the budget
    assert doc.data["l4"][0] is doc.data["l3"]
    assert len(doc.data["l4"]) == 9


def test_alias_bomb_of_long_text_is_refused_by_the_character_budget() -> None:
    problem = _error(_bomb(6, leaf="x" * 2000))  # few values, ~9.5e9 characters
    assert problem.message == (
        f"the document expands to more than {yamlsrc.MAX_CHARS} characters (an alias bomb?)"
    )


def test_budgets_count_expansions_not_text() -> None:
    # mapping 1, key a 1, list a 10, key b 1, list b 1, each *a 10: 34 with two aliases
    nodes = yamlsrc.Budget(nodes=34)
    parse("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a]\n", "f.yaml", nodes)
    with pytest.raises(ConfigError):
        parse("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a, *a]\n", "f.yaml", nodes)
    chars = yamlsrc.Budget(chars=100)
    parse(f"a: &a {'x' * 40}\nb: [*a]\n", "f.yaml", chars)
    with pytest.raises(ConfigError) as info:
        parse(f"a: &a {'x' * 40}\nb: [*a, *a]\n", "f.yaml", chars)
    assert "characters" in info.value.problems[0].message


# -- reading files --------------------------------------------------------------------------


def test_load_file_uses_the_display_name(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text("version: 1\n", encoding="utf-8")
    assert load_file(path).file == str(path)
    doc = load_file(path, "shown.yaml")
    assert isinstance(doc, Document)
    assert doc.file == "shown.yaml"
    assert doc.where(("version",)) == Location("shown.yaml", 1, 1)


def test_read_text_refusals(tmp_path: Path) -> None:
    def refusal(path: Path, **kwargs: int) -> Problem:
        with pytest.raises(ConfigError) as info:
            read_text(path, "shown", **kwargs)
        (problem,) = info.value.problems
        return problem

    assert refusal(tmp_path / "missing.yaml") == Problem(Location("shown"), "file not found")
    assert refusal(tmp_path).message == "is a directory, not a file"

    binary = tmp_path / "b.yaml"
    binary.write_bytes(b"a: 1\n\x00\x01")
    assert "binary file" in refusal(binary).message

    latin = tmp_path / "l.yaml"
    latin.write_bytes(b"a: 1\nname: Caf\xe9\n")
    assert refusal(latin) == Problem(Location("shown", 2, 10),
                                     "not valid UTF-8 text; save the file as UTF-8")

    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 100 + "\n", encoding="utf-8")
    assert refusal(big, max_bytes=50).message == "file is 104 bytes, over the limit of 50"
    assert read_text(big, "shown", max_bytes=104).startswith("a: x")


def test_errors_print_as_file_line_column() -> None:
    with pytest.raises(ConfigError) as info:
        parse("a: 1\na: 2\n", "dir/agents.yaml")
    assert info.value.lines() == [
        "dir/agents.yaml:2:1: duplicate key 'a' (first at line 1): YAML would keep only the last"
    ]


def test_read_text_takes_only_regular_files(tmp_path: Path) -> None:
    """Devices and FIFOs are refused by type, before any read (the FIFO and /dev/zero cases,
    which would hang or exhaust memory if this broke, run bounded in test_invalid_corpus.py)."""
    with pytest.raises(ConfigError) as info:
        read_text(Path("/dev/null"), "shown")
    assert info.value.problems[0] == Problem(Location("shown"),
                                             "is a character device, not a regular file")
    real = tmp_path / "real.yaml"
    real.write_text("a: 1\n", encoding="utf-8")
    (tmp_path / "link.yaml").symlink_to(real)  # a desired file named by its user may be a link
    assert read_text(tmp_path / "link.yaml", "shown") == "a: 1\n"


def test_read_bounded_reads_at_most_the_limit(tmp_path: Path) -> None:
    from voipbin_iac.desired import readfile

    path = tmp_path / "f"
    path.write_bytes(b"x" * 10)
    assert readfile.read_bounded(path, "shown", 10) == b"x" * 10
    with pytest.raises(readfile.TooBig) as info:
        readfile.read_bounded(path, "shown", 9)
    assert info.value.size == 10
    link = tmp_path / "l"
    link.symlink_to(path)
    with pytest.raises(ConfigError) as refused:
        readfile.read_bounded(link, "shown", 10, follow_symlinks=False)
    assert refused.value.problems[0].message == "is a symbolic link, not a regular file"
