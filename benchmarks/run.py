#!/usr/bin/env python3
"""The benchmarks' one entry point: list them, run one, or write their index.

    python benchmarks/run.py                       # every benchmark, by kind, with its question
    python benchmarks/run.py NAME [ARGS...]        # run benchmarks/KIND/NAME.py (or .sh) with ARGS
    python benchmarks/run.py NAME --help           # what it measures and its options
    python benchmarks/run.py --index               # the index of benchmarks/README.md (tests check it)

Three kinds, one folder each: ``quality`` (perplexity and WER; choices on dev, the test once),
``speed`` (throughput, time and memory), ``reliability`` (reproducibility and failure behaviour). Every
benchmark appends its results with their provenance to a record under ``docs/bench/`` through
``harness.py``; ``render_results.py`` (``make results``) renders the results document from the records.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

KINDS = {
    "quality": "Quality studies (perplexity, WER; dev for choices, test once)",
    "speed": "Speed and memory",
    "reliability": "Reproducibility and reliability",
}

#: name -> (kind, the question it answers)
BENCHMARKS = {
    "dev_search": ("quality", "the same settings search (dropout x learning rate, and options) for every LM of the demo, on dev text"),
    "ctc_fusion": ("quality", "word-level shallow fusion in flashlight-text's CTC decoder: no LM, the first-pass trigram, "
                              "the LightRNN, the adaptive LSTM, each LM weight chosen on dev"),
    "ctc_pyctcdecode": ("quality", "the same in pyctcdecode's beam search (the k2 environment)"),
    "ctc_fusion_names": ("quality", "contact names in shallow fusion (flashlight-text): names that lean to a known word, "
                                    "each LM knowing them its recipe's ways (add-words, like-word, <unk>), weights on dev"),
    "ctc_pyctcdecode_names": ("quality", "the same in pyctcdecode's beam search, with and without its hotword biasing "
                                         "(the k2 environment)"),
    "lattice_vs_nbest": ("quality", "1000-best rescoring against pruned lattice rescoring: WER and time per utterance"),
    "backward_weight": ("quality", "a backward LM beside the forward one in N-best rescoring, over its weight"),
    "compress_eval": ("quality", "int8 and low-rank variants of the demo's LMs: size, speed, perplexity, WER"),
    "tuning_search": ("quality", "the automatic scale search against a hand-set grid"),
    "lightrnn_quality": ("quality", "LightRNN training ablations with the LSTM baselines at equal budgets "
                                    "(before the dev/test protocol; see docs/studies/)"),
    "equal_time_ppl": ("quality", "perplexity at equal training time: LightRNN, adaptive and full-softmax LSTMs"),
    "more_text": ("quality", "more LM training text at equal training time"),
    "huge_vocab": ("quality", "a LightRNN at a word-list vocabulary (~630K words) beside a full-softmax LSTM"),
    "rescoring_table": ("quality", "one table (and the WER-perplexity plot) from several evaluation reports"),
    "lexicon_scale": ("speed", "every LM at the recognizer's vocabulary in one run: training tokens/s, rescoring hyps/s, "
                               "size, memory"),
    "lm_compare": ("speed", "LightRNN and the LSTMs at |V| = 10K..1M, same trunk and batches: tokens/s, words/s, memory"),
    "profile_nbest": ("speed", "where N-best rescoring time goes (hypotheses/s per LM)"),
    "profile_scoring": ("speed", "where rescoring time goes (torch.profiler's top operators)"),
    "prefix_scoring": ("speed", "distinct prefixes scored once against whole sentences"),
    "output_shortlist_speed": ("speed", "the output shortlist's cost per training step and loss-table batch"),
    "shortlist_coverage": ("speed", "what the N most frequent words of a vocabulary cover"),
    "realloc_solvers": ("speed", "reallocation solvers: cost, time, peak memory"),
    "ddp_scaling": ("speed", "data-parallel training throughput, 1 against N processes"),
    "stream_rescore": ("speed", "peak memory of N-best rescoring as the file grows"),
    "encode_memory": ("speed", "peak memory of encoding training text as it grows"),
    "long_line_memory": ("speed", "peak memory of scoring one long line"),
    "fresh_clone_demo": ("reliability", "`make demo` on a fresh clone, timed per stage"),
    "compare_reports": ("reliability", "two runs of the same recipe: every number that is not a time or speed, compared"),
    "seed_spread": ("reliability", "the demo's LMs retrained with other seeds and evaluated: which verdicts hold "
                                   "from one equally good run to another"),
    "decoder_carryover": ("reliability", "does a reused pocketsphinx decoder change an utterance's lattice?"),
    "gather_backward": ("reliability", "is the backward of a row gather deterministic?"),
    "interrupt_resume": ("reliability", "training killed at random moments and resumed, against an uninterrupted run"),
    "tests_under_load": ("reliability", "the subprocess tests, again and again on a busy machine"),
    "loss_tables_small": ("reliability", "reallocation's loss tables, pass against training, on a tiny model"),
}

#: modules the benchmarks share, not benchmarks themselves: path -> what it holds
SHARED = {
    "harness.py": "records with provenance (`emit`, `write_record`), timing (`timed`, `seconds_in_turn`), "
                  "peak memory (`peak_rss_bytes`, `cuda_peak_bytes`, `run_child`)",
    "render_results.py": "the results document and README's table from the records (`make results`)",
    "quality/ctc_emissions.py": "the fusion benchmarks' emissions",
    "gpu_check.sh": "the CUDA checks in one run, on a machine with a GPU",
}


def script(name: str) -> Path:
    """The file of benchmark ``name``: ``benchmarks/KIND/NAME.py`` or ``.sh``.

    Raises:
        SystemExit: no benchmark of that name.
    """
    if name not in BENCHMARKS:
        raise SystemExit(f"no benchmark named {name!r}; `python benchmarks/run.py` lists them")
    kind = BENCHMARKS[name][0]
    for suffix in (".py", ".sh"):
        path = HERE / kind / (name + suffix)
        if path.exists():
            return path
    raise SystemExit(f"benchmark {name!r} has no script under benchmarks/{kind}/")


def index() -> str:
    """The Markdown index of every benchmark, by kind, and of the shared modules."""
    parts = []
    for kind, title in KINDS.items():
        rows = [f"| `{kind}/{script(n).name}` | {q} |" for n, (k, q) in BENCHMARKS.items() if k == kind]
        parts.append(f"## {title}\n\n| script | question |\n|---|---|\n" + "\n".join(rows))
    parts.append("## Shared code\n\n" + "\n".join(f"- `{p}`: {what}" for p, what in SHARED.items()))
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    if not argv:
        for kind, title in KINDS.items():
            print(f"{title}:")
            for n, (k, q) in BENCHMARKS.items():
                if k == kind:
                    print(f"  {n:24s} {q}")
        return 0
    if argv[0] == "--index":
        print(index(), end="")
        return 0
    path = script(argv[0])
    cmd = ["bash", str(path)] if path.suffix == ".sh" else [sys.executable, str(path)]
    return subprocess.call(cmd + argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
