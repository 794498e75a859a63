"""Emissions for measuring shallow fusion without an acoustic model: CTC log-probabilities built from
real text, where words that have a homophone of the same length (CMUdict) lean acoustically to it, so
that only an LM's context can settle them (``ctc_fusion.py``, ``ctc_pyctcdecode.py``); and the name-rich
sentences' emissions, where contact names lean to a word the LM knows (``ctc_fusion_names.py``,
``ctc_pyctcdecode_names.py``)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import torch

from lightrnn_asr.formats.nbest import read_text
from lightrnn_asr.lm.checkpoint import load_checkpoint

#: The demo's LMs the fusion benchmarks compare: ``{system: its directory under exp/lm}``.
LMS = {"LightRNN": "lightrnn", "LSTM (adaptive softmax)": "adaptive"}
#: The first pass's trigram's score (nats) of a word it does not have, in fusion.
OOV_LOGPROB = -20.0


def fusion_arguments(description: str, dev_limit: int = 100, names: bool = False) -> argparse.Namespace:
    """The fusion benchmarks' command line: the recipe directory, sentences, beam, threads, record."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", type=Path, required=True, help="the recipe directory after make demo")
    ap.add_argument("--limit", type=int, default=200, help="test sentences (the first N)")
    ap.add_argument("--dev-limit", type=int, default=dev_limit, help="dev sentences for the weights (the first N)")
    ap.add_argument("--beam", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    if names:
        ap.add_argument("--lean", type=float, default=0.52,
                        help="probability on the sound-alike's letter where it differs (the right letter: 0.98 - LEAN)")
        ap.add_argument("--decoys", action="store_true",
                        help="add as many name-free synthetic sentences, each word one letter from a contact name "
                             "leaning to that name: writing a name costs where none was said")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    return args


def fusion_inputs(args: argparse.Namespace, tokens: list[str], blank: str, boundary: str):
    """``(sets, checkpoints, vocabulary, confusions, emissions)``: the synthetic dev and test sentences
    (``{split: {utt: words}}``), the demo's LMs, their vocabulary, the homophones, and
    ``{split: {utt: (emissions, confused words)}}``."""
    sets = {split: dict(list(read_text(args.demo / "data" / f"synthetic_{split}" / "text").items())[:n])
            for split, n in (("dev", args.dev_limit), ("test", args.limit))}
    cks = {name: load_checkpoint(args.demo / "exp" / "lm" / d / "best.pt") for name, d in LMS.items()}
    vocab = next(iter(cks.values())).vocab
    confusions = homophones(vocab)
    ems = {split: {u: emissions(w, confusions, tokens, blank, boundary) for u, w in refs.items()}
           for split, refs in sets.items()}
    return sets, cks, vocab, confusions, ems


def homophones(vocab) -> dict[str, str]:
    """``{word: its homophone of the same length}`` for words of ``vocab`` (first such pair in CMUdict order)."""
    from pocketsphinx import get_model_path

    by_phones: dict[str, list[str]] = {}
    for line in open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8"):
        word, *phones = line.split()
        word = word.split("(")[0]
        if word in vocab and word.isalpha():
            by_phones.setdefault(" ".join(phones), []).append(word)
    out = {}
    for words in by_phones.values():
        for a in words:
            for b in words:
                if a != b and len(a) == len(b) and a not in out:
                    out[a] = b
    return out


def emissions(words: list[str], confusions: dict[str, str], tokens: list[str], blank: str,
              boundary: str, lean: float = 0.52) -> tuple[torch.Tensor, int]:
    """CTC log-probabilities ``(T, len(tokens))`` float32 and the number of confused words: per letter a
    frame (0.98 on it, or ``lean`` on the homophone's letter and 0.98 - ``lean`` on it where they differ) and a ``blank``
    frame, a ``boundary`` frame after each word."""
    def frame(probs):
        p = np.full(len(tokens), (1.0 - sum(probs.values())) / (len(tokens) - len(probs)))
        for c, v in probs.items():
            p[tokens.index(c)] = v
        return np.log(p)

    frames, n = [], 0
    for w in words:
        wrong = confusions.get(w)
        n += wrong is not None
        for i, ch in enumerate(w):
            probs = {ch: 0.98} if wrong is None or wrong[i] == ch else {wrong[i]: lean, ch: 0.98 - lean}
            frames += [frame({c: v for c, v in probs.items() if c in tokens}), frame({blank: 0.98})]
        frames.append(frame({boundary: 0.98}))
    return torch.from_numpy(np.stack(frames).astype(np.float32)).contiguous(), n


def recipe_evaluate(demo: Path):
    """The recipe's ``local/evaluate.py`` as a module: its contact-list reader and like-words."""
    spec = importlib.util.spec_from_file_location("recipe_evaluate", demo / "local" / "evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contact_list(demo: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``({name: its class}, {class: its like-word})``: the demo's contact list
    (``data/names/words.txt``) and the recipe's like-word per class."""
    evaluate = recipe_evaluate(demo)
    return evaluate.read_contacts(demo / "data" / "names" / "words.txt"), dict(evaluate.EXEMPLARS)


def sound_alikes(names: list[str], words: list[str]) -> dict[str, str]:
    """``{name: the word of ``words`` (in frequency order) of the same length with the fewest other
    letters}`` (the most frequent among equals); names without such a word are left out."""
    by_length: dict[int, list[str]] = {}
    for w in words:
        if w.isalpha():
            by_length.setdefault(len(w), []).append(w)
    out = {}
    for name in names:
        candidates = [w for w in by_length.get(len(name), []) if w != name]
        if candidates:
            out[name] = min(candidates, key=lambda w: sum(a != b for a, b in zip(w, name)))
    return out


def names_inputs(args: argparse.Namespace, contacts: dict[str, str], words: list[str], tokens: list[str],
                 blank: str, boundary: str):
    """``(sets, emissions, sound-alikes, decoys)`` for the name-rich sentences: ``{split: {utt: words}}``
    (``data/names_{dev,test}/text``, the first ``--dev-limit``/``--limit``), ``{split: {utt: (emissions,
    leaning words)}}`` with every contact name leaning (``--lean``) to its sound-alike among ``words`` (the LM
    vocabulary without the names, in frequency order), and, with ``--decoys``, as many name-free synthetic
    sentences added to each split, in which every word one letter from a contact name leans to that name
    (``{word: name}``)."""
    sets = {split: dict(list(read_text(args.demo / "data" / f"names_{split}" / "text").items())[:n])
            for split, n in (("dev", args.dev_limit), ("test", args.limit))}
    alike = sound_alikes(list(contacts), words)
    ems = {split: {u: emissions(ws, alike, tokens, blank, boundary, args.lean) for u, ws in refs.items()}
           for split, refs in sets.items()}
    decoy: dict[str, str] = {}
    if args.decoys:  # as many name-free sentences, each word a contact name is one letter from leaning to it
        for split, n in (("dev", args.dev_limit), ("test", args.limit)):
            refs = dict(list(read_text(args.demo / "data" / f"synthetic_{split}" / "text").items())[:n])
            found = sorted({w for ws in refs.values() for w in ws} - set(contacts))
            decoy.update({w: a for w, a in sound_alikes(found, list(contacts)).items()
                          if sum(x != y for x, y in zip(w, a)) == 1})
            sets[split].update(refs)
            ems[split].update({u: emissions(ws, decoy, tokens, blank, boundary, args.lean) for u, ws in refs.items()})
    return sets, ems, alike, decoy


def names_scores(refs: dict[str, list[str]], hyps: dict[str, list[str]], names: set[str]) -> dict:
    """A names benchmark's test figures of one system: WER [95% CI], name error rate [95% CI], name errors,
    false names (``lightrnn_asr.evaluation.names.name_report``), 1000 bootstrap replications."""
    from lightrnn_asr.evaluation.names import name_report
    from lightrnn_asr.evaluation.wer import bootstrap_ci, compute_wer

    w = compute_wer(refs, hyps)
    ci = bootstrap_ci(refs, hyps, replications=1000)
    report = name_report(refs, hyps, names, replications=1000)
    return {"sentences": len(refs), "words": w.ref_words, "wer": w.wer, "ci95": [100 * ci["ci95min"], 100 * ci["ci95max"]],
            "ner": report["ner"], "ner_ci95": report["ner_ci95"], "name_tokens": report["name_tokens"],
            "name_errors": report["name_errors"], "false_names": report["false_names"],
            "name_sentences": sum(1 for r in refs.values() if names & set(r))}


def against_reference(rows: dict[str, dict], hyps: dict[str, dict], refs: dict[str, list[str]], names: set[str],
                      reference: str) -> None:
    """Add to every other system's row, paired over the same test sentences, whether its output is the
    reference's and, where not, P(the reference makes fewer name errors) and P(the reference has the lower WER)
    (1000 replications)."""
    from lightrnn_asr.evaluation.names import p_fewer_name_errors
    from lightrnn_asr.evaluation.wer import bootstrap_ci

    for system, row in rows.items():
        if system != reference:  # the same output has no P
            row["same_output_as_reference"] = hyps[system] == hyps[reference]
            if not row["same_output_as_reference"]:
                row["p_reference_fewer_name_errors"] = p_fewer_name_errors(refs, hyps[system], hyps[reference], names,
                                                                           1000)
                row["p_reference_better_wer"] = bootstrap_ci(refs, hyps[system], hyps[reference],
                                                             replications=1000)["p_s2_improv_over_s1"]
