"""Training commands: ``train`` (LightRNN with reallocation, or an LSTM baseline) and ``add-words``."""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

import click
import torch

from lightrnn_asr.cli.common import friendly, main, sigterm_as_interrupt
from lightrnn_asr.cli.config_file import apply_defaults, write_options
from lightrnn_asr.evaluation.report import plot_perplexity_rounds
from lightrnn_asr.lm import defaults
from lightrnn_asr.lm.build import new_model
from lightrnn_asr.lm.checkpoint import load_checkpoint, save_checkpoint
from lightrnn_asr.lm.config import RECURRENCES
from lightrnn_asr.lm.piece_lstm import spell_words
from lightrnn_asr.text.corpus import MAX_SENTENCE_WORDS, encode_corpus, in_reading_order, read_sentences
from lightrnn_asr.text.pieces import load_pieces, train_pieces, word_piece_table
from lightrnn_asr.text.vocabulary import Vocabulary, read_new_words, read_vocab, read_word_list, write_vocab
from lightrnn_asr.training.loop import TrainConfig, train
from lightrnn_asr.training.openvocab import add_words
from lightrnn_asr.training.reallocation import SOLVERS
from lightrnn_asr.training.run_dir import claim_run_dir
from lightrnn_asr.utils.device import resolve_device
from lightrnn_asr.utils.distributed import init_distributed, shutdown


def _preset(ctx: click.Context, param: click.Parameter, value: str) -> str:
    apply_defaults(ctx, defaults.PRESETS, preset=value)
    return value


def _config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        apply_defaults(ctx, defaults.PRESETS, config=value)
    return value


@click.command()
@click.option("--config", type=click.Path(exists=True, dir_okay=False), is_eager=True, callback=_config,
              help="A YAML file of options, named as on the command line without the dashes (dropout: 0.3, "
                   "input-shortlist: 0), the unlisted ones included; options given on the command line override it. "
                   "Every run writes its options to OUT_DIR/config.yaml in this form.")
@click.option("--preset", type=click.Choice(sorted(defaults.PRESETS)), default="default", show_default=True,
              is_eager=True, callback=_preset,
              help="The LightRNN's form: default (one LSTM step per word, input and output shortlists, a column "
                   "head) or paper (NeurIPS 2016: two steps per word, no shortlists). --config and options given "
                   "override it.")
@click.option("--train-text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--valid-text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out-dir", required=True, type=click.Path(file_okay=False))
@click.option("--model-type", type=click.Choice(["lightrnn", "lstm", "adaptive", "bpe"]), default="lightrnn",
              show_default=True, help="lstm: full softmax; adaptive: adaptive softmax (torch.nn.AdaptiveLogSoftmaxWithLoss); "
              "bpe: an LSTM over sentencepiece BPE pieces trained on --train-text (OUT_DIR/bpe.model), scoring each "
              "word as the sum of its pieces, as icefall's rnn_lm.")
@click.option("--bpe-pieces", type=click.IntRange(min=4), default=500, show_default=True,
              help="--model-type bpe: the pieces of its sentencepiece model (icefall's LibriSpeech LMs: 500).", hidden=True)
@click.option("--cutoffs", default=None, help="Adaptive softmax cluster boundaries, e.g. 2000,10000 "
              "(default: a head of |V|/20 words, at most 8000, then tails 4x and 16x as large).", hidden=True)
@click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False),
              help="Use this vocabulary ('word count' lines) instead of building one.")
