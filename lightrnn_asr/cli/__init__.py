"""The ``lightrnn-asr`` command line (click).

Every command is a thin wrapper around library functions; bad input ends in a
one-line ``Error: file:line: ...`` message and exit status 1, not a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import sys
from pathlib import Path

import click
import numpy as np
import torch

from lightrnn_asr.evaluation.report import (
    compare_systems,
    plot_perplexity_rounds,
    plot_scale_sweep,
    plot_wer,
    wer_report,
)
from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer, format_alignment
from lightrnn_asr.formats.kaldi_lattice import (
    read_fst_lattice,
    read_kaldi_lattices,
    read_words,
    write_fst_lattice,
    write_kaldi_lattices,
)
from lightrnn_asr.formats.kaldi_nbest import iter_kaldi_nbest
from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError, lattice_nbest, read_htk, write_htk
from lightrnn_asr.formats.nbest import (
    NBestFormatError,
    iter_nbest,
    nbest_line,
    read_nbest,
    read_text,
    write_nbest,
    write_text,
)
from lightrnn_asr.lm.build import build_model
from lightrnn_asr.lm.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model, compressed_state, state_bytes
from lightrnn_asr.lm.config import LMConfig
from lightrnn_asr.lm.export import export_torchscript
from lightrnn_asr.lm.table import WordTable, table_shape
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, combine_scores, rescore_lattices
from lightrnn_asr.scoring.nbest import Scales, one_best, oracle, score_nbest, total_scores
from lightrnn_asr.scoring.sentences import perplexity, score_sentences
from lightrnn_asr.scoring.tuning import tune_scales
from lightrnn_asr.text.corpus import encode_corpus, read_sentences
from lightrnn_asr.text.normalize import normalize_text, split_sentences
from lightrnn_asr.text.vocabulary import Vocabulary, read_vocab, read_word_list, write_vocab
from lightrnn_asr.training.loop import TrainConfig, train
from lightrnn_asr.training.openvocab import add_words
from lightrnn_asr.training.reallocation import SOLVERS
from lightrnn_asr.utils.device import resolve_device
from lightrnn_asr.utils.distributed import init_distributed, sharded_map, shutdown
from lightrnn_asr.utils.progress import progress_bar

log = logging.getLogger("lightrnn_asr")


def _model_on(ck, device: torch.device):
    """The checkpoint's model on ``device``; int8 models stay on the CPU (torch's int8 kernels are CPU-only)."""
    compression = ck.model.compression
    if compression is not None and compression.int8 and device.type != "cpu":
        log.warning("an int8 model runs on the CPU only; scoring on the CPU instead of %s", device)
        device = torch.device("cpu")
    return ck.model.to(device)


def _friendly(fn):
    """Turn the library's validation errors into click errors (one line, exit 1)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (NBestFormatError, LatticeFormatError, CheckpointError, ValueError, FileNotFoundError,
                MemoryError) as e:
            raise click.ClickException(str(e)) from None

    return wrapper


_GRID_OPTIONS = {"lm_scale": "--lm-scales", "word_penalty": "--word-penalties", "fp_lm_scale": "--fp-lm-scales"}


