"""Early-stop bookkeeping of one fold: which epoch is the best so far, and when to stop.

The best epoch is the one with the highest validation AUC, lower validation loss breaking ties
(and deciding alone when AUC is undefined, e.g. a validation set of one class); with
``--early-stopping loss`` the one with the lowest validation loss, higher AUC breaking ties.
Training stops after ``patience`` epochs without a better one, but never before
``min_epochs``; no patience (0 or None) trains every epoch. ``training.loop.fit`` keeps the
best epoch's weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Score = tuple[float, ...]  # compared as a tuple: higher is better


@dataclass
class EarlyStopping:
    patience: int | None
    min_epochs: int
    metric: str = "auc"  # TrainConfig.early_stopping: "auc" | "loss"
    best_epoch: int = 0
    best_score: Score | None = None
    since_best: int = 0  # epochs since the best one

    def score(self, val_auc: float | None, val_loss: float) -> Score:
        """What "better" means: AUC first, then lower loss ("auc"); or lower loss first,
        then AUC ("loss": a calibration-minded choice, and the only signal that still moves
        once the validation AUC is 1.0)."""
        auc = val_auc if val_auc is not None else -math.inf
        return (-val_loss, auc) if self.metric == "loss" else (auc, -val_loss)

    def update(self, epoch: int, val_auc: float | None, val_loss: float) -> bool:
        """Record an epoch's validation numbers; True when it is the best so far (keep it)."""
        score = self.score(val_auc, val_loss)
        if self.best_score is None or score > self.best_score:
            self.best_score, self.best_epoch, self.since_best = score, epoch, 0
            return True
        self.since_best += 1
        return False

    def should_stop(self, epoch: int) -> bool:
        if not self.patience:
            return False
        return epoch >= self.min_epochs and self.since_best >= self.patience
