"""The one exception type the CLI turns into a single stderr line and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a corrupt image, an unusable model."""


def positive_env_number(name: str, default: float, unit: str) -> float:
    """The positive number in environment variable `name` (`default` when unset); a bad value is a UserError."""
    import os

    value = os.environ.get(name, "").strip()
    try:
        number = float(value) if value else default
        assert number > 0
    except (ValueError, AssertionError):
        raise UserError(f"{name} must be a positive number of {unit}, got {value!r}") from None
    return number