def _parse_grid(spec: str) -> np.ndarray | None:
    """``"0:2:0.1"`` (start:stop:step, inclusive), ``"0.5,1,2"``, or ``"auto"`` (``None``: searched)."""
    if spec.strip().lower() == "auto":
        return None
    if ":" in spec:
        start, stop, step = (float(x) for x in spec.split(":"))
        return np.round(np.arange(start, stop + step / 2, step), 6)
    return np.array([float(x) for x in spec.split(",")])


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """LightRNN language models for ASR N-best and lattice rescoring."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


@main.command("prepare-text")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="One sentence per line.")
@click.option("--prose/--lines", default=True, show_default=True,
              help="--prose: join lines into paragraphs (blank-line separated) and split sentences; "
                   "--lines: every line is a sentence.")
@_friendly
def prepare_text(inputs: tuple[str, ...], out_path: str, prose: bool) -> None:
    """Normalise raw UTF-8 text files into LM training text (one sentence per line).

    Input is streamed (a paragraph or a line at a time), so corpora larger than memory, such as
    the 4 GB LibriSpeech LM text with --lines, are fine.
    """
    n_sent = n_words = 0
    with _atomic_text(out_path) as out:
        for path in inputs:
            with open(path, encoding="utf-8", errors="replace") as f:
                for unit in (_paragraphs(f) if prose else (line.rstrip("\n") for line in f)):
                    for sent in (split_sentences(unit) if prose else [unit]):
                        norm = normalize_text(sent)
                        if norm:
                            out.write(norm + "\n")
                            n_sent, n_words = n_sent + 1, n_words + len(norm.split())
    click.echo(f"{out_path}: {n_sent} sentences, {n_words} words")


def _paragraphs(lines):
    """Blank-line separated paragraphs of a line iterator, each joined into one line."""
    para: list[str] = []
    for line in lines:
        if line.strip():
            para.append(line.strip())
        elif para:
            yield " ".join(" ".join(para).split())
            para = []
    if para:
        yield " ".join(" ".join(para).split())


@main.command()
@click.option("--train-text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--valid-text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out-dir", required=True, type=click.Path(file_okay=False))
@click.option("--model-type", type=click.Choice(["lightrnn", "lstm", "adaptive"]), default="lightrnn",
              show_default=True, help="lstm: full softmax; adaptive: adaptive softmax (torch.nn.AdaptiveLogSoftmaxWithLoss).")
@click.option("--cutoffs", default=None, help="Adaptive softmax cluster boundaries, e.g. 2000,10000 "
              "(default: a head of |V|/20 words, at most 8000, then tails 4x and 16x as large).")
@click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False),
              help="Use this vocabulary ('word count' lines) instead of building one.")
@click.option("--vocab-size", type=int, default=None, help="Keep the most frequent words.")
@click.option("--word-list", "word_lists", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Also give a cell to every word of this list (one per line, e.g. "
                   "/usr/share/dict/american-english-insane), seen in the text or not. Repeatable.")
@click.option("--min-count", type=int, default=1, show_default=True)
@click.option("--embed-dim", type=int, default=256, show_default=True)
@click.option("--hidden-dim", type=int, default=256, show_default=True)
@click.option("--num-layers", type=int, default=2, show_default=True)
@click.option("--dropout", type=float, default=0.1, show_default=True)
@click.option("--rounds", type=int, default=4, show_default=True)
@click.option("--epochs-per-round", type=int, default=1, show_default=True)
@click.option("--lr", type=float, default=2e-3, show_default=True)
@click.option("--max-tokens", type=int, default=4000, show_default=True, help="Padded tokens per batch.")
@click.option("--max-len", type=int, default=60, show_default=True, help="Split longer training sentences.")
@click.option("--solver", type=click.Choice(sorted(SOLVERS)), default="auto", show_default=True,
              help="Reallocation solver: transport (relaxation duals + sparse exact matchings; near-optimal "
                   "up to a few 100K words), rows-columns (rows by transportation, exact columns per row; "
                   "|V| = 1M in under 2 minutes), auto (transport below 300K words to place, rows-columns "
                   "above), exact (dense matching; a few thousand words), alternating (exact row/column "
                   "block steps from the current table) or greedy (the reference code's heuristic).")
@click.option("--no-realloc", is_flag=True, help="Train a LightRNN without reallocation.")
@click.option("--patience", type=int, default=1, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option("--deterministic", is_flag=True,
              help="Deterministic kernels for bit-identical runs on CUDA (CPU runs are already identical).")
@_friendly
def train_cmd(train_text, valid_text, out_dir, model_type, cutoffs, vocab_path, vocab_size, word_lists, min_count, embed_dim,
              hidden_dim, num_layers, dropout, rounds, epochs_per_round, lr, max_tokens, max_len, solver,
              no_realloc, patience, seed, device, threads, resume, deterministic) -> None:
    """Train a LightRNN (with bootstrap reallocation), or a full- or adaptive-softmax LSTM LM.

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
        out.mkdir(parents=True, exist_ok=True)
        if vocab_path:
            vocab = read_vocab(vocab_path)
        else:
            try:
                vocab = Vocabulary.from_sentences(read_sentences(train_text), max_size=vocab_size,
                                                  min_count=min_count)
            except ValueError as e:
                raise click.ClickException(f"{train_text}: {e}") from None
        for path in word_lists:
            words, skipped = read_word_list(path)
            before = len(vocab)
            vocab = vocab.with_words(words)
            echo(f"{path}: {len(vocab) - before} new words ({len(words)} read, {skipped} entries skipped: "
                 f"not one word after normalisation); vocabulary now {len(vocab)}")
        if ctx.is_main:
            write_vocab(out / "vocab.txt", vocab)
        torch.manual_seed(seed)
        table = None
        if model_type == "lightrnn":
            table = WordTable.sequential(len(vocab))
            cfg = LMConfig("lightrnn", len(vocab), table.n_rows, table.n_cols, embed_dim, hidden_dim, num_layers,
                           dropout)
        else:
            try:
                cuts = [int(c) for c in cutoffs.split(",")] if cutoffs else []
                cfg = LMConfig(model_type, len(vocab), 0, 0, embed_dim, hidden_dim, num_layers, dropout, cuts)
            except ValueError as e:
                raise click.BadParameter(str(e), param_hint="--cutoffs") from None
        model = build_model(cfg, table)
        tcfg = TrainConfig(rounds=rounds, epochs_per_round=epochs_per_round, lr=lr, max_tokens=max_tokens,
                           clip_norm=1.0, seed=seed, reallocate=not no_realloc, solver=solver, patience=patience,
                           deterministic=deterministic)
        train_corpus = encode_corpus(train_text, vocab, max_len=max_len, shard=(ctx.rank, ctx.world_size))
        valid_corpus = encode_corpus(valid_text, vocab)
        previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
        try:
            history = train(model, vocab, table, train_corpus, valid_corpus, tcfg, out, dev, resume, ctx)
        except KeyboardInterrupt:
            echo(f"interrupted: {out}/last.pt holds the last finished round; continue with --resume", err=True)
            sys.exit(130)
        finally:
            signal.signal(signal.SIGTERM, previous)
        if ctx.is_main:
            plot_perplexity_rounds({model_type: history}, out / "perplexity.png")
            best = min(history, key=lambda h: h["valid_ppl"])
            echo(f"{out}/best.pt: valid perplexity {best['valid_ppl']:.2f} (round {best['round']}), "
                 f"{model.num_parameters()} parameters")
    finally:
        shutdown(ctx)


def _sigterm_as_interrupt(signum, frame):
    raise KeyboardInterrupt


