"""One run in view (issue 26): the user pins it; a study's run finishing later does not take
the item list over; every view follows the pin and reopening keeps it."""

from __future__ import annotations

from pathlib import Path

import pytest
from projects import make_image_project
from training_helpers import write_fake_run

from medview.core.project import Project
from medview.ui.main_window import MainWindow
from medview.ui.run_history import IN_VIEW, NOT_IN_VIEW, VIEW_COLUMN
from medview.ui.settings import Settings


def _run_with_predictions(project: Project, run_id: str, p_mut: float, study: bool = False):
    """A finished run (weights on disk) whose fold-0 predictions give every item P(MUT), and
    whose mean accuracy (in the plots' table) is P(MUT) - 0.075."""
    write_fake_run(project, run_id, p_mut)
    if study:  # as training/studies/study.py links its runs
        project.create_study("study-1", "compare", {})
        with project._transaction() as db:
            db.execute("UPDATE runs SET study_id = 'study-1' WHERE id = ?", (run_id,))
    (project.runs_dir / run_id / "fold1.safetensors").write_bytes(b"")
    pred = "MUT" if p_mut >= 0.5 else "WT"
    rows = [(it.id, 0, None, [1 - p_mut, p_mut], pred) for it in project.items()]
    project.add_predictions(run_id, rows)
    lines = ["item_id,item_name,fold,split,true,prob_WT,prob_MUT,predicted"]
    lines += [
        f"{it.id},{it.name},1,val,{it.label},{1 - p_mut},{p_mut},{pred}" for it in project.items()
    ]
    (project.runs_dir / run_id / "predictions.csv").write_text("\n".join(lines) + "\n")


def _table_texts(table) -> set[str]:  # noqa: ANN001
    return {
        table.item(r, c).text()
        for r in range(table.rowCount())
        for c in range(table.columnCount())
        if table.item(r, c) is not None
    }


@pytest.fixture
def window(qtbot, tmp_path: Path):
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    yield win
    win.training_panel.shutdown()
    win.close_project()


def _shown_p(window: MainWindow) -> set[float]:
    model = window.browser.model
    return {round(p.probabilities[1], 2) for it in model.items() if (p := model.prediction(it.id))}


def test_a_study_run_does_not_take_the_list_and_one_click_changes_the_pin(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    project = make_image_project(tmp_path, 12, shape=(16, 16))
    _run_with_predictions(project, "20260101-000000-mine", 0.8)
    project.set_run_in_view("20260101-000000-mine")  # as a run finished from the dock does
    window.set_project(project)
    panel = window.training_panel
    assert panel.run_id == "20260101-000000-mine" and _shown_p(window) == {0.8}
    assert "0.725 ± 0.035" in _table_texts(panel.plots.table)
    assert "20260101-000000-mine" in panel.run_label.text()

    # A throwaway study run ends later, with newer predictions: nothing in view changes.
    _run_with_predictions(project, "20260102-000000-study", 0.3, study=True)
    done: list[bool] = []
    panel.refresh_predictions(lambda: done.append(True))
    qtbot.waitUntil(lambda: bool(done))
    window.browser.model.refresh_predictions()  # as the project watcher does
    assert _shown_p(window) == {0.8} and panel.run_id == "20260101-000000-mine"
    clicks = window.training.result_clicks
    assert clicks.run_id == "20260101-000000-mine"

    # One click on the study run's ○ in Run history puts it in view, everywhere.
    history = panel.history
    history.refresh()
    row = [r.id for r in history.runs].index("20260102-000000-study")
    assert history.table.item(row, VIEW_COLUMN).text() == NOT_IN_VIEW
    history.table.cellClicked.emit(row, VIEW_COLUMN)
    qtbot.waitUntil(lambda: _shown_p(window) == {0.3})
    assert panel.run_id == "20260102-000000-study" and "20260102-000000-study" in (
        panel.run_label.text()
    )
    assert clicks.run_id == "20260102-000000-study"  # confusion filters follow it
    assert "0.225 ± 0.035" in _table_texts(panel.plots.table)  # the plots show its metrics
    assert history.table.item(row, VIEW_COLUMN).text() == IN_VIEW

    # Reopening keeps the pin.
    folder = project.folder
    window.close_project()
    assert window.open_project(folder)
    assert window.training_panel.run_id == "20260102-000000-study"
    assert _shown_p(window) == {0.3}


def test_a_project_without_a_pin_shows_its_newest_own_run_not_a_study_run(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:
    project = make_image_project(tmp_path, 12, shape=(16, 16))
    _run_with_predictions(project, "20260101-000000-mine", 0.8)
    _run_with_predictions(project, "20260102-000000-study", 0.3, study=True)
    window.set_project(project)
    assert window.training_panel.run_id == "20260101-000000-mine"
    assert _shown_p(window) == {0.8}
