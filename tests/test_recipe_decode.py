"""The pocketsphinx recipe's first pass is deterministic: an utterance decodes to the same lattice
whatever was decoded before it (real Asterisk prompts, tests/data)."""

import importlib.util
from pathlib import Path

import soundfile

from lightrnn_asr.formats.lattice import read_htk

DATA = Path(__file__).parent / "data"
DECODE = Path(__file__).resolve().parent.parent / "recipes" / "pocketsphinx" / "local" / "decode.py"


def load_decode():
    spec = importlib.util.spec_from_file_location("recipe_decode", DECODE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
