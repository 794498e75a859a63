"""Sentence log-probabilities with every distinct prefix scored once (a prefix tree over the sentences).

An N-best list is mostly shared prefixes: its hypotheses differ in a few words, and the LM state
after a prefix is the same for every hypothesis that starts with it. :func:`prefix_logprobs` puts
the sentences into one tree (``<s>`` at the root, ``</s>`` closing every sentence) and steps the LM
depth by depth over the tree's nodes, through the public word-at-a-time interface: at each depth
one :meth:`~lightrnn_asr.lm.interface.LanguageModel.score_words` call scores every edge out of the
depth's nodes, and one :meth:`~lightrnn_asr.lm.interface.LanguageModel.advance` call moves the state
into the children that have children of their own. A sentence's score is the sum over its path.
The LM therefore does one step per distinct prefix (words and ``</s>``) where full-sentence scoring
does one per word of every sentence. Neither icefall's ``rescore_with_rnn_lm`` nor Kaldi's N-best
rescoring shares prefixes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.utils.device import autocast_for

__all__ = ["PrefixTree", "prefix_logprobs"]


class PrefixTree:
    """The distinct prefixes of ``sentences`` (id lists without ``<s>``/``</s>``), each ended by ``eos``.

    Attributes:
        parent, word: ``(K,)`` int64 per node except the root (node 0): its parent and its word.
        depth: ``(K,)`` int64 node depth (the root: 0).
        leaf: ``(n,)`` int64 the ``</s>`` node of every sentence, in input order.
    """

    def __init__(self, sentences: Sequence[Sequence[int]], eos: int) -> None:
        children: list[dict[int, int]] = [{}]
        parent, word, depth = [-1], [-1], [0]
        leaf = []
        for sent in sentences:
            node = 0
            for w in (*sent, eos):
                nxt = children[node].get(w)
                if nxt is None:
                    nxt = children[node][w] = len(parent)
                    children.append({})
                    parent.append(node)
                    word.append(int(w))
                    depth.append(depth[node] + 1)
                node = nxt
            leaf.append(node)
        self.parent = np.array(parent, dtype=np.int64)
        self.word = np.array(word, dtype=np.int64)
        self.depth = np.array(depth, dtype=np.int64)
        self.leaf = np.array(leaf, dtype=np.int64)
        self.has_children = np.zeros(len(parent), dtype=bool)
        self.has_children[self.parent[1:]] = True

    @property
    def num_nodes(self) -> int:
        return int(self.parent.size)

    def levels(self) -> list[np.ndarray]:
        """The nodes of each depth (``levels()[d]``: ``(K_d,)`` int64 ids, ascending), from one stable sort."""
        order = np.argsort(self.depth, kind="stable")
        return np.split(order, np.cumsum(np.bincount(self.depth))[:-1])


@torch.inference_mode()
def prefix_logprobs(model: LanguageModel, sentences: Sequence[Sequence[int]], bos_id: int = 0, eos_id: int = 1,
                    device: torch.device | str | None = None, amp: bool = True, max_nodes: int = 8192) -> np.ndarray:
    """``log P(w_1 .. w_n </s> | <s>)`` of every sentence (nats, ``(n,)`` float64, input order), each
    distinct prefix scored once (see the module docstring).

    Equal to :func:`~lightrnn_asr.scoring.sentences.score_sentences` up to float rounding: word-at-a-time
    and whole-sequence LSTM kernels sum in other orders (measured on the demo's real 100-best lists:
    at most 2.2e-4 nats per sentence in float32). ``max_nodes`` nodes of a depth go through the LM at a
    time; the states of a depth's inner nodes are kept for the next (memory: those states).
    """
    tree = PrefixTree(sentences, eos_id)
    device = torch.device(device) if device is not None else model.device
    was_training = model.training
    model.eval()
    edge_lp = np.zeros(tree.num_nodes)  # log P(word of node | prefix of its parent)
    try:
        with autocast_for(device, amp):
            state = model.initial_state(1, bos_id)
            row_of = np.zeros(tree.num_nodes, dtype=np.int64)  # node -> its row in ``state`` (inner nodes of a depth)
            for nodes in tree.levels()[1:]:
                parts, inner_all = [], []
                for k in range(0, nodes.size, max_nodes):
                    part = nodes[k : k + max_nodes]
                    rows = torch.from_numpy(row_of[tree.parent[part]]).to(state[0].device)
                    words = torch.from_numpy(tree.word[part]).to(device)
                    lp, partial = model.score_words(model.select_state(state, rows), words)
                    edge_lp[part] = lp.double().cpu().numpy()
                    inner = np.flatnonzero(tree.has_children[part])
                    if inner.size:
                        keep = torch.from_numpy(inner).to(state[0].device)
                        parts.append(model.advance(model.select_state(partial, keep), words[keep.to(words.device)]))
                        inner_all.append(part[inner])
                if not parts:
                    break
                state = model.cat_states(parts) if len(parts) > 1 else parts[0]
                inner_nodes = np.concatenate(inner_all)
                row_of[inner_nodes] = np.arange(inner_nodes.size)
    finally:
        model.train(was_training)
    # a sentence's score: the sum of the edges on its path, accumulated from the root down, a depth at a time
    total = np.zeros(tree.num_nodes)
    for nodes in tree.levels()[1:]:
        total[nodes] = total[tree.parent[nodes]] + edge_lp[nodes]
    return total[tree.leaf]
