"""``prepare-text``: raw text to LM training text."""

from __future__ import annotations

import click

from lightrnn_asr.cli.common import friendly, main
from lightrnn_asr.text.normalize import normalize_text, paragraphs, split_sentences
from lightrnn_asr.utils.io import atomic_text


@main.command("prepare-text")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), help="One sentence per line.")
@click.option("--prose/--lines", default=True, show_default=True,
              help="--prose: join lines into paragraphs (blank-line separated) and split sentences; "
                   "--lines: every line is a sentence.")
@friendly
def prepare_text(inputs: tuple[str, ...], out_path: str, prose: bool) -> None:
    """Normalise raw UTF-8 text files into LM training text (one sentence per line).

    Input is streamed (a paragraph or a line at a time), so corpora larger than memory, such as
    the 4 GB LibriSpeech LM text with --lines, are fine.
    """
    n_sent = n_words = 0
    with atomic_text(out_path) as out:
        for path in inputs:
            with open(path, encoding="utf-8-sig", errors="replace") as f:
                for unit in (paragraphs(f) if prose else (line.rstrip("\n") for line in f)):
                    for sent in (split_sentences(unit) if prose else [unit]):
                        norm = normalize_text(sent)
                        if norm:
                            out.write(norm + "\n")
                            n_sent, n_words = n_sent + 1, n_words + len(norm.split())
    click.echo(f"{out_path}: {n_sent} sentences, {n_words} words")
