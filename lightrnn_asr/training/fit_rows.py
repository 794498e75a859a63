"""Fitting rows of a trained LightRNN to example sentences, every other weight frozen: how
:func:`~lightrnn_asr.training.openvocab.add_words` gives words with examples rows of their own."""

from __future__ import annotations

import torch

from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.text.corpus import length_batches, make_batch

__all__ = ["fit_rows"]


def fit_rows(model: LightRNN, sentences: list[list[int]], rows: list[int], steps: int, lr: float,
              bos: int, eos: int, max_tokens: int) -> float:
    """Fit the input vectors, row-head weights and biases of ``rows`` (nothing else) to ``sentences``.

    Minimises the mean NLL of all tokens of ``sentences`` (the new words and
    the existing words around them, so that the new rows take only the mass
    the examples justify) with Adam, ``steps`` passes, every other parameter
    frozen (their gradients are zeroed, so Adam leaves them exactly as they were).

    Returns:
        The final mean NLL (nats per token).
    """
    device = model.device
    params = list({id(p): p for p in (model.row_embed.weight, model.row_head.weight, model.row_head.bias)}.values())
    keep = torch.ones(model.config.n_rows, dtype=torch.bool, device=device)
    keep[rows] = False
    for p in model.parameters():
        p.requires_grad_(any(p is q for q in params))
    opt = torch.optim.Adam(params, lr=lr)
    batches = [tuple(t.to(device) for t in make_batch([torch.tensor(sentences[i]) for i in idx.tolist()], bos, eos))
               for idx in length_batches(torch.tensor([len(s) for s in sentences]), max_tokens)]
    n = int(sum(int(mask.sum()) for _, _, mask in batches))  # tokens predicted
    model.eval()
    total = torch.full((), float("nan"))
    for _ in range(steps):
        opt.zero_grad()
        total = torch.zeros((), device=device)
        for inputs, targets, mask in batches:
            loss = model.loss(inputs, targets, mask) * mask.sum()
            loss.backward()
            total += loss.detach()
        for p in params:
            p.grad[keep] = 0.0
            p.grad /= n
        opt.step()
    for p in model.parameters():
        p.requires_grad_(True)
    return float(total) / n
