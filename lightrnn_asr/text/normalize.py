"""Text normalisation shared by LM training text, references and hypotheses.

One rule set is applied everywhere so that the LM, the references and the
recogniser output agree on what a "word" is:

1. Unicode is NFKD-folded to ASCII where possible (``é`` -> ``e``), curly
   quotes become straight ones.
2. Text is lower-cased (the pocketsphinx/CMUdict convention).
3. Numbers written with digits are spelt out with ``num2words``
   (``42`` -> ``forty two``; hyphens and commas dropped) so that ``press 1``
   in a transcript matches ``press one`` from the recogniser.
4. Everything but letters, digits and word-internal apostrophes becomes a
   word boundary (``don't`` stays, ``'tis`` -> ``tis``, ``well-known`` ->
   ``well known``).
5. Pronunciation-variant suffixes written by Sphinx/HTK dictionaries
   (``word(2)``) are removed from hypotheses by :func:`strip_variant`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Iterable, Iterator

from num2words import num2words

__all__ = ["normalize_text", "strip_variant", "split_sentences", "paragraphs"]

_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "`": "'"})
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_NON_WORD = re.compile(r"[^a-z0-9']+")
_EDGE_APOSTROPHES = re.compile(r"(?<![a-z0-9])'+|'+(?![a-z0-9])")
_VARIANT = re.compile(r"\(\d+\)$")
_SENTENCE_END = re.compile(r"(?<=[.!?;])[\"')\]]*\s+")


def _spell_number(match: re.Match) -> str:
    words = num2words(float(match.group()) if "." in match.group() else int(match.group()))
    return " " + words.replace("-", " ").replace(",", " ") + " "


def normalize_text(text: str) -> str:
    """Normalise one line of text to space-separated lower-case words.

    Args:
        text: raw text (any Unicode).

    Returns:
        The normalised words joined by single spaces; ``""`` when nothing
        word-like remains.
    """
    text = unicodedata.normalize("NFKD", text.translate(_QUOTES))
    text = text.encode("ascii", "ignore").decode("ascii").lower()
    text = _NUMBER.sub(_spell_number, text)
    text = _NON_WORD.sub(" ", text)
    text = _EDGE_APOSTROPHES.sub(" ", text)
    return " ".join(text.split())


def strip_variant(word: str) -> str:
    """Remove a pronunciation-variant suffix: ``"read(2)"`` -> ``"read"``."""
    return _VARIANT.sub("", word)


def split_sentences(paragraph: str) -> list[str]:
    """Split running prose into sentences at ``.``, ``!``, ``?`` and ``;``.

    A deliberately simple rule (no abbreviation list): good enough for LM
    training text, where a wrong split only shortens a context.
    """
    return [s for s in _SENTENCE_END.split(paragraph.strip()) if s]


def paragraphs(lines: Iterable[str]) -> Iterator[str]:
    """Blank-line separated paragraphs of a line iterator, each joined into one line."""
    para: list[str] = []
    for line in lines:
        if line.strip():
            para.append(line.strip())
        elif para:
            yield " ".join(" ".join(para).split())
            para = []
    if para:
        yield " ".join(" ".join(para).split())
