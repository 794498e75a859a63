"""Scores and decisions: sentence log-probabilities, N-best score combination, scale tuning, the
1-best, pruned lattice rescoring, and the rescoring pipeline over N-best, lattice and k2 inputs."""

from lightrnn_asr.scoring.lattice import LatticeRescoreConfig, rescore_lattice, rescore_lattices, rescored_nbest
from lightrnn_asr.scoring.nbest import BackwardLM, Scales, ScoredNBest, one_best, oracle, score_nbest, total_scores, with_backward_lm
from lightrnn_asr.scoring.sentences import Perplexity, perplexity, score_sentences
from lightrnn_asr.scoring.tuning import TuneResult, tune_scales

__all__ = ["BackwardLM", "LatticeRescoreConfig", "Perplexity", "Scales", "ScoredNBest", "TuneResult", "one_best", "oracle",
           "perplexity", "rescore_lattice", "rescore_lattices", "rescored_nbest", "score_nbest", "score_sentences",
           "total_scores", "tune_scales", "with_backward_lm"]
