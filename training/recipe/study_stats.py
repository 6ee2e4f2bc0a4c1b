"""The paired statistics of a study: its best model (highest mean CV AUC) against each other
finished one, by a paired t-test on the per-fold AUCs and DeLong's test on the pooled
out-of-fold predictions (training/recipe/stats.py), with the plain sentence for each pair.

A difference is stated only between two models that both learned (the 95% t-interval of their
fold AUCs lies above 0.5); otherwise the sentence says "not comparable" and why. The best
model against k others is k tests per test kind: their p-values are Holm-adjusted over the
pairs compared, and the sentence names the correction.
"""

from __future__ import annotations

import math
from typing import Any

from medview.core import csv_cells
from medview.core.project import Project
from medview.core.run_folder import PREDICTIONS
from training.recipe import stats


def oof_scores(project: Project, row: dict[str, Any]) -> dict[int, tuple[int, float]]:
    """Each cross-validated item's out-of-fold probability of the positive class (binary): the
    model's own output (``p_<class>_raw``; ``prob_<class>`` in runs before issue 26), whose
    pooled ranking no per-fold calibration changes."""
    classes = row.get("classes") or []
    if len(classes) != 2:
        return {}
    path = project.runs_dir / row["run_id"] / PREDICTIONS
    out: dict[int, tuple[int, float]] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            for r in csv_cells.DictReader(fh):
                if r["fold"] == "0" and r["split"] == "val" and r["true"]:
                    raw = r.get(f"p_{classes[1]}_raw") or r[f"prob_{classes[1]}"]
                    out[int(r["item_id"])] = (classes.index(r["true"]), float(raw))
    except (OSError, ValueError, KeyError):
        return {}
    return out


def paired_statistics(project: Project, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The best model (highest mean CV AUC) against each other finished one. A pair is
    compared only when both models learned (CV AUC t-interval above 0.5); the p-values of the
    pairs compared are Holm-adjusted over them, per test."""
    done = [r for r in rows if r["status"] == "finished" and r.get("cv_auc_mean") is not None]
    if len(done) < 2:
        return {"best": done[0]["run_id"] if done else None, "pairs": []}
    best = max(done, key=lambda r: r["cv_auc_mean"])
    best_oof = oof_scores(project, best)
    pairs = []
    for other in done:
        if other is best:
            continue
        pair = _fold_comparison(best, other, rows)
        pair.update(_delong_comparison(best_oof, oof_scores(project, other)))
        pair["not_comparable"] = _not_learned(best, other, pair)
        pairs.append(pair)
    _holm(pairs)
    for pair in pairs:
        pair["sentence"] = _sentence(pair)
    return {"best": best["run_id"], "pairs": pairs}


def _not_learned(best: dict[str, Any], other: dict[str, Any], pair: dict[str, Any]) -> str | None:
    """Why the pair is not compared (a model that did not learn), or None."""
    for row, label in ((best, pair["best_label"]), (other, pair["other_label"])):
        ci = row.get("cv_auc_ci")
        if ci is None:
            return f"whether {label} learned cannot be told from one fold (no CV AUC interval)"
        if ci[0] <= 0.5:
            return f"model {label} did not learn (CV AUC CI includes 0.5)"
    return None


def _holm(pairs: list[dict[str, Any]]) -> None:
    """``fold_p_holm`` and ``delong_p_holm``: each test's p-values Holm-adjusted over the
    pairs compared (the best model against several others is several tests)."""
    compared = [p for p in pairs if not p["not_comparable"]]
    for key in ("fold_p", "delong_p"):
        adjusted = stats.holm([p[key] for p in compared])
        for pair, q in zip(compared, adjusted, strict=True):
            pair[f"{key}_holm"] = q
        for pair in pairs:
            pair.setdefault(f"{key}_holm", None)
        for pair in compared:
            pair["holm_pairs"] = len(compared)


def _fold_comparison(
    best: dict[str, Any], other: dict[str, Any], rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """The paired test on the AUCs of the folds both runs have."""
    folds = sorted(set(best["fold_aucs"]) & set(other["fold_aucs"]))
    a = [best["fold_aucs"][f] for f in folds]
    b = [other["fold_aucs"][f] for f in folds]
    a_f = [math.nan if v is None else v for v in a]
    b_f = [math.nan if v is None else v for v in b]
    fold_test = stats.paired_fold_test(a_f, b_f)
    return {
        "best": best["run_id"],
        "other": other["run_id"],
        "best_label": _label(best, rows),
        "other_label": _label(other, rows),
        "folds": folds,
        "fold_test": fold_test.test,
        "fold_mean_difference": fold_test.mean_difference,
        "fold_t": fold_test.statistic,
        "fold_p": fold_test.p_value,
    }


def _delong_comparison(
    best_oof: dict[int, tuple[int, float]], other_oof: dict[int, tuple[int, float]]
) -> dict[str, Any]:
    """DeLong's test on the out-of-fold predictions of the items both runs scored (binary)."""
    common = sorted(set(best_oof) & set(other_oof))
    out: dict[str, Any] = {"delong_n": len(common)}
    out["delong_p"] = out["delong_auc_best"] = out["delong_auc_other"] = None
    if common and len({best_oof[i][0] for i in common}) == 2:
        y = [best_oof[i][0] for i in common]
        d = stats.delong_test(
            y, [best_oof[i][1] for i in common], [other_oof[i][1] for i in common]
        )
        out.update(
            delong_auc_best=d.auc_a,
            delong_auc_other=d.auc_b,
            delong_z=d.z,
            delong_p=d.p_value,
        )
    return out


def _label(row: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The model's name, or the run id when several rows share a model (a search's trials)."""
    same = [r for r in rows if r["model"] == row["model"]]
    return str(row["model"]) if len(same) == 1 else str(row["run_id"])


def _sentence(pair: dict[str, Any]) -> str:
    """One sentence per pair, naming both tests and the correction: significant only when a
    (Holm-adjusted) test says so, and only between two models that both learned."""
    best, other = pair["best_label"], pair["other_label"]
    if pair["not_comparable"]:
        return f"{best} vs {other}: not comparable: {pair['not_comparable']}"
    fold_p, delong_p = pair["fold_p_holm"], pair["delong_p_holm"]
    n = pair.get("holm_pairs", 1)
    adjusted = f", Holm-adjusted over {n} pairs" if n > 1 else ""
    fold = stats.verdict(best, other, fold_p, pair["fold_mean_difference"])
    parts = [f"paired t-test on {len(pair['folds'])} fold AUCs {stats.format_p(fold_p)}{adjusted}"]
    if delong_p is not None:
        parts.append(
            f"DeLong on pooled out-of-fold predictions {stats.format_p(delong_p)}{adjusted}"
        )
    diff_delong = (pair.get("delong_auc_best") or 0) - (pair.get("delong_auc_other") or 0)
    sig_fold = fold_p is not None and fold_p < stats.ALPHA
    sig_delong = delong_p is not None and delong_p < stats.ALPHA
    if sig_fold == sig_delong:
        head = fold.split(" (")[0] if fold_p is not None else None
        if head is None:
            head = stats.verdict(best, other, delong_p, diff_delong).split(" (")[0]
    else:
        which = "DeLong" if sig_delong else "the paired t-test"
        head = f"{best} vs {other}: significant by {which} only"
    return f"{head} ({'; '.join(parts)})"
