"""Format conversion: ``lattice-to-nbest``, ``import-kaldi-nbest``, ``import-nemo-beams`` and ``hotwords``."""

from __future__ import annotations

import click
import numpy as np

from lightrnn_asr.cli.common import friendly, main
from lightrnn_asr.formats.hotwords import HOTWORD_FORMATS, write_hotwords
from lightrnn_asr.formats.kaldi_lattice import read_words
from lightrnn_asr.formats.kaldi_nbest import iter_kaldi_nbest
from lightrnn_asr.formats.lattice import FillerMap, LatticeFormatError
from lightrnn_asr.formats.lattice_io import LATTICE_FORMATS, iter_lattices
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.formats.nbest import NBestFormatError, nbest_line, write_nbest
from lightrnn_asr.formats.nemo_beams import read_nemo_beams
from lightrnn_asr.text.vocabulary import read_new_words
from lightrnn_asr.utils.io import atomic_text

format_option = click.option(
    "--format", "lattice_format", type=click.Choice(LATTICE_FORMATS), default="htk", show_default=True,
    help="htk: HTK SLF files (pocketsphinx, HTK, Julius); fst: OpenFst binary kaldifst.Lattice files, one "
         "utterance each; kaldi: Kaldi text lattice archives (ark,t; .gz allowed). See docs/lattice-formats.md.")
words_option = click.option("--words", "words_path", type=click.Path(exists=True, dir_okay=False),
                             help="words.txt symbol table for integer word labels (fst, kaldi, k2).")


def check_lattice_options(lattice_format: str, words_path: str | None) -> None:
    """Option checks shared by the lattice commands (click usage errors, exit 2)."""
    if lattice_format == "fst" and not words_path:
        raise click.UsageError("--format fst needs --words (words.txt)")


@main.command("lattice-to-nbest")
@click.argument("lattices", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@click.option("-n", "--nbest", "n", type=int, default=100, show_default=True)
@format_option
@words_option
@friendly
def lattice_to_nbest(lattices, out_path, n, lattice_format, words_path) -> None:
    """Distinct N-best lists from lattices (files or directories), ranked by am + lm of the lattice."""
    check_lattice_options(lattice_format, words_path)
    fillers = FillerMap()
    out = {}
    for path in lattices:
        for utt, lat in iter_lattices(path, lattice_format, words_path):
            if utt in out:
                raise LatticeFormatError(f"{path}: utterance id {utt!r} already read from another lattice")
            out[utt] = lattice_nbest(lat, n, fillers)  # iter_lattices checked that it has a path
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
@friendly
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
    with atomic_text(out_path) as f:
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


@main.command("import-nemo-beams")
@click.argument("beams", type=click.Path(exists=True, dir_okay=False))
@click.option("--beam-size", type=click.IntRange(min=1), help="Hypotheses per utterance (NeMo's --beam_size).")
@click.option("--groups", type=click.Path(exists=True, dir_okay=False),
              help="'utt_id count' lines, in the beams file's order, where the count varies (instead of --beam-size).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False),
              help="The evaluation manifest (JSON lines): utterance ids from its audio_filepath names "
                   "(default utt000001, ...). With --beam-size.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="N-best file.")
@friendly
def import_nemo_beams(beams, beam_size, groups, manifest, out_path) -> None:
    """NeMo's beams TSV (text<TAB>score, from eval_beamsearch_ngram.py) as an N-best file: am_score = the
    beam search's score, so that rescore --lm-scale/--word-penalty tune the LM's weight on top of it
    (NeMo's eval_neural_rescorer.py alpha and beta, with beta per word)."""
    if (beam_size is None) == (groups is None):
        raise click.UsageError("give --beam-size or --groups (exactly one)")
    if manifest and groups:
        raise click.UsageError("--groups names the utterances; --manifest goes with --beam-size")
    nbest = read_nemo_beams(beams, beam_size=beam_size, groups=groups, manifest=manifest)
    write_nbest(out_path, nbest)
    n_hyps = sum(len(h) for h in nbest.values())
    click.echo(f"{out_path}: {len(nbest)} utterances, {n_hyps / len(nbest):.1f} hypotheses on average")


@main.command("hotwords")
@click.option("--words", "words_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The add-words list (WORD [LIKE_WORD] per line): its words become the hotwords.")
@click.option("--format", "fmt", required=True, type=click.Choice(HOTWORD_FORMATS),
              help="sherpa-onnx: --hotwords-file ('PHRASE :SCORE'); nemo-phrases: GPU-PB key_phrases_file; "
                   "flashlight-boost: NeMo's flashlight word-boosting file ('word<TAB>score').")
@click.option("--score", type=float, help="Boosting score (sherpa-onnx: optional; flashlight-boost: required).")
@click.option("--case", type=click.Choice(["keep", "upper", "lower"]), default="keep", show_default=True,
              help="The case of the first pass's tokens (icefall's LibriSpeech models: upper).")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False))
@friendly
def hotwords_cmd(words_path, fmt, score, case, out_path) -> None:
    """A hotword file for the first pass from the words given to add-words, so that the decoder's biasing and
    the rescoring LM know the same names."""
    words, _ = read_new_words(words_path)
    try:
        n = write_hotwords(out_path, words, fmt, score, case)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"{out_path}: {n} hotwords ({fmt})")
