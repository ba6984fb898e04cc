"""The README and docs/ as a reader meets them: every `rtstyle` command shown exists with the
options shown, and every relative link or picture points at a file in the repository."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "models" / "README.md"]

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(rtstyle [^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def command_lines(markdown: str) -> list[str]:
    """Each `rtstyle ...` line of the fenced code blocks (continuations joined) and inline code spans."""
    lines = []
    for block in FENCE.findall(markdown):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("rtstyle "):
                lines.append(line.strip())
    return lines + INLINE.findall(FENCE.sub("", markdown))


def options_of(command) -> set[str]:
    return {"--help"} | {name for p in command.params for name in (*p.opts, *p.secondary_opts) if name.startswith("-")}


def check_command(line: str, app) -> list[str]:
    """Problems with one shown command line: an unknown command or an option the command lacks."""
    tokens = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)[1:]
    if not tokens:
        return [f"{line!r}: no command"]
    if tokens[0].startswith("-"):  # rtstyle --version, rtstyle --help
        known, name, args = options_of(app), "rtstyle", tokens
    elif tokens[0] in app.commands:
        name, args = tokens[0], tokens[1:]
        known = options_of(app.commands[name])
    else:
        return [f"{line!r}: no command {tokens[0]!r} (commands: {', '.join(app.commands)})"]
    unknown = [t.split("=")[0] for t in args if t.startswith("-") and t != "-" and t.split("=")[0] not in known]
    return [f"{line!r}: {name} has no option {t}" for t in unknown]


@pytest.fixture(scope="module")
def app():
    import typer.main

    from rtstyle.cli import app

    return typer.main.get_command(app)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_rtstyle_command_shown_exists(page, app):
    lines = command_lines(page.read_text())
    problems = [problem for line in lines for problem in check_command(line, app)]
    assert not problems, "\n".join(problems)


def test_the_readme_shows_the_main_jobs(app):
    shown = {shlex.split(line)[1] for line in command_lines((ROOT / "README.md").read_text())}
    assert {"webcam", "video", "image", "still"} <= shown


def test_the_checker_catches_a_wrong_command_and_option(app):
    assert check_command("rtstyle image a.jpg -m candy -o b.jpg", app) == []
    assert check_command("rtstyle train ... --resume            # a comment --not-an-option", app) == []
    assert check_command("rtstyle export painting.pt -o painting.onnx [--fp16]", app) == []
    assert check_command("rtstyle imgae a.jpg", app)
    assert check_command("rtstyle image a.jpg --colour red", app)
    assert check_command("rtstyle --versoin", app)


def missing_links(markdown: str, folder: Path) -> list[str]:
    """Relative link and picture targets (outside code blocks) that are not files under `folder`."""
    targets = [t for t in LINK.findall(FENCE.sub("", markdown)) if not re.match(r"[a-z]+:", t) and not t.startswith("#")]
    return [t for t in targets if not (folder / t.split("#")[0]).exists()]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_picture_exists(page):
    missing = missing_links(page.read_text(), page.parent)
    assert not missing, f"{page.name}: missing {missing}"


def test_the_link_checker_catches_a_missing_file():
    markdown = "[a](docs/nope.md) ![b](docs/speed.md#runs) [c](https://example.org) [d](#top)\n```\n[e](f.md)\n```\n"
    assert missing_links(markdown, ROOT) == ["docs/nope.md"]


def test_readme_is_a_guide_not_a_notebook():
    assert len((ROOT / "README.md").read_text()) <= 12_000


def test_version():
    from rtstyle import __version__

    result = subprocess.run([sys.executable, "-m", "rtstyle.cli", "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"rtstyle {__version__}\n"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert __version__ == project["version"]
