"""Adding words to a trained LightRNN without retraining (open vocabulary).

A word's probability is ``P_row(r | h) * P_col(c | h, r)``, with the row and
column vectors shared by every word in that row and column. A new word placed
into a free cell therefore gets, in every context, the probability the model
already gives that cell: nothing is trained, and the existing words'
probabilities stay exactly as they were (the softmaxes cover all R rows and
C columns, empty cells included). What matters is *which* cell:

- with example sentences, the row minimising the word's total row loss
  ``-sum log P_row(r | h)`` over its occurrences (rows with a free cell),
  then, in that row, the free column minimising ``-sum log P_col(c | h, r)``:
  the reallocation criterion of Li et al. (NeurIPS 2016, Section 3.3)
  restricted to free cells;
- without examples, a free cell in the row of a word it should behave like
  (``like``; default ``<unk>``, whose row and column the model trained on all
  words cut from the vocabulary, so a new rare word inherits exactly the
  probability that rare words as a class had), picking the free column with
  the largest column-head bias; failing that, a free cell in that word's
  column; failing that, any free cell.

With ``like_placement="copy-row"`` a word without examples instead gets a new
row that is a copy of its like-word's row (input row vector, row-head weight,
and row-head bias lowered by ``log(k / share)``, ``k`` the number of new words
like that word), at the like-word's column. It then reads exactly as its
like-word does and is predicted with ``P(like | h) * share / k`` (the class-based
LM's ``P(class | h) P(word | class)`` with the like-word as the class, Brown et
al. 1992), whatever the like-word's row holds. The copies take ``share *
P_row(like's row | h)`` from the other words (their probabilities shrink by
``1 / (1 + share * P_row)`` at most): one row per new word, so this is for
contact lists (hundreds to thousands of words), not for a second vocabulary.

With ``fit_steps > 0`` the words that have examples instead go to rows of
their own whose three vectors are fitted to the examples (optionally with
background sentences) while every trained weight stays frozen; see
:func:`add_words`. Existing cells and weights still stay, but the new rows
take some probability mass.

When the table has fewer free cells than new words, rows are added: their
vectors are the mean of the existing ones and their row-head bias is the
lowest existing one, so existing words lose little probability (the added
rows' share is reported by :func:`add_words`).

With an input shortlist (:attr:`~lightrnn_asr.lm.config.LMConfig.input_shortlist`: frequent words
with an input vector of their own), a new word reads ``<unk>``'s own vector, which is what the model
read for it in training, wherever it is placed; with ``"copy-row"`` its like-word's, so that it reads
exactly as the like-word does.

With an output shortlist (:attr:`~lightrnn_asr.lm.config.LMConfig.output_shortlist`: frequent words,
``<unk>`` among them, predicted by output vectors of their own), a shortlist like-word's cell says nothing
of how it is predicted: the fallback takes the row whose row-head vector is nearest (cosine) the
like-word's own output vector, and ``"copy-row"`` copies that own output vector and bias into the new
row's head, so that a copy is still predicted with ``P(like | h) * share / k``; the copy of a factorised
like-word's row masks the cells that row masks, so that its column softmax is the like-word's. A word
placed in a free cell there takes its mass from the other words of that row (the cells of no word have
none), where the paper's form gives it the mass the model already gave the cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from scipy.optimize import linear_sum_assignment

from lightrnn_asr.lm.build import build_model
from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import length_batches, make_batch
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.fit_rows import fit_rows

__all__ = ["Placement", "add_words"]


@dataclass
class Placement:
    """Where a new word went and why: ``method`` is ``"examples"`` (free cell of least loss),
    ``"fitted"`` (a fitted row of its own) or ``"like"`` (the fallback)."""

    word: str
    row: int
    col: int
    method: str
    detail: str


def _grown(model: LightRNN, n_rows: int, vocab_size: int, unk_id: int) -> LightRNN:
    """A copy of ``model`` for ``vocab_size`` words on ``n_rows`` rows (new rows: mean vectors, lowest bias;
    new words: ``<unk>``'s own input vector, with an input shortlist)."""
    cfg = model.config
    new_cfg = LMConfig.from_dict({**cfg.to_dict(), "vocab_size": vocab_size, "n_rows": n_rows})
    placeholder = WordTable(torch.arange(vocab_size), n_rows, cfg.n_cols)
    out = build_model(new_cfg, placeholder)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    extra = n_rows - cfg.n_rows
    if extra:
        emb, w, b = state["row_embed.weight"], state["row_head.weight"], state["row_head.bias"]
        state["row_embed.weight"] = torch.cat([emb, emb.mean(0, keepdim=True).expand(extra, -1)])
        state["row_head.weight"] = torch.cat([w, w.mean(0, keepdim=True).expand(extra, -1)])
        state["row_head.bias"] = torch.cat([b, b.min().expand(extra)])
    if cfg.word_bias:  # a new word starts with the mean bias of the rarest tenth of the vocabulary (ids by frequency)
        bias = state["word_bias"]
        rare = bias[-max(1, bias.numel() // 10):].mean()
        state["word_bias"] = torch.cat([bias, rare.expand(vocab_size - bias.numel())])
    if "mask_source_row" in state:  # an output shortlist: each new row masks its own cells
        state["mask_source_row"] = torch.arange(n_rows)
        state["mask_source_row"][: cfg.n_rows] = model.mask_source_row.cpu()
    if "word_slot" in state:  # an input shortlist: new words read <unk>'s, kept after they are placed
        slot = state["word_slot"]
        state["word_slot"] = torch.cat([slot, slot[unk_id].expand(vocab_size - slot.numel())])
    out.load_state_dict(state)
    return out.to(model.device).eval()


@torch.no_grad()
def _losses(model: LightRNN, sentences: list[list[int]], word: int, bos: int, eos: int, max_tokens: int):
    """Summed row and column NLL ``(R,), (C,)`` float64 of ``word`` at its occurrences (nats)."""
    device = model.device
    row = torch.zeros(model.config.n_rows, dtype=torch.float64)
    col = torch.zeros(model.config.n_cols, dtype=torch.float64)
    for idx in length_batches(torch.tensor([len(s) for s in sentences]), max_tokens):
        batch = make_batch([torch.tensor(sentences[i]) for i in idx.tolist()], bos, eos)
        inputs, targets, mask = (t.to(device) for t in batch)
        row_lp, col_lp = model.row_col_logprobs(inputs, targets)
        at = (targets == word) & mask
        row -= row_lp[at].double().sum(0).cpu()
        col -= col_lp[at].double().sum(0).cpu()
    return row, col


def add_words(
    model: LightRNN,
    vocab: Vocabulary,
    table: WordTable,
    words: Sequence[str],
    examples: Sequence[Sequence[str]] | None = None,
    like: dict[str, str] | None = None,
    max_tokens: int = 4000,
    fit_steps: int = 0,
    lr: float = 0.01,
    background: Sequence[Sequence[str]] | None = None,
    like_placement: str = "free",
    share: float = 1.0,
) -> tuple[LightRNN, Vocabulary, WordTable, list[Placement]]:
    """Give new words cells of a trained LightRNN, keeping every existing word's cell and all weights.

    Args:
        model: the trained model (not modified).
        vocab, table: its vocabulary and allocation.
        words: the new words, in order (each gets the next id).
        examples: sentences (lists of words) that show the new words in use;
            other words of these sentences must be in ``vocab`` or map to ``<unk>``. For a backward LM
            (:attr:`~lightrnn_asr.lm.config.LMConfig.backward`) give them, and ``background``, reversed
            (:func:`~lightrnn_asr.text.corpus.in_reading_order`; ``add-words`` does).
        like: optional ``{new word: existing word}`` for the fallback placement.
        max_tokens: batch size of the example passes.
        fit_steps: when > 0, the words with examples go to new rows of their
            own, whose three vectors (input row vector, row-head weight and
            bias) are fitted to the examples by ``fit_steps`` full passes of
            Adam (learning rate ``lr``) with every trained weight frozen; their
            columns are then re-chosen (an exact assignment on column NLL) and
            the rows fitted again. Existing words keep their cells and
            weights but lose the probability mass the new rows take.
        background: sentences of the target domain without the new words
            (e.g. a sample of the training text), added to the fitted loss so
            that the new rows take the share of the mass the new words have
            in that domain, not the share they have in the examples.
        like_placement: for words without examples: ``"free"`` (a free cell
            near the like-word, see the module docstring) or ``"copy-row"``
            (a copy of the like-word's row of their own, at its column).
        share: ``"copy-row"``: the mass the new words like one word take
            together, relative to that word's (``P(like | h) * share``).

    Returns:
        ``(model, vocab, table, placements)``: a new model (same weights, rows
        added only if the table was full), the extended vocabulary, the new
        table, and one :class:`Placement` per new word.

    Raises:
        ValueError: for a word already in the vocabulary, a duplicate or empty
            word, a ``like`` word that is not in the vocabulary, an unknown
            ``like_placement`` or a ``share`` that is not positive.
    """
    like = dict(like or {})
    _check_new_words(vocab, words, like)
    if like_placement not in ("free", "copy-row"):
        raise ValueError(f"like_placement must be 'free' or 'copy-row', got {like_placement!r}")
    if not share > 0:
        raise ValueError(f"share must be > 0, got {share}")
    v_old, n_new = len(vocab), len(words)
    new_vocab = Vocabulary(list(vocab.words) + list(words), list(vocab.counts) + [0] * n_new)
    encoded: list[list[int]] = [new_vocab.encode(s) for s in examples] if examples else []
    occurrences = {v_old + i: [s for s in encoded if v_old + i in s] for i in range(n_new)}
    fitted = [i for i in range(n_new) if fit_steps > 0 and occurrences[v_old + i]]
    copied = [i for i in range(n_new) if like_placement == "copy-row" and not occurrences[v_old + i]]
    g = _Growth.of(model, vocab, table, n_new, len(fitted), len(copied))
    n_occ = {wid: sum(s.count(wid) for s in sents) for wid, sents in occurrences.items()}
    fit_set, copy_set = set(fitted), set(copied)
    placements: dict[int, Placement] = {}
    if copied:
        likes = [like.get(words[i], "<unk>") for i in copied]
        group = {w: likes.count(w) for w in set(likes)}
        for j, (i, ref) in enumerate(zip(copied, likes)):
            r, c = g.copy_row(g.first_copy_row + j, ref, vocab, math.log(share / group[ref]), v_old + i)
            g.take(v_old + i, r, c)
            placements[i] = Placement(words[i], r, c, "copy-row", f"copy of {ref!r}'s row, 1 of {group[ref]}")
    for i in sorted((i for i in range(n_new) if i not in fit_set | copy_set), key=lambda i: -n_occ[v_old + i]):
        wid = v_old + i
        if occurrences[wid]:
            r, c, detail = g.best_free_cell(occurrences[wid], wid, vocab, max_tokens)
            placements[i] = Placement(words[i], r, c, "examples", f"{n_occ[wid]} occurrence(s), {detail}")
        else:
            r, c, detail = g.like_cell(like.get(words[i], "<unk>"), vocab)
            placements[i] = Placement(words[i], r, c, "like", detail)
        g.take(wid, r, c)
    if fitted:
        ids = torch.tensor([v_old + i for i in sorted(fitted, key=lambda i: -n_occ[v_old + i])])
        sents = [s for s in encoded if any(w >= v_old for w in s)] + [new_vocab.encode(s) for s in background or ()]
        nll = g.fit_new_rows(ids, sents, occurrences, vocab, fit_steps, lr, max_tokens)
        for w in ids.tolist():
            r, c = divmod(int(g.cells[w]), g.n_cols)
            placements[w - v_old] = Placement(new_vocab.words[w], r, c, "fitted",
                                              f"{n_occ[w]} occurrence(s); new row fitted, example NLL "
                                              f"{nll:.3f} nats/token")
    new_table = WordTable(g.cells, g.n_rows, g.n_cols)
    g.model.set_table(new_table)
    return g.model, new_vocab, new_table, [placements[i] for i in range(n_new)]


def _check_new_words(vocab: Vocabulary, words: Sequence[str], like: dict[str, str]) -> None:
    seen: set[str] = set()
    for w in words:
        if not w or any(ch.isspace() for ch in w):
            raise ValueError(f"not a word: {w!r}")
        if w in vocab:
            raise ValueError(f"{w!r} is already in the vocabulary (id {vocab.id(w)})")
        if w in seen:
            raise ValueError(f"{w!r} is listed twice")
        seen.add(w)
    for w, ref in like.items():
        if ref not in vocab:
            raise ValueError(f"like-word {ref!r} (for {w!r}) is not in the vocabulary")


@dataclass
class _Growth:
    """The grown model while words are placed: every word's cell (new words start in ``<unk>``'s
    cell, reading and scoring like ``<unk>``, which is what the model saw for unseen words), which
    cells are taken, and where the rows reserved for fitted words begin."""

    model: LightRNN
    cells: torch.Tensor  # (|V_new|,) int64 cell of every word
    occupied: torch.Tensor  # (R * C,) bool
    old_cells: torch.Tensor  # (|V_old|,) int64
    n_rows: int
    n_cols: int
    first_fit_row: int
    first_copy_row: int

    @classmethod
    def of(cls, model: LightRNN, vocab: Vocabulary, table: WordTable, n_new: int, n_fitted: int,
           n_copied: int = 0) -> "_Growth":
        v_old, n_cols = len(vocab), table.n_cols
        n_rows = max(table.n_rows, -(-(v_old + n_new - n_fitted - n_copied) // n_cols))
        first_fit_row = n_rows
        n_rows += -(-n_fitted // n_cols)
        first_copy_row = n_rows
        n_rows += n_copied  # one row per copied word
        grown = _grown(model, n_rows, v_old + n_new, vocab.unk_id)
        occupied = torch.zeros(n_rows * n_cols, dtype=torch.bool)
        occupied[first_fit_row * n_cols :] = True  # the fitted and copied rows hold only their own words
        old_cells = table.row * n_cols + table.col  # re-indexed: the column count is unchanged
        occupied[old_cells] = True
        unk_cell = int(old_cells[vocab.unk_id])
        cells = torch.cat([old_cells, torch.full((n_new,), unk_cell, dtype=torch.long)])
        grown.word_row.copy_(cells // n_cols)
        grown.word_col.copy_(cells % n_cols)
        if grown.config.word_bias:  # only the old words hold cells until the new ones are placed
            grown.cell_word.fill_(v_old + n_new)
            grown.cell_word[old_cells.to(grown.cell_word.device)] = torch.arange(v_old, device=grown.cell_word.device)
        return cls(grown, cells, occupied, old_cells, n_rows, n_cols, first_fit_row, first_copy_row)

    def free(self) -> torch.Tensor:
        return ~self.occupied.view(self.n_rows, self.n_cols)

    def take(self, wid: int, r: int, c: int) -> None:
        self.occupied[r * self.n_cols + c] = True
        self.cells[wid] = r * self.n_cols + c
        self.model.word_row[wid] = r
        self.model.word_col[wid] = c
        if self.model.config.word_bias:
            self.model.cell_word[r * self.n_cols + c] = wid

    def best_free_cell(self, sents: list[list[int]], wid: int, vocab: Vocabulary, max_tokens: int):
        """The free row of least row loss on the word's examples, then its free column of least column loss."""
        free = self.free()
        row_loss, _ = _losses(self.model, sents, wid, vocab.bos_id, vocab.eos_id, max_tokens)
        row_loss[~free.any(1)] = float("inf")
        r = int(row_loss.argmin())
        self.model.word_row[wid] = r
        _, col_loss = _losses(self.model, sents, wid, vocab.bos_id, vocab.eos_id, max_tokens)
        col_loss[~free[r]] = float("inf")
        c = int(col_loss.argmin())
        return r, c, f"NLL {float(row_loss[r] + col_loss[c]):.2f} nats"

    @torch.no_grad()
    def copy_row(self, r: int, ref: str, vocab: Vocabulary, log_share: float, wid: int) -> tuple[int, int]:
        """Make row ``r`` a copy of ``ref``'s row with its row-head bias shifted by ``log_share`` (and give
        word ``wid`` ``ref``'s word bias and own input vector); the cell of the copy at ``ref``'s column,
        ``(r, col)``."""
        m = self.model
        r0, c0 = divmod(int(self.old_cells[vocab.id(ref)]), self.n_cols)
        m.row_embed.weight[r] = m.row_embed.weight[r0]
        if vocab.id(ref) < m.config.output_shortlist:  # ref is predicted by its own output vector: the row's is a copy
            m.row_head.weight[r] = m.shortlist_head.weight[vocab.id(ref)]
            m.row_head.bias[r] = m.shortlist_head.bias[vocab.id(ref)] + log_share
        else:
            m.row_head.weight[r] = m.row_head.weight[r0]
            m.row_head.bias[r] = m.row_head.bias[r0] + log_share
            if m.config.output_shortlist:  # the copy's column softmax masks the cells ref's row masks, as ref's does
                m.mask_source_row[r] = r0
        if m.config.word_bias:
            m.word_bias[wid] = m.word_bias[vocab.id(ref)]
        if m.config.input_shortlist:  # and reads ref's own input vector (a shared slot)
            m.word_slot[wid] = m.word_slot[vocab.id(ref)]
        return r, c0

    def like_cell(self, ref: str, vocab: Vocabulary) -> tuple[int, int, str]:
        """The fallback: a free cell in the row of ``ref``, else in its column, else anywhere; within
        a row or column the one whose bias gives most mass."""
        free = self.free()
        col_bias = self.model.col_head.bias.detach().double().cpu()
        row_bias = self.model.row_head.bias.detach().double().cpu()
        r0, c0 = divmod(int(self.old_cells[vocab.id(ref)]), self.n_cols)
        if vocab.id(ref) < self.model.config.output_shortlist:  # ref's cell says nothing of how it is predicted:
            # the row with a free cell whose row-head vector is nearest (cosine) ref's own output vector
            w = self.model.row_head.weight.detach().double().cpu()
            own = self.model.shortlist_head.weight[vocab.id(ref)].detach().double().cpu()
            near = torch.nn.functional.cosine_similarity(w, own[None], dim=1).masked_fill(~free.any(1), float("-inf"))
            r = int(near.argmax())
            return r, int(col_bias.masked_fill(~free[r], float("-inf")).argmax()), f"row predicted most like {ref!r}"
        if free[r0].any():
            return r0, int(col_bias.masked_fill(~free[r0], float("-inf")).argmax()), f"row of {ref!r}"
        if free[:, c0].any():
            return int(row_bias.masked_fill(~free[:, c0], float("-inf")).argmax()), c0, f"column of {ref!r}"
        score = (row_bias[:, None] + col_bias[None, :]).masked_fill(~free, float("-inf"))
        r, c = divmod(int(score.argmax()), self.n_cols)
        return r, c, f"any free cell ({ref!r}'s row and column are full)"

    def _note_cells(self, ids: torch.Tensor) -> None:
        """With ``word_bias``: the fitted rows hold exactly the words ``ids``, at their ``cells``."""
        if self.model.config.word_bias:
            at = self.model.cell_word
            at[self.first_fit_row * self.n_cols :] = self.cells.numel()  # empty
            at[self.cells[ids].to(at.device)] = ids.to(at.device)

    def fit_new_rows(self, ids: torch.Tensor, sents: list[list[int]], occurrences: dict, vocab: Vocabulary,
                     fit_steps: int, lr: float, max_tokens: int) -> float:
        """Put the words ``ids`` into the reserved rows in order, fit those rows, re-choose their columns
        (an exact assignment on column NLL) and fit again. Returns the final example NLL (nats/token)."""
        n_cols, model = self.n_cols, self.model
        self.cells[ids] = self.first_fit_row * n_cols + torch.arange(ids.numel())
        model.word_row[ids], model.word_col[ids] = self.cells[ids] // n_cols, self.cells[ids] % n_cols
        self._note_cells(ids)
        model.set_table(WordTable(self.cells, self.n_rows, n_cols))  # every word has its cell by now: the masks
        rows = list(range(self.first_fit_row, self.n_rows))
        fit_rows(model, sents, rows, fit_steps, lr, vocab.bos_id, vocab.eos_id, max_tokens)
        for r in rows:
            members = ids[self.cells[ids] // n_cols == r]
            cost = torch.stack([_losses(model, occurrences[int(w)], int(w), vocab.bos_id, vocab.eos_id,
                                        max_tokens)[1] for w in members])
            _, cols = linear_sum_assignment(cost.numpy())
            self.cells[members] = r * n_cols + torch.from_numpy(cols).long()
            model.word_col[members] = torch.from_numpy(cols).long().to(model.word_col.device)
        self._note_cells(ids)
        model.set_table(WordTable(self.cells, self.n_rows, n_cols))
        return fit_rows(model, sents, rows, fit_steps, lr, vocab.bos_id, vocab.eos_id, max_tokens)
