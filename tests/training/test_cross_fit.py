"""Cross-fitted threshold and temperature: no figure is scored on the predictions its threshold
or temperature was chosen on (issue 26, "Honest metrics")."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from training.engine import metrics as M
from training.engine.report import PredRow, compute_metrics, read_predictions, write_predictions
from training.engine.run_report import fit_run_calibration
from training.recipe.calibration import (
    apply_temperature,
    expected_calibration_error,
    fit_temperature,
)

CLASSES = ["WT", "MUT"]
# Two folds whose own best thresholds differ: fold 1 separates at 0.475, fold 2 at 0.575.
FOLD_1 = [(0, 0.10), (0, 0.45), (1, 0.50), (1, 0.90)]
FOLD_2 = [(0, 0.20), (0, 0.55), (1, 0.60), (1, 0.80)]
TEST = [(0, 0.50), (1, 0.52)]


def _rows(fold: int, pairs, split: str = "val", start: int = 0) -> list[PredRow]:
    return [
        PredRow(start + k, fold, split, y, [1 - p, p]) for k, (y, p) in enumerate(pairs, start=1)
    ]


def _run(calibrate: bool = False, folds=(FOLD_1, FOLD_2)):
    raw = []
    for f, pairs in enumerate(folds, start=1):
        raw += _rows(f, pairs, start=100 * f)
        raw += _rows(f, TEST, "test", start=1000)
    oof = [r for r in raw if r.split == "val"]
    cross = fit_run_calibration(list(range(1, len(folds) + 1)), oof, {"calibrate": calibrate})
    from training.engine.report import calibrated_rows, final_rows

    rows = calibrated_rows(raw, cross) + final_rows(raw, cross)
    info = [{"fold": f} for f in range(1, len(folds) + 1)]
    return cross, rows, compute_metrics(CLASSES, info, rows, cross)


def test_each_fold_is_scored_at_the_threshold_chosen_on_the_other_folds():
    cross, _rows_, metrics = _run()
    f1, f2 = metrics["folds"]
    # By hand: fold 2 alone separates at (0.55 + 0.60) / 2 = 0.575, which calls fold 1's
    # 0.50 positive wrong: 3 of 4. Fold 1 alone separates at (0.45 + 0.50) / 2 = 0.475,
    # which calls fold 2's 0.55 negative wrong: 3 of 4.
    assert f1["threshold"] == pytest.approx(0.575)
    assert f2["threshold"] == pytest.approx(0.475)
    assert f1["accuracy"] == pytest.approx(0.75) and f2["accuracy"] == pytest.approx(0.75)
    assert "fold 2" in f1["threshold_chosen_on"] and "fold 1" in f2["threshold_chosen_on"]
    assert metrics["summary"]["accuracy"]["mean"] == pytest.approx(0.75)
    cal = metrics["calibration"]
    assert cal["oof_cross_fitted"]["accuracy"] == pytest.approx(6 / 8)
    # The pooled threshold (Youden tie 0.475 / 0.575, nearest 0.5) scored on the same pool
    # is what the run used to report: 7 of 8, optimistic by construction.
    assert cal["threshold"] == pytest.approx(0.475)
    pooled = [p for pairs in (FOLD_1, FOLD_2) for p in pairs]
    y = [t for t, _ in pooled]
    probs = np.asarray([[1 - p, p] for _, p in pooled])
    in_sample = M.classification_metrics(y, probs, CLASSES, cal["threshold"])["accuracy"]
    assert in_sample == pytest.approx(7 / 8)
    assert cal["oof_cross_fitted"]["accuracy"] < in_sample
    assert metrics["pooled_confusion"] == [[3, 1], [1, 3]]


def test_only_the_test_split_uses_the_threshold_chosen_on_all_out_of_fold_predictions():
    _cross, rows, metrics = _run()
    test = metrics["test"]
    assert test["threshold"] == pytest.approx(0.475)
    assert "all out-of-fold predictions of folds 1, 2" in test["threshold_chosen_on"]
    # 0.50 >= 0.475: the negative test item is called MUT; the positive one MUT.
    assert test["accuracy"] == pytest.approx(0.5)
    for r in rows:
        if r.split == "test":
            assert r.threshold == pytest.approx(0.475)


def test_temperature_is_cross_fitted_and_the_reported_ece_is_the_cross_fitted_one():
    rng = np.random.default_rng(3)
    folds = []
    for _ in range(3):
        y = rng.integers(0, 2, 30)
        p = np.where(rng.uniform(size=30) < 0.75, y, 1 - y) * 0.98 + 0.01  # over-confident
        folds.append(list(zip(y.tolist(), p.tolist(), strict=True)))
    cross, rows, metrics = _run(calibrate=True, folds=folds)
    expected = []
    for k in range(3):
        others = [pair for j, pairs in enumerate(folds) if j != k for pair in pairs]
        t = fit_temperature(np.asarray([[1 - p, p] for _, p in others]), [y for y, _ in others])
        mine = np.asarray([[1 - p, p] for _, p in folds[k]])
        calibrated = apply_temperature(mine, t)
        assert cross.per_fold[k + 1].temperature == pytest.approx(t)
        got = [r.probs for r in rows if r.fold == k + 1 and r.split == "val"]
        assert np.allclose(got, calibrated, atol=1e-9)
        expected.append(calibrated)
    y_all = [y for pairs in folds for y, _ in pairs]
    ece = expected_calibration_error(np.concatenate(expected), y_all)
    cal = metrics["calibration"]
    assert cal["ece_after"] == pytest.approx(ece)
    assert "cross-fitted" in cal["ece_after_how"]
    assert cal["ece_after"] != pytest.approx(cal["ece_after_in_sample"])


def test_predictions_csv_carries_calibrated_and_raw_probabilities_for_every_row(tmp_path):
    _cross, rows, _metrics = _run(calibrate=True)
    path = tmp_path / "predictions.csv"
    write_predictions(path, rows, CLASSES)
    with path.open() as fh:
        read = list(csv.DictReader(fh))
    assert {"p_WT", "p_MUT", "p_WT_raw", "p_MUT_raw", "threshold"} <= set(read[0])
    assert not any(k.startswith("prob_") for k in read[0])
    by_key = {(r.item_id, r.fold): r for r in rows}
    for line in read:
        row = by_key[(int(line["item_id"]), int(line["fold"]))]
        assert float(line["p_MUT"]) == pytest.approx(row.probs[1], abs=1e-6)
        assert float(line["p_MUT_raw"]) == pytest.approx(row.uncalibrated[1], abs=1e-6)
    back = read_predictions(path, CLASSES)
    got = np.asarray([r.uncalibrated for r in back])
    assert np.allclose(got, [r.uncalibrated for r in rows], atol=1e-5)
    assert [r.predicted() for r in back] == [r.predicted() for r in rows]


def test_an_earlier_run_folder_with_prob_columns_still_reads(tmp_path):
    path = tmp_path / "predictions.csv"
    path.write_text(
        "item_id,fold,split,true,prob_WT,prob_MUT,predicted\n"
        "1,1,val,MUT,0.2,0.8,MUT\n"
        "1,0,val,MUT,0.3,0.7,MUT\n",
        encoding="utf-8",
    )
    rows = read_predictions(path, CLASSES)
    assert [r.probs for r in rows] == [[0.2, 0.8], [0.3, 0.7]]
    assert rows[0].true == 1 and rows[0].uncalibrated == [0.2, 0.8]
