"""A slice-mode run in the window's metrics tables: fold rows say they are per volume, and the
"Slice / volume / patient" tab holds one row per level, named by level."""

from __future__ import annotations

from medview.ui.plots import LivePlots


def _level(auc: float, n: int) -> dict:
    summary = {"roc_auc": {"mean": auc, "std": 0.0, "n": 2}, "accuracy": {"mean": 0.5}}
    return {"summary": summary, "n_val": n, "test": None, "pooled": {"roc_auc": auc}}


def test_the_table_shows_the_three_levels_side_by_side(qtbot) -> None:  # noqa: ANN001
    plots = LivePlots()
    qtbot.addWidget(plots)
    plots.reset(["WT", "MUT"], [1, 2], 2)
    metrics = {
        "classes": ["WT", "MUT"], "model": "vgg16", "unit": "volume", "folds": [],
        "summary": {"roc_auc": {"mean": 0.8, "std": 0.1}},
        "levels": {"slice": _level(0.65, 408), "volume": _level(0.86, 24),
                   "patient": _level(0.89, 12)},
    }  # fmt: skip
    plots.set_final(metrics)
    table = plots.levels  # its own tab, shown (and brought up) for a slice-mode run
    assert plots.tables.isTabVisible(2) and plots.tables.currentWidget() is table
    names = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert names == [
        "slice level, mean of folds (408 slices)",
        "volume level, mean of folds (24 volumes)",
        "patient level, mean of folds (12 patients)",
    ]
    auc_column = 1 + [t.text() for t in map(table.horizontalHeaderItem, range(1, 10))].index(
        "ROC AUC"
    )
    assert [table.item(r, auc_column).text() for r in range(3)] == ["0.650", "0.860", "0.890"]
    assert plots.table.horizontalHeaderItem(0).text() == "Fold (volumes)"
    assert "slice 0.650, volume 0.860, patient 0.890" in plots.summary_label.text()
    plots.set_final({"classes": ["WT", "MUT"], "model": "x", "folds": []})  # a plain run
    assert plots.table.horizontalHeaderItem(0).text() == "Fold"
    assert not plots.tables.isTabVisible(2) and not table.rows


def test_n_val_is_the_validated_count_and_the_test_row_has_its_own() -> None:
    from medview.ui.level_rows import level_rows

    slices = _level(0.7, 40)
    slices["n_test"] = 40
    slices["test"] = {"roc_auc": 0.6, "n": 40}
    rows = dict(level_rows({"levels": {"slice": slices}}))
    assert rows["slice level, mean of folds (40 slices)"]["n_val"] == 40  # not 80
    assert rows["slice level, test"]["n_val"] == 40
    # A run from before n_val: its "n" was validation and test together, so no count shown.
    old = {"summary": slices["summary"], "n": 80, "test": None}
    assert dict(level_rows({"levels": {"slice": old}})) == {
        "slice level, mean of folds": {"roc_auc": 0.7, "accuracy": 0.5, "threshold": 0.5,
                                       "n_val": None}
    }  # fmt: skip
