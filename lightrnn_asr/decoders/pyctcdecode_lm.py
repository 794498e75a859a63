"""A :class:`~lightrnn_asr.lm.interface.LanguageModel` as pyctcdecode's language model: word-level
shallow fusion of a LightRNN (or any LM of this package) in CTC beam search.

pyctcdecode (kensho-technologies/pyctcdecode, ``pyctcdecode.language_model.AbstractLanguageModel``)
asks its LM for a word's score given the state after the beam's previous words, once per new beam
text (it caches scores by text), and for a score of the partial word being spelled. This module
follows its KenLM ``LanguageModel``'s conventions, so that alpha, beta and the OOV offset tuned for
one carry over:

    score(state, word) = alpha * (log P(word | history) + [OOV] unk_score_offset * ln 10
                                  + [last word] log P(</s> | history, word)) + beta

with ``log P`` in nats (pyctcdecode converts KenLM's log10 to nats the same way; its
``unk_score_offset`` is in log10 units), and ``score_partial_token`` = ``unk_score_offset`` when no
vocabulary word starts with the partial word (scaled up for partial words longer than 6 characters),
else 0. A state holds the LM's recurrent state of one history; stepping it is one
``score_next`` call, and the states are never changed, so a beam's history is stepped once whatever
pyctcdecode reuses.

This is the only module that imports pyctcdecode (its wheel pins numpy < 2: ``make test-k2``'s
environment has it).
"""

from __future__ import annotations

import bisect
import math
from typing import Iterable, Sequence

import torch
from pyctcdecode.alphabet import Alphabet
from pyctcdecode.decoder import BeamSearchDecoderCTC
from pyctcdecode.language_model import AbstractLanguageModel

from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.openvocab import add_words

__all__ = ["LightRNNState", "PyctcdecodeLM", "build_pyctcdecoder", "partial_token_score"]

LN10 = math.log(10.0)
AVG_TOKEN_LEN = 6  # pyctcdecode's: partial words longer than this get a larger OOV offset


def partial_token_score(known: Sequence[str], partial_token: str, unk_score_offset: float) -> float:
    """pyctcdecode's score of a partial word (its KenLM ``LanguageModel.score_partial_token``): 0 when a word of
    ``known`` (sorted) starts with ``partial_token``, else ``unk_score_offset`` (log10 units), times
    ``len / 6`` beyond 6 characters."""
    i = bisect.bisect_left(known, partial_token)
    score = 0.0 if i < len(known) and known[i].startswith(partial_token) else unk_score_offset
    return score * len(partial_token) / AVG_TOKEN_LEN if len(partial_token) > AVG_TOKEN_LEN else score


class LightRNNState:
    """One history's LM state for pyctcdecode: the recurrent state after it (batch of 1) and the
    history's word ids (for inspection; scoring uses the state only)."""

    __slots__ = ("lm_state", "words")

    def __init__(self, lm_state, words: tuple[int, ...]) -> None:
        self.lm_state, self.words = lm_state, words


