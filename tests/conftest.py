import random

import pytest
import torch


def toy_sentences(n: int, seed: int = 0) -> list[str]:
    """A tiny grammar with strong word-to-word structure, so a few hundred sentences teach an LSTM."""
    rng = random.Random(seed)
    subjects = ["the cat", "the dog", "a bird", "my friend", "the old man"]
    verbs = ["sees", "likes", "follows", "calls"]
    objects = ["the ball", "a tree", "the house", "her sister", "the river"]
    tails = ["today", "again", "at night", "in the morning", ""]
    return [" ".join(x for x in (rng.choice(subjects), rng.choice(verbs), rng.choice(objects), rng.choice(tails)) if x)
            for _ in range(n)]


# one thread from the start, so that module-scoped fixtures (which run before any function-scoped one)
# train the same models whichever tests ran before them in this process
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture
def toy_text(tmp_path):
    train = tmp_path / "train.txt"
    valid = tmp_path / "valid.txt"
    train.write_text("\n".join(toy_sentences(1500, 0)) + "\n")
    valid.write_text("\n".join(toy_sentences(50, 1)) + "\n")
    return train, valid
