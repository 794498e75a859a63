"""``rescore``: N-best lists, lattices or k2 lattices with a new LM (:mod:`lightrnn_asr.scoring.pipeline`)."""

from __future__ import annotations

import json

import click

from lightrnn_asr.cli.common import friendly, main, parse_grid
from lightrnn_asr.cli.format_cmds import check_lattice_options, format_option, words_option
from lightrnn_asr.scoring.lattice import LatticeRescoreConfig
from lightrnn_asr.scoring.nbest import Scales
from lightrnn_asr.scoring.pipeline import RescoreConfig
from lightrnn_asr.scoring.pipeline import rescore as run_rescore
from lightrnn_asr.utils.device import resolve_device
from lightrnn_asr.utils.distributed import init_distributed, shutdown


@main.command()
@click.argument("input_path", required=False, metavar="INPUT", type=click.Path(exists=True))
@click.option("--input-type", type=click.Choice(["nbest", "lattices", "k2"]), default="nbest", show_default=True,
              help="INPUT is: N-best lists (a file); lattices (a file or a directory of files; pruned lattice "
                   "rescoring; --format); k2 lattices (FsaVec files saved with torch.save(lattice.as_dict()), "
                   "a .pt file or a directory of them; needs k2 and --words).")
@click.option("--dev", "dev", nargs=2, type=click.Path(exists=True), metavar="DEV_INPUT DEV_REF",
              help="Dev data to tune the weights on: input of the same type as INPUT, and its references (Kaldi text).")
@click.option("--nbest", "nbest_path", type=click.Path(exists=True, dir_okay=False), hidden=True)
@click.option("--lattices", "lattices_path", type=click.Path(exists=True), hidden=True)
@click.option("--k2-lattices", "k2_path", type=click.Path(exists=True), hidden=True)
@click.option("--dev-nbest", type=click.Path(exists=True, dir_okay=False), hidden=True)
@click.option("--dev-lattices", type=click.Path(exists=True), hidden=True)
@click.option("--dev-k2-lattices", type=click.Path(exists=True), hidden=True)
@click.option("--dev-ref", type=click.Path(exists=True, dir_okay=False), hidden=True)
@click.option("--k2-method", type=click.Choice(["nbest", "lattice"]), default="nbest", show_default=True,
              help="k2 lattices: icefall-style sampled N-best (--num-paths, --nbest-scale) or pruned lattice "
                   "rescoring.")
@click.option("--num-paths", type=int, default=100, show_default=True, help="k2 N-best: paths sampled per lattice.")
@click.option("--nbest-scale", type=float, default=0.5, show_default=True,
              help="k2 N-best: scale of the lattice scores when sampling (smaller: more distinct paths).", hidden=True)
@format_option
@words_option
@click.option("--lattices-out", type=click.Path(file_okay=False),
              help="Write the rescored lattices into this directory (the input's format).")
@click.option("--ngram-order", type=int, default=4, show_default=True,
              help="Lattice rescoring: merge histories sharing the last n-1 words (0: never merge).")
@click.option("--max-histories", type=int, default=8, show_default=True, help="Histories kept per lattice state.")
@click.option("--beam", type=float, default=float("inf"), help="Per-state beam on the combined score (nats).")
@click.option("--input-lm", is_flag=True,
              help="Lattice rescoring: keep the lattice's own LM scores (Kaldi graph costs) as the first-pass "
                   "LM term, weighted by --fp-lm-scale.")
@click.option("--lattice-batch", type=int, default=8, show_default=True,
              help="Lattices expanded together: one LM call serves the frontier of all of them (same results).",
              hidden=True)
@click.option("--global-beam", type=float, default=float("inf"),
              help="Beam on the estimated best complete path through a history (nats; Xu et al. 2018).", hidden=True)
@click.option("--prune-lm-scale", type=float, default=10.0, show_default=True,
              help="lm_scale of the combination used for pruning during lattice expansion.", hidden=True)
