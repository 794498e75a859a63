"""``words.txt`` symbol tables (``word integer-id`` per line, as Kaldi, OpenFst and k2 write them),
read and validated here once so that kaldifst and k2 get a table that is known to be well formed."""

from __future__ import annotations

from pathlib import Path

from lightrnn_asr.formats.lattice import LatticeFormatError
from lightrnn_asr.utils.io import utf8_lines

__all__ = ["read_symbol_pairs"]


def read_symbol_pairs(path: str | Path) -> list[tuple[str, int]]:
    """The ``(word, id)`` pairs of a ``words.txt`` file in file order (blank lines skipped, a UTF-8
    byte-order mark dropped).

    Raises:
        FileNotFoundError: when the file does not exist.
        LatticeFormatError: naming file and line for a line that is not ``word id`` (id a non-negative
            integer), a repeated word or id, invalid UTF-8, or a file without symbols.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such symbol table")
    pairs: list[tuple[str, int]] = []
    words: set[str] = set()
    ids: set[int] = set()
    for lineno, line in utf8_lines(path, LatticeFormatError):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or not fields[1].isdigit():
            raise LatticeFormatError(f"{path}:{lineno}: expected 'word integer-id', found {line.strip()!r}")
        word, i = fields[0], int(fields[1])
        if word in words or i in ids:
            raise LatticeFormatError(f"{path}:{lineno}: {'word ' + repr(word) if word in words else f'id {i}'} "
                                     "appears twice")
        words.add(word)
        ids.add(i)
        pairs.append((word, i))
    if not pairs:
        raise LatticeFormatError(f"{path}: no symbols in the file")
    return pairs
