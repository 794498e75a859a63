"""Writers of rescored lattices, in the format they were read in."""

from __future__ import annotations

from pathlib import Path

from lightrnn_asr.formats.kaldi_lattice import read_words, write_fst_lattice, write_kaldi_lattices
from lightrnn_asr.formats.lattice import FillerMap, Lattice, write_htk
from lightrnn_asr.scoring.lattice import combine_scores
from lightrnn_asr.scoring.nbest import Scales

__all__ = ["LatticeWriter", "K2Writer"]


class LatticeWriter:
    """Rescored lattices into a directory: ``utt.slf`` (HTK: new LM in ``l=``, n-gram in ``n=``),
    ``utt.fst`` or one ``lattices.txt`` archive (OpenFst/Kaldi: graph cost = the tuned combination,
    :func:`~lightrnn_asr.scoring.lattice.combine_scores`). Call it per lattice, then :meth:`close`."""

    def __init__(self, out_dir: str | Path, lattice_format: str, words_path: str | None, scales: Scales) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.format, self.scales = lattice_format, scales
        self.words = read_words(words_path) if words_path else None
        self.fillers = FillerMap()
        self.archive: dict[str, Lattice] = {}

    def __call__(self, utt: str, lat: Lattice) -> None:
        if self.format == "htk":
            write_htk(self.dir / f"{utt}.slf", lat, utterance=utt)
            return
        lat = combine_scores(lat, self.scales, self.fillers)
        if self.format == "fst":
            write_fst_lattice(self.dir / f"{utt}.fst", lat, self.words, self.fillers)
        else:
            self.archive[utt] = lat

    def close(self) -> None:
        if self.format == "kaldi":
            write_kaldi_lattices(self.dir / "lattices.txt", self.archive, self.words, self.fillers)


class K2Writer:
    """``best_path.pt`` (the rescored 1-best paths) and, after lattice rescoring, ``lattices.pt`` (the
    rescored lattices) in a directory, as ``torch.save(fsa.as_dict())`` with ``utt_ids``."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, result, utt_ids) -> None:
        from lightrnn_asr.formats.k2_adapter import save_k2_lattices

        save_k2_lattices(self.dir / "best_path.pt", result.best_path, utt_ids)
        if result.lattices is not None:
            save_k2_lattices(self.dir / "lattices.pt", result.lattices, utt_ids)

    def close(self) -> None:
        pass
