"""An LSTM LM over subword pieces that scores words: the LM a k2/icefall user trains
(``icefall/rnn_lm``: an LSTM over sentencepiece BPE pieces), behind the word-level interface.

A word's log-probability is the sum of its pieces' (nats):

    log P(w | h) = sum_j log P(p_j(w) | h, p_1(w) ... p_{j-1}(w)),

``</s>`` being the one piece of that name, so a sentence's log-probability is that of its piece
sequence, ``<s> p_1 ... p_n </s>``. The pieces of every vocabulary word are a table of the model
(buffers ``word_pieces`` ``(|V|, L)`` and ``word_piece_count`` ``(|V|,)``, saved with the weights,
from :func:`~lightrnn_asr.text.pieces.word_piece_table`), so it takes word ids like every
:class:`~lightrnn_asr.lm.interface.LanguageModel` here and needs no sentencepiece to score: N-best,
lattice and k2 rescoring, perplexity and tuning all work unchanged. Stepping one word takes one LSTM
step per piece of it (a batch steps as many times as its longest word has pieces).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.recurrent import RecurrentLM, RecurrentState, Trunk, target_logprob

__all__ = ["PieceLSTMLM", "spell_words"]


class PieceLSTMLM(RecurrentLM):
    """Piece embedding ``(P, E)``, the shared trunk, a full softmax over the P pieces (``H -> P``).

    Args:
        config: an :class:`LMConfig` with ``model_type="bpe"``: ``n_pieces`` P and
            ``max_word_pieces`` L (the widest word of the table).
        word_pieces: ``(|V|, L)`` int32 piece ids of every word (padded with 0), and
        word_piece_count: ``(|V|,)`` int32 pieces of every word (>= 1); both from
            :func:`~lightrnn_asr.text.pieces.word_piece_table`. ``None`` (a checkpoint being loaded):
            zeros, to be filled by ``load_state_dict``.

    Raises:
        ValueError: when the table does not fit the config.
    """

    def __init__(self, config: LMConfig, word_pieces: torch.Tensor | None = None,
                 word_piece_count: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config
        shape = (config.vocab_size, config.max_word_pieces)
        if word_pieces is None:
            word_pieces = torch.zeros(shape, dtype=torch.int32)
            word_piece_count = torch.ones(config.vocab_size, dtype=torch.int32)
        if tuple(word_pieces.shape) != shape or tuple(word_piece_count.shape) != shape[:1]:
            raise ValueError(f"a piece table of shape {tuple(word_pieces.shape)} does not fit the config "
                             f"({shape[0]} words, at most {shape[1]} pieces each)")
        self.register_buffer("word_pieces", word_pieces.to(torch.int32).clone())
        self.register_buffer("word_piece_count", word_piece_count.to(torch.int32).clone())
        self.embed = nn.Embedding(config.n_pieces, config.embed_dim)
        self.trunk = Trunk(config)
        self.head = nn.Linear(config.hidden_dim, config.n_pieces)
        nn.init.uniform_(self.embed.weight, -0.1, 0.1)

    def _spelled(self, words: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(..., L)`` int64 pieces of ``words`` ``(...)`` and ``(..., L)`` bool: which are real."""
        pieces = self.word_pieces[words].long()
        real = torch.arange(pieces.shape[-1], device=words.device) < self.word_piece_count[words][..., None]
        return pieces, real

    def token_logprobs(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``log P(targets[n, t] | ...)`` ``(N, T)`` float32 (nats): each row's pieces run through the LSTM
        as one sequence (``<s>``'s piece, then the targets' pieces), each word's pieces summed."""
        n, t = targets.shape
        pieces, real = self._spelled(targets)  # (N, T, L)
        pieces, real = pieces.view(n, -1), real.view(n, -1)
        order = torch.sort((~real).to(torch.uint8), dim=1, stable=True).indices  # each row's real pieces first
        width = int(real.sum(1).max())
        stream = pieces.gather(1, order)[:, :width]  # (N, S): the row's pieces, then padding
        first = self.word_pieces[inputs[:, :1], 0].long()  # (N, 1): the piece of <s>
        hidden = self.trunk(self.embed(torch.cat([first, stream[:, :-1]], 1)))
        lp = target_logprob(self.head(hidden), stream)  # (N, S)
        at = (real.long().cumsum(1) - 1).clamp(min=0)  # each real piece's place in the stream
        return (lp.gather(1, at) * real).view(n, t, -1).sum(-1)

    def initial_state(self, n: int, bos_id: int = 0) -> RecurrentState:
        first = self.word_pieces[bos_id, 0].long().to(self.device).expand(n)
        return self._read(self.embed(first), self._zero_state(n))

    def score_next(self, state: RecurrentState, words: torch.Tensor) -> tuple[torch.Tensor, RecurrentState]:
        """``log P(words | history)`` ``(B,)`` float32 (nats) and the state after all their pieces. Step ``j``
        runs the rows whose word has more than ``j`` pieces only (the batch sorted by piece count, longest
        first, so that they are a prefix of it): the work is the batch's pieces, not ``B`` times its
        longest word's."""
        counts = self.word_piece_count[words].long()
        order = torch.argsort(counts, descending=True, stable=True)
        out, h, c = state[0][order], state[1][:, order], state[2][:, order]
        pieces, counts = self.word_pieces[words[order]].long(), counts[order]
        total = torch.zeros(words.shape[0], device=words.device)
        rows = (counts[None, :] > torch.arange(int(counts.max()), device=words.device)[:, None]).sum(1).tolist()
        for j, n in enumerate(rows):  # n: the rows that have a j-th piece
            total[:n] += target_logprob(self.head(out[:n]), pieces[:n, j])
            step_out, step_h, step_c = self._read(self.embed(pieces[:n, j]), (h[:, :n], c[:, :n]))
            out, h, c = torch.cat([step_out, out[n:]]), torch.cat([step_h, h[:, n:]], 1), torch.cat([step_c, c[:, n:]], 1)
        back = torch.argsort(order)
        return total[back], (out[back], h[:, back], c[:, back])


def spell_words(model: PieceLSTMLM, vocab, words, sp) -> tuple[PieceLSTMLM, object]:
    """Give a trained piece LM new words (names, places): each is spelled in the pieces of ``sp``
    (the sentencepiece model it was trained with, ``OUT_DIR/bpe.model``) and appended to its word
    table; no weight changes, so every existing word scores as before. This is how a piece LM is
    open-vocabulary (icefall's ``rnn_lm`` scores any word through its BPE pieces).

    Args:
        model: the trained model (not modified).
        vocab: its :class:`~lightrnn_asr.text.vocabulary.Vocabulary`.
        words: the new words (ones already in ``vocab`` are skipped).
        sp: a ``sentencepiece.SentencePieceProcessor``
            (:func:`~lightrnn_asr.text.pieces.load_pieces`).

    Returns:
        ``(model, vocab)``: a new model whose table ``(|V'|, L')`` covers the extended vocabulary
        (``L'`` grows when a new word has more pieces than any before), on ``model``'s device.

    Raises:
        ValueError: when ``sp`` has another number of pieces than the model, or for a word
            :meth:`~lightrnn_asr.text.vocabulary.Vocabulary.with_words` refuses.
    """
    from lightrnn_asr.text.pieces import piece_table

    if len(sp) != model.config.n_pieces:
        raise ValueError(f"the sentencepiece model has {len(sp)} pieces, the LM {model.config.n_pieces}: "
                         "not the pieces it was trained with")
    new_vocab = vocab.with_words(words)
    n_old, old_width = len(vocab), model.config.max_word_pieces
    spelled, spelled_count = piece_table(new_vocab.words[n_old:], sp)  # the new words only
    width = max(old_width, spelled.shape[1])
    table = torch.zeros(len(new_vocab), width, dtype=torch.int32)
    table[:n_old, :old_width] = model.word_pieces.cpu()
    table[n_old:, : spelled.shape[1]] = spelled
    count = torch.cat([model.word_piece_count.cpu(), spelled_count])
    config = dataclasses.replace(model.config, vocab_size=len(new_vocab), max_word_pieces=width)
    grown = PieceLSTMLM(config, table, count)
    state = {k: v for k, v in model.state_dict().items() if k not in ("word_pieces", "word_piece_count")}
    grown.load_state_dict(state, strict=False)
    grown.train(model.training)
    return grown.to(model.device), new_vocab
