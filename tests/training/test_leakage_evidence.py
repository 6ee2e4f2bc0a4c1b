"""A leakage warning names specific evidence (a label the file format, size, folder or name
gives away; copies and groups across a split are the split audit's); a high AUC alone is not
a warning (issue 26)."""

from __future__ import annotations

from medview.core.item import Item
from training.engine.report import PredRow, compute_metrics
from training.recipe import label_giveaway

CLASSES = ["WT", "MUT"]


def _item(k: int, label: str, path: str, shape=(1, 64, 64)) -> Item:
    return Item(
        k,
        path.rsplit("/", 1)[-1],
        "2d",
        "raster",
        [path],
        [path],
        shape,
        (1, 1, 1),
        1,
        f"h{k}",
        label=label,
    )


def _items(wt: str, mut: str, wt_shape=(1, 64, 64), mut_shape=(1, 64, 64)) -> list[Item]:
    out = []
    for k in range(4):
        out.append(_item(2 * k, "WT", wt.format(k=k), wt_shape))
        out.append(_item(2 * k + 1, "MUT", mut.format(k=k), mut_shape))
    return out


def test_perfect_separation_alone_is_not_a_warning():
    rows = [PredRow(k, 1, "val", k % 2, [0.9, 0.1] if k % 2 == 0 else [0.1, 0.9]) for k in range(8)]
    rows += [
        PredRow(k, 2, "val", k % 2, [0.8, 0.2] if k % 2 == 0 else [0.2, 0.8]) for k in range(8, 16)
    ]
    metrics = compute_metrics(CLASSES, [{"fold": 1}, {"fold": 2}], rows)
    assert metrics["folds"][0]["roc_auc"] == 1.0
    assert metrics["warnings"] == []
    # The bundled example's layout: one folder per class, same format and size.
    assert label_giveaway.warnings(_items("/d/WT/c{k}.png", "/d/MUT/c{k}.png"), CLASSES) == []


def test_a_file_format_that_gives_the_label_away_is_named():
    found = label_giveaway.warnings(_items("/d/WT/c{k}.png", "/d/MUT/c{k}.jpg"), CLASSES)
    assert len(found) == 1
    assert found[0].startswith("possible leakage: the file format gives the label away")
    assert "WT: .png" in found[0] and "MUT: .jpg" in found[0]


def test_an_image_size_and_a_folder_that_give_the_label_away_are_named():
    items = _items("/d/siteA/c{k}.png", "/d/siteB/c{k}.png", mut_shape=(1, 128, 128))
    found = label_giveaway.warnings(items, CLASSES)
    assert any("image size" in w and "MUT: 128×128" in w and "WT: 64×64" in w for w in found)
    assert any("folder" in w and "WT: siteA/" in w and "MUT: siteB/" in w for w in found)


def test_a_file_name_that_gives_the_label_away_is_named():
    found = label_giveaway.warnings(_items("/d/all/WT_{k}.png", "/d/all/MUT_{k}.png"), CLASSES)
    assert len(found) == 1 and "file name gives the label away" in found[0]
    assert "'WT_0.png'" in found[0]


def test_photos_of_every_size_are_not_evidence():
    items = [_item(k, CLASSES[k % 2], f"/d/x/i{k}.png", (1, 100 + k, 80 + k)) for k in range(10)]
    assert label_giveaway.warnings(items, CLASSES) == []
