"""Training the folds of a run: one fresh model per fold (pretrained weights, frozen encoder),
fit with early stopping, best-epoch predictions for validation and test items, safetensors
weights, and a report rewritten after every fold so completed folds survive a cancel or crash.

A mixin of ``training.api._Run``: it uses the run's config, data, plan, device and reporting.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from medview.core import messages as msg
from training.data import LoadedData
from training.loop import Context, fit, predict, seed_everything, stage_data
from training.models import build_model, freeze_encoder, model_info, set_train_mode
from training.report import PredRow
from training.transforms import build_augmentation
from training.weights import load_pretrained, save_weights, unwrap


class FoldTraining:
    """The fold loop; attributes come from ``training.api._Run``."""

    def build_fold_model(self) -> torch.nn.Module:
        """A fresh model for one fold: pretrained weights, frozen encoder, on the device."""
        model = build_model(self.model_name, len(self.classes), self.channels)
        if self.cfg.pretrained:
            report = load_pretrained(model, self.model_name, self.cfg.pretrained)
            self.log(report.summary())
            self.base["pretrained"] = report.to_json()
        if self.cfg.freeze_encoder:
            freeze_encoder(model, self.model_name)
        if "model_info" not in self.base:
            self.base["model_info"] = model_info(model, self.model_name, self.channels, self.size)
        model.to(self.device)
        if self.device.type == "cuda" and self.prep.ndim == 2:
            model = model.to(memory_format=torch.channels_last)  # faster convs with AMP
        elif self.device.type == "cpu" and self.prep.ndim == 3:
            model = model.to(memory_format=torch.channels_last_3d)  # oneDNN's fast 3D convs
        return model

    def train_folds(self, data: LoadedData) -> None:
        total_epochs = len(self.folds) * self.cfg.epochs
        self.train_started = time.perf_counter()
        augment = None
        for fold in self.folds:
            seed_everything(self.cfg.seed + fold.number)
            augment = build_augmentation(
                self.cfg.augment, self.prep.ndim, self.channels, self.cfg.seed + fold.number
            )
            model = self.build_fold_model()
            train_model = self.dist.wrap(model)
            ctx = Context(
                data.x, data.y, len(self.classes), self.device, augment, self.should_cancel
            )
            ctx.rank, ctx.world_size = self.dist.rank, self.dist.world_size
            fold_started = time.perf_counter()

            def on_epoch(row: dict[str, Any], fold_no: int = fold.number) -> None:
                self.epochs_done += 1
                elapsed = time.perf_counter() - self.train_started  # loading is not an epoch
                rate = elapsed / self.epochs_done
                self.emit(
                    msg.Epoch(
                        self.run_id or "",
                        fold_no,
                        row["epoch"],
                        self.cfg.epochs,
                        row["train_loss"],
                        row["val_loss"],
                        row["val_auc"],
                        row["val_accuracy"],
                        row["lr"],
                        row["seconds"],
                        eta_seconds=rate * max(0, total_epochs - self.epochs_done),
                        fraction_done=self.epochs_done / total_epochs,
                        confusion=row.get("confusion"),
                    )
                )

            ctx.on_epoch = on_epoch
            if self.staged is None:  # pin or upload the data once, not per fold
                stage_data(ctx)
                self.staged = (ctx.x, ctx.x_device)
            ctx.x, ctx.x_device = self.staged
            frozen = self.cfg.freeze_encoder
            result = fit(
                model,
                train_model,
                self.cfg,
                ctx,
                fold.train,
                fold.val,
                lambda m=model, f=frozen: set_train_mode(m, self.model_name, f),
                fold.number,
            )
            self.epochs_done += self.cfg.epochs - result.epochs_run  # early stop: ETA shrinks
            model.load_state_dict(result.best_state)
            # Flip TTA for the fold's kept predictions only: per-epoch validation (best-epoch
            # choice, live curves) stays single-view, which halves its cost.
            ctx.tta = bool(self.cfg.tta)
            self.history += result.history
            self.train_samples += result.train_samples * self.dist.world_size
            self.train_seconds += result.train_seconds
            val_probs = predict(model, ctx, fold.val, self.cfg.batch_size * 2)
            test_probs = predict(model, ctx, self.plan_.test, self.cfg.batch_size * 2)
            for k, p in zip(fold.val, val_probs, strict=True):
                self.rows.append(
                    PredRow(data.items[k].id, fold.number, "val", int(data.y[k]), p.tolist())
                )
            for k, p in zip(self.plan_.test, test_probs, strict=True):
                self.rows.append(
                    PredRow(data.items[k].id, fold.number, "test", int(data.y[k]), p.tolist())
                )
            self.fold_info.append(
                {
                    "fold": fold.number,
                    "n_train": len(fold.train),
                    "best_epoch": result.best_epoch,
                    "epochs_run": result.epochs_run,
                    "stopped_early": result.stopped_early,
                    "seconds": round(time.perf_counter() - fold_started, 3),
                }
            )
            if self.lead:
                save_weights(
                    unwrap(model),
                    self.run_dir / f"fold{fold.number}.safetensors",
                    {
                        "model": self.model_name,
                        "fold": str(fold.number),
                        "classes": ",".join(self.classes),
                    },
                )
                metrics = self.write_report(final=False)
                fm = next(f for f in metrics["folds"] if f["fold"] == fold.number)
                self.emit(
                    msg.FoldDone(
                        self.run_id or "",
                        fold.number,
                        {k: v for k, v in fm.items() if k != "roc"},
                        fm.get("roc"),
                    )
                )
                self.log(
                    f"fold {fold.number}: best epoch {result.best_epoch}/{result.epochs_run}, "
                    f"val AUC {fm.get('roc_auc')}, accuracy {fm.get('accuracy'):.3f}"
                )
            self.models_done = getattr(self, "models_done", []) + [fold.number]