main.add_command(train_cmd, "train")


@main.command("add-words")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A trained LightRNN checkpoint.")
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
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@_friendly
def add_words_cmd(model_path, words_path, examples, fit_steps, background, out_path) -> None:
    """Add words (names, places) to a trained LightRNN without retraining it.

    Existing words keep their cells and weights. With --examples, the new words get rows of their
    own fitted to the examples (or, with --fit-steps 0, the free cells of least loss on them);
    without, free cells chosen by the fallback rule. See lightrnn_asr.openvocab.
    """
    ck = load_checkpoint(model_path, expect_type="lightrnn")
    if ck.model.compression is not None:
        raise click.ClickException(f"{model_path}: a compressed model ({ck.model.compression.name}) cannot be "
                                   "extended; add the words to the float model, then compress it")
    words, like = [], {}
    with open(words_path, encoding="utf-8") as f:
        lines = [line.split() for line in f]
    for lineno, fields in enumerate(lines, 1):
        if not fields:
            continue
        if len(fields) > 2:
            raise click.ClickException(f"{words_path}:{lineno}: expected WORD [LIKE_WORD], got {' '.join(fields)}")
        words.append(fields[0])
        if len(fields) == 2:
            like[fields[0]] = fields[1]
    if not words:
        raise click.ClickException(f"{words_path}: no words")
    sentences = list(read_sentences(examples)) if examples else None
    model, vocab, table, placements = add_words(ck.model, ck.vocab, ck.table, words, sentences, like,
                                                fit_steps=fit_steps,
                                                background=list(read_sentences(background)) if background else None)
    save_checkpoint(out_path, model, vocab, table, {"added_words": [p.word for p in placements]})
    for p in placements:
        click.echo(f"{p.word}\trow {p.row}\tcol {p.col}\t{p.method}: {p.detail}")
    grown = f", table grown to {table.n_rows} x {table.n_cols}" if table.n_rows > ck.table.n_rows else ""
    click.echo(f"{out_path}: {len(vocab)} words ({len(words)} added){grown}", err=True)


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.option("--text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@_friendly
def ppl(model_path, text, device, as_json) -> None:
    """Perplexity of a model on a text (one sentence per line; </s> counted)."""
    ck = load_checkpoint(model_path)
    dev = resolve_device(device)
    res = perplexity(_model_on(ck, dev), encode_corpus(text, ck.vocab), unk_id=ck.vocab.unk_id)
    if as_json:
        click.echo(json.dumps({"perplexity": res.perplexity, "tokens": res.num_tokens, "oov_rate": res.oov_rate,
                               "logprob_nats": res.total_logprob, "parameters": ck.model.num_parameters()}))
    else:
        click.echo(f"{text}: perplexity {res.perplexity:.2f} over {res.num_tokens} tokens, "
                   f"OOV rate {100 * res.oov_rate:.2f}%")


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_path", type=click.Path(dir_okay=False),
              help="Write the compressed checkpoint here (loads wherever a checkpoint does).")
@click.option("--int8", is_flag=True, help="Dynamic int8 quantisation (torch.ao.quantization) of the LSTM, linear "
              "layers and embeddings. Runs on the CPU only.")
@click.option("--rank", type=int, default=0, show_default=True,
              help="Factorise every LSTM weight matrix to this rank (truncated SVD); 0 keeps full rank.")
@click.option("--torchscript", "ts_path", type=click.Path(dir_okay=False),
              help="Also export the (compressed) model as a TorchScript sentence scorer "
                   "(forward(inputs, targets, mask) -> sentence log-probs in nats).")
@click.option("--valid-text", type=click.Path(exists=True, dir_okay=False),
              help="Report perplexity on this text before and after.")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@_friendly
