"""The quick check learns: on the bundled example at its real size (40
volumes, 40 colour images from ``medview.demo``), the window's Quick check preset (Auto,
``quick``, 3 folds) reaches accuracy >= 0.90 and AUC >= 0.95 on the 3D and on the 2D half.

Accuracy is what the run reports at its chosen threshold (Youden on the pooled out-of-fold
predictions, docs/auto.md), also checked at 0.5 per fold, so that a model whose outputs sit at
0.5 (the failure this test guards against) cannot pass on its ranking alone.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # two real quick checks: about a minute each on 2 CPU cores


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    from medview.demo import create_demo_project

    folder = tmp_path_factory.mktemp("example") / "example.medview"
    create_demo_project(folder).close()
    return folder


@pytest.mark.parametrize("kind", ["3d", "2d"])
def test_the_quick_check_learns_the_bundled_example(example, kind):
    from training.engine.api import run_training
    from training.recipe.config import TrainConfig

    cfg = TrainConfig(project=str(example), kind=kind, effort="quick", folds=3)
    outcome = run_training(cfg)
    assert outcome.status == "finished", outcome.error
    summary, calibration = outcome.metrics["summary"], outcome.metrics["calibration"]
    assert summary["roc_auc"]["mean"] >= 0.95
    assert calibration["oof_cross_fitted"]["roc_auc"] >= 0.95  # the folds agree on a scale
    # Cross-fitted (each fold at the threshold chosen on the others): measured 1.0 (2D) and
    # 0.90 (3D) on 2 CPU cores, where the in-sample pooled threshold gave 1.0 and 0.95.
    assert calibration["oof_cross_fitted"]["accuracy"] >= 0.85
    assert summary["accuracy"]["mean"] >= 0.8  # per fold at 0.5: outputs do not sit at 0.5
