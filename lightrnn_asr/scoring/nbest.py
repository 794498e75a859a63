"""N-best rescoring: LM scores, score combination, scale tuning, 1-best and oracle.

The combined score of a hypothesis ``W`` with ``|W|`` words is

    total = am_score + lm_scale * lm_logprob(W) + word_penalty * |W|
            [+ fp_lm_scale * first_pass_lm_score]

with ``lm_logprob`` the new LM's ``log P(W </s> | <s>)`` in nats (with a backward LM beside the forward
one, :func:`with_backward_lm`, the interpolation of the two log-probabilities). The scales
are tuned on a dev set (:mod:`lightrnn_asr.scoring.tuning`) and then applied
unchanged to the test sets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import torch

from lightrnn_asr.evaluation.wer import utterance_errors
from lightrnn_asr.formats.nbest import Hypothesis
from lightrnn_asr.scoring.prefix import prefix_logprobs
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.corpus import in_reading_order
from lightrnn_asr.text.vocabulary import Vocabulary

__all__ = ["ScoredNBest", "Scales", "BackwardLM", "score_nbest", "with_backward_lm", "total_scores", "one_best",
           "oracle", "nbest_errors"]


@dataclass
class ScoredNBest:
    """The hypotheses of one utterance with every score as an array.

    Attributes:
        words: ``n`` word tuples.
        am: ``(n,)`` float64 acoustic scores.
        lm: ``(n,)`` float64 new-LM log-probabilities (nats), OOV penalty included.
        n_words: ``(n,)`` int64 hypothesis lengths.
        n_oov: ``(n,)`` int64 out-of-vocabulary words per hypothesis.
        fp_lm: ``(n,)`` float64 first-pass LM scores, or ``None``.
    """

    words: list[tuple[str, ...]]
    am: np.ndarray
    lm: np.ndarray
    n_words: np.ndarray
    n_oov: np.ndarray
    fp_lm: np.ndarray | None = None


@dataclass(frozen=True)
class Scales:
    """Score combination weights (see the module docstring)."""

    lm_scale: float
    word_penalty: float = 0.0
    fp_lm_scale: float = 0.0


def score_nbest(
    model: torch.nn.Module | None,
    vocab: Vocabulary | None,
    nbest: Mapping[str, Sequence[Hypothesis]],
    oov_penalty: float = 0.0,
    max_tokens: int = 8000,
    device: torch.device | str | None = None,
    progress: bool = False,
    prefix_sharing: bool | None = None,
) -> dict[str, ScoredNBest]:
    """Score every hypothesis with an LM: each distinct prefix once (a prefix tree,
    :func:`~lightrnn_asr.scoring.prefix.prefix_logprobs`) or whole sentences in length-sorted batches.

    Args:
        model, vocab: the LM and its vocabulary; ``None`` for both gives
            ``lm = 0`` (acoustic-only / first-pass-LM-only systems). A backward LM
            (:attr:`~lightrnn_asr.lm.interface.LanguageModel.backward`) scores every hypothesis right to left,
            ``log P(<s> W^R </s>)``.
        nbest: ``{utt_id: hypotheses}``.
        oov_penalty: added (in nats, usually negative) to ``lm`` per
            out-of-vocabulary word, on top of ``log P(<unk> | h)``.
        prefix_sharing: score through the prefix tree; ``None`` (default): on the CPU for a model
            that steps word by word (:attr:`LanguageModel.steps_word_by_word`), where it is the faster
            (measured on real 100-best lists: docs/studies/prefix-scoring.md), and not on CUDA, where it has
            not been measured.

    Returns:
        ``{utt_id: ScoredNBest}`` in the input order.
    """
    flat = [h for hyps in nbest.values() for h in hyps]
    if model is not None:
        read = [in_reading_order(h.words, model.backward) for h in flat]  # the words as the LM reads them
        ids = [vocab.encode(words) for words in read]
        on = torch.device(device) if device is not None else model.device
        if prefix_sharing or (prefix_sharing is None and on.type == "cpu" and model.steps_word_by_word):
            lm = prefix_logprobs(model, ids, vocab.bos_id, vocab.eos_id, device=on)
        else:
            lm = score_sentences(model, [torch.tensor(x, dtype=torch.long) for x in ids],
                                 bos_id=vocab.bos_id, eos_id=vocab.eos_id, max_tokens=max_tokens,
                                 device=device, progress=progress)
        n_oov = np.array([sum(1 for w, i in zip(words, x) if i == vocab.unk_id and w != "<unk>")
                          for words, x in zip(read, ids)], dtype=np.int64)
        lm = lm + oov_penalty * n_oov
    else:
        lm, n_oov = np.zeros(len(flat)), np.zeros(len(flat), dtype=np.int64)
    out, pos = {}, 0
    for utt, hyps in nbest.items():
        n = len(hyps)
        fp = [h.fp_lm for h in hyps]
        out[utt] = ScoredNBest(
            words=[h.words for h in hyps],
            am=np.array([h.am for h in hyps], dtype=np.float64),
            lm=lm[pos : pos + n],
            n_words=np.array([len(h.words) for h in hyps], dtype=np.int64),
            n_oov=n_oov[pos : pos + n],
            fp_lm=None if any(x is None for x in fp) else np.array(fp, dtype=np.float64),
        )
        pos += n
    return out


def with_backward_lm(forward: Mapping[str, ScoredNBest], backward: Mapping[str, ScoredNBest],
                     weight: float = 0.5) -> dict[str, ScoredNBest]:
    """The same N-best lists with ``lm = (1 - weight) * forward.lm + weight * backward.lm`` (nats): the
    scores of a forward LM and of a backward LM (:attr:`~lightrnn_asr.lm.config.LMConfig.backward`) of the
    same hypotheses, interpolated log-linearly. The two estimate the same ``log P(W)`` from opposite
    directions, so their average is a better estimate than either (Kaldi's
    ``rnnlm/lmrescore_nbest_back.sh``, which averages with weight 0.5). Everything but ``lm`` is
    ``forward``'s. What a pair gained on the demo's sets, within the noise, for twice the training and
    scoring: docs/studies/backward-lm.md.

    Args:
        forward, backward: ``{utt_id: ScoredNBest}`` of the same lists (:func:`score_nbest`).
        weight: the backward LM's share, in [0, 1].

    Raises:
        ValueError: for a weight outside [0, 1], or lists whose utterances or hypotheses differ.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"the backward LM's weight must be in [0, 1], got {weight}")
    if forward.keys() != backward.keys():
        raise ValueError("the forward and backward scores are of different utterances")
    out = {}
    for utt, f in forward.items():
        b = backward[utt]
        if b.words != f.words:
            raise ValueError(f"{utt}: the forward and backward scores are of different hypotheses")
        out[utt] = dataclasses.replace(f, lm=(1.0 - weight) * f.lm + weight * b.lm)
    return out


