"""The typer app every command registers on, and `main`: errors become one line and an exit status.

Only typer is imported here at start-up; each command imports what it needs, so the run side
(image, video, webcam, bench, info) never loads torch and starts in well under a second.
Bad input (UserError, usage errors) prints one line on stderr and exits 2; Ctrl-C exits 130,
SIGTERM 143 and SIGHUP 129 (handled like Ctrl-C: temporary files removed, a video's finished part
kept); any other error prints one line naming the command and `--debug` (the traceback), exit 1.
"""

from __future__ import annotations

import signal
import sys

import typer

from ..errors import Terminated, UserError, raise_terminated

_debug = False  # `rtstyle --debug COMMAND`: unexpected errors show their traceback


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
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an unexpected error."),
) -> None:
    """Options before the command name."""
    global _debug
    _debug = debug


def _command_name() -> str:
    return next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")


def main() -> None:
    from typer._click.exceptions import (  # typer vendors click (pyproject pins it)
        ClickException,
        NoArgsIsHelpError,
    )

    for name in ("SIGTERM", "SIGHUP"):  # like Ctrl-C: cleanup runs, a video keeps its finished part
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) is signal.SIG_DFL:
            signal.signal(getattr(signal, name), raise_terminated)
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
    except Exception as e:
        if _debug:
            raise
        first = (str(e).strip().splitlines() or [""])[0][:200]
        command = _command_name()
        say(f"rtstyle {command}: unexpected error: {type(e).__name__}: {first} (run `rtstyle --debug {command} ...` for the traceback)")
        sys.exit(1)
    if code == 130 and Terminated.last_signum:
        signum = Terminated.last_signum
        say(f"rtstyle: stopped by {signal.Signals(signum).name}")
        sys.exit(128 + signum)
    if code == 130:
        say("rtstyle: interrupted")
    sys.exit(code if isinstance(code, int) else 0)
