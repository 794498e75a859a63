"""Hotword (context-biasing) files from the word list given to ``add-words``, so that a first pass that
biases towards the names and the LM that rescores it know the same names.

Formats:

* ``sherpa-onnx``: sherpa-onnx's ``--hotwords-file`` (transducers, ``modified_beam_search``): one
  phrase per line, with `` :SCORE`` (the boosting score, per token) when given; models trained on
  upper-case text (icefall's LibriSpeech recipes) want ``--case upper``.
* ``nemo-phrases``: NeMo's phrase boosting (GPU-PB) ``boosting_tree.key_phrases_file``: one phrase
  per line.
* ``flashlight-boost``: the word-boosting file of NeMo's flashlight decoder (torchaudio's
  ``ctc_decoder`` underneath): ``word<TAB>score`` per line.
"""

from __future__ import annotations

from typing import Sequence

from lightrnn_asr.utils.io import atomic_text

__all__ = ["HOTWORD_FORMATS", "write_hotwords"]

HOTWORD_FORMATS = ("sherpa-onnx", "nemo-phrases", "flashlight-boost")


def write_hotwords(path, words: Sequence[str], fmt: str, score: float | None = None, case: str = "keep") -> int:
    """Write ``words`` (each a word or a phrase of words separated by spaces) as a hotword file, atomically.

    Args:
        fmt: one of :data:`HOTWORD_FORMATS`.
        score: the boosting score (``sherpa-onnx``: optional, else the decoder's ``--hotwords-score``;
            ``flashlight-boost``: required; ``nemo-phrases``: not taken).
        case: ``"upper"``, ``"lower"`` or ``"keep"`` (the decoder's tokens decide).

    Returns:
        the number of lines written (repeats, after the case change, are written once).

    Raises:
        ValueError: for an unknown format or case, a score the format does not take or lacks, or
            a word containing a tab or a line break.
    """
    if fmt not in HOTWORD_FORMATS:
        raise ValueError(f"unknown hotword format {fmt!r}; one of {', '.join(HOTWORD_FORMATS)}")
    if case not in ("upper", "lower", "keep"):
        raise ValueError(f"case must be upper, lower or keep, got {case!r}")
    if fmt == "flashlight-boost" and score is None:
        raise ValueError("flashlight-boost needs a score per word")
    if fmt == "nemo-phrases" and score is not None:
        raise ValueError("nemo-phrases takes no score (NeMo's boosting_tree config sets it)")
    out, seen = [], set()
    for w in words:
        if any(c in w for c in "\t\r\n") or not w.strip():
            raise ValueError(f"cannot write {w!r} as a hotword")
        w = " ".join(w.upper().split() if case == "upper" else w.lower().split() if case == "lower" else w.split())
        if w in seen:
            continue
        seen.add(w)
        if fmt == "flashlight-boost":
            out.append(f"{w}\t{score:g}\n")
        elif fmt == "sherpa-onnx" and score is not None:
            out.append(f"{w} :{score:g}\n")
        else:
            out.append(f"{w}\n")
    with atomic_text(path) as f:
        f.writelines(out)
    return len(out)
