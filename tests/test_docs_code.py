"""The code blocks of README.md and docs/ run or are checked, so that a renamed function, command or
option cannot leave a reader with an example that fails:

- Python blocks are executed, on tiny data, in a directory holding the files they name
  (``exp/lightrnn/best.pt``, ``test.nbest``, ``dev.nbest``, ``dev.text``; a block that continues an
  earlier one or needs an outside object gets it from :data:`PREAMBLES`). Blocks that need k2 or
  pyctcdecode run in ``make test-k2``'s environment, where they must (``LIGHTRNN_ASR_REQUIRE_K2=1``).
- Shell blocks: every ``lightrnn-asr`` command exists and every ``--option`` given to it is one of
  its options; every ``make`` target exists.
- YAML blocks are ``train --config`` files: every option exists.
"""

import importlib.util
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(*langs: str) -> list[tuple[str, int, str]]:
    """``(doc:line, index among the doc's blocks of these languages, code)``."""
    out = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        found = [m for m in BLOCK.finditer(text) if m.group(1) in langs]
        for i, m in enumerate(found):
            out.append((f"{doc.relative_to(ROOT)}:{text[:m.start()].count(chr(10)) + 1}", i, m.group(2)))
    return out


def tiny_lightrnn(path: Path, words: list[str]) -> None:
    """An untrained LightRNN over ``words`` (with ``<s>``, ``</s>``, ``<unk>``), saved at ``path``."""
    from lightrnn_asr.lm import LightRNN, LMConfig, WordTable, save_checkpoint
    from lightrnn_asr.text.vocabulary import Vocabulary

    vocab = Vocabulary(["<s>", "</s>", "<unk>", *words], [0, 1, 0] + [1] * len(words))
    table = WordTable.random(len(vocab), torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = LightRNN(LMConfig(model_type="lightrnn", vocab_size=len(vocab), n_rows=table.n_rows, n_cols=table.n_cols,
                              embed_dim=8, hidden_dim=8, num_layers=1, dropout=0.0, recurrence="halfword"), table).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, model, vocab, table, {})


def k2_preamble(work: Path) -> str:
    """icefall's objects for the k2 guide: a CTC lattice over the words AB, CD, A, their words.txt,
    an LM over them, a batch naming the cut."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "with_k2"))
    from test_k2 import ctc_lattice

    lattice, words = ctc_lattice()
    (work / "data" / "lang_bpe_500").mkdir(parents=True)
    (work / "data" / "lang_bpe_500" / "words.txt").write_text(words.to_str())
    tiny_lightrnn(work / "exp" / "lm" / "lightrnn" / "best.pt", ["ab", "cd", "a"])
    (work / "lats").mkdir()
    return ("from test_k2 import ctc_lattice\nfrom types import SimpleNamespace\n"
            "def get_lattice(*args, **kwargs):\n    return ctc_lattice()[0]\n"
            "batch = {'supervisions': {'cut': [SimpleNamespace(id='utt-1')]}}\n")


def ctc_preamble(work: Path) -> str:
    """The pyctcdecode block: an LM that knows "john", and CTC log-probabilities to decode."""
    tiny_lightrnn(work / "exp" / "lightrnn" / "best.pt", ["john", "met", "the", "cat"])
    return "import numpy as np\nlog_probs = np.log(np.full((12, 29), 1 / 29, dtype=np.float32))\n"


def flashlight_preamble(work: Path) -> str:
    """The flashlight block continues the guide's first: ``ck``, and the acoustic model's tokens."""
    return ("from lightrnn_asr import load_checkpoint\nck = load_checkpoint('exp/lightrnn/best.pt')\n"
            "tokens = ['-', '|', *'abcdefghijklmnopqrstuvwxyz', \"'\", '.']\n")


#: What a block needs beyond the common files: ``doc: {index: (modules it imports, preamble builder)}``.
PREAMBLES = {
    "docs/guides/k2-icefall.md": {0: (["k2"], k2_preamble)},
    "docs/guides/ctc-decoders.md": {0: (["pyctcdecode"], ctc_preamble), 1: (["flashlight"], flashlight_preamble)},
}


def common_files(work: Path) -> None:
    (work / "exp" / "lightrnn").mkdir(parents=True)
    shutil.copy(DATA / "tiny_lightrnn.pt", work / "exp" / "lightrnn" / "best.pt")
    shutil.copy(DATA / "asterisk_dev_trigram.nbest", work / "test.nbest")
    shutil.copy(DATA / "asterisk_dev_sample.nbest", work / "dev.nbest")
    shutil.copy(DATA / "asterisk_dev_sample.ref", work / "dev.text")


@pytest.mark.parametrize("where, index, code", blocks("python"), ids=lambda x: x if isinstance(x, str) else "")
def test_python_blocks_run(where, index, code, tmp_path, monkeypatch):
    doc = where.rsplit(":", 1)[0]
    needs, preamble = PREAMBLES.get(doc, {}).get(index, ([], None))
    for module in needs:
        if importlib.util.find_spec(module) is None:
            if os.environ.get("LIGHTRNN_ASR_REQUIRE_K2") == "1" and module in ("k2", "pyctcdecode"):
                pytest.fail(f"LIGHTRNN_ASR_REQUIRE_K2=1 but {module} does not import")
            runs_in = "make test" if module == "flashlight" else "make test-k2"
            pytest.skip(f"{where} needs {module}: {runs_in}'s environment runs it")
    common_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    source = (preamble(tmp_path) if preamble else "") + code
    exec(compile(source, where, "exec"), {"__name__": "__docs__"})


def commands_in(code: str) -> list[list[str]]:
    """The shell commands of a block, continuation lines joined, comments dropped, split by ``&&``/``|``."""
    text = re.sub(r"\\\n", " ", code)
    out = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line.startswith("#") or not line:
            continue
        for part in re.split(r"\s*(?:&&|\|\||\||;)\s*", line):
            try:
                out.append(shlex.split(part))
            except ValueError:
                out.append(part.split())
    return out


def test_shell_blocks_name_real_commands_options_and_targets():
    from lightrnn_asr.cli import main

    targets = set(re.findall(r"^([\w.-]+):", (ROOT / "Makefile").read_text(), re.M))
    bad = []
    for where, _, code in blocks("bash", "sh", "shell", "console"):
        for words in commands_in(code):
            words = [w for w in words if not re.match(r"^[A-Z_]+=", w)] or [""]  # VAR=value prefixes
            if words[0] == "make" and len(words) > 1 and not words[1].startswith("-") and words[1] not in targets:
                bad.append(f"{where}: make {words[1]}: no such target")
            if words[0] != "lightrnn-asr" or len(words) < 2:
                continue
            command = main.commands.get(words[1])
            if command is None:
                bad.append(f"{where}: lightrnn-asr {words[1]}: no such command")
                continue
            options = {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", []))} | {"--help"}
            bad += [f"{where}: lightrnn-asr {words[1]} {w}: no such option" for w in words[2:]
                    if w.startswith("--") and w.split("=", 1)[0] not in options]
    assert not bad, "\n".join(bad)


def test_yaml_blocks_are_train_configs_with_real_options(tmp_path):
    from lightrnn_asr.cli import main
    from lightrnn_asr.cli.config_file import read_options

    found = blocks("yaml", "yml")
    assert found, "the training guide shows a config file"
    for where, i, code in found:
        (tmp_path / f"{i}.yaml").write_text(code)
        assert read_options(tmp_path / f"{i}.yaml", main.commands["train"]), where
