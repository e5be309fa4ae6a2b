"""The training loop every supervised reprlab method uses."""

from reprlab.train.loop import (
    History,
    classification_step,
    cosine_schedule,
    distributed_context,
    fit,
    is_main_process,
    train_eval,
)

__all__ = ["History", "classification_step", "distributed_context", "fit", "is_main_process",
           "train_eval", "cosine_schedule"]
