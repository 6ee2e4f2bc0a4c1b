"""The results' "Per class" tab (multiclass runs) and the weighted F1 column."""

from __future__ import annotations

import json

import numpy as np

from medview.ui.plots import LivePlots
from training.report import PredRow, compute_metrics

CLASSES = ["benign", "malignant", "normal"]


def _metrics(classes: list[str]) -> dict:
    rng = np.random.default_rng(1)
    rows, item = [], 0
    for fold in (1, 2, 3, 0):
        for k in range(9):
            true = k % len(classes)
            probs = rng.dirichlet(np.ones(len(classes)))
            probs[true] += 1.5 if k < 6 else 0
            split = "val" if fold else "test"
            rows.append(PredRow(item, fold, split, true, list(probs / probs.sum())))
            item += 1
    info = [{"fold": f, "n_train": 18} for f in (1, 2, 3)]
    return {"classes": classes, "model": "resnet18", **compute_metrics(classes, info, rows)}


def _load(qtbot, tmp_path, metrics: dict) -> LivePlots:
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    plots = LivePlots()
    qtbot.addWidget(plots)
    assert plots.load_run(tmp_path)
    return plots


def _cell(table, row_name: str, title: str) -> str:
    header = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    for r in range(table.rowCount()):
        if table.item(r, 0) is not None and table.item(r, 0).text() == row_name:
            return table.item(r, header.index(title)).text()
    raise AssertionError(f"no row {row_name!r}")


def test_a_multiclass_run_shows_each_class_for_folds_and_test(qtbot, tmp_path) -> None:
    metrics = _metrics(CLASSES)
    plots = _load(qtbot, tmp_path, metrics)
    assert plots.tables.isTabVisible(1)
    blocks = plots.per_class.blocks()
    assert [title for title, _ in blocks] == [
        "Validation folds (mean ± std over 3 folds)",
        "Test split (ensemble of 3 models)",
    ]
    folds_rows = dict(blocks[0][1])
    recall = [fm["per_class"]["malignant"]["recall"] for fm in metrics["folds"]]
    expected = f"{np.mean(recall):.3f} ± {np.std(recall, ddof=1):.3f}"
    assert folds_rows["malignant"]["recall"] == expected
    assert folds_rows["malignant"]["support"] == "9"  # 3 per fold, over the 3 folds
    summary = metrics["per_class_summary"]["malignant"]["recall"]  # the engine agrees
    assert expected == f"{summary['mean']:.3f} ± {summary['std']:.3f}"
    test_rows = dict(blocks[1][1])
    f1 = metrics["test"]["per_class"]["normal"]["f1"]
    assert test_rows["normal"]["f1"] == f"{f1:.3f}"
    assert test_rows["weighted average"]["f1"] == f"{metrics['test']['f1_weighted']:.3f}"
    # Shown side by side: a row per class, the folds' columns then the test's.
    table = plots.per_class
    assert _cell(table, "benign", "Precision\nfolds") == folds_rows["benign"]["precision"]
    assert _cell(table, "normal", "F1\ntest") == test_rows["normal"]["f1"]
    assert table.rowCount() == 5  # 3 classes, macro, weighted
    # The folds table: weighted F1 beside the macro F1.
    column = [plots.table.horizontalHeaderItem(c).text() for c in range(plots.table.columnCount())]
    weighted = column.index("F1 weighted")
    assert not plots.table.isColumnHidden(weighted)
    assert _cell(plots.table, "1", "F1 weighted") == f"{metrics['folds'][0]['f1_weighted']:.3f}"
    path = plots.per_class.save_csv(tmp_path / "per_class.csv")
    assert "malignant" in path.read_text() and "weighted average" in path.read_text()


def test_a_binary_run_has_no_per_class_tab_or_weighted_column(qtbot, tmp_path) -> None:
    plots = _load(qtbot, tmp_path, _metrics(["WT", "MUT"]))
    assert not plots.tables.isTabVisible(1)
    column = [plots.table.horizontalHeaderItem(c).text() for c in range(plots.table.columnCount())]
    assert plots.table.isColumnHidden(column.index("F1 weighted"))
    assert plots.table.item(0, column.index("F1")).text() != "–"


def test_the_tab_follows_a_live_run(qtbot) -> None:
    classes = CLASSES
    from medview.core import messages as msg

    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(classes, [1, 2], 2)
    assert plots.tables.isTabVisible(1) and not plots.per_class.has_data
    fold = _metrics(classes)["folds"][0]
    plots.add_fold(msg.FoldDone("r", 1, {k: v for k, v in fold.items() if k != "roc"}, None))
    assert dict(plots.per_class.blocks()[0][1])["benign"]["recall"] == (
        f"{fold['per_class']['benign']['recall']:.3f}"
    )
