"""One rank of a distributed training run for tests/test_distributed.py (started by torchrun, or
directly for the single-process reference).

    python ddp_worker.py TRAIN_TXT VALID_TXT OUT_DIR ROUNDS [RECURRENCE]

Trains a tiny LightRNN (no dropout; the paper's recurrence unless RECURRENCE is given) with
``lightrnn_asr.training.loop`` and writes what this rank holds
at the end to ``OUT_DIR/rank<R>.pt``: its parameters and word table.
"""

import sys
from pathlib import Path

import torch

from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.text.corpus import encode_corpus, read_sentences
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.loop import TrainConfig, train
from lightrnn_asr.utils.distributed import init_distributed, shutdown


def main() -> None:
    train_txt, valid_txt, out_dir, rounds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    recurrence = sys.argv[5] if len(sys.argv) > 5 else "halfword"
    torch.set_num_threads(1)
    ctx, device = init_distributed(torch.device("cpu"))
    vocab = Vocabulary.from_sentences(read_sentences(train_txt))
    torch.manual_seed(0)
    table = WordTable.sequential(len(vocab))
    model = build_model(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows,
                                 n_cols=table.n_cols, embed_dim=16, hidden_dim=16, num_layers=1, dropout=0.0,
                                 recurrence=recurrence, col_hidden_dim=0, input_shortlist=0, output_shortlist=0), table)
    cfg = TrainConfig(rounds=rounds, epochs_per_round=1, lr=0.01, max_tokens=300, seed=0, patience=rounds)
    corpus = encode_corpus(train_txt, vocab, max_len=12, shard=(ctx.rank, ctx.world_size))
    train(model, vocab, table, corpus, encode_corpus(valid_txt, vocab), cfg, out_dir, device, ctx=ctx)
    torch.save({"params": {k: v.clone() for k, v in model.state_dict().items()},
                "row": model.word_row.clone(), "col": model.word_col.clone()}, out_dir / f"rank{ctx.rank}.pt")
    shutdown(ctx)


if __name__ == "__main__":
    main()
