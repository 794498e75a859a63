#!/usr/bin/env python3
"""LightRNN beside a full-softmax LSTM and an adaptive-softmax LSTM: same trunk, same batches.

For every vocabulary size and system, two child processes run (so that each peak
memory figure is that phase's own):

* ``train``: parameters, weight bytes, checkpoint bytes, training tokens/s (Adam;
  bf16/fp16 autocast on CUDA) over the same length-sorted batches for all three systems,
  and peak memory (CPU: the process's peak RSS; CUDA: ``max_memory_allocated``).
* ``score``: rescoring throughput, hypotheses/s and words/s, of N-best-like hypotheses
  (3-30 words) scored in length-sorted batches (``score_sentences``, the path ``rescore``
  uses). Each system gets its best batch size from a small grid. On the CPU the int8 model
  (``lightrnn-asr compress --int8``) is timed too; on CUDA the largest difference between
  autocast and float32 sentence log-probabilities is recorded.

The text is SYNTHETIC: Zipf-distributed word ids (exponent 1), which is what the
vocabulary-size axis needs; ``equal_time_ppl.py`` compares the systems on real text.
Training that would not fit in memory (the full-softmax LSTM at |V| = 1M on a 24 GB CPU
machine: 16 GB of weights, gradients and Adam state, plus the logits) is skipped and
reported as skipped, with the estimate.

    python benchmarks/speed/lm_compare.py --quick --out docs/bench/lm_compare_cpu.jsonl        # 2 CPU cores
    python benchmarks/speed/lm_compare.py --device cuda --out docs/bench/lm_compare_gpu.jsonl  # full mode (GPU)
    python benchmarks/speed/lm_compare.py --table --plot docs/img/lm_compare.png docs/bench/lm_compare_cpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/: the shared harness
from harness import cuda_peak_bytes, emit, peak_rss_bytes

from lightrnn_asr.lm import LMConfig, build_model
from lightrnn_asr.lm.checkpoint import save_checkpoint
from lightrnn_asr.lm.compress import Compression, compress_model, compressed_state, state_bytes
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.sentences import score_sentences
from lightrnn_asr.text.corpus import Corpus, length_batches, make_batch
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.utils.device import autocast_for

SYSTEMS = ("lightrnn", "lightrnn-word", "lightrnn-wordsum", "lightrnn-wordsum-col", "lightrnn-wordsum-col-sl",
           "lightrnn-wordsum-col-sl-osl", "adaptive", "lstm")
LABELS = {"lightrnn": "LightRNN", "lightrnn-word": "LightRNN, one step per word (concat)",
          "lightrnn-wordsum": "LightRNN, one step per word (sum)",
          "lightrnn-wordsum-col": "LightRNN, one step per word (sum), column head of 2H",
          "lightrnn-wordsum-col-sl": "LightRNN, column head of 2H, own input vectors for 4,000 words",
          "lightrnn-wordsum-col-sl-osl": "LightRNN, column head of 2H, own input vectors for 4,000 words, own output "
                                         "vectors for 1,000",
          "adaptive": "LSTM, adaptive softmax",
          "lstm": "LSTM, full softmax"}
#: system -> (model_type, LightRNN recurrence)
MODELS = {"lightrnn": ("lightrnn", "halfword"), "lightrnn-word": ("lightrnn", "word-concat"),
          "lightrnn-wordsum": ("lightrnn", "word-sum"), "lightrnn-wordsum-col": ("lightrnn", "word-sum"),
          "lightrnn-wordsum-col-sl": ("lightrnn", "word-sum"),
          "lightrnn-wordsum-col-sl-osl": ("lightrnn", "word-sum"),
          "adaptive": ("adaptive", "halfword"),
          "lstm": ("lstm", "halfword")}


def zipf_corpus(vocab: int, n_sent: int, min_len: int, max_len: int, seed: int) -> Corpus:
    """Sentences of uniform length in ``[min_len, max_len]`` whose word ids (3 .. |V|-1) follow Zipf's law."""
    g = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, vocab - 2, dtype=torch.float64)
    lengths = torch.randint(min_len, max_len + 1, (n_sent,), generator=g)
    ids = torch.multinomial(1.0 / ranks, int(lengths.sum()), replacement=True, generator=g) + 3
    offsets = torch.zeros(n_sent + 1, dtype=torch.long)
    torch.cumsum(lengths, 0, out=offsets[1:])
    return Corpus(ids, offsets)