def compress(model_path, out_path, int8, rank, ts_path, valid_text, threads) -> None:
    """Compress a trained LM for on-device rescoring (int8, low-rank LSTM, or both) and/or export it."""
    if threads:
        torch.set_num_threads(threads)
    if not (out_path or ts_path):
        raise click.UsageError("give --out and/or --torchscript")
    try:
        compression = Compression(rank, int8)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--rank") from None
    ck = load_checkpoint(model_path)
    before = {"weights_bytes": state_bytes(compressed_state(ck.model)), "parameters": ck.model.num_parameters()}
    ppl_before = perplexity(ck.model, encode_corpus(valid_text, ck.vocab)) if valid_text else None
    if compression != Compression():
        try:
            model = compress_model(ck.model, compression)
        except ValueError as e:
            raise click.ClickException(f"{model_path}: {e}") from None
    else:
        model = ck.model
    after = {"weights_bytes": state_bytes(compressed_state(model)), "parameters": model.num_parameters()}
    click.echo(f"{compression.name}: {after['parameters']:,} weights, {after['weights_bytes']:,} bytes "
               f"(was {before['parameters']:,}, {before['weights_bytes']:,} bytes: "
               f"{before['weights_bytes'] / after['weights_bytes']:.2f}x smaller)")
    if valid_text:
        ppl_after = perplexity(model, encode_corpus(valid_text, ck.vocab))
        click.echo(f"{valid_text}: perplexity {ppl_before.perplexity:.2f} -> {ppl_after.perplexity:.2f} "
                   f"({100 * (ppl_after.perplexity / ppl_before.perplexity - 1):+.2f}%)")
    if out_path:
        save_checkpoint(out_path, model, ck.vocab, ck.table)
        click.echo(f"{out_path}: {Path(out_path).stat().st_size:,} bytes")
    if ts_path:
        try:
            export_torchscript(model, ts_path, ck.vocab.bos_id, ck.vocab.eos_id)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        click.echo(f"{ts_path}: TorchScript, {Path(ts_path).stat().st_size:,} bytes")


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.option("--text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="auto", show_default=True)
@_friendly
def score(model_path, text, device) -> None:
    """Print 'log P(sentence </s>) in nats <TAB> sentence' for every line of TEXT."""
    ck = load_checkpoint(model_path)
    sents = list(read_sentences(text))
    ids = [torch.tensor(ck.vocab.encode(s), dtype=torch.long) for s in sents]
    lp = score_sentences(_model_on(ck, resolve_device(device)), ids)
    for s, x in zip(sents, lp):
        click.echo(f"{x:.4f}\t{' '.join(s)}")


LATTICE_FORMATS = ("htk", "fst", "kaldi")
_format_option = click.option(
    "--format", "lattice_format", type=click.Choice(LATTICE_FORMATS), default="htk", show_default=True,
    help="htk: HTK SLF files (pocketsphinx, HTK, Julius); fst: OpenFst binary kaldifst.Lattice files, one "
         "utterance each; kaldi: Kaldi text lattice archives (ark,t; .gz allowed). See docs/lattice-formats.md.")
_words_option = click.option("--words", "words_path", type=click.Path(exists=True, dir_okay=False),
                             help="words.txt symbol table for integer word labels (fst, kaldi, k2).")


def _read_lattices(path: str, lattice_format: str = "htk", words_path: str | None = None):
    """``(utt_id, Lattice)`` pairs from a lattice file or a directory of them, read one file at a time
    (utterance id: the file name without suffixes, or the archive's keys)."""
    p = Path(path)
    files = sorted(x for x in p.iterdir() if x.is_file() and not x.name.startswith(".")) if p.is_dir() else [p]
    if not files:
        raise click.UsageError(f"{path}: no lattice files")
    if lattice_format == "fst" and not words_path:
        raise click.UsageError("--format fst needs --words (words.txt)")
    words = read_words(words_path) if words_path else None

    def pairs():
        seen: set[str] = set()
        for f in files:
            if lattice_format == "kaldi":
                entries = read_kaldi_lattices(f, words)
            else:
                utt = f.name.split(".")[0]
                entries = {utt: read_htk(f) if lattice_format == "htk" else read_fst_lattice(f, words)}
            for utt, lat in entries.items():
                if utt in seen:
                    raise LatticeFormatError(f"{f}: utterance id {utt!r} already read from another lattice")
                seen.add(utt)
                yield utt, lat

    return pairs()


@main.command("lattice-to-nbest")
@click.argument("lattices", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("-n", "--nbest", "n", type=int, default=100, show_default=True)
@_format_option
@_words_option
@_friendly
def lattice_to_nbest(lattices, out_path, n, lattice_format, words_path) -> None:
    """Distinct N-best lists from lattices (files or directories), ranked by am + lm of the lattice."""
    fillers = FillerMap()
    out = {}
    for path in lattices:
        for utt, lat in _read_lattices(path, lattice_format, words_path):
            if utt in out:
                raise LatticeFormatError(f"{path}: utterance id {utt!r} already read from another lattice")
            out[utt] = lattice_nbest(lat, n, fillers)
            if not out[utt]:
                raise LatticeFormatError(f"{path}: lattice {utt!r} has no path from its start to its final state")
    write_nbest(out_path, out)
    sizes = [len(h) for h in out.values()]
    click.echo(f"{out_path}: {len(out)} utterances, {np.mean(sizes):.1f} hypotheses on average (max {n})")


@main.command("import-kaldi-nbest")
@click.option("--words-ark", "words_arks", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Word-id archive of nbest-to-linear (ark,t). Repeat once per decoding job.")
@click.option("--lm-costs", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="LM (graph) cost archive of the same run, in the same order as --words-ark.")
@click.option("--ac-costs", multiple=True, required=True, type=click.Path(exists=True, dir_okay=False),
              help="Acoustic cost archive of the same run, in the same order as --words-ark.")
@click.option("--words", "words_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The decoding graph's words.txt.")
@click.option("--acwt", type=float, default=0.1, show_default=True,
              help="Acoustic scale: am_score = -acwt * acoustic cost (Kaldi's 1/LMWT).")
@click.option("--drop", multiple=True, help="A word to remove from every hypothesis (e.g. '<NOISE>'). Repeatable.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="N-best file (with lm_score).")
@_friendly
def import_kaldi_nbest(words_arks, lm_costs, ac_costs, words_path, acwt, drop, out_path) -> None:
    """Kaldi N-best lists (lattice-to-nbest | nbest-to-linear archives) as one N-best file.

    am_score = -acwt * acoustic cost and lm_score = -graph cost (nats), so rescoring with
    --fp-lm-scale 1 starts from Kaldi's own ranking at LM weight 1/acwt.
    """
    if not len(words_arks) == len(lm_costs) == len(ac_costs):
        raise click.UsageError("give --words-ark, --lm-costs and --ac-costs once per job, in the same order")
    words = read_words(words_path)
    seen: set[str] = set()
    n_utts = n_hyps = 0
    with _atomic_text(out_path) as f:
        for job in zip(words_arks, lm_costs, ac_costs):
            for utt, hyps in iter_kaldi_nbest(*job, words, acwt=acwt, drop=drop):
                if utt in seen:
                    raise NBestFormatError(f"{job[0]}: utterance {utt!r} already read from another job")
                seen.add(utt)
                f.writelines(nbest_line(utt, h, True) for h in hyps)
                n_utts, n_hyps = n_utts + 1, n_hyps + len(hyps)
    if not n_utts:
        raise NBestFormatError(f"{words_arks[0]}: no hypothesis in the archives")
    click.echo(f"{out_path}: {n_utts} utterances, {n_hyps / n_utts:.1f} hypotheses on average")


class _LatticeWriter:
    """Writes rescored lattices into a directory in the input's format: ``utt.slf`` (HTK, new LM in
    ``l=``, n-gram in ``n=``), ``utt.fst`` or one ``lattices.txt`` archive (Kaldi/OpenFst: graph
    cost = the tuned combination, :func:`combine_scores`)."""

    def __init__(self, out_dir: str, lattice_format: str, words_path: str | None, scales: Scales) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.format, self.scales = lattice_format, scales
        self.words = read_words(words_path) if words_path else None
        self.fillers = FillerMap()
        self.archive: dict = {}

    def __call__(self, utt: str, lat) -> None:
        if self.format == "htk":
            write_htk(self.dir / f"{utt}.slf", lat, utterance=utt)
            return
        lat = combine_scores(lat, self.scales, self.fillers)
        if self.format == "fst":
            write_fst_lattice(self.dir / f"{utt}.fst", lat, self.words, self.fillers)
        else:
            self.archive[utt] = lat

    def close(self) -> None:
        if self.format == "kaldi":
            write_kaldi_lattices(self.dir / "lattices.txt", self.archive, self.words, self.fillers)


def _chunks(items, size: int = 2000):
    """Dicts of at most ``size`` utterances from an iterator of ``(utt, value)``."""
    chunk: dict = {}
    for utt, value in items:
        chunk[utt] = value
        if len(chunk) == size:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


@contextlib.contextmanager
def _atomic_text(path: str | None):
    """A text file written under a temporary name and renamed into place on success (``None``: no file)."""
    if path is None:
        yield None
        return
    tmp = Path(f"{path}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _K2Writer:
    """Writes ``best_path.pt`` (the rescored 1-best paths) and, after lattice rescoring, ``lattices.pt``
    (the rescored lattices) into a directory, as ``torch.save(fsa.as_dict())`` with ``utt_ids``."""

    def __init__(self, out_dir: str) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, result, utt_ids) -> None:
        from lightrnn_asr.formats.k2_adapter import save_k2_lattices

        save_k2_lattices(self.dir / "best_path.pt", result.best_path, utt_ids)
        if result.lattices is not None:
            save_k2_lattices(self.dir / "lattices.pt", result.lattices, utt_ids)

    def close(self) -> None:
        pass


def _k2_module():
    try:
        from lightrnn_asr.formats import k2_adapter
    except ImportError as e:
        raise click.UsageError(str(e)) from None
    return k2_adapter


@main.command()
@click.option("--nbest", "nbest_path", type=click.Path(exists=True, dir_okay=False),
              help="N-best lists to rescore.")
@click.option("--lattices", "lattices_path", type=click.Path(exists=True),
              help="Lattices to rescore instead: a file or a directory of files (pruned lattice rescoring).")
@click.option("--dev-lattices", type=click.Path(exists=True), help="Dev lattices for tuning (with --lattices).")
@click.option("--k2-lattices", "k2_path", type=click.Path(exists=True),
              help="k2 lattices (FsaVec) saved with torch.save(lattice.as_dict()), a .pt file or a directory of "
                   "them; needs k2 and --words.")
@click.option("--dev-k2-lattices", type=click.Path(exists=True), help="Dev k2 lattices for tuning.")
@click.option("--k2-method", type=click.Choice(["nbest", "lattice"]), default="nbest", show_default=True,
              help="k2 lattices: icefall-style sampled N-best (--num-paths, --nbest-scale) or pruned lattice "
                   "rescoring.")
@click.option("--num-paths", type=int, default=100, show_default=True, help="k2 N-best: paths sampled per lattice.")
@click.option("--nbest-scale", type=float, default=0.5, show_default=True,
              help="k2 N-best: scale of the lattice scores when sampling (smaller: more distinct paths).")
@_format_option
@_words_option
@click.option("--lattices-out", type=click.Path(file_okay=False),
              help="Write the rescored lattices into this directory (the input's format).")
@click.option("--ngram-order", type=int, default=4, show_default=True,
              help="Lattice rescoring: merge histories sharing the last n-1 words (0: never merge).")
@click.option("--max-histories", type=int, default=8, show_default=True, help="Histories kept per lattice state.")
@click.option("--beam", type=float, default=float("inf"), help="Per-state beam on the combined score (nats).")
@click.option("--input-lm", is_flag=True,
              help="Lattice rescoring: keep the lattice's own LM scores (Kaldi graph costs) as the first-pass "
                   "LM term, weighted by --fp-lm-scale.")
@click.option("--global-beam", type=float, default=float("inf"),
              help="Beam on the estimated best complete path through a history (nats; Xu et al. 2018).")
@click.option("--prune-lm-scale", type=float, default=10.0, show_default=True,
              help="lm_scale of the combination used for pruning during lattice expansion.")
@click.option("--lattice-nbest", type=int, default=100, show_default=True,
              help="Distinct hypotheses taken from each rescored lattice for tuning and the 1-best.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="LM checkpoint (none: AM only).")
@click.option("--lm-scale", type=float, default=None, help="Fixed lm_scale (else tuned on --dev-nbest).")
@click.option("--fp-lm-scale", type=float, default=None,
              help="Fixed weight of the first-pass LM score (else tuned on dev when the input has one; 0 without).")
@click.option("--dev-nbest", type=click.Path(exists=True, dir_okay=False), help="Dev N-best lists for tuning.")
@click.option("--dev-ref", type=click.Path(exists=True, dir_okay=False), help="Dev references (Kaldi text).")
@click.option("--lm-scales", default="auto", show_default=True,
              help="lm_scale values tried on dev: start:stop:step, a,b,c, or auto (a range derived from the dev "
                   "lists' score spreads, widened while the optimum is on its edge, then refined).")
@click.option("--word-penalties", default="auto", show_default=True, help="word_penalty values tried on dev (as --lm-scales).")
@click.option("--fp-lm-scales", default="auto", show_default=True,
              help="fp_lm_scale values tried on dev (as --lm-scales) when the input has first-pass LM scores.")
@click.option("--word-penalty", type=float, default=None, help="Fixed word penalty (else tuned on dev; 0 with --lm-scale).")
@click.option("--oov-penalty", type=float, default=0.0, show_default=True, help="Nats added per OOV word.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="1-best (Kaldi text).")
@click.option("--scores-out", type=click.Path(dir_okay=False), help="TSV of every hypothesis' scores.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="PNG of dev WER versus lm_scale.")
@click.option("--device", default="auto", show_default=True)
@click.option("--chunk-utterances", type=int, default=2000, show_default=True,
              help="N-best utterances scored together (the unit of streaming and of sharding under torchrun).")
@_friendly
def rescore(nbest_path, lattices_path, dev_lattices, k2_path, dev_k2_lattices, k2_method, num_paths, nbest_scale,
            lattice_format, words_path, lattices_out, ngram_order,
            max_histories, beam, input_lm, global_beam, prune_lm_scale, lattice_nbest, model_path, lm_scale,
            word_penalty, fp_lm_scale, dev_nbest, dev_ref, lm_scales, word_penalties, fp_lm_scales, oov_penalty, out_path,
            scores_out, plot_path, device,
            chunk_utterances) -> None:
    """Rescore N-best lists or lattices: am_score + lm_scale * lm_logprob + word_penalty * |W|.

    N-best lists are streamed in chunks of --chunk-utterances. Under torchrun the chunks are
    shared out (chunk k on rank k % N) and rank 0 writes every output in file order: the result
    is the same as one process's.

    With --lattices, every lattice is rescored by pruned expansion (histories
    merged by their last n-1 words) and its --lattice-nbest best distinct
    hypotheses are kept with their separate scores; tuning and the 1-best then
    work as for N-best lists.

    With --k2-lattices (k2 FsaVec files from icefall-style decoding), the
    N-best lists are sampled from the lattices as icefall does, or the
    lattices are rescored by pruned expansion (--k2-method lattice). The
    lattices' lm_scores are the first-pass n-gram term (--fp-lm-scale): for
    the N-best always, for lattice rescoring with --input-lm.
    """
    if sum(bool(x) for x in (nbest_path, lattices_path, k2_path)) != 1:
        raise click.UsageError("give exactly one of --nbest, --lattices and --k2-lattices")
    if chunk_utterances < 1:
        raise click.UsageError("--chunk-utterances must be at least 1")
    ctx, dev_device = init_distributed(resolve_device(device))
    try:
        _rescore(ctx, dev_device, nbest_path, lattices_path, dev_lattices, k2_path, dev_k2_lattices, k2_method,
                 num_paths, nbest_scale, lattice_format, words_path, lattices_out, ngram_order, max_histories, beam,
                 input_lm, global_beam, prune_lm_scale, lattice_nbest, model_path, lm_scale, word_penalty,
                 fp_lm_scale, dev_nbest, dev_ref, lm_scales, word_penalties, fp_lm_scales, oov_penalty, out_path, scores_out,
                 plot_path, chunk_utterances)
    finally:
        shutdown(ctx)


def _rescore(ctx, device, nbest_path, lattices_path, dev_lattices, k2_path, dev_k2_lattices, k2_method, num_paths,
             nbest_scale, lattice_format, words_path, lattices_out, ngram_order, max_histories, beam, input_lm,
             global_beam, prune_lm_scale, lattice_nbest, model_path, lm_scale, word_penalty, fp_lm_scale, dev_nbest,
             dev_ref, lm_scales, word_penalties, fp_lm_scales, oov_penalty, out_path, scores_out, plot_path,
             chunk_utterances) -> None:
    """The body of ``rescore``, on every rank of a distributed run (rank 0 tunes and writes)."""
    if ctx.enabled and not nbest_path:
        raise click.UsageError("under torchrun only --nbest rescoring is sharded; run lattices in one process")
    model = vocab = None
    if model_path:
        ck = load_checkpoint(model_path)
        model, vocab = _model_on(ck, device), ck.vocab
    cfg = LatticeRescoreConfig(ngram_order=ngram_order or None, max_histories=max_histories, beam=beam,
                               global_beam=global_beam, input_lm=input_lm,
                               scales=Scales(prune_lm_scale, word_penalty or 0.0, fp_lm_scale or 0.0),
                               oov_penalty=oov_penalty)
    if (lattices_path or (k2_path and k2_method == "lattice")) and model is None:
        raise click.UsageError("lattice rescoring needs --model")
    if k2_path:
        if not words_path:
            raise click.UsageError("--k2-lattices needs --words (words.txt)")
        k2a = _k2_module()
        words = k2a.read_k2_words(words_path)

        def load(path, sink=None, scales=None):
            lats, ids = k2a.load_k2_lattices(path)
            if k2_method == "nbest":
                res = k2a.rescore_k2_nbest(lats, ids, words, model, vocab, scales or cfg.scales, num_paths,
                                           nbest_scale, oov_penalty)  # on the model's device
            else:
                res = k2a.rescore_k2_lattices(lats, ids, words, model, vocab, cfg, scales, lattice_nbest,
                                              progress=True)
            if sink is not None:
                sink(res, ids)
            return res.scored
    elif lattices_path:
        def load(path, sink=None, scales=None):
            return rescore_lattices(_read_lattices(path, lattice_format, words_path), model, vocab, cfg,
                                    lattice_nbest, progress=True, sink=sink)
    else:
        if lattices_out:
            raise click.UsageError("--lattices-out needs --lattices or --k2-lattices")

        def score_chunk(chunk):
            return score_nbest(model, vocab, chunk, oov_penalty)

        def load(path, sink=None, scales=None):
            scored: dict = {}
            for part in sharded_map(score_chunk, _chunks(iter_nbest(path), chunk_utterances), ctx):
                scored.update(part)
            if ctx.is_main and not scored:
                raise NBestFormatError(f"{path}: no hypothesis in file")
            return scored
    dev_input = dev_lattices if lattices_path else dev_k2_lattices if k2_path else dev_nbest
    if lm_scale is None:
        if not (dev_input and dev_ref):
            raise click.UsageError("give --lm-scale, or --dev-nbest (--dev-lattices, --dev-k2-lattices) and "
                                   "--dev-ref to tune it")
        dev = load(dev_input)
    scales = Scales(lm_scale, word_penalty or 0.0, fp_lm_scale or 0.0) if lm_scale is not None else None
    if lm_scale is None and ctx.is_main:  # the other ranks only score: they never need the scales
        tuned = tune_scales(dev, read_text(dev_ref), _parse_grid(lm_scales),
                            _parse_grid(word_penalties) if word_penalty is None else [word_penalty],
                            _parse_grid(fp_lm_scales) if fp_lm_scale is None else [fp_lm_scale])
        scales = tuned.scales
        click.echo(f"tuned on {dev_input}: {tuned.describe()} ({tuned.points} weight combinations)", err=True)
        for axis in tuned.on_edge:
            lo, hi = tuned.ranges[axis]
            click.echo(f"Warning: the lowest dev WER is reached at the edge of the searched {axis} range "
                       f"[{lo:.4g}, {hi:.4g}] (chosen: {getattr(scales, axis):.4g}); widen {_GRID_OPTIONS[axis]}",
                       err=True)
        if plot_path:
            plot_scale_sweep({Path(model_path or "am-only").stem: (tuned.lm_scales, tuned.sweep_wer)},
                             plot_path, f"{dev_input}: WER vs lm_scale")
    writer = None
    if lattices_out:
        writer = _K2Writer(lattices_out) if k2_path else _LatticeWriter(lattices_out, lattice_format, words_path,
                                                                         scales)
    if nbest_path:  # streamed: a chunk of utterances at a time, whatever the file's size
        chunks = sharded_map(score_chunk, progress_bar(_chunks(iter_nbest(nbest_path), chunk_utterances), "rescoring",
                                                      "chunk", ctx.is_main), ctx)
        if not ctx.is_main:
            for _ in chunks:
                pass
            return
    else:
        chunks = iter([load(lattices_path or k2_path, writer, scales)])
    with _atomic_text(out_path) as out, _atomic_text(scores_out) as tsv:
        if tsv:
            tsv.write("utt_id\tam_score\tlm_logprob\tn_words\tn_oov\ttotal\twords\n")
        n_utts = 0
        for scored in chunks:
            n_utts += len(scored)
            for utt, words in one_best(scored, scales).items():
                out.write(" ".join([utt, *words]) + "\n")
            for utt, s in scored.items() if tsv else ():
                for k, tot in enumerate(total_scores(s, scales)):
                    tsv.write(f"{utt}\t{s.am[k]:.4f}\t{s.lm[k]:.4f}\t{s.n_words[k]}\t{s.n_oov[k]}\t{tot:.4f}\t"
                              f"{' '.join(s.words[k])}\n")
        if not n_utts:
            raise NBestFormatError(f"{nbest_path or lattices_path or k2_path}: no hypothesis in file")
    if writer is not None:
        writer.close()
    click.echo(json.dumps({"lm_scale": scales.lm_scale, "word_penalty": scales.word_penalty,
                           "fp_lm_scale": scales.fp_lm_scale}))


@main.command()
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--hyp", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--hyp2", type=click.Path(exists=True, dir_okay=False), help="A second system to compare.")
@click.option("--alignments", type=click.Path(dir_okay=False), help="Write per-utterance alignments here.")
@click.option("--replications", type=int, default=10000, show_default=True, help="Bootstrap replications.")
@click.option("--compute-wer", "compute_wer_format", is_flag=True,
              help="Print only what Kaldi's compute-wer prints (%WER, %SER, Scored lines).")
@_friendly
def wer(ref, hyp, hyp2, alignments, replications, compute_wer_format) -> None:
    """Kaldi-style WER line, bootstrap 95% CI, and (with --hyp2) P(hyp2 better than hyp)."""
    refs, hyps = read_text(ref), read_text(hyp)
    result = compute_wer(refs, hyps)
    if alignments:
        with open(alignments, "w", encoding="utf-8") as f:
            for utt, r in refs.items():
                f.write(format_alignment(utt, r, hyps[utt]) + "\n")
    if compute_wer_format:
        if hyp2:
            raise click.UsageError("--compute-wer scores one system: leave out --hyp2")
        click.echo(result.compute_wer_report())
        return
    click.echo(f"{hyp}: {result.kaldi_line()}")
    if hyp2:
        hyps2 = read_text(hyp2)
        click.echo(f"{hyp2}: {compute_wer(refs, hyps2).kaldi_line()}")
        ci = bootstrap_ci(refs, hyps, hyps2, replications=replications)
        for name, key in ((hyp, "system1"), (hyp2, "system2")):
            c = ci[key]
            click.echo(f"{name}: bootstrap WER {100 * c['wer']:.2f}% 95% CI "
                       f"[{100 * c['ci95min']:.2f}, {100 * c['ci95max']:.2f}]")
        click.echo(f"P({hyp2} better than {hyp}) = {ci['p_s2_improv_over_s1']:.3f}")
    else:
        c = bootstrap_ci(refs, hyps, replications=replications)
        click.echo(f"bootstrap WER {100 * c['wer']:.2f}% 95% CI [{100 * c['ci95min']:.2f}, {100 * c['ci95max']:.2f}]")


@main.command("report")
@click.option("--ref", "refs", nargs=2, multiple=True, required=True, metavar="SET TEXT",
              help="References (Kaldi text) of a test set. Repeatable.")
@click.option("--hyp", "hyps", nargs=3, multiple=True, required=True, metavar="SET SYSTEM TEXT",
              help="A system's hypotheses (Kaldi text) on a test set. Repeatable; the first system of a set is "
                   "the baseline.")
@click.option("--model", "models", nargs=2, multiple=True, metavar="SYSTEM CHECKPOINT",
              help="A system's LM checkpoint, for the model-size table. Repeatable.")
@click.option("--title", default="WER", show_default=True, help="Heading of the report.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="Markdown report.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="PNG: WER bars with 95% CIs.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="The same results as JSON.")
@click.option("--replications", type=int, default=1000, show_default=True, help="Bootstrap replications.")
@_friendly
def report(refs, hyps, models, title, out_path, plot_path, json_path, replications) -> None:
    """WER of several systems on several test sets in one Markdown table (and plot), with bootstrap
    95% confidence intervals, the probability of beating the first (baseline) system, and model sizes."""
    ref_text = {}
    for test_set, path in refs:
        if test_set in ref_text:
            raise click.UsageError(f"--ref given twice for the test set {test_set!r}")
        ref_text[test_set] = read_text(path)
    hyp_text: dict = {}
    for test_set, system, path in hyps:
        if system in hyp_text.setdefault(test_set, {}):
            raise click.UsageError(f"--hyp given twice for {system!r} on {test_set!r}")
        hyp_text[test_set][system] = read_text(path)
    results = compare_systems(ref_text, hyp_text, replications=replications)
    sizes = {}
    for system, path in models:
        ck = load_checkpoint(path)
        sizes[system] = {"parameters": ck.model.num_parameters(), "bytes": Path(path).stat().st_size}
    text = f"## {title}\n\n" + wer_report(results, sizes)
    Path(out_path).write_text(text, encoding="utf-8")
    if plot_path:
        plot_wer(results, plot_path, title)
    if json_path:
        Path(json_path).write_text(json.dumps({
            "results": [{"test_set": r.test_set, "system": r.system, "wer": r.wer.wer, "errors": r.wer.errors,
                         "ins": r.wer.ins, "del": r.wer.dels, "sub": r.wer.subs, "ref_words": r.wer.ref_words,
                         "utterances": r.wer.utterances, "ci95": list(r.ci95), "p_better_than_baseline": r.p_better}
                        for r in results],
            "models": sizes}, indent=1))
    click.echo(text, nl=False)


@main.command("nbest-oracle")
@click.option("--nbest", "nbest_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the oracle hypotheses here.")
@_friendly
def nbest_oracle(nbest_path, ref, out_path) -> None:
    """Oracle WER of N-best lists: the lowest-error hypothesis of every list."""
    refs = read_text(ref)
    best = oracle(score_nbest(None, None, read_nbest(nbest_path)), refs)
    if out_path:
        write_text(out_path, best)
    click.echo(f"{nbest_path} oracle: {compute_wer(refs, best).kaldi_line()}")


@main.command("table-shape")
@click.argument("vocab_size", type=int)
def table_shape_cmd(vocab_size: int) -> None:
    """Print the R x C table the paper's rule gives for VOCAB_SIZE words."""
    r, c = table_shape(vocab_size)
    click.echo(f"{r} x {c} ({r * c} cells for {vocab_size} words)")


if __name__ == "__main__":
    main()
