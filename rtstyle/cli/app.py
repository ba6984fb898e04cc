"""The typer app every command registers on, and `main`: errors become one line and an exit status.

Only typer is imported here at start-up; each command imports what it needs, so the run side
(image, video, webcam, bench, info) never loads torch and starts in well under a second.
Bad input (UserError, usage errors) prints one line on stderr and exits 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import sys

import typer

from ..errors import UserError


def say(message: str) -> None:
    """A line for the user, on stderr (stdout is kept for results such as --json)."""
    print(message, file=sys.stderr, flush=True)


app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Real-time neural style transfer: webcam, video and images with fast style networks; Gatys optimization for stills.",
)


def _print_version(value: bool) -> None:
    if value:
        from importlib import metadata

        print(f"rtstyle {metadata.version('rtstyle')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."),
) -> None:
    """Options before the command name."""


def main() -> None:
    from typer._click.exceptions import (  # typer vendors click (pyproject pins it)
        ClickException,
        NoArgsIsHelpError,
    )

    try:
        code = app(standalone_mode=False)
    except UserError as e:
        say(f"rtstyle: error: {e}")
        sys.exit(2)
    except NoArgsIsHelpError as e:  # a bare `rtstyle`: the help, not an error line
        say(e.format_message())
        sys.exit(2)
    except ClickException as e:
        ctx = getattr(e, "ctx", None)
        say(f"rtstyle: error: {e.format_message()}" + (f" (see: {ctx.command_path} --help)" if ctx else ""))
        sys.exit(2 if e.exit_code == 2 else e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    if code == 130:
        say("rtstyle: interrupted")
    sys.exit(code if isinstance(code, int) else 0)
