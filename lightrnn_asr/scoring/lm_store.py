"""The LM states of lattice expansions, stored one batch per LM call: :class:`LMStore`.

An expansion refers to a history's LM state by ``(batch, row)``. Several expansions may share one
store: then one LM call serves the frontier of all of them (:func:`~lightrnn_asr.scoring.expansion.
expand_together`), and a batch holds rows of several lattices.
"""

from __future__ import annotations

from typing import Sequence

import torch

from lightrnn_asr.lm.interface import LanguageModel, LMState
from lightrnn_asr.utils.device import split_on_oom

__all__ = ["LMStore", "StateRef"]

#: ``(batch, row)``: where a history's LM state sits in an :class:`LMStore`.
StateRef = tuple[int, int]


class LMStore:
    """LM states, one batch per LM call, and the LM calls themselves.

    Batch 0 is the sentence-start state (row 0). A :meth:`batched` call either scores words on
    given states (``score_words``: the log-probs, and states that are not advanced yet, for a model
    whose scoring needs no LSTM step) or advances them (``advance``); either way the states it
    returns are stored as new batches.

    Args:
        model: the LM (evaluation mode), ``bos_id`` its sentence start.
        batch_size: most rows per LM call.
        where: what to name in an out-of-memory error (a lattice file, or several).

    Raises:
        ValueError: for a backward LM (:attr:`~lightrnn_asr.lm.interface.LanguageModel.backward`), which
            cannot follow a lattice's arcs from its start; it scores N-best lists.
    """

    def __init__(self, model: LanguageModel, bos_id: int, batch_size: int, where: str) -> None:
        if model.backward:
            raise ValueError(f"{where}: a backward LM reads sentences right to left and cannot expand a lattice "
                             "from its start; rescore N-best lists with it (rescore NBEST --backward-model)")
        self.model, self.batch_size, self.where = model, batch_size, where
        self.device = model.device
        self.batches: list[LMState] = [model.initial_state(1, bos_id)]
        self.unadvanced: dict[int, list[int]] = {}  # batch -> its words, for scored batches not advanced yet
        self.calls = 0

    def gather(self, refs: Sequence[StateRef]) -> LMState:
        """The LM states of ``refs`` as one batch, in order."""
        model = self.model
        refs_t = torch.tensor(refs, dtype=torch.long)
        parts, order = [], []
        for b in torch.unique(refs_t[:, 0]).tolist():
            pick = (refs_t[:, 0] == b).nonzero()[:, 0]
            parts.append(model.select_state(self.batches[b], refs_t[pick, 1].to(self.batches[b][0].device)))
            order.append(pick)
        joined = model.cat_states(parts) if len(parts) > 1 else parts[0]
        return model.select_state(joined, torch.argsort(torch.cat(order)).to(joined[0].device))

    def _step(self, advance: bool, refs: list[StateRef], ids: list[int]) -> tuple[list[float | None], list[StateRef]]:
        def step(pairs: list) -> list:
            state = self.gather([r for r, _ in pairs])
            words = torch.tensor([w for _, w in pairs], dtype=torch.long, device=self.device)
            self.calls += 1
            if advance:
                lps, new_state = [None] * len(pairs), self.model.advance(state, words)
            else:
                lp, new_state = self.model.score_words(state, words)
                lps = lp.tolist()
                self.unadvanced[len(self.batches)] = words.tolist()
            self.batches.append(new_state)
            return [(x, (len(self.batches) - 1, row)) for row, x in enumerate(lps)]

        results = split_on_oom(step, list(zip(refs, ids)), self.device, self.where, "LM rows",
                               lambda _: f"{self.where}: one LM step does not fit in {self.device} memory")
        return [x for x, _ in results], [r for _, r in results]

    def batched(self, advance: bool, refs: list[StateRef], ids: list[int]) -> tuple[list, list[StateRef]]:
        """Score (``advance=False``) or advance the states ``refs`` by the words ``ids``, in calls of
        at most ``batch_size`` rows. Returns the log-probs in nats (``None`` when advancing) and the
        refs of the new states.

        Raises:
            RuntimeError: when a single row does not fit in CUDA memory (naming ``where``).
        """
        lps, new_refs, size = [], [], self.batch_size
        for k in range(0, len(refs), size):
            lp, r = self._step(advance, refs[k : k + size], ids[k : k + size])
            lps += lp
            new_refs += r
        return lps, new_refs
