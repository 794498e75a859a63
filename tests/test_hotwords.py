"""Hotword files for the first pass from the add-words list, in the formats of sherpa-onnx, NeMo's phrase
boosting and NeMo's flashlight word boosting."""

import pytest
from helpers import run_cli

from lightrnn_asr.formats.hotwords import write_hotwords

NAMES = "willoughby london\nmarianne\nbarton\nMarianne\n"  # the add-words list: WORD [LIKE_WORD]


def test_each_format_as_its_decoder_reads_it(tmp_path):
    (tmp_path / "names.txt").write_text(NAMES)
    run_cli("hotwords", "--words", tmp_path / "names.txt", "--format", "sherpa-onnx", "--score", 2.5,
            "--case", "upper", "--out", tmp_path / "hotwords.txt")
    assert (tmp_path / "hotwords.txt").read_text() == "WILLOUGHBY :2.5\nMARIANNE :2.5\nBARTON :2.5\n"
    run_cli("hotwords", "--words", tmp_path / "names.txt", "--format", "nemo-phrases", "--out", tmp_path / "p.txt")
    assert (tmp_path / "p.txt").read_text() == "willoughby\nmarianne\nbarton\nMarianne\n"
    run_cli("hotwords", "--words", tmp_path / "names.txt", "--format", "flashlight-boost", "--score", 40,
            "--case", "lower", "--out", tmp_path / "b.txt")
    assert (tmp_path / "b.txt").read_text() == "willoughby\t40\nmarianne\t40\nbarton\t40\n"


def test_a_phrase_keeps_its_words_and_bad_input_is_refused(tmp_path):
    write_hotwords(tmp_path / "h.txt", ["new  york", "ballsbridge"], "sherpa-onnx")
    assert (tmp_path / "h.txt").read_text() == "new york\nballsbridge\n"
    with pytest.raises(ValueError, match="needs a score"):
        write_hotwords(tmp_path / "h.txt", ["x"], "flashlight-boost")
    with pytest.raises(ValueError, match="takes no score"):
        write_hotwords(tmp_path / "h.txt", ["x"], "nemo-phrases", score=1.0)
    with pytest.raises(ValueError, match="as a hotword"):
        write_hotwords(tmp_path / "h.txt", ["a\tb"], "sherpa-onnx")
