"""File formats: N-best lists and Kaldi text, the one lattice type with HTK, Kaldi and OpenFst
readers and writers, and the k2 adapter (:mod:`~lightrnn_asr.formats.k2_adapter`, imported on its
own because it needs k2)."""

from lightrnn_asr.formats.kaldi_lattice import (
    read_fst_lattice,
    read_kaldi_lattices,
    read_words,
    write_fst_lattice,
    write_kaldi_lattices,
)
from lightrnn_asr.formats.kaldi_nbest import iter_kaldi_nbest
from lightrnn_asr.formats.lattice import FillerMap, Lattice, LatticeFormatError, read_htk, write_htk
from lightrnn_asr.formats.lattice_paths import lattice_nbest
from lightrnn_asr.formats.nbest import Hypothesis, NBestFormatError, read_nbest, read_text, write_nbest, write_text

__all__ = ["FillerMap", "Hypothesis", "Lattice", "LatticeFormatError", "NBestFormatError", "iter_kaldi_nbest",
           "lattice_nbest", "read_fst_lattice", "read_htk", "read_kaldi_lattices", "read_nbest", "read_text",
           "read_words", "write_fst_lattice", "write_htk", "write_kaldi_lattices", "write_nbest", "write_text"]
