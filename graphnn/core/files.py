"""Writing files so that an interruption leaves the old file or none, never half of one."""

from __future__ import annotations

import os

from graphnn.core.errors import GraphError


def write_atomically(path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place.

    The file gets the usual permissions (0o666 less the umask), as ``open``
    gives. A missing or unwritable folder is a GraphError naming the folder.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GraphError(f"cannot write {path}: no folder {folder}")
    if os.path.isdir(path):
        raise GraphError(f"cannot write {path}: it is a folder")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as error:
        raise GraphError(f"cannot write {path}: {error.strerror} in {folder}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        os.unlink(tmp)
        if isinstance(error, OSError):
            raise GraphError(f"cannot write {path}: {error.strerror or error}") from None
        raise