@dataclass(frozen=True)
class BackwardLM:
    """A backward LM beside the forward one in N-best rescoring: ``model`` (with
    :attr:`~lightrnn_asr.lm.interface.LanguageModel.backward` set), its ``vocab`` and its ``weight`` in
    :func:`with_backward_lm`."""

    model: torch.nn.Module
    vocab: Vocabulary
    weight: float = 0.5

    def add_to(self, forward: Mapping[str, ScoredNBest], nbest: Mapping[str, Sequence[Hypothesis]],
               oov_penalty: float = 0.0, device: torch.device | str | None = None) -> dict[str, ScoredNBest]:
        """``forward`` (:func:`score_nbest` of ``nbest``) with this LM's scores of the same lists interpolated in."""
        return with_backward_lm(forward, score_nbest(self.model, self.vocab, nbest, oov_penalty, device=device),
                                self.weight)


def total_scores(s: ScoredNBest, scales: Scales) -> np.ndarray:
    """``(n,)`` combined scores of one utterance's hypotheses."""
    total = s.am + scales.lm_scale * s.lm + scales.word_penalty * s.n_words
    if scales.fp_lm_scale and s.fp_lm is not None:
        total = total + scales.fp_lm_scale * s.fp_lm
    return total


def one_best(scored: Mapping[str, ScoredNBest], scales: Scales) -> dict[str, list[str]]:
    """Highest-scoring hypothesis per utterance (first one on ties)."""
    return {u: list(s.words[int(np.argmax(total_scores(s, scales)))]) for u, s in scored.items()}


def nbest_errors(scored: Mapping[str, ScoredNBest], refs: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """``{utt: (n,) int64}`` word errors of every hypothesis against its reference.

    Raises:
        ValueError: when an utterance has no reference.
    """
    missing = [u for u in scored if u not in refs]
    if missing:
        raise ValueError(f"{len(missing)} utterances have no reference (e.g. {missing[0]!r})")
    return {u: np.array([sum(utterance_errors(refs[u], w)) for w in s.words], dtype=np.int64)
            for u, s in scored.items()}


def oracle(scored: Mapping[str, ScoredNBest], refs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The lowest-WER hypothesis of each list (the N-best oracle)."""
    errs = nbest_errors(scored, refs)
    return {u: list(s.words[int(np.argmin(errs[u]))]) for u, s in scored.items()}
