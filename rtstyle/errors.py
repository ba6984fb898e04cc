"""The one exception type the CLI turns into a single stderr line and exit status 2."""


class UserError(Exception):
    """Bad input from the user: a missing file, a corrupt image, an unusable model."""