@click.option("--vocab-size", type=int, default=None, help="Keep the most frequent words.")
@click.option("--word-list", "word_lists", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Also give a cell to every word of this list (one per line, e.g. "
                   "/usr/share/dict/american-english-insane), seen in the text or not. Repeatable.")
@click.option("--recurrence", type=click.Choice(list(RECURRENCES)), default=defaults.RECURRENCE,
              show_default=True, help="LightRNN: one LSTM step per word reading the previous word's row and column "
              "vectors summed (word-sum) or concatenated (word-concat), or the paper's two steps per word, row "
              "vector then column vector (halfword).", hidden=True)
@click.option("--min-count", type=int, default=1, show_default=True, hidden=True)
@click.option("--embed-dim", type=int, default=defaults.EMBED_DIM, show_default=True)
@click.option("--hidden-dim", type=int, default=defaults.HIDDEN_DIM, show_default=True)
@click.option("--num-layers", type=int, default=defaults.NUM_LAYERS, show_default=True)
@click.option("--dropout", type=float, default=defaults.DROPOUT, show_default=True)
@click.option("--rounds", type=int, default=50, show_default=True,
              help="Most rounds; training stops earlier once validation perplexity has not improved for --patience "
                   "rounds, or when --time-budget is spent.")
@click.option("--epochs-per-round", type=int, default=1, show_default=True,
              help="Passes over the text between reallocations; 0: until validation perplexity improves by less "
                   "than 1% in an epoch (each round to convergence, as the official CNTK recipe trains).", hidden=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--lr-decay", type=float, default=0.5, show_default=True,
              help="Learning-rate factor after a round without a better validation perplexity (1: constant).", hidden=True)
@click.option("--reset-optimizer/--keep-optimizer", default=True, show_default=True,
              help="A fresh Adam after every reallocation (the CNTK recipe's), or the same one kept "
                   "(docs/studies/training-ablation.md).", hidden=True)
@click.option("--loss-tables", type=click.Choice(["pass", "training"]), default="pass", show_default=True,
              help="LightRNN: reallocation's loss tables from a pass over the text after each round (the paper's), "
                   "or summed during the round's last epoch from its training steps (no extra pass).", hidden=True)
@click.option("--time-budget", type=float, default=0.0, show_default=True, metavar="SECONDS",
              help="Stop after this many seconds of training and reallocation (validation not counted); 0: no limit. "
                   "Where it stops depends on the machine's speed; --token-budget does not.", hidden=True)
@click.option("--token-budget", type=click.IntRange(min=0), default=0, show_default=True, metavar="TOKENS",
              help="Stop once this many training tokens (words and </s>, over all epochs) have been trained; 0: no "
                   "limit. The same text, seed and budget give the same model on any machine.")
@click.option("--tie-weights", is_flag=True,
              help="LightRNN: the output heads reuse the row and column input vectors (needs embed-dim = hidden-dim).", hidden=True)
@click.option("--word-bias", is_flag=True,
              help="LightRNN: a learnt bias per word on its column logit (|V| floats), so that the words sharing "
                   "a column can differ in frequency; it starts at log(count + 1).", hidden=True)
@click.option("--table-scale", type=click.FloatRange(min=1.0), default=1.0, show_default=True,
              help="LightRNN with --word-bias: a table of scale x |V| cells (1: the paper's R x C ~ |V|), so that "
                   "words share row and column vectors with fewer others; empty cells get no probability.", hidden=True)
@click.option("--col-hidden-dim", type=click.IntRange(min=0), default=None,
              help="One-step LightRNN: the size of the column head's own hidden layer, tanh(W h + P x_row), over "
                   "the LSTM output and the row's vector; 0: tanh(h + P x_row) at the LSTM's size. Default: 2 x "
                   "--hidden-dim (0 with --tie-weights or the halfword recurrence).", hidden=True)
@click.option("--input-shortlist", type=click.IntRange(min=0), default=None, metavar="N",
              help="One-step word-sum LightRNN: the N most frequent words get an input vector of their own, added "
                   "to their row and column vectors (N x embed-dim parameters, whatever |V|; the output layer is "
                   "unchanged). 0: none, the paper's input layer. Default: min(|V|, 4000) for a word-sum LightRNN.", hidden=True)
@click.option("--output-shortlist", type=click.IntRange(min=0), default=None, metavar="N",
              help="One-step LightRNN: the N most frequent words get an output vector of their own and are "
                   "predicted by one softmax over them and the table's rows; the other words keep the row x column "
                   "factorisation (N x (hidden-dim + 1) parameters, whatever |V|). 0: none, the paper's output "
                   "layer. Default: min(1000, |V| / 10) for a one-step LightRNN without --word-bias.", hidden=True)
@click.option("--initial-allocation", type=click.Choice(["frequency", "random"]), default="frequency",
              show_default=True, hidden=True,
              help="LightRNN: the first table, by frequency rank (the paper's) or random (the CNTK code's).")
@click.option("--backward", is_flag=True,
              help="Train a backward LM: every sentence read right to left. The checkpoint says so, and every command "
                   "that scores with it reverses the words itself; use it beside a forward LM in N-best rescoring "
                   "(rescore --backward-model).")
@click.option("--max-tokens", type=int, default=4000, show_default=True, help="Padded tokens per batch.")
@click.option("--max-len", type=int, default=60, show_default=True, help="Split longer training sentences.", hidden=True)
@click.option("--solver", type=click.Choice(sorted(SOLVERS)), default="auto", show_default=True,
              help="Reallocation solver: transport (relaxation duals + sparse exact matchings; near-optimal "
                   "up to a few 100K words), rows-columns (rows by transportation, exact columns per row; "
                   "|V| = 1M in under 2 minutes), auto (transport below 300K words to place, rows-columns "
                   "above), exact (dense matching; a few thousand words), alternating (exact row/column "
                   "block steps from the current table) or greedy (the reference code's heuristic).", hidden=True)
@click.option("--no-realloc", is_flag=True, help="Train a LightRNN without reallocation.", hidden=True)
@click.option("--patience", type=int, default=2, show_default=True, hidden=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt (with the same settings; a fresh run when "
              "there is none).")
@click.option("--overwrite", is_flag=True, help="Start anew in an OUT_DIR that holds a run, removing its last.pt, best.pt "
              "and history.json (without --resume or --overwrite such a directory is refused).")
@click.option("--deterministic", is_flag=True,
              help="Deterministic kernels for bit-identical runs on CUDA (CPU runs are already identical).", hidden=True)
@friendly
def train_cmd(config, preset, train_text, valid_text, out_dir, model_type, bpe_pieces, cutoffs, vocab_path,
              vocab_size, word_lists, recurrence, min_count, embed_dim, hidden_dim, num_layers, dropout,
              rounds, epochs_per_round, lr, lr_decay, reset_optimizer, loss_tables, time_budget, token_budget,
              tie_weights, word_bias, table_scale, col_hidden_dim, input_shortlist, output_shortlist,
              initial_allocation, backward, max_tokens, max_len, solver, no_realloc, patience, seed, device,
              threads, resume, overwrite, deterministic) -> None:
    """Train a LightRNN (with bootstrap reallocation), or a full- or adaptive-softmax LSTM LM, or a BPE LSTM.

    Not listed here, and still taken on the command line or in --config (docs/cli.md lists every option):
    the options of the LightRNN's form and schedule that studies change (--recurrence, --col-hidden-dim,
    --input-shortlist, --output-shortlist, --word-bias, --table-scale, --tie-weights, --initial-allocation,
    --loss-tables, --reset-optimizer/--keep-optimizer, --epochs-per-round, --lr-decay, --no-realloc,
    --solver), the baselines' own (--cutoffs, --bpe-pieces), and the rarely changed (--min-count,
    --max-len, --patience, --time-budget, --deterministic).

    Under torchrun (--nproc_per_node N, any number of nodes) the run is data-parallel: each
    process trains on its shard of the text (DistributedDataParallel; NCCL on GPUs, gloo on CPU)
    and rank 0 writes the checkpoints.
    """
    if threads:
        torch.set_num_threads(threads)
    ctx, dev = init_distributed(resolve_device(device))
    if not ctx.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    echo = click.echo if ctx.is_main else (lambda *a, **k: None)
    try:
        out = Path(out_dir)
        claim_run_dir(out, resume, overwrite, ctx.is_main)  # before anything in it is written
        if ctx.is_main:
            click_ctx = click.get_current_context()
            write_options(out / "config.yaml", click_ctx.params, click_ctx.command)
        vocab = _vocabulary(train_text, vocab_path, vocab_size, min_count, word_lists, echo)
        if ctx.is_main and not (resume and (out / "last.pt").exists()):  # a resumed run keeps its own
            write_vocab(out / "vocab.txt", vocab)
        torch.manual_seed(seed)
        try:
            cuts = [int(c) for c in cutoffs.split(",")] if cutoffs and model_type != "lightrnn" else []
            model, table = new_model(
                model_type, len(vocab), embed_dim=embed_dim, hidden_dim=hidden_dim, num_layers=num_layers,
                dropout=dropout, cutoffs=cuts, recurrence=recurrence if model_type == "lightrnn" else None,
                tie_weights=tie_weights, allocation=initial_allocation, seed=seed, word_bias=word_bias,
                table_scale=table_scale, col_hidden_dim=col_hidden_dim, input_shortlist=input_shortlist,
                output_shortlist=output_shortlist, backward=backward,
                pieces=_pieces(train_text, out, vocab, bpe_pieces) if model_type == "bpe" else None)
        except ValueError as e:  # the option the error is about: one given, named in the message
            given = {"table scale": ("--table-scale", table_scale != 1.0),
                     "col_hidden_dim": ("--col-hidden-dim", col_hidden_dim),
                     "input_shortlist": ("--input-shortlist", input_shortlist),
                     "output_shortlist": ("--output-shortlist", output_shortlist)}
            hint = next((h for key, (h, on) in given.items() if on and key in str(e)), None)
            hint = hint or ("--tie-weights" if tie_weights else None)
            if hint is None and model_type == "lightrnn":
                raise
            raise click.BadParameter(str(e), param_hint=hint or "--cutoffs") from None
        if word_bias and not resume:
            model.init_word_bias(torch.tensor(vocab.counts))
        tcfg = TrainConfig(rounds=rounds, epochs_per_round=epochs_per_round, lr=lr, max_tokens=max_tokens,
                           clip_norm=1.0, seed=seed, reallocate=not no_realloc, solver=solver, patience=patience,
                           deterministic=deterministic, lr_decay=lr_decay, reset_optimizer=reset_optimizer,
                           time_budget_s=time_budget, token_budget=token_budget, loss_tables=loss_tables)
        train_corpus = encode_corpus(train_text, vocab, max_len=max_len, shard=(ctx.rank, ctx.world_size),
                                     backward=backward)
        valid_corpus = encode_corpus(valid_text, vocab, backward=backward)
        history = _train_interruptible(model, vocab, table, train_corpus, valid_corpus, tcfg, out, dev,
                                       dict(resume=resume, ctx=ctx, overwrite=overwrite), echo)
        if ctx.is_main:
            plot_perplexity_rounds({model_type: history}, out / "perplexity.png")
            best = min(history, key=lambda h: h["valid_ppl"])
            echo(f"{out}/best.pt: valid perplexity {best['valid_ppl']:.2f} (round {best['round']}), "
                 f"{model.num_parameters()} parameters")
    finally:
        shutdown(ctx)


def _vocabulary(train_text, vocab_path, vocab_size, min_count, word_lists, echo) -> Vocabulary:
    """The vocabulary file, or one built from the training text; plus the words of every word list."""
    if vocab_path:
        vocab = read_vocab(vocab_path)
    else:
        try:
            vocab = Vocabulary.from_sentences(read_sentences(train_text), max_size=vocab_size, min_count=min_count)
        except ValueError as e:
            raise click.ClickException(f"{train_text}: {e}") from None
    for path in word_lists:
        words, skipped = read_word_list(path)
        before = len(vocab)
        vocab = vocab.with_words(words)
        echo(f"{path}: {len(vocab) - before} new words ({len(words)} read, {skipped} entries skipped: "
             f"not one word after normalisation); vocabulary now {len(vocab)}")
    return vocab


def _pieces(train_text, out: Path, vocab: Vocabulary, n_pieces: int):
    """A sentencepiece BPE model trained on the training text (``OUT/bpe.model``), and ``vocab`` spelled in it:
    ``(word_pieces, word_piece_count, n_pieces)`` for :func:`new_model`."""
    try:
        sp = train_pieces(train_text, out / "bpe", n_pieces)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--bpe-pieces") from None
    return (*word_piece_table(vocab, sp), sp.get_piece_size())


def _train_interruptible(model, vocab, table, train_corpus, valid_corpus, tcfg, out, dev, run_opts, echo):
    """:func:`train`, with SIGTERM handled as Ctrl-C: either ends the run with exit status 130, the
    last finished round on disk."""
    previous = signal.signal(signal.SIGTERM, sigterm_as_interrupt)
    try:
        return train(model, vocab, table, train_corpus, valid_corpus, tcfg, out, dev, **run_opts)
    except KeyboardInterrupt:
        echo(f"interrupted: {out}/last.pt holds the last finished round; continue with --resume", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


main.add_command(train_cmd, "train")


def _spell_words(ck, model_path: Path, words_path, out_path: Path) -> None:
    """add-words for a BPE LSTM: the new words spelled in the pieces of bpe.model beside the checkpoint."""
    pieces = model_path.parent / "bpe.model"
    if not pieces.exists():
        raise click.ClickException(f"{model_path}: a BPE LSTM needs the sentencepiece model it was trained with "
                                   f"at {pieces}")
    words, _ = read_new_words(words_path)
    try:
        model, vocab = spell_words(ck.model, ck.vocab, words, load_pieces(pieces))
    except ValueError as e:
        raise click.ClickException(f"{pieces}: {e}") from None
    save_checkpoint(out_path, model, vocab, None, {"added_words": list(vocab.words[len(ck.vocab):])})
    click.echo(f"{out_path}: {len(vocab)} words ({len(vocab) - len(ck.vocab)} added, spelled in "
               f"{int(model.word_piece_count[len(ck.vocab):].sum())} pieces)", err=True)


@main.command("add-words")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A trained LightRNN checkpoint, or a BPE LSTM's (train --model-type bpe: its words are spelled "
                   "in the pieces of bpe.model beside it; the options for placing and fitting rows do not apply).")
@click.option("--words", "words_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="New words, one per line: WORD [LIKE_WORD] (LIKE_WORD: an existing word it behaves like).")
@click.option("--examples", type=click.Path(exists=True, dir_okay=False),
              help="Sentences using the new words (not your test sentences).")
@click.option("--fit-steps", type=int, default=100, show_default=True,
              help="With --examples: put the words that have examples in new rows and fit those rows' "
                   "vectors to the examples (all trained weights frozen). 0: the free cell of least loss.")
@click.option("--background", type=click.Path(exists=True, dir_okay=False),
              help="Sentences of the target domain without the new words (e.g. some training text): "
                   "fitted with the examples so that the new rows take only the mass the words deserve.")
@click.option("--like", "default_like", metavar="WORD",
              help="The like-word of every new word whose line names none (default: <unk>).")
@click.option("--like-placement", type=click.Choice(["free", "copy-row"]), default="free", show_default=True,
              help="Words without examples: 'free' takes a free cell near the LIKE_WORD (default <unk>); "
                   "'copy-row' gives each word a copy of its LIKE_WORD's row, so it is predicted as "
                   "P(LIKE_WORD | h) * share / k (k: new words like that word); one row per word.")
@click.option("--share", type=float, default=1.0, show_default=True,
              help="With --like-placement copy-row: the mass the new words like one word take together, "
                   "relative to that word's.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@friendly
def add_words_cmd(model_path, words_path, examples, fit_steps, background, default_like, like_placement, share,
                  out_path) -> None:
    """Add words (names, places) to a trained LightRNN without retraining it.

    Existing words keep their cells and weights. With --examples, the new words get rows of their
    own fitted to the examples (or, with --fit-steps 0, the free cells of least loss on them);
    without, free cells chosen by the fallback rule, or with --like-placement copy-row copies of
    their like-words' rows. See lightrnn_asr.training.openvocab. A BPE LSTM's new words are spelled in
    its pieces (lightrnn_asr.lm.piece_lstm.spell_words).
    """
    ck = load_checkpoint(model_path)
    if ck.model.config.model_type == "bpe":
        _spell_words(ck, Path(model_path), words_path, Path(out_path))
        return
    if ck.model.config.model_type != "lightrnn":
        raise click.ClickException(f"{model_path}: a {ck.model.config.model_type} model; add-words takes a LightRNN "
                                   "or a BPE LSTM")
    if ck.model.compression is not None:
        raise click.ClickException(f"{model_path}: a compressed model ({ck.model.compression.name}) cannot be "
                                   "extended; add the words to the float model, then compress it")
    words, like = read_new_words(words_path)
    if default_like:
        like = {w: like.get(w, default_like) for w in words}
    def text(path):  # in the model's reading order
        return [in_reading_order(s, ck.model.backward) for s in read_sentences(path, MAX_SENTENCE_WORDS)] if path else None

    model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, words, text(examples), like,
                                                fit_steps=fit_steps, background=text(background),
                                                like_placement=like_placement, share=share)
    save_checkpoint(out_path, model, vocab, table, {"added_words": [p.word for p in placements]})
    for p in placements:
        click.echo(f"{p.word}\trow {p.row}\tcol {p.col}\t{p.method}: {p.detail}")
    grown = f", table grown to {table.n_rows} x {table.n_cols}" if table.n_rows > ck.table.n_rows else ""
    click.echo(f"{out_path}: {len(vocab)} words ({len(words)} added){grown}", err=True)
