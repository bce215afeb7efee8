"""The pages users read stay true: the CLI page is the parser's, links lead somewhere, the README stays short."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from glancekit.cli_docs import cli_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_cli_page_is_what_the_parser_says():
    page = ROOT / "docs" / "cli.md"
    assert page.read_text() == cli_markdown(), "docs/cli.md drifted: run python -m glancekit.cli_docs docs/cli.md"


def test_cli_page_lists_every_command_and_option():
    text = cli_markdown()
    for command in ("train", "val", "predict", "export", "bench", "flip", "fuse", "ship", "serve", "audit"):
        assert f"\n## glance {command}\n" in text
    assert "| `--remove` |" in text and "| `--out OUT` | write the fused weights here" in text
    assert "|  |" not in text  # every argument says what it is for


def test_the_task_argument_names_every_registered_task():
    from glancekit.cli import COMMON_HELP
    from glancekit.tasks import names
    assert all(name in COMMON_HELP["task"] for name in names())


def test_readme_is_a_short_page_and_its_links_lead_somewhere():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" not in target:
                assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


@pytest.mark.parametrize("folder", ["README.md", "docs", "glancekit", "tools", "tests", "examples"])
def test_the_project_speaks_of_dates_not_of_how_work_was_organised(folder):
    paths = [ROOT / folder] if folder.endswith(".md") else sorted((ROOT / folder).rglob("*"))
    pattern = re.compile(r"\b[Ss]tops? \d+")
    for path in paths:
        if path.suffix in (".md", ".py", ".html", ".js", ".yaml", ".json", ".csv", ".txt"):
            text = path.read_text(errors="ignore")
            assert not pattern.search(text), f"{path.relative_to(ROOT)}: {pattern.search(text).group(0)!r}"
