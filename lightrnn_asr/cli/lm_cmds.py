"""Commands on a trained LM: ``ppl``, ``score``, ``sentence-scores``, ``compress``, ``export-onnx``, ``table-shape``."""

from __future__ import annotations

import json
from pathlib import Path

import click
import torch

from lightrnn_asr.cli.common import friendly, main
from lightrnn_asr.formats.nbest import Hypothesis, read_text, write_text
from lightrnn_asr.lm.checkpoint import load_checkpoint, save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model, compressed_state, scoring_device, state_bytes
from lightrnn_asr.lm.export import check_exportable, export_torchscript
from lightrnn_asr.lm.table import table_shape
from lightrnn_asr.scoring.nbest import score_nbest
from lightrnn_asr.scoring.sentences import perplexity, score_sentences
from lightrnn_asr.text.corpus import MAX_SENTENCE_WORDS, encode_corpus, in_reading_order, read_sentences
from lightrnn_asr.utils.device import resolve_device


def model_on(ck, device: torch.device):
    """The checkpoint's model on ``device`` (int8 models stay on the CPU: :func:`scoring_device`)."""
    return ck.model.to(scoring_device(ck.model, device))


@main.command()
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.option("--text", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--device", default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object.")
@friendly
def ppl(model_path, text, device, as_json) -> None:
    """Perplexity of a model on a text (one sentence per line; </s> counted)."""
    ck = load_checkpoint(model_path)
    dev = resolve_device(device)
    res = perplexity(model_on(ck, dev), encode_corpus(text, ck.vocab, backward=ck.model.backward),
                     unk_id=ck.vocab.unk_id)
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
@friendly
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
    if ts_path:  # before anything is written
        check_exportable(ck.model)
    before = {"weights_bytes": state_bytes(compressed_state(ck.model)), "parameters": ck.model.num_parameters()}
    valid = encode_corpus(valid_text, ck.vocab, backward=ck.model.backward) if valid_text else None
    ppl_before = perplexity(ck.model, valid) if valid_text else None
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
        ppl_after = perplexity(model, valid)
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
@friendly
def score(model_path, text, device) -> None:
    """Print 'log P(sentence </s>) in nats <TAB> sentence' for every line of TEXT (a backward LM reads each
    line right to left)."""
    ck = load_checkpoint(model_path)
    sents = list(read_sentences(text, max_words=MAX_SENTENCE_WORDS))
    ids = [torch.tensor(ck.vocab.encode(in_reading_order(s, ck.model.backward)), dtype=torch.long) for s in sents]
    lp = score_sentences(model_on(ck, resolve_device(device)), ids)
    for s, x in zip(sents, lp):
        click.echo(f"{x:.4f}\t{' '.join(s)}")


@main.command("sentence-scores")
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.option("--keep-case", is_flag=True, help="Look words up as written (default: lower-cased, as the LM text is).")
@click.option("--device", default="auto", show_default=True)
@click.argument("text", type=click.Path(exists=True, dir_okay=False))
@click.argument("scores", type=click.Path(dir_okay=False))
@friendly
def sentence_scores(model_path, keep_case, device, text, scores) -> None:
    """Kaldi's rnnlm/compute_sentence_scores.sh contract: TEXT holds 'id w1 w2 ...' lines, SCORES gets one
    'id cost' line per id, in TEXT's order, cost = -log P(w1 ... wn </s> | <s>) in nats, so that a
    steps/rnnlmrescore-style N-best script calls this command in place of that one. Out-of-vocabulary words
    score as <unk>; a backward LM reads each line right to left."""
    ck = load_checkpoint(model_path)
    sents = {utt: tuple(w if keep_case else w.lower() for w in words) for utt, words in read_text(text).items()}
    long = next((u for u, w in sents.items() if len(w) > MAX_SENTENCE_WORDS), None)
    if long is not None:
        raise click.ClickException(f"{text}: {long}: {len(sents[long]):,} words, more than {MAX_SENTENCE_WORDS:,}")
    scored = score_nbest(model_on(ck, resolve_device(device)), ck.vocab,
                         {utt: [Hypothesis(words, 0.0)] for utt, words in sents.items()})
    write_text(scores, {utt: [repr(-float(s.lm[0]))] for utt, s in scored.items()})


@main.command("export-onnx")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A LightRNN or full-softmax LSTM checkpoint (float, not compressed).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="The ONNX file.")
@click.option("--int8", is_flag=True, help="Also write OUT with .int8.onnx: the same graph with int8 weights "
              "(onnxruntime's dynamic quantisation).")
@friendly
def export_onnx_cmd(model_path, out_path, int8) -> None:
    """The LM's word step as ONNX, (out, h, c, words) -> (logprob, out_next, h_next, c_next), log-probs in
    nats, with its vocabulary and special ids in the file's metadata, for onnxruntime on a device
    (lightrnn_asr.lm.onnx_export)."""
    try:
        from lightrnn_asr.lm.onnx_export import export_onnx
    except ImportError as e:
        raise click.ClickException(f"export-onnx needs the onnx package (and onnxruntime for --int8): {e}") from None
    ck = load_checkpoint(model_path)
    try:
        written = export_onnx(ck.model, ck.vocab, out_path, int8=int8)
    except ValueError as e:
        raise click.ClickException(f"{model_path}: {e}") from None
    for path in written:
        click.echo(f"{path}: {path.stat().st_size:,} bytes")


@main.command("table-shape")
@click.argument("vocab_size", type=int)
def table_shape_cmd(vocab_size: int) -> None:
    """Print the R x C table the paper's rule gives for VOCAB_SIZE words."""
    r, c = table_shape(vocab_size)
    click.echo(f"{r} x {c} ({r * c} cells for {vocab_size} words)")
