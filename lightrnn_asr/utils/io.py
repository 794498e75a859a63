"""File helpers every layer shares: atomic writes and UTF-8 line reading.

A file is written under a temporary name in its own directory, flushed to disk and renamed onto
its real name (``os.replace``, atomic on POSIX), so a reader or a resumed run sees the old file or
the new one, never half of one. Line reading decodes UTF-8 itself so that a bad byte is reported
with its file and line, not as a ``UnicodeDecodeError`` from deep inside a parser.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_path", "atomic_text", "utf8_lines", "TMP_SUFFIX"]

#: Temporary files are named ``.<name>.<random>.tmp`` beside their target (see :func:`atomic_path`).
TMP_SUFFIX = ".tmp"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through: renamed onto ``path`` when the block succeeds,
    removed when it raises (``KeyboardInterrupt`` included).

    The temporary file is ``.<name>.<random>.tmp`` in ``path``'s directory (created if missing), with
    the permissions a plain ``open`` would give; it is fsynced before the rename, and the directory
    after it.

    Yields:
        The temporary path (the file exists, empty; write it by name, e.g. ``torch.save(obj, tmp)``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_text(path: str | Path | None) -> Iterator[IO[str] | None]:
    """A UTF-8 text file written atomically (:func:`atomic_path`); ``None`` yields ``None`` (no file)."""
    if path is None:
        yield None
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield f


def utf8_lines(path: str | Path, error: type[Exception] = ValueError) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` of a UTF-8 text file (gzip-compressed when it ends in ``.gz``),
    the line end (``\\n`` or ``\\r\\n``) removed.

    Raises:
        error: (a ``ValueError`` subclass, e.g. the format's own error) naming file, line and byte
            when a line is not valid UTF-8.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            yield lineno, line.rstrip("\r\n")
