"""The pocketsphinx recipe's first pass is deterministic: an utterance decodes to the same lattice
whatever was decoded before it (real Asterisk prompts, tests/data)."""

from pathlib import Path

import soundfile
from helpers import load_script

from lightrnn_asr.formats.lattice import FillerMap, read_htk
from lightrnn_asr.text.normalize import normalize_text

DATA = Path(__file__).parent / "data"
DECODE = Path(__file__).resolve().parent.parent / "recipes" / "pocketsphinx" / "local" / "decode.py"


def load_decode():
    return load_script(DECODE, "recipe_decode")  # registered: the jobs' function is pickled by its module's name


def test_an_utterance_decodes_to_the_same_lattice_alone_and_after_others(tmp_path):
    decode = load_decode()
    audio = {name: soundfile.read(DATA / f"asterisk-{name}.wav", dtype="float32")[0]
             for name in ("queue-thankyou", "do-not-disturb", "confbridge-has-joined")}
    alone, _ = decode.decode_utterance(audio["queue-thankyou"], tmp_path / "alone.slf")
    for name in ("do-not-disturb", "confbridge-has-joined"):
        decode.decode_utterance(audio[name], tmp_path / f"{name}.slf")
    after, _ = decode.decode_utterance(audio["queue-thankyou"], tmp_path / "after.slf")
    assert alone == after and alone[:2] == ["thank", "you"]
    assert (tmp_path / "alone.slf").read_bytes() == (tmp_path / "after.slf").read_bytes()
    assert read_htk(tmp_path / "after.slf").num_arcs > 100  # a real lattice, not an empty file


def test_the_lexicon_holds_every_word_the_first_pass_outputs_and_only_those(tmp_path):
    lexicon = load_script(DECODE.with_name("lexicon.py"), "recipe_lexicon")
    words, counts = lexicon.first_pass_words()
    assert counts["words"] == len(words) < counts["in_trigram"] < counts["dictionary"]
    known = set(words)
    assert {"elinor", "willoughby", "marianne", "patience"} <= known  # names and places the LM text may lack
    assert "aaberg" not in known  # in CMUdict, not in the trigram: the first pass never outputs it
    assert all(w == w.lower() and "(" not in w and " " not in w for w in words)
    decode = load_decode()
    for name in ("queue-thankyou", "do-not-disturb", "confbridge-has-joined"):
        audio = soundfile.read(DATA / f"asterisk-{name}.wav", dtype="float32")[0]
        hyp, _ = decode.decode_utterance(audio, tmp_path / f"{name}.slf")
        symbols = {FillerMap()(s) for s in read_htk(tmp_path / f"{name}.slf").symbols} - {None}
        lattice_words = {w for s in symbols for w in normalize_text(s).split()}  # "d." is the text's "d"
        assert set(hyp) <= known and lattice_words <= known, (hyp, lattice_words - known)


def test_jobs_forked_from_one_decoder_give_a_fresh_decoders_lattices(tmp_path):
    decode = load_decode()
    names = ("queue-thankyou", "do-not-disturb", "confbridge-has-joined")
    audio = {name: soundfile.read(DATA / f"asterisk-{name}.wav", dtype="float32")[0] for name in names}
    (tmp_path / "fresh").mkdir()
    (tmp_path / "forked").mkdir()
    fresh = {name: decode.decode_utterance(audio[name], tmp_path / "fresh" / f"{name}.slf")[0] for name in names}
    # the jobs twice over, so that each process would decode after another if it were reused
    jobs = [(f"{name}-{i}", audio[name], str(tmp_path / "forked" / f"{name}-{i}.slf"))
            for i in range(2) for name in names]
    results = decode.decode_all(jobs, nj=1)
    assert [utt for utt, _, _ in results] == [utt for utt, _, _ in jobs]
    for utt, hyp, _ in results:
        name = utt.rsplit("-", 1)[0]
        assert hyp == normalize_text(" ".join(fresh[name]))
        assert (tmp_path / "forked" / f"{utt}.slf").read_bytes() == (tmp_path / "fresh" / f"{name}.slf").read_bytes()
