"""recipes/librispeech with k2 lattices as the first pass (--k2-dir), end to end in the k2 environment."""

import sys
from pathlib import Path

import numpy as np
from require_k2 import import_k2  # noqa: E402

k2 = import_k2()

sys.path.insert(0, str(Path(__file__).parent.parent))
from librispeech_tree import PARTS, build  # noqa: E402
from test_recipe_librispeech import CONFUSIONS, run_recipe  # noqa: E402

from lightrnn_asr.evaluation.wer import compute_wer  # noqa: E402
from lightrnn_asr.formats.k2_adapter import lattice_to_k2, save_k2_lattices  # noqa: E402
from lightrnn_asr.formats.lattice import Lattice  # noqa: E402
from lightrnn_asr.formats.nbest import read_text  # noqa: E402


def hypotheses_lattice(hyps):
    """A lattice whose paths are the given ``(words, am, lm)`` hypotheses, sharing start and final states."""
    src, dst, sym, am, lm, n = [], [], [], [], [], 2  # state 0: start, state 1: final
    for words, a, l in hyps:
        prev = 0
        for k, w in enumerate(words):
            nxt = 1 if k == len(words) - 1 else n
            n += nxt != 1
            src.append(prev), dst.append(nxt), sym.append(w)
            am.append(a if k == 0 else 0.0), lm.append(l if k == 0 else 0.0)
            prev = nxt
    return Lattice(num_states=n, start=0, final=1, src=np.array(src), dst=np.array(dst), symbols=sym, am=np.array(am),
                   fp_lm=np.array(lm), times=np.full(n, np.nan))


def test_librispeech_recipe_with_k2_lattices(tmp_path):
    refs = build(tmp_path / "download", lm_sentences=600)
    vocab = sorted({w for utts in refs.values() for t in utts.values() for w in t.split()} | set(CONFUSIONS.values()))
    (tmp_path / "k2").mkdir()
    (tmp_path / "k2" / "words.txt").write_text("<eps> 0\n" + "".join(f"{w} {i}\n" for i, w in enumerate(vocab, 1)))
    words = k2.SymbolTable.from_file(str(tmp_path / "k2" / "words.txt"))
    for part, utts in refs.items():
        fsas = []
        for text in utts.values():
            ws = text.split()
            wrong = [CONFUSIONS.get(w, w) for w in ws]
            hyps = [(ws, -101.0, -20.5), (ws[:-1], -104.0, -19.0)] + ([(wrong, -100.0, -20.0)] if wrong != ws else [])
            fsas.append(lattice_to_k2(hypotheses_lattice(hyps), words))
        save_k2_lattices(tmp_path / "k2" / part / "lats.pt", k2.create_fsa_vec(fsas), list(utts))
    run_recipe(tmp_path, "--k2-dir", str(tmp_path / "k2"))
    exp, data = tmp_path / "exp", tmp_path / "data"
    assert set(PARTS) <= {p.name for p in data.iterdir()}
    for test in ("test-clean", "test-other"):
        ref = read_text(data / test / "text")
        first = compute_wer(ref, read_text(exp / "rescore" / f"{test}_first_pass.txt"))
        lightrnn = compute_wer(ref, read_text(exp / "rescore" / f"{test}_lightrnn.txt"))
        assert first.wer > 0 and lightrnn.wer < first.wer
    assert "### test-other" in (exp / "report" / "wer_report.md").read_text()
