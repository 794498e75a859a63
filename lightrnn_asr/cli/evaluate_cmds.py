"""Evaluation commands: ``wer``, ``report`` and ``nbest-oracle``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from lightrnn_asr.cli.common import friendly, main
from lightrnn_asr.evaluation.names import read_names
from lightrnn_asr.evaluation.report import compare_systems, names_report, plot_wer, report_json, wer_report
from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer, format_alignment
from lightrnn_asr.formats.nbest import read_nbest, read_text, write_text
from lightrnn_asr.lm.checkpoint import load_checkpoint
from lightrnn_asr.scoring.nbest import oracle, score_nbest
from lightrnn_asr.utils.io import atomic_text
from lightrnn_asr.utils.provenance import provenance


@main.command()
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--hyp", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--hyp2", type=click.Path(exists=True, dir_okay=False), help="A second system to compare.")
@click.option("--alignments", type=click.Path(dir_okay=False), help="Write per-utterance alignments here.")
@click.option("--replications", type=int, default=10000, show_default=True, help="Bootstrap replications.")
@click.option("--compute-wer", "compute_wer_format", is_flag=True,
              help="Print only what Kaldi's compute-wer prints (%WER, %SER, Scored lines).")
@friendly
def wer(ref, hyp, hyp2, alignments, replications, compute_wer_format) -> None:
    """Kaldi-style WER line, bootstrap 95% CI, and (with --hyp2) P(hyp2 better than hyp)."""
    refs, hyps = read_text(ref), read_text(hyp)
    try:
        result = compute_wer(refs, hyps)
    except ValueError as e:
        raise click.ClickException(f"{hyp} against {ref}: {e}") from None
    if alignments:
        with atomic_text(alignments) as f:
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
@click.option("--names", "names_path", type=click.Path(exists=True, dir_okay=False),
              help="Words that are names or places (whitespace-separated, e.g. a contact list): adds their error "
                   "rate and the WER of the utterances with and without one, with 95% intervals.")
@friendly
def report(refs, hyps, models, title, out_path, plot_path, json_path, replications, names_path) -> None:
    """WER of several systems on several test sets in one Markdown table (and plot), with bootstrap
    95% confidence intervals, the probability of beating the first (baseline) system, and model sizes;
    with --names, the name error rate too."""
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
    data = report_json(results, sizes)
    if names_path:
        try:
            names = read_names(names_path)
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        names_md, data["names"] = names_report(ref_text, hyp_text, names, replications)
        text += "\n" + names_md
    with atomic_text(out_path) as f:
        f.write(text)
    if plot_path:
        plot_wer(results, plot_path, title)
    if json_path:
        with atomic_text(json_path) as f:
            f.write(json.dumps({**data, "provenance": provenance()}, indent=1))
    click.echo(text, nl=False)


@main.command("nbest-oracle")
@click.option("--nbest", "nbest_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--ref", required=True, type=click.Path(exists=True, dir_okay=False), help="Kaldi text.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write the oracle hypotheses here.")
@friendly
def nbest_oracle(nbest_path, ref, out_path) -> None:
    """Oracle WER of N-best lists: the lowest-error hypothesis of every list."""
    refs = read_text(ref)
    best = oracle(score_nbest(None, None, read_nbest(nbest_path)), refs)
    if out_path:
        write_text(out_path, best)
    click.echo(f"{nbest_path} oracle: {compute_wer(refs, best).kaldi_line()}")
