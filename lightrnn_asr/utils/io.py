"""File helpers every layer shares: atomic writes and UTF-8 line reading.

A file is written under a temporary name in its own directory, flushed to disk and renamed onto
its real name (``os.replace``, atomic on POSIX), so a reader or a resumed run sees the old file or
the new one, never half of one; the temporary files of a writer that was killed (SIGKILL) are removed
by the next write of the same file. Line reading decodes UTF-8 itself so that a bad byte is reported
with its file and line, not as a ``UnicodeDecodeError`` from deep inside a parser; it drops a UTF-8
byte-order mark at the start of a file, and refuses lines longer than :data:`MAX_LINE_BYTES`, so that
memory per line stays bounded whatever the file holds.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import os
import tempfile
import zlib
from pathlib import Path
from typing import IO, Iterator

__all__ = ["atomic_path", "atomic_text", "utf8_lines", "write_error", "TMP_SUFFIX", "MAX_LINE_BYTES", "BOM"]

#: Temporary files are named ``.<name>.p<pid>.<random>.tmp`` beside their target (see :func:`atomic_path`).
TMP_SUFFIX = ".tmp"

#: The longest line (bytes, line end included) that :func:`utf8_lines` reads: 1 MiB, about 200,000
#: words of English. Every format read here has one sentence, hypothesis or lattice line per line.
MAX_LINE_BYTES = 1 << 20

#: The UTF-8 byte-order mark (U+FEFF), which some Windows editors put at the start of a text file.
BOM = "\ufeff"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # some file systems cannot fsync a directory
        pass


def _remove_orphans(path: Path) -> None:
    """Remove ``path``'s temporary files whose writing process (the pid in their name) has ended."""
    prefix = f".{path.name}.p"
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.p*{TMP_SUFFIX}"):
        pid = tmp.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            tmp.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path to write ``path`` through: renamed onto ``path`` when the block succeeds,
    removed when it raises (``KeyboardInterrupt`` included).

    The temporary file is ``.<name>.p<pid>.<random>.tmp`` in ``path``'s directory (created if missing),
    with the permissions a plain ``open`` would give; it is fsynced before the rename, and the directory
    after it. Temporary files of ``path`` left by a process that no longer runs (killed with SIGKILL
    mid-write) are removed first.

    Yields:
        The temporary path (the file exists, empty; write it by name, e.g. ``torch.save(obj, tmp)``).

    Raises:
        OSError: whose ``filename`` is ``path`` when the file cannot be written (a read-only or full
            file system, no permission), the temporary file removed.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.p{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    except OSError as e:  # read-only or full file system, no permission: name the file asked for
        raise write_error(e, path) from None
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
    except OSError as e:
        if e.filename not in (None, name):
            raise  # another file's error, raised by the caller's block
        raise write_error(e, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def write_error(e: OSError, path: str | Path) -> OSError:
    """``e`` (e.g. ``[Errno 28] No space left on device`` on a temporary file) as an ``OSError`` of the
    same ``errno`` whose ``filename`` is ``path``, the file the user asked for."""
    return OSError(e.errno, e.strerror or str(e), str(path))


@contextlib.contextmanager
def atomic_text(path: str | Path | None) -> Iterator[IO[str] | None]:
    """A UTF-8 text file written atomically (:func:`atomic_path`); ``None`` yields ``None`` (no file)."""
    if path is None:
        yield None
        return
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        yield f


def _read_line(f, limit: int, path, lineno: int, error: type[Exception]) -> bytes:
    """``f.readline(limit)``, with a corrupt or truncated gzip file reported by name and line."""
    try:
        return f.readline(limit)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise error(f"{path}:{lineno}: corrupt or truncated gzip data ({e or type(e).__name__})") from None


def utf8_lines(path: str | Path, error: type[Exception] = ValueError,
               max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """Yield ``(line number, line)`` of a UTF-8 text file (gzip-compressed when it ends in ``.gz``),
    the line end (``\\n`` or ``\\r\\n``) removed, and a byte-order mark at the start of the file
    dropped. Memory per line is bounded by ``max_bytes``.

    Raises:
        error: (a ``ValueError`` subclass, e.g. the format's own error) naming file, line and byte
            when a line is not valid UTF-8, and naming file and line when a line is longer than
            ``max_bytes`` bytes (text without line breaks, or a binary file) or a ``.gz`` file is
            corrupt or truncated.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        lineno = 0
        while raw := _read_line(f, max_bytes + 1, path, lineno + 1, error):
            lineno += 1
            if len(raw) > max_bytes:
                raise error(f"{path}:{lineno}: line longer than {max_bytes:,} bytes (one sentence, hypothesis "
                            "or record per line is expected; split the text into lines)")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(f"{path}:{lineno}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
            if lineno == 1 and line.startswith(BOM):
                line = line[1:]
            yield lineno, line.rstrip("\r\n")
