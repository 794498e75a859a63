"""Training: the loop with bootstrap reallocation, the allocation solvers, and adding words after training."""

from lightrnn_asr.training.loop import TrainConfig, train
from lightrnn_asr.training.openvocab import Placement, add_words
from lightrnn_asr.training.reallocation import SOLVERS, allocation_cost, loss_tables, reallocate

__all__ = ["SOLVERS", "Placement", "TrainConfig", "add_words", "allocation_cost", "loss_tables", "reallocate", "train"]
