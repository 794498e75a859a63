
import pytest
import torch
from helpers import toy_sentences

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
