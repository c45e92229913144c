"""Shell completion for bash and zsh, generated from the argparse parser itself.

argparse has no completion of its own and the project avoids extra dependencies (argcomplete),
so this walks the parser: commands, each command's options, and the choices of options that
have them. File arguments fall back to the shell's file completion. Agent and team keys (the
KEY of rotate, call and import, and --target/--exclude) come from `voipbin-iac completion keys
FILE...`, which `keys` answers: the keys of the desired files named on the line (agents.yaml
by default) and of their manifest.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from pathlib import Path

from ..desired import yamlsrc
from ..errors import IacError
from ..state import manifest as manifests

_KEY_COMMANDS = ("rotate", "call", "import")  # their first positional is a KEY
_KEY_OPTIONS = ("--target", "--exclude")


def keys(files: Sequence[str]) -> list[str]:
    """The agent and team keys of `files` and of the manifest beside the last one; a file
    that cannot be read adds nothing (completion never complains)."""
    found: set[str] = set()
    for name in files:
        try:
            data = yamlsrc.load_file(Path(name), name).data
        except IacError:
            continue
        if isinstance(data, dict):
            for section in ("agents", "teams"):
                if isinstance(data.get(section), dict):
                    found.update(str(k) for k in data[section])
    if files:
        with contextlib.suppress(IacError):
            found.update(k for _, k, _ in manifests.read(manifests.path_for(files[-1])).items())
    return sorted(k for k in found if k.strip() and not any(c.isspace() for c in k))


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings if o.startswith("--"))


def _choices(parser: argparse.ArgumentParser) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for action in parser._actions:
        if action.choices and action.option_strings:
            for option in action.option_strings:
                out[option] = [str(c) for c in action.choices]
    return out


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    commands = _commands(parser)
    if shell == "bash":
        return _bash(commands)
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + _bash(commands)
    raise ValueError(f"unsupported shell {shell!r}")


def _bash(commands: dict[str, argparse.ArgumentParser]) -> str:
    cases = []
    for name, sub in sorted(commands.items()):
        choice_cases = "".join(
            f"                {opt}) COMPREPLY=($(compgen -W \"{' '.join(values)}\" -- \"$cur\"));"
            " return;;\n"
            for opt, values in sorted(_choices(sub).items()))
        positional = " ".join(str(c) for a in sub._actions
                              if not a.option_strings and a.choices for c in a.choices)
        key_cases = "".join(
            f"                {opt}) _voipbin_iac_keys; return;;\n"
            for opt in _KEY_OPTIONS if opt in _options(sub))
        first_key = ("            if [[ $COMP_CWORD -eq 2 && \"$cur\" != -* ]]; then "
                     "_voipbin_iac_keys; return; fi\n" if name in _KEY_COMMANDS else "")
        cases.append(
            f"        {name})\n"
            f"            case \"$prev\" in\n{choice_cases}{key_cases}"
            f"            esac\n{first_key}"
            f"            if [[ \"$cur\" == -* ]]; then\n"
            f"                COMPREPLY=($(compgen -W \"{' '.join(_options(sub))}\" -- \"$cur\"))\n"
            f"            else\n"
            f"                COMPREPLY=($(compgen -W \"{positional}\" -f -- \"$cur\"))\n"
            f"            fi;;\n")
    return (
        "# voipbin-iac completion. Load it with: eval \"$(voipbin-iac completion bash)\"\n"
        "_voipbin_iac_keys() {\n"
        "    local word files=()\n"
        "    for word in \"${COMP_WORDS[@]:2}\"; do\n"
        "        case \"$word\" in *.yaml|*.yml) files+=(\"$word\");; esac\n"
        "    done\n"
        "    [[ ${#files[@]} -eq 0 ]] && files=(agents.yaml)\n"
        "    COMPREPLY=($(compgen -W \"$(voipbin-iac completion keys \"${files[@]}\" "
        "2>/dev/null)\" -- \"$cur\"))\n"
        "}\n"
        "_voipbin_iac() {\n"
        "    local cur prev cmd\n"
        "    cur=\"${COMP_WORDS[COMP_CWORD]}\"\n"
        "    prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        "    cmd=\"${COMP_WORDS[1]}\"\n"
        "    if [[ $COMP_CWORD -eq 1 ]]; then\n"
        f"        COMPREPLY=($(compgen -W \"{' '.join(sorted(commands))} --help --version\""
        " -- \"$cur\"))\n"
        "        return\n"
        "    fi\n"
        "    case \"$cmd\" in\n"
        + "".join(cases) +
        "    esac\n"
        "}\n"
        "complete -o default -F _voipbin_iac voipbin-iac\n"
    )
