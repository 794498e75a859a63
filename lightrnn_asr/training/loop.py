"""Training in rounds with bootstrap word reallocation (LightRNN, Section 3.3).

One *round* is ``epochs_per_round`` passes over the training sentences with Adam (or, with
``epochs_per_round=0``, passes until validation perplexity stops improving by ``min_improvement``:
the official CNTK recipe trains each round to convergence), followed by a validation perplexity.
For a LightRNN, between rounds the loss tables are computed in one pass over the training data and
the words are reallocated (see :mod:`lightrnn_asr.training.reallocation`), optionally with a fresh
optimizer (``reset_optimizer``, as the CNTK code does); the LSTMs just train. Training stops after
``rounds`` rounds, when validation perplexity has not improved for ``patience`` rounds (the learning
rate is multiplied by ``lr_decay`` at every round without improvement), when ``token_budget`` training
tokens have been trained (a budget that gives the same run on any machine), or when ``time_budget_s``
seconds of training and reallocation are spent (validation is not counted).

Files in ``out_dir``:
    ``last.pt``  checkpoint after the latest round, with optimizer and RNG
                 state (what ``resume=True`` continues from);
    ``best.pt``  the model with the lowest validation perplexity so far;
    ``history.json``  one record per round (perplexities, throughput,
                 reallocation cost before/after, words moved).

Interruptions: checkpoints are written atomically (temporary file, fsync,
rename), so a kill at any moment leaves ``last.pt`` as it was after the last
finished round. It holds the optimizer state, the batch-order generator and
torch's RNG state, so a resumed run repeats the interrupted round exactly and
ends with the same weights as an uninterrupted one (same device and threads;
tested by killing a training subprocess). ``KeyboardInterrupt`` (SIGINT, and
SIGTERM under the CLI) is logged with what ``last.pt`` holds and re-raised.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from lightrnn_asr.lm.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from lightrnn_asr.lm.interface import LanguageModel
from lightrnn_asr.lm.lightrnn import LightRNN
from lightrnn_asr.lm.table import WordTable
from lightrnn_asr.scoring.sentences import perplexity
from lightrnn_asr.text.corpus import Corpus
from lightrnn_asr.text.vocabulary import Vocabulary
from lightrnn_asr.training.epoch import LossModule, grad_scaler
from lightrnn_asr.training.epoch import train_epoch as _train_epoch
from lightrnn_asr.training.reallocation import LossTableSums, occurring_anywhere, reallocate_round
from lightrnn_asr.training.run_dir import check_resume_settings, claim_run_dir
from lightrnn_asr.utils.device import resolve_device
from lightrnn_asr.utils.distributed import DistContext, broadcast_object
from lightrnn_asr.utils.io import atomic_text

__all__ = ["TrainConfig", "TrainState", "train", "set_deterministic"]

log = logging.getLogger("lightrnn_asr")


@dataclass
class TrainConfig:
    """Optimisation settings (stored in ``last.pt`` so a resumed run uses the same).

    The defaults: one epoch per round, i.e. a reallocation after every epoch; a fresh optimizer after
    each reallocation; rounds until validation perplexity has not improved for 2 rounds, at most 50.
    Why (measured at equal training time against rounds trained to convergence, no reallocation and a
    kept optimizer): docs/studies/training-ablation.md.

    Attributes:
        rounds: maximum number of rounds.
        epochs_per_round: passes over the training data per round; 0: until an epoch improves
            validation perplexity by less than ``min_improvement`` (relative), at most
            ``max_epochs_per_round``.
        lr: Adam learning rate.
        max_tokens: padded tokens per batch.
        clip_norm: gradient-norm clipping.
        seed: seeds batch order, dropout and initialisation.
        reallocate: reallocate words between rounds (LightRNN only).
        solver: name in :data:`lightrnn_asr.training.reallocation.SOLVERS`.
        patience: stop after this many rounds without a better validation perplexity.
        lr_decay: the learning rate is multiplied by this after a round without improvement (1: constant).
        reset_optimizer: a fresh Adam (its moments zero, the current learning rate) after every
            reallocation: the old moments belong to row/column vectors whose words have moved.
        min_improvement, max_epochs_per_round: see ``epochs_per_round``.
        loss_tables: where reallocation's loss tables come from: ``"pass"``, a pass over the
            training text with the trained model in eval mode (the paper's procedure), or
            ``"training"``, summed during the round's last epoch from its own training steps
            (dropout on, the weights moving), which saves that pass.
        time_budget_s: stop once this many seconds of training and reallocation are spent (0: no
            limit); the epoch under way ends at the next check, then the round is validated. Where
            it stops depends on the machine's speed: use ``token_budget`` for reproducible runs.
        token_budget: stop once this many training tokens (words and ``</s>``, all processes together,
            counted over every epoch) have been trained (0: no limit); the epoch under way ends at the
            batch that reaches it, then the round is validated. Deterministic: the same data, seed and
            budget stop at the same step on any machine.
        amp: mixed precision on CUDA (bf16 where supported, else fp16 with loss scaling).
        deterministic: ``torch.use_deterministic_algorithms(True)`` and deterministic cuDNN, for
            bit-identical runs on CUDA (slower). CPU runs with the same seed, data and thread
            count are identical without it.
    """

    rounds: int = 50
    epochs_per_round: int = 1
    lr: float = 2e-3
    max_tokens: int = 4000
    clip_norm: float = 1.0
    seed: int = 0
    reallocate: bool = True
    solver: str = "auto"
    patience: int = 2
    amp: bool = True
    deterministic: bool = False
    lr_decay: float = 0.5
    reset_optimizer: bool = True
    min_improvement: float = 0.01
    max_epochs_per_round: int = 20
    time_budget_s: float = 0.0
    loss_tables: str = "pass"
    token_budget: int = 0


def set_deterministic() -> None:
    """Deterministic kernels (``torch.use_deterministic_algorithms``, cuDNN without autotuning).

    Sets ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` when unset, which CUDA >= 10.2 needs
    for deterministic cuBLAS (PyTorch "Reproducibility" notes).
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def train(
    model: LanguageModel,
    vocab: Vocabulary,
    table: WordTable | None,
    train_corpus: Corpus,
    valid_corpus: Corpus,
    cfg: TrainConfig,
    out_dir: str | Path,
    device: torch.device | str = "auto",
    resume: bool = False,
    ctx: DistContext | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train ``model`` in rounds, reallocating words between rounds for a LightRNN.

    Args:
        model: a fresh :class:`LightRNN` or :class:`LSTMLM` (ignored weights when resuming).
        vocab, table: its vocabulary and (LightRNN) word table.
        train_corpus, valid_corpus: encoded sentences.
        cfg: optimisation settings; when resuming, they must be the saved ones.
        out_dir: where ``last.pt``, ``best.pt`` and ``history.json`` go.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        resume: continue from ``out_dir/last.pt`` (a fresh run when there is none).
        overwrite: without ``resume``, start anew in an ``out_dir`` that holds a run (its ``last.pt``,
            ``best.pt`` and ``history.json`` are removed first).
        ctx: a distributed run (:func:`lightrnn_asr.utils.distributed.init_distributed`): ``train_corpus``
            is this rank's shard, the model is wrapped in DistributedDataParallel, loss tables are
            summed onto rank 0, which reallocates and broadcasts the table, and only rank 0 logs and
            writes files. Any number of ranks can resume a ``last.pt``: batches do not depend on it.

    Returns:
        The per-round history (also in ``history.json``).

    Raises:
        CheckpointError: when resuming from an unreadable ``last.pt``.
        ValueError: when ``out_dir`` holds a run and neither ``resume`` nor ``overwrite`` is given; when the
            resumed checkpoint's vocabulary, reading direction (``backward``), model settings or ``cfg``
            differ from this run's (naming each setting); or when a corpus is empty.
    """
    ctx = ctx or DistContext()
    if train_corpus.global_lengths().numel() == 0 or len(valid_corpus) == 0:
        raise ValueError(f"the {'training' if len(train_corpus) == 0 else 'validation'} corpus has no sentences")
    out_dir = Path(out_dir)
    claim_run_dir(out_dir, resume, overwrite, ctx.is_main)
    device = resolve_device(device) if isinstance(device, str) else device
    torch.manual_seed(cfg.seed)
    if resume and (out_dir / "last.pt").exists():
        state = TrainState.resumed(out_dir / "last.pt", vocab)
        if state.model.backward != model.backward:  # the corpora were read in the direction of ``model``
            way = {True: "backward", False: "forward"}
            raise ValueError(f"{out_dir / 'last.pt'} is a {way[state.model.backward]} LM but this run reads its text "
                             f"{way[model.backward]}: resume {'with' if state.model.backward else 'without'} --backward")
        check_resume_settings(out_dir / "last.pt", {**state.model.config.to_dict(), **asdict(state.cfg)},
                              {**model.config.to_dict(), **asdict(cfg)})
    else:
        state = TrainState(model, table, cfg, gen=torch.Generator().manual_seed(cfg.seed))
    run = _Run(state, vocab, train_corpus, valid_corpus, out_dir, device, ctx)
    try:
        run.rounds()
    except KeyboardInterrupt:
        if not ctx.is_main:
            raise
        done = state.history[-1]["round"] if state.history else None
        log.warning("interrupted in round %d; %s", done + 1 if done is not None else state.start_round,
                    f"{out_dir / 'last.pt'} holds round {done}: continue with resume" if done is not None
                    else "no round finished")
        raise
    ctx.barrier()  # every rank returns after rank 0 has written the files
    return state.history


@dataclass
class TrainState:
    """What a run carries from round to round, and what ``last.pt`` stores to resume it exactly:
    the model and table, the settings, the history, early-stopping counters, the batch-order
    generator and the optimiser state."""

    model: LanguageModel
    table: WordTable | None
    cfg: TrainConfig
    history: list[dict[str, Any]] = field(default_factory=list)
    start_round: int = 0
    best_ppl: float = math.inf
    bad_rounds: int = 0
    gen: torch.Generator = field(default_factory=torch.Generator)
    opt_state: dict | None = None
    elapsed_s: float = 0.0  # training and reallocation seconds so far (what time_budget_s limits)
    tokens_trained: int = 0  # training tokens so far (what token_budget limits)

    @classmethod
    def resumed(cls, path: Path, vocab: Vocabulary) -> "TrainState":
        """The state after the last finished round of ``path`` (``last.pt``); restores torch's RNG.

        Raises:
            CheckpointError: for an unreadable file; ValueError: when its vocabulary is not ``vocab``.
        """
        ck: Checkpoint = load_checkpoint(path)
        if ck.vocab.words != vocab.words:
            raise ValueError(f"{path}: vocabulary differs from the one given; cannot resume")
        st = ck.train_state  # a run saved before reset_optimizer existed kept its Adam state: so it goes on
        gen = torch.Generator()
        gen.set_state(st["generator"])
        torch.set_rng_state(st["torch_rng"])
        state = cls(ck.model, ck.table, TrainConfig(**{"reset_optimizer": False, **st["train_config"]}), json.loads(st["history"]),
                    int(st["round"]) + 1, float(st["best_ppl"]), int(st["bad_rounds"]), gen, st["optimizer"],
                    float(st.get("elapsed_s", 0.0)), int(st.get("tokens_trained", 0)))
        log.info("resuming %s after round %d (best valid ppl %.2f)", path.parent, state.start_round - 1, state.best_ppl)
        return state

    def saved(self, rnd: int, opt: torch.optim.Optimizer) -> dict[str, Any]:
        """The ``train_state`` of ``last.pt`` after round ``rnd``."""
        return {"round": rnd, "best_ppl": self.best_ppl, "bad_rounds": self.bad_rounds, "elapsed_s": self.elapsed_s,
                "tokens_trained": self.tokens_trained,
                "train_config": asdict(self.cfg), "history": json.dumps(self.history),
                "optimizer": opt.state_dict(), "generator": self.gen.get_state(), "torch_rng": torch.get_rng_state()}


class _Run:
    """The rounds of :func:`train`: the optimiser, the (DDP-wrapped) loss and where files go.

    In a distributed run rank 0 measures validation perplexity and broadcasts it, so that every
    rank takes the same decisions (learning rate, stopping, reallocating).
    """

    def __init__(self, state: TrainState, vocab: Vocabulary, train_corpus: Corpus, valid_corpus: Corpus,
                 out_dir: Path, device: torch.device, ctx: DistContext) -> None:
        self.state, self.vocab, self.train_corpus, self.valid_corpus = state, vocab, train_corpus, valid_corpus
        self.out_dir, self.device, self.ctx = out_dir, device, ctx
        cfg, model = state.cfg, state.model
        if cfg.deterministic:
            set_deterministic()
        model.to(device)
        self.opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        if state.opt_state is not None:
            self.opt.load_state_dict(state.opt_state)
        self.scaler = grad_scaler(device.type == "cuda" and cfg.amp and not torch.cuda.is_bf16_supported())
        self.step_loss: torch.nn.Module = LossModule(model)
        if ctx.enabled:
            self.step_loss = torch.nn.parallel.DistributedDataParallel(
                self.step_loss, device_ids=[device.index] if device.type == "cuda" else None)
        self.active = self.sums = None  # the words that occur (LightRNN), the in-training loss tables
        if isinstance(model, LightRNN) and cfg.reallocate:
            self.active = occurring_anywhere(vocab, train_corpus, ctx)
            # words with an output vector of their own cost the same in every cell: the others are placed
            self.active = self.active[self.active >= model.config.output_shortlist]
            if cfg.loss_tables == "training":
                mc = model.config
                self.sums = LossTableSums(mc.vocab_size, mc.n_rows, mc.n_cols, device, words=self.active)
        self.train_corpus_tokens = int(train_corpus.global_lengths().sum()) + train_corpus.global_lengths().numel()
        if ctx.is_main:
            log.info("%s: %d parameters, %d training tokens, device %s%s", type(model).__name__, model.num_parameters(),
                     self.train_corpus_tokens, device, f", {ctx.world_size} processes" if ctx.enabled else "")

    def valid_ppl(self) -> float:
        value = None
        if self.ctx.is_main:
            value = perplexity(self.state.model, self.valid_corpus, unk_id=self.vocab.unk_id,
                               max_tokens=2 * self.state.cfg.max_tokens).perplexity
        return broadcast_object(value, self.ctx)

    def validated(self, ppl: float, records: list[dict[str, Any]]) -> bool:
        """Note a validation perplexity: a new best is saved as ``best.pt`` (with ``records``, the
        history up to it). Returns whether it was a new best."""
        st = self.state
        if ppl >= st.best_ppl:
            return False
        st.best_ppl = ppl
        if self.ctx.is_main:
            save_checkpoint(self.out_dir / "best.pt", st.model, self.vocab, st.table, {"history": json.dumps(records)})
        return True

    def out_of_budget(self) -> bool:
        """Whether the time budget or the token budget is spent."""
        st = self.state
        return (bool(st.cfg.time_budget_s) and st.elapsed_s >= st.cfg.time_budget_s) or \
            (bool(st.cfg.token_budget) and st.tokens_trained >= st.cfg.token_budget)

    def train_round(self, rnd: int) -> dict[str, Any]:
        """The epochs of round ``rnd``; its history record (train and validation perplexity, speed,
        ``epochs``: one entry per epoch, ``improved``: whether the round beat the best so far)."""
        st, cfg = self.state, self.state.cfg
        record: dict[str, Any] = {"round": rnd, "lr": self.opt.param_groups[0]["lr"], "epochs": []}
        converge = cfg.epochs_per_round == 0
        nll, n_tok, secs, improved, round_best = 0.0, 0, 0.0, False, math.inf
        for ep in range(cfg.epochs_per_round or cfg.max_epochs_per_round):
            deadline = time.perf_counter() + cfg.time_budget_s - st.elapsed_s if cfg.time_budget_s else None
            token_limit = cfg.token_budget - st.tokens_trained if cfg.token_budget else None
            res = _train_epoch(st.model, self.step_loss, self.train_corpus, self.opt, self.scaler, cfg, st.gen,
                               self.device, f"round {rnd} epoch {ep}", self.ctx, deadline, self.sums, token_limit)
            st.elapsed_s += res.seconds
            st.tokens_trained += res.tokens
            nll, n_tok, secs = nll + res.nll * res.tokens, n_tok + res.tokens, secs + res.seconds
            epoch = {"epoch": ep, "train_tokens": res.tokens, "elapsed_s": st.elapsed_s, "cut_short": res.cut_short,
                     "tokens_trained": st.tokens_trained}
            record["epochs"].append(epoch)
            last = res.cut_short or self.out_of_budget() or ep == cfg.epochs_per_round - 1
            if converge or last:
                epoch["valid_ppl"] = record["valid_ppl"] = self.valid_ppl()
                improved |= self.validated(record["valid_ppl"], st.history + [record])
                if converge and record["valid_ppl"] > round_best * (1 - cfg.min_improvement):
                    last = True
                round_best = min(round_best, record["valid_ppl"])
            if last:
                break
        record.update({"train_ppl": math.exp(nll / max(1, n_tok)), "train_tokens": n_tok, "train_seconds": secs,
                       "tokens_per_s": n_tok / max(secs, 1e-9), "improved": improved, "elapsed_s": st.elapsed_s})
        if self.ctx.enabled:
            record["processes"] = self.ctx.world_size
        if self.ctx.is_main:
            log.info("round %d: %d epochs, train ppl %.2f, valid ppl %.2f, %.0f tokens/s, %.0f s used", rnd,
                     len(record["epochs"]), record["train_ppl"], record["valid_ppl"], record["tokens_per_s"],
                     st.elapsed_s)
        return record

    def rounds(self) -> None:
        """Train from ``state.start_round``; ``state`` advances in place, files after every round."""
        st, cfg, ctx = self.state, self.state.cfg, self.ctx
        for rnd in range(st.start_round, cfg.rounds):
            if self.out_of_budget():
                break
            record = self.train_round(rnd)
            if record["improved"]:
                st.bad_rounds = 0
            else:
                st.bad_rounds += 1
                for group in self.opt.param_groups:
                    group["lr"] *= cfg.lr_decay
            # with a budget, reallocate only if an epoch's time (tokens) is left to recover from it
            epoch_s = record["train_seconds"] / len(record["epochs"])
            stop = st.bad_rounds >= cfg.patience or rnd == cfg.rounds - 1 or self.out_of_budget()
            time_left = (not cfg.time_budget_s or cfg.time_budget_s - st.elapsed_s >= epoch_s) and \
                (not cfg.token_budget or cfg.token_budget - st.tokens_trained >= self.train_corpus_tokens)
            if isinstance(st.model, LightRNN) and cfg.reallocate and not stop and time_left:
                record["realloc"] = self.reallocate(rnd)
                stop = self.out_of_budget()
            st.history.append(record)
            if ctx.is_main:
                save_checkpoint(self.out_dir / "last.pt", st.model, self.vocab, st.table, st.saved(rnd, self.opt))
                with atomic_text(self.out_dir / "history.json") as f:
                    f.write(json.dumps(st.history, indent=1))
            if stop:
                break

    def reallocate(self, rnd: int) -> dict[str, Any]:
        """Bootstrap reallocation after round ``rnd``: the new table is installed; returns its record."""
        st = self.state
        t0 = time.perf_counter()
        st.table, realloc = reallocate_round(st.model, st.table, self.train_corpus, st.cfg.solver, 2 * st.cfg.max_tokens,
                                            self.ctx, self.active, self.sums)
        realloc["seconds"] = time.perf_counter() - t0
        st.elapsed_s += realloc["seconds"]
        if st.cfg.reset_optimizer:
            lr = self.opt.param_groups[0]["lr"]
            self.opt = torch.optim.Adam(st.model.parameters(), lr=lr)
        realloc["valid_ppl_after"] = self.valid_ppl()
        if self.ctx.is_main:
            log.info("round %d: reallocated %d words, cost %.4g -> %.4g nats, valid ppl now %.2f (%.1f s)",
                     rnd, realloc["words_moved"], realloc["cost_before"], realloc["cost_after"],
                     realloc["valid_ppl_after"], realloc["seconds"])
        return realloc
