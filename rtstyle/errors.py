"""The one exception type the CLI turns into a single stderr line and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a corrupt image, an unusable model."""


def redacted_address(address: str) -> str:
    """A URL or HOST:PORT with any user name and password (user:secret@) replaced by ***, for messages."""
    import re

    return re.sub(r"^((?:[a-z][a-z0-9+.-]*://)?)[^/@]*@", r"\1***@", address, flags=re.IGNORECASE)


def positive_env_number(name: str, default: float, unit: str) -> float:
    """The positive finite number in environment variable `name` (`default` when unset); a bad value
    (inf and nan included) is a UserError."""
    import math
    import os

    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
        assert math.isfinite(number) and number > 0
    except (ValueError, AssertionError):
        raise UserError(f"{name} must be a positive number of {unit}, got {value!r}") from None
    return number


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C (a playable partial video, temporary files removed);
    the CLI exits with 128 + `signum` (143, 129), as a process killed by it would."""

    last_signum: int | None = None  # the latest one raised in this process: the CLI's exit status

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = Terminated.last_signum = signum


def raise_terminated(signum, frame) -> None:
    """The SIGTERM and SIGHUP handler `rtstyle` sets (only this one is deferred by stages.deferred_interrupt)."""
    raise Terminated(signum)
