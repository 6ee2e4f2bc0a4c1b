"""One training run, start to end: setup, data, folds, loop, report (torch, MONAI, scikit-learn)."""
