"""NeMo's beams file: the N-best lists of ``eval_beamsearch_ngram.py``, read by ``eval_neural_rescorer.py``.

Format (NeMo, ``scripts/asr_language_modeling``): UTF-8 TSV without a header, one hypothesis per line,
``text <TAB> score``; the utterances in the order of the evaluation manifest, each with the same
number of lines (``--beam_size``). ``score`` is the beam search's (the acoustic model's log-probability,
plus the N-gram LM's weighted score when the search fused one); higher is better. Where the number of
hypotheses varies per utterance (a decoder that drops duplicates), a group file gives it: one line
``utt_id count`` per utterance, in the beams file's order.

Utterance ids are the group file's, else the manifest's (each line a JSON object; its
``audio_filepath``'s file name without the extension), else ``utt000001``, ``utt000002``, ... .
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Sequence

from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, _score
from lightrnn_asr.utils.io import atomic_text, utf8_lines

__all__ = ["read_nemo_beams", "write_nemo_beams", "manifest_ids"]


def _lines(path) -> list[tuple[int, str, float]]:
    out = []
    for n, line in utf8_lines(path, NBestFormatError):
        if not line.strip():
            continue
        text, sep, score = line.rpartition("\t")
        if not sep:
            raise NBestFormatError(f"{path}:{n}: expected 'text<TAB>score', found {line.strip()[:80]!r}")
        out.append((n, text, _score(score, "score", f"{path}:{n}")))
    if not out:
        raise NBestFormatError(f"{path}: no hypothesis in file")
    return out


def manifest_ids(path) -> list[str]:
    """Utterance ids of a NeMo manifest (JSON lines): each ``audio_filepath``'s name without its extension.

    Raises:
        NBestFormatError: naming file and line for a line that is not a JSON object with an
            ``audio_filepath``, or for an id given twice.
    """
    ids, seen = [], set()
    for n, line in utf8_lines(path, NBestFormatError):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            utt = Path(item["audio_filepath"]).stem
        except (ValueError, KeyError, TypeError):
            raise NBestFormatError(f"{path}:{n}: not a JSON object with an audio_filepath") from None
        if utt in seen:
            raise NBestFormatError(f"{path}:{n}: utterance id {utt!r} (from audio_filepath) given twice")
        seen.add(utt)
        ids.append(utt)
    return ids


def _groups(path) -> list[tuple[str, int]]:
    out = []
    for n, line in utf8_lines(path, NBestFormatError):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) < 1:
            raise NBestFormatError(f"{path}:{n}: expected 'utt_id count' (count >= 1), found {line.strip()!r}")
        out.append((parts[0], int(parts[1])))
    return out


def read_nemo_beams(path, beam_size: int | None = None, groups=None, manifest=None) -> dict[str, list[Hypothesis]]:
    """A beams file as ``{utt_id: [Hypothesis, ...]}`` (file order kept; ``am`` = the file's score, no ``fp_lm``).

    Args:
        path: the beams TSV.
        beam_size: hypotheses per utterance (NeMo's ``--beam_size``); or
        groups: a group file (``utt_id count`` lines) where the count varies.
        manifest: the evaluation manifest, for the utterance ids (without ``groups``).

    Raises:
        ValueError: when neither or both of ``beam_size`` and ``groups`` are given.
        NBestFormatError: naming file and line for a malformed line, or when the lines do not
            add up: a last utterance with fewer than ``beam_size`` lines, a group file or manifest
            with another number of utterances, or a repeated id.
    """
    if (beam_size is None) == (groups is None):
        raise ValueError("give the beam size or a group file (exactly one)")
    lines = _lines(path)
    if groups is not None:
        spans = _groups(groups)
        if sum(c for _, c in spans) != len(lines):
            raise NBestFormatError(f"{groups}: its counts add up to {sum(c for _, c in spans):,} hypotheses, "
                                   f"{path} has {len(lines):,}")
    else:
        if beam_size < 1:
            raise ValueError(f"the beam size must be >= 1, got {beam_size}")
        if len(lines) % beam_size:
            raise NBestFormatError(f"{path}:{lines[-1][0]}: {len(lines):,} hypotheses are not a multiple of the beam "
                                   f"size {beam_size} (a varying count needs a group file)")
        n_utts = len(lines) // beam_size
        ids = manifest_ids(manifest) if manifest else [f"utt{i:06d}" for i in range(1, n_utts + 1)]
        if len(ids) != n_utts:
            raise NBestFormatError(f"{manifest}: {len(ids):,} utterances, {path} has {n_utts:,} at beam size {beam_size}")
        spans = [(u, beam_size) for u in ids]
    out: dict[str, list[Hypothesis]] = {}
    pos = 0
    for utt, count in spans:
        if utt in out:
            raise NBestFormatError(f"{groups or manifest}: utterance id {utt!r} given twice")
        out[utt] = [Hypothesis(tuple(text.split()), score) for _, text, score in lines[pos : pos + count]]
        pos += count
    return out


def write_nemo_beams(path, nbest: Mapping[str, Sequence[Hypothesis]], scores: Mapping[str, Sequence[float]] | None = None,
                     groups=None) -> None:
    """Write N-best lists as a beams file (``text<TAB>score``, utterances in ``nbest``'s order), atomically.

    Args:
        nbest: ``{utt_id: hypotheses}``.
        scores: ``{utt_id: one score per hypothesis}`` (e.g. the rescored totals); default each
            hypothesis' ``am``.
        groups: where to write the group file (``utt_id count``), needed when the counts vary.

    Raises:
        ValueError: when an utterance's scores are not one per hypothesis, or the counts vary and
            no ``groups`` path is given.
    """
    counts = {len(h) for h in nbest.values()}
    if len(counts) > 1 and groups is None:
        raise ValueError(f"the utterances have {min(counts)} to {max(counts)} hypotheses: NeMo's fixed beam size "
                         "cannot hold them; give a group file")
    with atomic_text(path) as f:
        for utt, hyps in nbest.items():
            values = [h.am for h in hyps] if scores is None else list(scores[utt])
            if len(values) != len(hyps):
                raise ValueError(f"{utt}: {len(values)} scores for {len(hyps)} hypotheses")
            f.writelines(f"{' '.join(h.words)}\t{float(v)!r}\n" for h, v in zip(hyps, values))
    if groups is not None:
        with atomic_text(groups) as f:
            f.writelines(f"{utt} {len(hyps)}\n" for utt, hyps in nbest.items())
