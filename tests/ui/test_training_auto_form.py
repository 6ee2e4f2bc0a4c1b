"""The training form's Auto default (None = Auto decides in the engine) and the metrics
table's threshold display."""

from __future__ import annotations

from medview.ui.metrics_table import METRIC_COLUMNS, MetricsTable
from medview.ui.training_form import AUTO, QUICK, TrainingForm
from medview.ui.training_presets import THOROUGH
from training.recipe.config import TrainConfig


def test_the_form_defaults_to_auto_and_leaves_the_choices_to_the_engine(qtbot) -> None:
    form = TrainingForm()
    qtbot.addWidget(form)
    assert form.preset_box.currentText() == AUTO
    config = form.config(kind="3d")
    for key in ("model", "epochs", "batch_size", "lr", "size", "augment"):
        assert config[key] is None, key  # Auto chooses from the data and the device
    assert config["effort"] == "standard" and config["kind"] == "3d"
    TrainConfig.from_dict({"project": "p", **config}).validate()
    assert form.batch_spin.text() == "Auto" and form.epochs_spin.text() == "Auto"
    form.apply_preset(QUICK)
    assert form.config()["effort"] == "quick" and form.config()["folds"] == 3
    form.apply_preset(THOROUGH)
    assert form.config()["effort"] == "thorough" and form.config()["folds"] == 5
    form.set_values({"batch_size": 64, "epochs": 12})  # a value given always wins
    config = form.config()
    assert (config["batch_size"], config["epochs"]) == (64, 12)
    assert form.preset_box.currentIndex() == -1  # shown as Custom (edited)
    form.reset()
    assert form.preset_box.currentText() == AUTO and form.config()["batch_size"] is None


def test_the_metrics_table_says_which_threshold_each_row_uses(qtbot) -> None:
    table = MetricsTable("Fold")
    qtbot.addWidget(table)
    fold = {"n_val": 10, "accuracy": 0.8, "roc_auc": 0.9, "threshold": 0.5}
    table.set_row("1", fold)
    table.set_row("2", fold)
    test = {
        "n_val": 20, "accuracy": 0.9, "roc_auc": 0.95, "threshold": 0.37,
        "at_0.5": {"n": 20, "accuracy": 0.75, "roc_auc": 0.95},
    }  # fmt: skip
    table.set_extra_row("test (2 models)", test)
    text = table.table_text()
    header = text[0]
    col = header.index("Threshold")
    acc = header.index("Accuracy")
    rows = {r[0]: r for r in text[1:]}
    assert rows["1"][col] == "0.500"
    assert rows["test (2 models), chosen threshold"][col] == "0.370"
    assert rows["test (2 models), chosen threshold"][acc] == "0.900"
    assert rows["test (2 models) @ 0.5"][col] == "0.500"
    assert rows["test (2 models) @ 0.5"][acc] == "0.750"
    assert "out-of-fold" in table.horizontalHeaderItem(col).toolTip()
    table.set_extra_row("test (2 models)", test)  # set again: still two rows, not four
    assert len(table.table_text()) == 1 + 3 + 2
    assert any(key == "threshold" for key, _, _ in METRIC_COLUMNS)


def test_each_threshold_cell_says_where_it_was_chosen(qtbot) -> None:
    table = MetricsTable("Fold")
    qtbot.addWidget(table)
    where = "out-of-fold predictions of folds 2, 3 (40 items)"
    table.set_row("1", {"accuracy": 0.75, "threshold": 0.575, "threshold_chosen_on": where})
    table.set_row("2", {"accuracy": 0.8, "threshold": 0.5, "threshold_chosen_on": "no other folds"})
    test = {
        "accuracy": 0.9,
        "threshold": 0.47,
        "threshold_chosen_on": "all out-of-fold predictions",
    }
    table.set_extra_row("test", {**test, "at_0.5": {"accuracy": 0.8}})
    col = [key for key, _, _ in METRIC_COLUMNS].index("threshold") + 1
    assert table.item(0, col).toolTip() == f"chosen on the {where}"
    assert table.item(1, col).toolTip() == "no other folds"
    assert table.item(3, col).toolTip() == "chosen on the all out-of-fold predictions"
    assert "other folds" in table.horizontalHeaderItem(col).toolTip()


def test_the_protocol_preset_chooses_nothing_for_the_user(qtbot) -> None:
    from medview.ui.training_presets import PROTOCOL

    form = TrainingForm()
    qtbot.addWidget(form)
    names = [form.preset_box.itemText(i) for i in range(form.preset_box.count())]
    assert names[:4] == [QUICK, AUTO, THOROUGH, PROTOCOL]  # beside Auto's three efforts
    form.apply_preset(PROTOCOL)
    config = form.config(kind="2d")
    assert config["auto"] is False and config["augment"] == "none"  # --no-auto, no flips
    assert (config["epochs"], config["batch_size"], config["lr"]) == (30, 8, 1e-3)
    cfg = TrainConfig.from_dict({"project": "p", **config}).with_defaults()
    assert (cfg.optimizer, cfg.scheduler, cfg.weight_decay, cfg.ema, cfg.tta) == (
        "adam", "none", 0.0, False, False,
    )  # fmt: skip
    form.apply_preset(AUTO)
    assert form.config()["auto"] is True  # back to Auto