@click.option("--lattice-nbest", type=int, default=100, show_default=True,
              help="Distinct hypotheses taken from each rescored lattice for tuning and the 1-best.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False), help="LM checkpoint (none: AM only).")
@click.option("--backward-model", type=click.Path(exists=True, dir_okay=False),
              help="N-best input (or k2 sampled N-best): a backward LM (train --backward) beside --model; lm_logprob "
                   "is then the two LMs' log-probs interpolated, (1 - w) * forward + w * backward (Kaldi's "
                   "lmrescore_nbest_back.sh).")
@click.option("--backward-weight", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="w, the backward LM's weight.")
@click.option("--lm-scale", metavar="WEIGHT", help="The LM's weight: a value, values tried on dev (a,b,c or "
              "start:stop:step), or auto (the default with --dev: a range from the dev lists' score spreads, widened "
              "while the optimum is on its edge, then refined).")
@click.option("--word-penalty", metavar="WEIGHT", help="Per word, as --lm-scale (default: auto with --dev, else 0).")
@click.option("--fp-lm-scale", metavar="WEIGHT", help="The first-pass LM score's weight, as --lm-scale (default: auto "
              "with --dev when the input has first-pass LM scores, else 0).")
@click.option("--lm-scales", hidden=True)
@click.option("--word-penalties", hidden=True)
@click.option("--fp-lm-scales", hidden=True)
@click.option("--oov-penalty", type=float, default=0.0, show_default=True, help="Nats added per OOV word.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="1-best (Kaldi text).")
@click.option("--scores-out", type=click.Path(dir_okay=False), help="TSV of every hypothesis' scores.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="PNG of dev WER versus lm_scale.")
@click.option("--device", default="auto", show_default=True)
@click.option("--chunk-utterances", type=int, default=2000, show_default=True,
              help="N-best utterances scored together (the unit of streaming and of sharding under torchrun).",
              hidden=True)
@friendly
def rescore(device: str, **opts) -> None:
    """Rescore N-best lists or lattices (INPUT): am_score + lm_scale * lm_logprob + fp_lm_scale * fp_lm_logprob +
    word_penalty * |W|, the weights given or tuned on --dev.

    N-best lists are streamed in chunks of --chunk-utterances. Under torchrun the chunks are
    shared out (chunk k on rank k % N) and rank 0 writes every output in file order: the result
    is the same as one process's.

    With --input-type lattices, every lattice is rescored by pruned expansion (histories
    merged by their last n-1 words) and its --lattice-nbest best distinct
    hypotheses are kept with their separate scores; tuning and the 1-best then
    work as for N-best lists.

    With --input-type k2 (k2 FsaVec files from icefall-style decoding), the
    N-best lists are sampled from the lattices as icefall does, or the
    lattices are rescored by pruned expansion (--k2-method lattice). The
    lattices' lm_scores are the first-pass n-gram term (--fp-lm-scale): for
    the N-best always, for lattice rescoring with --input-lm.

    Not listed here, and still taken (docs/cli.md lists every option): the pruning details of lattice
    rescoring (--global-beam, --prune-lm-scale, --lattice-batch), k2 sampling's --nbest-scale, and
    --chunk-utterances.
    """
    _old_spellings(opts)
    _check_options(opts)
    ctx, dev = init_distributed(resolve_device(device))
    try:
        if ctx.enabled and not opts["nbest_path"]:
            raise click.UsageError("under torchrun only N-best rescoring is sharded; run lattices in one process")
        scales = run_rescore(_config(opts), dev, ctx, say=lambda m: click.echo(m, err=True))
        if ctx.is_main:
            click.echo(json.dumps({"lm_scale": scales.lm_scale, "word_penalty": scales.word_penalty,
                                   "fp_lm_scale": scales.fp_lm_scale}))
    finally:
        shutdown(ctx)


#: the old spellings of rescore's options, kept for one release: old option -> the new one
OLD_SPELLINGS = {"nbest_path": "INPUT", "lattices_path": "INPUT --input-type lattices",
                 "k2_path": "INPUT --input-type k2", "dev_nbest": "--dev DEV_INPUT DEV_REF",
                 "dev_lattices": "--dev DEV_INPUT DEV_REF", "dev_k2_lattices": "--dev DEV_INPUT DEV_REF",
                 "dev_ref": "--dev DEV_INPUT DEV_REF", "lm_scales": "--lm-scale a,b,c",
                 "word_penalties": "--word-penalty a,b,c", "fp_lm_scales": "--fp-lm-scale a,b,c"}
INPUT_KEYS = {"nbest": "nbest_path", "lattices": "lattices_path", "k2": "k2_path"}
DEV_KEYS = {"nbest": "dev_nbest", "lattices": "dev_lattices", "k2": "dev_k2_lattices"}


def _weight(spec: str | None, name: str) -> tuple[float | None, str]:
    """A weight option as ``(fixed value or None, the grid tuned on dev)``: a number, a grid, or auto."""
    if spec is None or spec.strip().lower() == "auto":
        return None, "auto"
    try:
        return float(spec), "auto"
    except ValueError:
        pass
    try:
        parse_grid(spec)
    except ValueError:
        raise click.BadParameter(f"{spec!r} is not a number, a,b,c, start:stop:step or auto", param_hint=name) from None
    return None, spec


def _old_spellings(o: dict) -> None:
    """The new spellings (INPUT --input-type, --dev, one option per weight) written into the old keys the
    rest reads; each old spelling still works, with a one-line notice on stderr."""
    for key, new in OLD_SPELLINGS.items():
        if o.get(key):
            click.echo(f"rescore: --{key.removesuffix('_path').replace('_', '-')} is the old spelling of {new}; it "
                       "goes in the next release", err=True)
    if o["input_path"]:
        if any(o[k] for k in INPUT_KEYS.values()):
            raise click.UsageError("give INPUT or --nbest/--lattices/--k2-lattices, not both")
        o[INPUT_KEYS[o["input_type"]]] = o["input_path"]
    if o["dev"]:
        if any(o[k] for k in (*DEV_KEYS.values(), "dev_ref")):
            raise click.UsageError("give --dev or --dev-nbest/--dev-lattices/--dev-k2-lattices and --dev-ref, not both")
        kind = next((t for t, k in INPUT_KEYS.items() if o[k]), o["input_type"])
        o[DEV_KEYS[kind]], o["dev_ref"] = o["dev"]
    for name, grid_key in (("lm_scale", "lm_scales"), ("word_penalty", "word_penalties"), ("fp_lm_scale", "fp_lm_scales")):
        fixed, grid = _weight(o[name], "--" + name.replace("_", "-"))
        if o[grid_key] and grid == "auto":
            grid = o[grid_key]
        o[name], o[grid_key] = fixed, grid


def _check_options(o: dict) -> None:
    """The option combinations ``rescore`` refuses (click usage errors, exit 2)."""
    if sum(bool(o[x]) for x in ("nbest_path", "lattices_path", "k2_path")) != 1:
        raise click.UsageError("give INPUT (N-best lists, or lattices with --input-type)")
    if o["chunk_utterances"] < 1:
        raise click.UsageError("--chunk-utterances must be at least 1")
    if (o["lattices_path"] or (o["k2_path"] and o["k2_method"] == "lattice")) and not o["model_path"]:
        raise click.UsageError("lattice rescoring needs --model")
    if o["k2_path"]:
        if not o["words_path"]:
            raise click.UsageError("k2 lattices need --words (words.txt)")
        try:
            import lightrnn_asr.formats.k2_adapter  # noqa: F401
        except ImportError as e:
            raise click.UsageError(str(e)) from None
    if o["backward_model"] and not ((o["nbest_path"] or (o["k2_path"] and o["k2_method"] == "nbest"))
                                    and o["model_path"]):
        raise click.UsageError("--backward-model rescores N-best lists beside a forward LM: give --model, and N-best "
                               "lists or k2 lattices with --k2-method nbest")
    if o["nbest_path"] and o["lattices_out"]:
        raise click.UsageError("--lattices-out needs lattices or k2 lattices (--input-type)")
    if o["lattices_path"]:
        check_lattice_options(o["lattice_format"], o["words_path"])
    dev_input = o["dev_lattices"] if o["lattices_path"] else o["dev_k2_lattices"] if o["k2_path"] else o["dev_nbest"]
    if o["lm_scale"] is None and not (dev_input and o["dev_ref"]):
        raise click.UsageError("give --lm-scale a value, or --dev DEV_INPUT DEV_REF to tune it")


def _config(o: dict) -> RescoreConfig:
    """The options as a :class:`RescoreConfig`."""
    lattice = LatticeRescoreConfig(ngram_order=o["ngram_order"] or None, max_histories=o["max_histories"],
                                   beam=o["beam"], global_beam=o["global_beam"], input_lm=o["input_lm"],
                                   scales=Scales(o["prune_lm_scale"], o["word_penalty"] or 0.0, o["fp_lm_scale"] or 0.0),
                                   oov_penalty=o["oov_penalty"], lattice_batch=o["lattice_batch"])
    return RescoreConfig(
        out=o["out_path"], nbest=o["nbest_path"], lattices=o["lattices_path"], k2_lattices=o["k2_path"],
        model=o["model_path"], dev_nbest=o["dev_nbest"], dev_lattices=o["dev_lattices"],
        dev_k2_lattices=o["dev_k2_lattices"], dev_ref=o["dev_ref"], lm_scale=o["lm_scale"],
        word_penalty=o["word_penalty"], fp_lm_scale=o["fp_lm_scale"], lm_scales=parse_grid(o["lm_scales"]),
        word_penalties=parse_grid(o["word_penalties"]), fp_lm_scales=parse_grid(o["fp_lm_scales"]),
        oov_penalty=o["oov_penalty"], lattice_format=o["lattice_format"], words=o["words_path"],
        lattices_out=o["lattices_out"], k2_method=o["k2_method"], num_paths=o["num_paths"],
        nbest_scale=o["nbest_scale"], lattice=lattice, lattice_nbest=o["lattice_nbest"], scores_out=o["scores_out"],
        plot=o["plot_path"], chunk_utterances=o["chunk_utterances"], backward_model=o["backward_model"],
        backward_weight=o["backward_weight"])
