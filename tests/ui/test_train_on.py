"""The form's Train on rows: "2D model on slices of the 3D volumes" sets slice mode's
TrainConfig fields, Run again's values come back, and the plan check speaks of slice mode."""

from __future__ import annotations

from pathlib import Path

from projects import make_slice_project

from medview.ui.training_form import TrainingForm
from training.recipe.config import TrainConfig
from training.recipe.plan import check_plan


def test_slices_choice_sets_the_slice_fields_and_round_trips(qtbot) -> None:  # noqa: ANN001
    form = TrainingForm()
    qtbot.addWidget(form)
    kind = form.editors["kind"]
    assert form.config()["slices"] is None
    assert not form.editors["slices"].widget.isEnabled()
    kind.set_value("slices")  # Train on: 2D model on slices of the 3D volumes
    form._update_enabled()
    assert kind.widget.currentText() == "2D model on slices of the 3D volumes"
    assert form.editors["slices"].widget.isEnabled()
    config = form.config()
    assert (config["kind"], config["slices"], config["slice_aggregate"]) == ("3d", "all", "mean")
    form.set_values({"slices": "middle:8", "slice_aggregate": "max", "model": "vgg16"})
    config = form.config()
    assert (config["slices"], config["slice_aggregate"]) == ("middle:8", "max")
    TrainConfig.from_dict({"project": "p", **config}).validate()  # the engine takes it
    other = TrainingForm()
    qtbot.addWidget(other)
    other.set_values(config)  # Run again: config.json back in the form
    assert other.config()["slices"] == "middle:8" and kind.value() == "slices"
    assert other.editors["kind"].value() == "slices"
    other.set_values({"slices": None, "kind": "2d"})
    assert other.config()["slices"] is None and other.config()["kind"] == "2d"


def test_the_plan_check_names_volumes_without_a_key_slice(tmp_path: Path) -> None:
    project = make_slice_project(tmp_path, 6)
    first = project.items()[0]
    project.set_key_slice(first.id, 0, 4)
    plan = check_plan(project, {"model": "vgg16", "slices": "key", "folds": 2})
    assert plan.ok and plan.kind == "3d"
    assert any("5 of 6 volumes have no key slice" in w for w in plan.warnings)
    assert first.name not in " ".join(plan.warnings)
    assert plan.text().startswith("✓ ready: 6 labelled 3d volumes, 2D on the key slice of each")
    plan = check_plan(project, {"model": "vgg16", "folds": 2})  # no slice mode: refused
    assert not plan.ok
    project.close()


def test_the_panel_says_how_many_settings_auto_chooses_and_lists_them_on_hover(
    qtbot, tmp_path: Path
) -> None:  # noqa: ANN001
    """The list of Auto's choices (one line each, ~10) filled the Training dock at its default
    height and pushed the form out of sight: the panel says the count, the tooltip the list."""
    from medview.ui.main_window import MainWindow
    from medview.ui.settings import Settings

    project = make_slice_project(tmp_path, 6)
    window = MainWindow(Settings())
    qtbot.addWidget(window)
    window.set_project(project)
    panel = window.training_panel
    panel.form.set_values({"slices": "middle:8", "kind": "slices", "model": None, "folds": 2})
    plan = panel.check()
    assert plan is not None and plan.auto_chosen
    shown = panel.plan_label.text()
    assert f"Auto chooses {len(plan.auto_chosen)} settings you did not set" in shown
    assert "·" not in shown and "2D on the middle 8 slices of each" in shown
    assert panel.plan_label.toolTip().startswith("Auto chooses (not set by you):")
    assert all(line in panel.plan_label.toolTip() for line in plan.auto_chosen)
    panel.shutdown()
    window.close_project()
