"""The window's "Compare models…" dialog starts a study with the REAL worker process and the
study view fills in; a search's best settings go into the form in one click."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from projects import make_image_project as make_project_2d
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QLabel

from medview.ui.main_window import MainWindow  # noqa: E402
from medview.ui.settings import Settings  # noqa: E402
from medview.ui.study_dialog import CompareDialog, TuneDialog, open_compare_dialog  # noqa: E402
from medview.ui.study_view import StudyView  # noqa: E402
from medview.ui.training_panel import TrainingPanel  # noqa: E402

TINY = {"model": "cnn_small", "epochs": 1, "folds": 2, "batch_size": 4, "size": 16}
QUICK = {"threads": 1, "predict_unlabelled": False, "precise_bn": False}


@pytest.fixture
def window(qtbot, tmp_path: Path):
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.show()
    win.set_project(make_project_2d(tmp_path))
    panel: TrainingPanel = win.training_panel
    panel.form.set_values({**TINY, "augment": "none"})
    panel.session.overrides = dict(QUICK)
    yield win
    for view in win.study_views:
        if view.bridge is not None:
            view.bridge.kill()
    panel.shutdown()
    win.close_project()


def when_shown(window: MainWindow, act: Callable[[CompareDialog], None]) -> list[CompareDialog]:
    """Run ``act`` on the Compare dialog once its exec() shows it (the dialog is modal, as
    the user sees it); it is closed afterwards whatever ``act`` did, so exec() returns."""
    seen: list[CompareDialog] = []

    def poll(tries: int = 250) -> None:
        shown = [d for d in window.findChildren(CompareDialog) if d.isVisible()]
        if not shown:
            if tries:
                QTimer.singleShot(20, lambda: poll(tries - 1))
            return
        seen.append(shown[0])
        try:
            act(shown[0])
        finally:
            if shown[0].isVisible():
                shown[0].reject()

    QTimer.singleShot(0, poll)
    return seen


def test_compare_dialog_lists_models_with_costs(qtbot, window: MainWindow) -> None:
    panel = window.training_panel
    checked: list[bool] = []

    def check(dialog: CompareDialog) -> None:
        assert dialog.isModal()
        check_costs(dialog)
        checked.append(True)

    seen = when_shown(window, check)
    dialog = open_compare_dialog(panel)
    assert seen == [dialog] and checked == [True]
    assert dialog.result() == QDialog.DialogCode.Rejected and dialog.view is None
    tune = TuneDialog("2d", "cnn_small")
    qtbot.addWidget(tune)
    assert tune.request() == {"budget": 20, "models": ["cnn_small"]}
    tune3 = TuneDialog("3d", None)
    qtbot.addWidget(tune3)
    assert tune3.request()["space"] == "3d"
    # --train-layers exists: searched from pretrained weights, and the dialog says which.
    notes = [w.text() for w in tune.findChildren(QLabel)]
    assert not any("does not exist" in t for t in notes)
    assert any("Not searched: --train-layers is searched only from pretrained" in t for t in notes)
    tuned = TuneDialog("2d", "resnet18", pretrained="/w/resnet18.safetensors")
    qtbot.addWidget(tuned)
    assert any("Also searched: the trained layers" in w.text() for w in tuned.findChildren(QLabel))


def check_costs(dialog: CompareDialog) -> None:
    assert isinstance(dialog, CompareDialog)
    assert dialog.kind == "2d" and dialog.size == 16
    names = [dialog.table.item(r, 0).text() for r in range(dialog.table.rowCount())]
    assert "resnet18" in names and "cnn3d_small" not in names
    row = names.index("resnet18")
    assert dialog.table.item(row, 1).text() == "11.18 M"  # parameters
    assert dialog.table.item(row, 3).text().startswith("≈")  # estimated time
    dialog.set_models(["cnn_small"])
    assert not dialog.start_button.isEnabled()  # a study compares at least two
    dialog.set_models(["cnn_small", "resnet18"])
    assert dialog.start_button.isEnabled() and "2 models" in dialog.total.text()


@pytest.mark.slow
def test_compare_dialog_starts_a_study_and_the_view_fills_in(qtbot, window: MainWindow) -> None:
    panel = window.training_panel

    def start(dialog: CompareDialog) -> None:
        dialog.set_models(["cnn_small", "resnet18"])
        dialog.start_button.click()

    seen = when_shown(window, start)
    window.training.actions["training.compare"].trigger()  # Training ▸ Compare models…
    (dialog,) = seen
    view = dialog.view
    assert isinstance(view, StudyView) and view.isVisible()
    assert not panel.train_button.isEnabled() and not panel.compare_button.isEnabled()
    with qtbot.waitSignal(view.bridge.ended, timeout=600_000) as ended:
        pass
    assert ended.args[0] == "finished", view.status.text()
    assert panel.train_button.isEnabled()  # free again once the study ended
    qtbot.waitUntil(lambda: view.model.rowCount() == 2, timeout=5_000)
    header = [
        view.model.headerData(c, Qt.Orientation.Horizontal) for c in range(view.model.columnCount())
    ]
    assert header[0] == "Model" and header[1].startswith("CV AUC") and "MMACs" in header
    assert "t-interval" in header[1]  # the interval, not mean ± s.d. (issue 26); 16 px: MMACs
    models = {view.model.item(r, 0).text() for r in range(2)}
    assert models == {"cnn_small", "resnet18"}
    assert all("95% CI" in view.model.item(r, 1).text() for r in range(2))
    view.table.sortByColumn(header.index("MMACs"), Qt.SortOrder.DescendingOrder)
    first = view.proxy.index(0, 0).data()
    assert first == "resnet18"  # sorted by the number, not the text
    view.table.sortByColumn(header.index("MMACs"), Qt.SortOrder.AscendingOrder)
    assert view.proxy.index(0, 0).data() == "cnn_small"
    assert "vs" in view.stats.text() and "DeLong" in view.stats.text()
    assert len(view.roc_plot.getPlotItem().listDataItems()) == 3  # chance line + 2 models
    assert len(view.cost_plot.getPlotItem().listDataItems()) >= 2  # a point per model
    folder = panel.project.study_dir(view.study_id)
    assert (folder / "study.csv").is_file() and (folder / "roc.svg").is_file()
    assert {r.study_id for r in panel.project.study_runs(view.study_id)} == {view.study_id}


def test_apply_best_settings_of_a_search(qtbot, window: MainWindow) -> None:
    panel = window.training_panel
    view = StudyView(panel.study_host())
    qtbot.addWidget(view)
    view.report = {
        "kind": "tune",
        "tune": {"best_settings": {"lr": 0.0042, "batch_size": 16, "augment": "strong",
                                   "weight_decay": 1e-4, "model": "cnn_small"}},
    }  # fmt: skip
    view.apply_best()
    config = panel.config()
    assert config["lr"] == pytest.approx(0.0042) and config["batch_size"] == 16
    assert config["augment"] == "strong" and config["weight_decay"] == 1e-4
    assert config["model"] == "cnn_small"


def _fake_study_run(project, model: str, aucs: list[float]) -> None:
    import json

    run_id = f"s-{model}"
    project.create_run(run_id, {"model": model, "extra": {"study_id": "s"}}, model=model)
    metrics = {
        "task": "binary",
        "classes": ["WT", "MUT"],
        "folds": [{"fold": k, "roc_auc": a} for k, a in enumerate(aucs, start=1)],
        "summary": {"roc_auc": {"mean": sum(aucs) / len(aucs), "std": 0.1}},
    }
    (project.runs_dir / run_id / "metrics.json").write_text(json.dumps(metrics))
    project.finish_run(run_id, "finished", metrics)


def test_the_study_view_shows_the_clipped_interval_and_which_model_is_training(
    qtbot, window: MainWindow
) -> None:
    from medview.core import messages as msg

    project = window.project
    spec = {"models": ["a", "c", "e"], "runs": {m: f"s-{m}" for m in "ace"}, "base": {}}
    project.create_study("s", "compare", spec)
    _fake_study_run(project, "a", [0.9, 0.94, 0.88])
    _fake_study_run(project, "c", [0.05, 0.9, 0.0])  # mean ± s.d. would go below 0
    view = StudyView(window.training_panel.study_host(), "s")
    qtbot.addWidget(view)
    view.handle(msg.Started(run_id="s-e", plan=msg.RunPlan(model="e")))  # its next run starts

    headers = [
        view.model.headerData(c, Qt.Orientation.Horizontal) for c in range(view.model.columnCount())
    ]
    auc_col = next(c for c, h in enumerate(headers) if h.startswith("CV AUC"))
    assert "t-interval" in headers[auc_col] and "clipped to [0, 1]" in headers[auc_col]
    status_col = headers.index("Status")
    cells = {
        view.model.item(r, 0).text(): (
            view.model.item(r, auc_col).text(),
            view.model.item(r, status_col).text(),
        )
        for r in range(view.model.rowCount())
    }
    assert cells["c"][0].startswith("0.317 (95% CI 0.000–")
    assert cells["a"][0].startswith("0.907 (95% CI ")
    assert cells["e"][1] == "training"  # not "not run"
    assert "not comparable: model c did not learn" in view.stats.text()
