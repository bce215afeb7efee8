"""docs/cli.md, written from the argparse parser itself so the page cannot drift from the commands.

    python -m glancekit.cli_docs docs/cli.md      # rewrite the page after changing a command or option

A test compares the page in the repository with what this writes.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import _parser

HEADER = """# The `glance` command line

`glance COMMAND TASK [options]`. Every command, every option, and its default, as the installed `glance`
parses them (this page is generated from the parser: `python -m glancekit.cli_docs docs/cli.md`).
Bad input (a missing or corrupt file, an unknown task or label, an empty folder, an option out of range)
prints one line `glance: error: ...` and exits with code 2.
"""


def _flags(action: argparse.Action) -> str:
    if not action.option_strings:
        name = action.metavar or action.dest
        return f"`{name.upper() if action.nargs not in ('+', '*') else name.upper() + '...'}`"
    metavar = "" if action.nargs == 0 else " " + (action.metavar or action.dest.upper())
    return ", ".join(f"`{o}{metavar}`" for o in action.option_strings)


def _row(action: argparse.Action) -> str:
    bits = [(action.help or "").replace("|", "\\|")]
    if action.choices:
        bits.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        bits.append("required")
    if action.option_strings and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS, []):
        bits.append(f"default `{action.default}`")
    if action.nargs in ("?", "*"):
        bits.append("optional")
    return f"| {_flags(action)} | {'; '.join(b for b in bits if b)} |"


def cli_markdown() -> str:
    parser = _parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help or "" for c in sub._choices_actions}
    lines = [HEADER, "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#glance-{name}) | {helps.get(name, '')} |" for name in sub.choices]
    for name, p in sub.choices.items():
        what = helps.get(name, "")
        positionals = " ".join(a.dest.upper() + ("..." if a.nargs in ("+", "*") else "")
                               for a in p._actions if not a.option_strings)
        lines += ["", f"## glance {name}", "", what[:1].upper() + what[1:] + ".", "",
                  f"    glance {name} {positionals} [options]".replace("  ", " "), "",
                  "| argument | meaning |", "|---|---|"]
        lines += [_row(a) for a in p._actions if not isinstance(a, argparse._HelpAction)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = cli_markdown()
    if args:
        Path(args[0]).parent.mkdir(parents=True, exist_ok=True)
        Path(args[0]).write_text(text)
        print(f"wrote {args[0]}")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
