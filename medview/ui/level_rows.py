"""Slice-mode runs in the metrics table: the slice, volume and patient levels side by side.

metrics.json of a slice-mode run (training/slice_report.py) has ``levels``: each level's mean
over folds, pooled out-of-fold and test metrics at threshold 0.5. The fold rows above them are
volume-level (the run's unit); these rows say which level each number is.
"""

from __future__ import annotations

from typing import Any

LEVELS = (("slice", "slices"), ("volume", "volumes"), ("patient", "patients"))


def level_rows(metrics: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(row name, metrics) for the table's rows below the mean; [] for other runs."""
    levels = metrics.get("levels")
    if not isinstance(levels, dict):
        return []
    rows = []
    for level, plural in LEVELS:
        found = levels.get(level)
        if not isinstance(found, dict):
            continue
        summary = found.get("summary") or {}
        means = {k: v.get("mean") for k, v in summary.items() if isinstance(v, dict)}
        n = found.get("n")
        rows.append(
            (
                f"{level} level, mean of folds ({n} {plural})",
                {**means, "threshold": 0.5, "n_val": n},
            )
        )
        test = found.get("test")
        if isinstance(test, dict):
            rows.append((f"{level} level, test", {**test, "n_val": test.get("n")}))
    return rows


def level_summary(metrics: dict[str, Any]) -> str:
    """' — AUC by level: slice 0.81, volume 0.86, patient 0.90' for the summary line."""
    levels = metrics.get("levels")
    if not isinstance(levels, dict):
        return ""
    parts = []
    for level, _ in LEVELS:
        auc = ((levels.get(level) or {}).get("summary") or {}).get("roc_auc") or {}
        if auc.get("mean") is not None:
            parts.append(f"{level} {auc['mean']:.3f}")
    return f"<br>AUC by level (mean of folds): {', '.join(parts)}" if parts else ""
