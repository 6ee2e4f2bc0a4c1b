"""Label conflicts and near-duplicates in the window: filters and the keep / label / exclude /
same-group actions."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from medview.core.project import Project
from medview.io.importer import import_sources
from medview.ui.browser import ITEM_ID_ROLE
from medview.ui.main_window import MainWindow
from medview.ui.settings import Settings


def _picture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:64, :64]
    img = np.zeros((64, 64))
    for _ in range(3):
        cy, cx, r = rng.uniform(10, 54), rng.uniform(10, 54), rng.uniform(5, 15)
        img += rng.uniform(50, 200) * (((yy - cy) ** 2 + (xx - cx) ** 2) < r * r)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def window(qtbot, tmp_path: Path):
    from PIL import Image as PILImage

    data = tmp_path / "data"
    for cls in ("WT", "MUT"):
        (data / cls).mkdir(parents=True)
    for k in range(4):
        PILImage.fromarray(_picture(k)).save(data / "WT" / f"w{k}.png")
        PILImage.fromarray(_picture(10 + k)).save(data / "MUT" / f"m{k}.png")
    shutil.copy(data / "WT" / "w0.png", data / "MUT" / "w0 copy.png")  # a label conflict
    small = PILImage.fromarray(_picture(11)).resize((48, 48))
    small.save(data / "MUT" / "m1 small.png")  # a near duplicate of m1
    project = Project.create(tmp_path / "p", ["WT", "MUT"])
    report = import_sources(project, [data], label_from="folder")
    assert len(report.label_conflicts) == 1
    win = MainWindow(Settings())
    qtbot.addWidget(win)
    win.set_project(project)
    yield win
    win.close_project()


@dataclass
class Questions:
    """The QMessageBox questions the window asked (title, text), answered from ``replies``."""

    replies: list[object] = field(default_factory=list)  # QMessageBox.StandardButton values
    asked: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def questions(monkeypatch) -> Questions:  # noqa: ANN001
    from PySide6.QtWidgets import QMessageBox

    record = Questions()

    def question(_parent, title: str, text: str, *_args, **_kwargs):  # noqa: ANN001, ANN202
        record.asked.append((title, text))
        return record.replies.pop(0)

    monkeypatch.setattr(QMessageBox, "question", question)
    return record


def _shown(win) -> list[str]:
    proxy = win.browser.proxy
    project = win.project
    return [
        project.get_item(proxy.index(r, 0).data(ITEM_ID_ROLE)).name for r in range(proxy.rowCount())
    ]  # noqa: E501


def test_conflict_filter_shows_both_and_keep_one_removes_the_other(window, questions):
    from PySide6.QtWidgets import QMessageBox

    window.browser.set_quick_filter("conflicts")
    assert sorted(_shown(window)) == ["w0", "w0 copy"]
    window.browser.select_first()
    kept = window.browser.current_id()
    questions.replies = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    assert window.duplicate_actions.keep_one() == []  # asked first: "No" removes nothing
    assert questions.asked[0][0] == "Keep one" and "Remove 1 other" in questions.asked[0][1]
    assert window.project.item_count() == 10 and sorted(_shown(window)) == ["w0", "w0 copy"]
    removed = window.duplicate_actions.keep_one()
    assert len(removed) == 1 and kept not in removed and len(questions.asked) == 2
    assert _shown(window) == []  # no conflict left
    assert window.project.item_count() == 9


def test_label_all_and_exclude_resolve_a_conflict(window):
    window.browser.set_quick_filter("conflicts")
    names = {n: i for i, n in ((it.id, it.name) for it in window.project.items())}
    window.browser.select_item(names["w0 copy"])
    window.duplicate_actions.label_all()
    assert window.project.get_item(names["w0"]).label == "MUT"
    assert _shown(window) == []
    window.undo()
    assert window.project.get_item(names["w0"]).label == "WT"
    window.browser.set_quick_filter("conflicts")
    window.browser.select_item(names["w0"])
    assert sorted(window.duplicate_actions.exclude()) == sorted([names["w0"], names["w0 copy"]])
    assert window.project.get_item(names["w0 copy"]).label is None


def test_near_duplicate_filter_and_same_group(window):
    window.browser.set_quick_filter("near")
    shown = _shown(window)
    assert {"m1", "m1 small"} <= set(shown) and {"w0", "w0 copy"} <= set(shown)
    assert len(shown) == 4
    names = {it.name: it.id for it in window.project.items()}
    window.browser.select_item(names["m1 small"])
    group = window.duplicate_actions.same_group()
    assert sorted(group) == sorted([names["m1"], names["m1 small"]])
    assert (
        window.project.get_item(names["m1"]).group
        == window.project.get_item(names["m1 small"]).group
    )  # noqa: E501


def test_training_form_option_makes_near_duplicates_split_groups(window):
    from training.config import TrainConfig

    form = window.training_panel.form
    assert form.config("2d")["near_duplicate_groups"] is False
    form.set_values({"near_duplicate_groups": True})
    config = form.config("2d")
    assert config["near_duplicate_groups"] is True
    assert TrainConfig.from_dict({"project": "x", **config}).near_duplicate_groups
