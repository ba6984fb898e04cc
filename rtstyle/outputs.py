"""Writing outputs safely: a temporary name in the same folder, renamed when complete."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator

from .errors import UserError


def check_output(output: str | os.PathLike, *inputs: str | os.PathLike) -> Path:
    """Refuse an output that would overwrite one of the inputs; return it as a Path."""
    out = Path(output)
    for inp in inputs:
        inp = Path(inp)
        if out.resolve() == inp.resolve() or (out.exists() and inp.exists() and os.path.samefile(out, inp)):
            raise UserError(f"output {out} is the same file as input {inp}; choose another output path")
    if out.is_dir():
        raise UserError(f"output {out} is a folder; give a file name")
    if not out.parent.exists():
        raise UserError(f"output folder {out.parent} does not exist")
    return out


def write_error(path: str | os.PathLike, err: OSError) -> UserError:
    """The UserError for a failed write of `path` (a full disk, a file size limit, a lost drive)."""
    reason = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        reason += " (the disk is full)"
    elif err.errno == errno.EFBIG:
        reason += " (over the file size limit of this process or filesystem)"
    return UserError(f"cannot write {path}: {reason}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, keep_partial: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path` (same extension, so codecs are picked from it).

    The temporary file is created empty (O_EXCL, a random name: nothing else can have put a file
    or a link there). On normal exit it is renamed to `path`; a writer that left it empty or
    removed it is an error (nothing is claimed that was not written). On any error it is removed,
    except on KeyboardInterrupt (Ctrl-C, SIGTERM, SIGHUP) with `keep_partial` (only a video
    passes it: its finished part plays; a half-written model, image, checkpoint or cache file is
    worse than none), and only if something was written.
    """
    path = Path(path)
    tmp = _create_temporary(path)
    try:
        yield tmp
    except KeyboardInterrupt:
        if keep_partial and _written(tmp):
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    else:
        if not _written(tmp):
            tmp.unlink(missing_ok=True)
            raise UserError(f"nothing was written to {path}")
        os.replace(tmp, path)


def _create_temporary(path: Path) -> Path:
    """Create an empty, new file `.STEM.partial-RANDOM.SUFFIX` beside `path` and return its path."""
    while True:
        tmp = path.with_name(f".{path.stem}.partial-{secrets.token_hex(8)}{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as err:
            raise write_error(path, err) from None


def _written(tmp: Path) -> bool:
    try:
        return tmp.stat().st_size > 0
    except FileNotFoundError:
        return False
