"""Writes tiny_lightrnn.pt and tiny_lightrnn.scores.json (run from the repository root).

A small untrained LightRNN over the words of the three Asterisk lattices here,
saved with the project's checkpoint format, and the sentence log-probabilities
it gives: the k2 tests load this file under torch 1.13 and check the scores,
so a checkpoint written under torch 2.x is proven to load there unchanged.

    python tests/data/make_tiny_lightrnn.py
"""

import json
from pathlib import Path

import torch

from lightrnn_asr.formats.lattice import FillerMap, read_htk
from lightrnn_asr.lm import LightRNN, LMConfig
from lightrnn_asr.lm.checkpoint import save_checkpoint
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.vocabulary import Vocabulary

DATA = Path(__file__).parent
LATTICES = ["asterisk-queue-thankyou.slf", "asterisk-confbridge-has-joined.slf", "asterisk-do-not-disturb.slf"]
SENTENCES = ["thank you for your patience", "has joined the conference", "do not disturb", "bank you for your patients"]


def main() -> None:
    fillers = FillerMap()
    words = sorted({w for name in LATTICES for w in map(fillers, read_htk(DATA / name).symbols) if w})
    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 1, 0] + [1] * len(words))
    torch.manual_seed(0)
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=8, hidden_dim=12, num_layers=1, dropout=0.1, recurrence="halfword"), table).eval()
    train_state = {"history": [{"round": 1, "valid_ppl": 123.25, "seconds": 0.5}], "lr": 1e-3}
    save_checkpoint(DATA / "tiny_lightrnn.pt", model, vocab, table, train_state)
    ids = [torch.tensor(vocab.encode(s.split())) for s in SENTENCES]
    scores = score_sentences(model, ids, bos_id=vocab.bos_id, eos_id=vocab.eos_id).tolist()
    out = {"torch": torch.__version__, "sentences": dict(zip(SENTENCES, scores)), "train_state": train_state}
    (DATA / "tiny_lightrnn.scores.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