class PyctcdecodeLM(AbstractLanguageModel):
    """pyctcdecode's ``AbstractLanguageModel`` over a :class:`LanguageModel` and its vocabulary.

    Args:
        model: the LM (any of this package's; put in eval mode, scored under ``torch.no_grad``).
        vocab: its vocabulary; words are looked up as pyctcdecode spells them (give the decoder
            labels in the vocabulary's case).
        alpha, beta: pyctcdecode's LM weight and per-word bonus (its defaults 0.5 and 1.5).
        unk_score_offset: added (log10 units, as pyctcdecode's) to an out-of-vocabulary word's
            log-probability, which is ``<unk>``'s.
        score_boundary: score ``<s>`` at the start and ``</s>`` after the last word (pyctcdecode's
            ``score_boundary``).
    """

    def __init__(self, model: LanguageModel, vocab: Vocabulary, alpha: float = 0.5, beta: float = 1.5,
                 unk_score_offset: float = -10.0, score_boundary: bool = True) -> None:
        self.model, self.vocab = model.eval(), vocab
        self.alpha, self.beta, self.unk_score_offset, self.score_boundary = alpha, beta, unk_score_offset, score_boundary
        self._sorted = sorted(w for w in vocab.words[3:])
        self.calls = 0  # score_next calls, for tests and profiling

    @property
    def order(self) -> int:
        """A recurrent LM's history is unbounded: pyctcdecode's history pruning never merges two beams."""
        return 1 << 30

    def reset_params(self, **params) -> None:
        """Set ``alpha``, ``beta``, ``unk_score_offset`` or ``score_boundary`` (pyctcdecode's ``reset_params``)."""
        for key in ("alpha", "beta", "unk_score_offset", "score_boundary"):
            if params.get(key) is not None:
                setattr(self, key, params[key])

    def get_start_state(self) -> LightRNNState:
        """The state before the first word: after ``<s>`` (or, without ``score_boundary``, the same: a
        recurrent LM has no null context)."""
        return LightRNNState(self.model.initial_state(1, self.vocab.bos_id), ())

    def _step(self, state: LightRNNState, word_id: int) -> tuple[float, LightRNNState]:
        self.calls += 1
        with torch.no_grad():
            lp, after = self.model.score_next(state.lm_state, torch.tensor([word_id], device=self.model.device))
        return float(lp[0]), LightRNNState(after, state.words + (word_id,))

    def score_partial_token(self, partial_token: str) -> float:
        """``unk_score_offset`` (times ``len / 6`` beyond 6 characters) when no vocabulary word starts with
        ``partial_token``, else 0."""
        return partial_token_score(self._sorted, partial_token, self.unk_score_offset)

    def score(self, prev_state: LightRNNState, word: str, is_last_word: bool = False) -> tuple[float, LightRNNState]:
        """``(alpha * (log P(word | history) [+ OOV offset] [+ log P(</s> | ...)]) + beta, state after word)``;
        the returned state never includes ``</s>``, so that pyctcdecode can extend it."""
        word_id = self.vocab.id(word) if word in self.vocab else self.vocab.unk_id
        lp, end_state = self._step(prev_state, word_id)
        if word_id == self.vocab.unk_id:
            lp += self.unk_score_offset * LN10
        if is_last_word and self.score_boundary:  # log P(</s> | ...): scored, no step after it
            with torch.no_grad():
                eos = torch.tensor([self.vocab.eos_id], device=self.model.device)
                lp += float(self.model.score_words(end_state.lm_state, eos)[0][0])
        return self.alpha * lp + self.beta, end_state


def build_pyctcdecoder(labels: Sequence[str], model: LanguageModel, vocab: Vocabulary, table=None,
                       names: Iterable[str] = (), like: dict[str, str] | None = None, **lm_params
                       ) -> tuple[BeamSearchDecoderCTC, list[str]]:
    """A pyctcdecode decoder with ``model`` as its LM, and the names as hotwords.

    With ``names`` (a contact list), a LightRNN first gets them with
    :func:`~lightrnn_asr.training.openvocab.add_words` (copied rows of each name's like-word,
    ``like``; ``<unk>``'s where none is given), so that the LM and the decoder's hotword biasing
    (``decoder.decode(logits, hotwords=names)``) know the same words.

    Args:
        labels: the CTC model's output labels, blank ``""`` first (pyctcdecode's ``Alphabet``).
        model, vocab, table: the LM, its vocabulary, and (a LightRNN) its word table.
        lm_params: :class:`PyctcdecodeLM`'s ``alpha``, ``beta``, ``unk_score_offset``, ``score_boundary``.

    Returns:
        ``(decoder, hotwords)``: the decoder and the names to pass as its hotwords.

    Raises:
        ValueError: for names given to a model other than a LightRNN (spell them into a BPE LSTM with
            ``spell_words`` first, or add them to the vocabulary before training).
    """
    names = [n for n in names if n not in vocab]
    if names:
        if model.config.model_type != "lightrnn" or table is None:
            raise ValueError("names are added to a LightRNN (with its table); another LM must know them already")
        model, vocab, table, _ = add_words(model, vocab, table, names, like=dict(like or {}),
                                           like_placement="copy-row")
    decoder = BeamSearchDecoderCTC(Alphabet.build_alphabet(list(labels)), language_model=PyctcdecodeLM(model, vocab,
                                                                                                      **lm_params))
    return decoder, list(names)
