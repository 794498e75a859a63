"""Evaluation: WER with kaldialign, bootstrap intervals, reports and plots."""

from lightrnn_asr.evaluation.report import compare_systems, wer_report
from lightrnn_asr.evaluation.wer import WerResult, bootstrap_ci, compute_wer

__all__ = ["WerResult", "bootstrap_ci", "compare_systems", "compute_wer", "wer_report"]
