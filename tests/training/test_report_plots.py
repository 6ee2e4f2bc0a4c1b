"""metrics.json's per-class and weighted metrics for multiclass runs, and the test split's own
plots in the run folder (confusion_test.png, roc_test.png)."""

from __future__ import annotations

import numpy as np
import pytest

from medview.core.run_folder import TEST_PLOTS, RunFolder
from training.report import PredRow, compute_metrics, write_plots

CLASSES = ["benign", "malignant", "normal"]


def _rows() -> list[PredRow]:
    """Two folds of 6 validation items each, and 6 test items (fold 0: the ensemble)."""
    rng = np.random.default_rng(0)
    rows = []
    item = 0
    for fold in (1, 2, 0):
        for k in range(6):
            true = k % 3
            probs = rng.dirichlet([1, 1, 1])
            if k < 4:  # mostly right: the true class gets the largest share
                probs[true] += 2
            rows.append(
                PredRow(item, fold, "val" if fold else "test", true, list(probs / probs.sum()))
            )
            item += 1
    return rows


def test_multiclass_metrics_carry_per_class_and_weighted_values() -> None:
    rows = _rows()
    info = [{"fold": 1, "n_train": 6}, {"fold": 2, "n_train": 6}]
    metrics = compute_metrics(CLASSES, info, rows)
    for fm in metrics["folds"]:
        assert set(fm["per_class"]) == set(CLASSES) and fm["f1_weighted"] is not None
    per_class = metrics["per_class_summary"]
    recalls = [fm["per_class"]["malignant"]["recall"] for fm in metrics["folds"]]
    assert per_class["malignant"]["recall"]["mean"] == pytest.approx(np.mean(recalls))
    assert per_class["malignant"]["recall"]["std"] == pytest.approx(np.std(recalls, ddof=1))
    # By hand, fold 1, class "benign": precision/recall from the arg-max predictions.
    fold1 = [r for r in rows if r.fold == 1]
    pred = [int(np.argmax(r.probs)) for r in fold1]
    true = [r.true for r in fold1]
    tp = sum(p == t == 0 for p, t in zip(pred, true, strict=True))
    recall = tp / true.count(0)
    assert metrics["folds"][0]["per_class"]["benign"]["recall"] == pytest.approx(recall)
    test = metrics["test"]
    assert test["n"] == 6 and sum(map(sum, test["confusion"])) == 6 and test["roc"]
    assert set(test["per_class"]) == set(CLASSES)


def test_the_test_split_gets_its_own_plots(tmp_path) -> None:
    rows = _rows()
    info = [{"fold": 1}, {"fold": 2}]
    history = [{"fold": 1, "epoch": 1, "train_loss": 1.0, "val_loss": 1.1}]
    write_plots(tmp_path, CLASSES, compute_metrics(CLASSES, info, rows), history)
    for name in ("roc", "confusion", "loss", *TEST_PLOTS):
        for suffix in (".png", ".svg"):
            assert (tmp_path / f"{name}{suffix}").stat().st_size > 1000, name
    assert "confusion_test.png" in RunFolder(tmp_path).report_files()
    # No test items: no test plots (and the report files do not list them).
    bare = tmp_path / "bare"
    bare.mkdir()
    no_test = [r for r in rows if r.fold > 0]
    write_plots(bare, CLASSES, compute_metrics(CLASSES, info, no_test), history)
    assert not any((bare / f"{n}.png").exists() for n in TEST_PLOTS)
    assert (bare / "confusion.png").exists()
    assert "roc_test.png" not in RunFolder(bare).report_files()
