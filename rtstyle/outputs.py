"""Writing outputs safely: a temporary name in the same folder, renamed when complete."""

from __future__ import annotations

import contextlib
import errno
import os
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

    On normal exit the temporary file is renamed to `path`; on any error it is removed, except
    on KeyboardInterrupt with `keep_partial` (only a video passes it: Ctrl-C keeps its finished
    part; a half-written model, image, checkpoint or cache file is worse than none).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
    except KeyboardInterrupt:
        if keep_partial and tmp.exists():
            os.replace(tmp, path)
        else:
            tmp.unlink(missing_ok=True)
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    else:
        if tmp.exists():
            os.replace(tmp, path)