def build(system: str, vocab: int, args) -> tuple[torch.nn.Module, WordTable | None]:
    model_type, recurrence = MODELS[system]
    table = WordTable.sequential(vocab) if model_type == "lightrnn" else None
    cfg = LMConfig(model_type=model_type, vocab_size=vocab, n_rows=table.n_rows if table else 0,
                   n_cols=table.n_cols if table else 0, embed_dim=args.embed, hidden_dim=args.hidden,
                   num_layers=args.layers, dropout=0.1, recurrence=recurrence,
                   col_hidden_dim=2 * args.hidden if "-col" in system else 0,
                   input_shortlist=min(vocab, 4000) if "-sl" in system else 0,
                   output_shortlist=min(vocab, 1000) if system.endswith("-osl") else 0)
    return build_model(cfg, table), table


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory(device: torch.device) -> dict:
    out = {"peak_rss_gb": peak_rss_bytes() / 2**30}
    if device.type == "cuda":
        out["peak_cuda_gb"] = cuda_peak_bytes() / 2**30
    return out


def train_phase(system: str, vocab: int, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    model, table = build(system, vocab, args)
    weights = state_bytes(compressed_state(model))
    row = {"parameters": model.num_parameters(), "weights_bytes": weights, "checkpoint_bytes": None}
    if weights < 2**31:  # the full-softmax LSTM at 1M words (4 GB) is not written: its bytes are its weights'
        words = ["<s>", "</s>", "<unk>"] + [f"w{i}" for i in range(3, vocab)]
        with tempfile.TemporaryDirectory() as d:
            save_checkpoint(Path(d) / "lm.pt", model, Vocabulary(words), table)
            row["checkpoint_bytes"] = (Path(d) / "lm.pt").stat().st_size
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    corpus = zipf_corpus(vocab, 20000, 5, 40, seed=1)
    batches = length_batches(corpus.lengths(), args.train_tokens, torch.Generator().manual_seed(0))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    tokens, steps, start = 0, 0, None
    for step, idx in enumerate(batches):
        if step == args.warmup:
            sync(device)
            start, tokens = time.perf_counter(), 0
        inputs, targets, mask = (t.to(device) for t in make_batch([corpus.sentence(i) for i in idx.tolist()], 0, 1))
        with autocast_for(device):
            loss = model.loss(inputs, targets, mask)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        tokens += int(mask.sum())
        if start is not None:
            steps += 1
            sync(device)
            if time.perf_counter() - start > args.train_seconds and steps >= 3:
                break
    sync(device)
    row.update({"train_tokens_per_s": tokens / (time.perf_counter() - start), "train_steps": steps,
                "train_max_tokens": args.train_tokens, **peak_memory(device)})
    return row


def throughput(model, hyps: list[torch.Tensor], max_tokens: int, seconds: float, device) -> dict:
    """Score consecutive chunks of ``hyps`` until ``seconds`` have passed: hypotheses/s and words/s."""
    n_hyp = n_words = 0
    chunk = max(8, max_tokens // 18)  # about one batch per call, so that the time limit is kept
    sync(device)
    start = time.perf_counter()
    for i in range(0, len(hyps), chunk):
        part = hyps[i: i + chunk]
        score_sentences(model, part, max_tokens=max_tokens, device=device)
        n_hyp += len(part)
        n_words += sum(int(h.numel()) for h in part)
        sync(device)
        if time.perf_counter() - start > seconds:
            break
    secs = time.perf_counter() - start
    return {"hyps_per_s": n_hyp / secs, "words_per_s": n_words / secs, "hyps_timed": n_hyp}


def score_phase(system: str, vocab: int, args, device: torch.device) -> dict:
    torch.manual_seed(0)
    model, _ = build(system, vocab, args)
    model.to(device).eval()
    if args.compile:  # torch >= 2.0; dynamic shapes: every batch has another size
        model.token_logprobs = torch.compile(model.token_logprobs, dynamic=True)
    corpus = zipf_corpus(vocab, 60000, 3, 30, seed=2)  # N-best hypotheses: 3-30 words
    hyps = [corpus.sentence(i) for i in range(len(corpus))]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # the full softmax's (tokens, |V|) float32 logits and their exp: 8 bytes per token and word
    sizes = [mt for mt in args.score_tokens if system != "lstm" or 8 * mt * vocab / 2**30 < args.max_gb / 2]
    trials = {mt: throughput(model, hyps[20000:], mt, args.score_seconds / 2, device)["words_per_s"]
              for mt in sizes or [min(args.score_tokens)]}
    best = max(trials, key=trials.get)
    row = {"score_max_tokens": best, "score_batch_trials": trials, "compiled": args.compile,
           **throughput(model, hyps, best, args.score_seconds, device)}
    if device.type == "cuda":
        sample = hyps[:2000]
        amp = score_sentences(model, sample, max_tokens=best, device=device)
        fp32 = score_sentences(model, sample, max_tokens=best, device=device, amp=False)
        n_tok = sum(int(h.numel()) + 1 for h in sample)
        row.update({"amp_max_abs_diff_nats": float(abs(amp - fp32).max()),
                    "amp_mean_abs_diff_nats_per_token": float(abs(amp - fp32).sum()) / n_tok,
                    "amp_dtype": str(torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16)})
    row.update(peak_memory(device))
    if device.type == "cpu" and args.int8:
        small = compress_model(model, Compression(0, True))  # in place: no second copy of a 4 GB model
        row["int8"] = throughput(small, hyps, best, args.score_seconds, device)
        row["int8"]["weights_bytes"] = state_bytes(compressed_state(small))
    return row


def child(args) -> None:
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    system, vocab, phase = args.one
    vocab = int(vocab)
    fn = train_phase if phase == "train" else score_phase
    row = {"system": system, "vocab": vocab, "phase": phase, **fn(system, vocab, args, device)}
    print("RESULT " + json.dumps(row), flush=True)


def training_memory_gb(system: str, vocab: int, args) -> float:
    """Weights, gradients, Adam's two moments and three logits-sized tensors, for the full-softmax LSTM."""
    if system != "lstm":
        return 0.0
    params = 2 * vocab * args.hidden + 4 * args.hidden * (args.embed + args.hidden) * args.layers
    return (16 * params + 12 * args.train_tokens * vocab) / 2**30


def parent(args) -> None:
    device = torch.device(args.device)
    meta = {"threads": args.threads,
            "device": str(device), "gpu": torch.cuda.get_device_name() if device.type == "cuda" else None,
            "embed": args.embed,
            "hidden": args.hidden, "layers": args.layers, "text": "synthetic Zipf"}
    for vocab in args.vocab:
        for system in args.systems:
            for phase in ("train", "score"):
                row = {**meta, "system": system, "vocab": vocab, "phase": phase}
                need = training_memory_gb(system, vocab, args)
                if phase == "train" and need > args.max_gb:
                    with torch.device("meta"):  # sizes without allocating
                        model, _ = build(system, vocab, args)
                    emit({**row, "parameters": model.num_parameters(), "weights_bytes": 4 * model.num_parameters(),
                          "skipped": f"needs about {need:.0f} GB (> --max-gb {args.max_gb:g})"}, args.out)
                    continue
                cmd = [sys.executable, __file__, "--one", system, str(vocab), phase] + args.child_args
                res = subprocess.run(cmd, capture_output=True, text=True)
                lines = [x for x in res.stdout.splitlines() if x.startswith("RESULT ")]
                if res.returncode or not lines:
                    emit({**row, "failed": (res.stderr.strip().splitlines() or ["?"])[-1]}, args.out)
                    continue
                emit({**meta, **json.loads(lines[-1][len("RESULT "):])}, args.out)


def plot(out: Path, files: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(x) for f in files for x in f.read_text().splitlines() if x.strip()]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels = [("train", "parameters", "parameters"), ("train", "train_tokens_per_s", "training tokens/s"),
              ("score", "words_per_s", "rescoring words/s")]
    for ax, (phase, key, title) in zip(axes, panels):
        for device in sorted({r["device"] for r in rows}):
            for system in SYSTEMS:
                pts = sorted((r["vocab"], r[key]) for r in rows if r.get("phase") == phase and r["system"] == system
                             and r["device"] == device and r.get(key))
                if pts:
                    ax.plot(*zip(*pts), marker="o", label=f"{LABELS[system]} ({device})")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("|V| (synthetic Zipf text)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    r0 = rows[0]
    fig.suptitle(f"same trunk: embedding {r0['embed']}, hidden {r0['hidden']}, {r0['layers']} layer(s); "
                 f"{r0['date']}, torch {r0['torch']}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def tables(files: list[Path]) -> str:
    """Markdown tables (one per device) and the ratios the goals are stated in, from result lines."""
    rows = [json.loads(x) for f in files for x in f.read_text().splitlines() if x.strip()]
    out = []
    for device in sorted({r["device"] for r in rows}):
        get = {(r["vocab"], r["system"], r["phase"]): r for r in rows if r["device"] == device}
        vocabs = sorted({k[0] for k in get})
        out.append("| |V| | system | parameters | weights MB | checkpoint MB | train tokens/s | train peak GB | "
                   "rescoring hyps/s | words/s | int8 words/s | rescoring peak GB |\n|---|---|---|---|---|---|---|---|---|---|---|")
        for v in vocabs:
            for system in SYSTEMS:
                t, s = get.get((v, system, "train"), {}), get.get((v, system, "score"), {})
                if not t and not s:
                    continue
                mem = "peak_cuda_gb" if device.startswith("cuda") else "peak_rss_gb"
                ck = t.get("checkpoint_bytes")
                train = f"{t['train_tokens_per_s']:,.0f}" if "train_tokens_per_s" in t else "skipped"
                out.append(" | ".join([
                    f"| {v:,}", LABELS[system], f"{t.get('parameters', 0):,}", f"{t.get('weights_bytes', 0) / 1e6:,.1f}",
                    f"{ck / 1e6:,.1f}" if ck else "not written", train,
                    f"{t[mem]:.2f}" if mem in t else "", f"{s.get('hyps_per_s', 0):,.0f}",
                    f"{s.get('words_per_s', 0):,.0f}",
                    f"{s['int8']['words_per_s']:,.0f}" if "int8" in s else "", f"{s.get(mem, 0):.2f} |"]))
        out.append("")
        for v in vocabs:
            light = (get.get((v, "lightrnn", "train"), {}), get.get((v, "lightrnn", "score"), {}))
            parts = []
            for other in ("lstm", "adaptive"):
                t, s = get.get((v, other, "train"), {}), get.get((v, other, "score"), {})
                if t.get("parameters"):
                    parts.append(f"{t['parameters'] / light[0]['parameters']:.1f}x fewer parameters than "
                                 f"{LABELS[other]}")
                if t.get("train_tokens_per_s") and light[0].get("train_tokens_per_s"):
                    parts.append(f"training {light[0]['train_tokens_per_s'] / t['train_tokens_per_s']:.2f}x")
                if s.get("words_per_s") and light[1].get("words_per_s"):
                    parts.append(f"rescoring {light[1]['words_per_s'] / s['words_per_s']:.2f}x")
            out.append(f"- |V| = {v:,}, LightRNN against the others: " + "; ".join(parts) + ".")
        out.append("")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU settings: short timings, small training batches")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--vocab", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    ap.add_argument("--embed", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--train-tokens", type=int, default=None, help="padded tokens per training batch")
    ap.add_argument("--train-seconds", type=float, default=None)
    ap.add_argument("--score-seconds", type=float, default=None)
    ap.add_argument("--score-tokens", type=int, nargs="+", default=None, help="batch sizes tried for scoring")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-int8", dest="int8", action="store_false")
    ap.add_argument("--compile", action="store_true", help="score through torch.compile(model.token_logprobs)")
    ap.add_argument("--max-gb", type=float, default=None, help="skip training that needs more (default: 20 on "
                    "the CPU, 85%% of the GPU's memory)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--plot", type=Path, help="draw this PNG from the JSON-lines files given as arguments")
    ap.add_argument("--table", action="store_true", help="print Markdown tables of the files given as arguments")
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.plot or args.table:
        if args.plot:
            plot(args.plot, args.files)
        if args.table:
            print(tables(args.files))
        return
    gpu = args.device.startswith("cuda")
    defaults = {"train_tokens": 8000 if gpu else 1000, "train_seconds": 30 if gpu else 20,
                "score_seconds": 15 if gpu else 12, "score_tokens": [4000, 16000, 64000] if gpu else [1000, 2000, 4000]}
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.max_gb is None:
        args.max_gb = 0.85 * torch.cuda.get_device_properties(0).total_memory / 2**30 if gpu else 20.0
    if args.one:
        return child(args)
    args.child_args = ["--max-gb", str(args.max_gb), "--device", args.device, "--embed", str(args.embed), "--hidden", str(args.hidden),
                       "--layers", str(args.layers), "--train-tokens", str(args.train_tokens),
                       "--train-seconds", str(args.train_seconds), "--score-seconds", str(args.score_seconds),
                       "--warmup", str(args.warmup), "--threads", str(args.threads),
                       "--score-tokens", *map(str, args.score_tokens)] + ([] if args.int8 else ["--no-int8"]) + (
                       ["--compile"] if args.compile else [])
    parent(args)


if __name__ == "__main__":
    main()
