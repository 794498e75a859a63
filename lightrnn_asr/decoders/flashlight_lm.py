"""A :class:`~lightrnn_asr.lm.interface.LanguageModel` as the language model of flashlight-text's CTC
decoders (``flashlight.lib.text.decoder``; torchaudio's ``ctc_decoder`` runs them): word-level shallow
fusion in lexicon-constrained beam search.

flashlight's ``LexiconDecoder`` asks its LM for one word's score at a time, ``score(state, word)``,
and for many words from the same state (every word the lexicon trie completes there). So each state
here computes its full next-word distribution once (``next_word_logprobs`` where the model has it: a
one-step LightRNN runs its column head once per row, an LSTM its softmax once; else ``score_words`` over
the whole vocabulary) and answers every ``score`` from it; the recurrent state after a word is
stepped only when the decoder asks for a score from there (it creates a child state for every word it
scores and extends few). States are flashlight's ``LMState``
objects (``state.child(word)`` is the same object for the same history), kept in a dict.

Word indices are the LM vocabulary's ids: build the decoder's word dictionary (``lm_dict``) in the
vocabulary's order (:func:`word_dictionary`). Scores are natural-log probabilities (nats); the
decoder's ``lm_weight`` and ``word_score`` weight them as for its KenLM.

This is the only module that imports flashlight-text (the ``flashlight`` extra).
"""

from __future__ import annotations

import torch
from flashlight.lib.text.decoder import LM, LMState

from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.text.vocabulary import Vocabulary

__all__ = ["FlashlightLM", "smearing_scores", "word_dictionary"]


class FlashlightLM(LM):
    """flashlight-text's ``LM`` over a :class:`LanguageModel` and its vocabulary.

    Args:
        model: the LM (put in eval mode; scored under ``torch.no_grad``).
        vocab: its vocabulary; the decoder's word indices are its ids.
    """

    def __init__(self, model: LanguageModel, vocab: Vocabulary) -> None:
        LM.__init__(self)
        self.model, self.vocab = model.eval(), vocab
        self._words = torch.arange(len(vocab), device=model.device)
        self._all = torch.zeros(len(vocab), dtype=torch.long, device=model.device)
        # a model whose advance() steps from a full state (score_words leaves the state as it is)
        self._steps_alone = type(model).advance is not LanguageModel.advance
        # LMState -> [recurrent state (batch 1) or None until needed, next-word log-probs (|V|,) or None,
        #             the parent LMState, the word]
        self.states: dict = {}
        self.distributions = 0  # full distributions computed, for tests and profiling
        self.steps = 0  # recurrent steps taken

    def _state(self, state: LMState):
        """The recurrent state of a history, stepped from its parent's when first needed (the decoder creates
        a child for every word it scores, and extends few of them)."""
        entry = self.states[state]
        if entry[0] is None:
            parent, word = self._state(entry[2]), torch.tensor([entry[3]], device=self.model.device)
            with torch.no_grad():
                entry[0] = self.model.advance(parent, word) if self._steps_alone else self.model.score_next(parent, word)[1]
            self.steps += 1
        return entry[0]

    def _distribution(self, state: LMState) -> torch.Tensor:
        entry = self.states[state]
        if entry[1] is None:
            rec = self._state(state)
            with torch.no_grad():
                if hasattr(self.model, "next_word_logprobs"):  # one pass over the output layer
                    lp = self.model.next_word_logprobs(rec)[0]
                else:
                    lp, _ = self.model.score_words(self.model.select_state(rec, self._all), self._words)
            entry[1] = lp.float().cpu().numpy()
            self.distributions += 1
        return entry[1]

    def start(self, start_with_nothing: bool) -> LMState:
        """The state after ``<s>`` (a recurrent LM always starts there). The decoder calls it at the start
        of every utterance: the states of the utterance before are dropped, so that memory stays that of
        one utterance (each state that was asked for scores holds a ``(|V|,)`` float32 distribution)."""
        state = LMState()
        self.states = {state: [self.model.initial_state(1, self.vocab.bos_id), None, None, None]}
        return state

    def score(self, state: LMState, usr_token_idx: int) -> tuple[LMState, float]:
        """``(state after the word, log P(word | history))`` in nats; word ids outside the vocabulary are ``<unk>``."""
        word = usr_token_idx if 0 <= usr_token_idx < len(self.vocab) else self.vocab.unk_id
        child = state.child(word)
        if child not in self.states:
            self.states[child] = [None, None, state, word]
        return child, float(self._distribution(state)[word])

    def finish(self, state: LMState) -> tuple[LMState, float]:
        """``(state, log P(</s> | history))``."""
        return self.score(state, self.vocab.eos_id)


def word_dictionary(vocab: Vocabulary) -> list[str]:
    """The decoder's word list (``lm_dict``) in the vocabulary's id order, so that word indices are LM ids."""
    return list(vocab.words)


def smearing_scores(vocab: Vocabulary) -> list[float]:
    """Per word id, the score to insert it into the decoder's lexicon trie with (``Trie.insert(spelling, id,
    score)``, then ``trie.smear``): its unigram log relative frequency in the training text (nats; words
    never seen get the rarest word's). The trie smears these over partial words to rank beams before a
    word is complete. They stand in for KenLM's unigram; a recurrent LM's score from the start state
    would rank every word by how likely it begins a sentence, and prune words that seldom do.
    """
    import math

    counts = [max(int(c), 0) for c in vocab.counts]
    total = sum(counts) or 1
    rarest = min((c for c in counts if c > 0), default=1)
    return [math.log(max(c, rarest) / total) for c in counts]
