"""Helpers shared by the tests (imported as ``helpers``; tests/ is on the path through conftest)."""

import importlib.util
import random
import sys

import torch

from lightrnn_asr import LanguageModel, Vocabulary


def load_script(path, name: str):
    """The Python file ``path`` (a recipe's or a benchmark's script) as module ``name``, registered in
    ``sys.modules`` so that its dataclasses and its functions sent to worker processes resolve."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def run_cli(*args) -> str:
    """``lightrnn-asr ARGS`` in this process; its output, after asserting exit status 0."""
    from click.testing import CliRunner

    from lightrnn_asr.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def toy_text_files(directory, train: int = 600, valid: int = 60):
    """``train.txt`` and ``valid.txt`` of toy sentences in ``directory`` (seeds 0 and 1)."""
    (directory / "train.txt").write_text("\n".join(toy_sentences(train, 0)) + "\n")
    (directory / "valid.txt").write_text("\n".join(toy_sentences(valid, 1)) + "\n")
    return directory / "train.txt", directory / "valid.txt"


def toy_sentences(n: int, seed: int = 0) -> list[str]:
    """A tiny grammar with strong word-to-word structure, so a few hundred sentences teach an LSTM."""
    rng = random.Random(seed)
    subjects = ["the cat", "the dog", "a bird", "my friend", "the old man"]
    verbs = ["sees", "likes", "follows", "calls"]
    objects = ["the ball", "a tree", "the house", "her sister", "the river"]
    tails = ["today", "again", "at night", "in the morning", ""]
    return [" ".join(x for x in (rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(tails)) if x)
            for _ in range(n)]


class BigramStubLM(LanguageModel):
    """A user's own LM written against the public :class:`LanguageModel` interface only: a bigram
    table ``log P(w | prev)`` over the ids of a vocabulary (rows sum to 1). Its state is the previous
    word (batch-first, the interface's default layout), so lattice expansion with ``ngram_order=2``
    scores every path exactly."""

    def __init__(self, vocab: Vocabulary, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.logp = torch.nn.Parameter(torch.log_softmax(torch.randn(len(vocab), len(vocab), generator=g) * 2, 1),
                                       requires_grad=False)

    def token_logprobs(self, inputs, targets):
        return self.logp[inputs, targets]

    def initial_state(self, n, bos_id=0):
        return (torch.full((n,), bos_id, dtype=torch.long, device=self.device),)

    def score_next(self, state, words):
        return self.logp[state[0], words], (words,)

    def by_hand(self, vocab: Vocabulary, words) -> float:
        """``log P(words </s> | <s>)`` from the table, one bigram at a time."""
        ids = [vocab.bos_id, *vocab.encode(words), vocab.eos_id]
        return float(sum(self.logp[a, b] for a, b in zip(ids[:-1], ids[1:])))


def train_toy_lightrnn(directory):
    """A small LightRNN trained on the toy grammar ("the cat sees the ball today", ...) in ``directory``:
    its checkpoint (``load_checkpoint``)."""
    from lightrnn_asr.lm.checkpoint import load_checkpoint

    toy_text_files(directory)
    run_cli("train", "--model-type", "lightrnn", "--train-text", directory / "train.txt", "--valid-text",
            directory / "valid.txt", "--out-dir", directory / "exp", "--embed-dim", 16, "--hidden-dim", 32,
            "--num-layers", 1, "--rounds", 6, "--lr", 0.03, "--max-tokens", 400, "--patience", 3, "--device", "cpu",
            "--threads", 1)
    return load_checkpoint(directory / "exp" / "best.pt")
