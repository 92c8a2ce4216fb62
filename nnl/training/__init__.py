"""The training workflow behind ``nnl train``: configuration-driven training, evaluation and checkpoints."""

from nnl.training.trainer import Trainer, TrainResult, train

__all__ = ["Trainer", "TrainResult", "train"]
