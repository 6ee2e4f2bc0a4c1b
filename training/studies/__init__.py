"""Model studies and hyper-parameter searches over shared folds."""
