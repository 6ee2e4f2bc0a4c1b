"""A run from its config to its folder: pick the items, classes, model and input shape, let Auto
finish its choices on the device at hand (batch-size probe, epochs, time estimate), create the
run (database row, run folder, config.json) and announce it. ``prepare`` returns the
``RunContext`` every later step takes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import torch

from medview.core import messages as msg
from medview.core.project import Project
from medview.core.run_folder import RunFolder
from training.engine.data import DataError, LoadedData, choose_kind, input_channels
from training.engine.ddp import Dist
from training.engine.freeze import count_train_layers
from training.engine.loop import resolve_device
from training.engine.run_context import Reporter, RunContext, RunInputs
from training.engine.transforms import PrepSettings
from training.recipe.config import ConfigError, TrainConfig
from training.recipe.imbalance import balance_line

Notes = list[tuple[str, str]]  # (log line, level) to log once the run is announced


def new_run_id(project: Project, model: str, fold: int | None) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{model}" + (f"-fold{fold}" if fold else "")
    run_id, n = base, 1
    while (project.runs_dir / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def prepare(
    cfg: TrainConfig,
    project: Project,
    dist: Dist,
    reporter: Reporter,
    should_cancel: Callable[[], bool],
    started: float,
) -> RunContext:
    """Everything before the data is loaded; raises ``MedviewError`` on a config or project
    problem (then no run exists)."""
    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    inputs, notes = choose_inputs(cfg, project, dist, reporter, should_cancel, started)
    check_run_id_free(inputs)
    screen_models(inputs)
    from training.engine.run_auto import finish_auto

    inputs.cfg, estimate, auto_extra = finish_auto(inputs)
    ctx = create_run(inputs, estimate, auto_extra)
    announce(ctx)
    for text, level in notes:
        ctx.log(text, level)
    log_plan(ctx)
    return ctx


def choose_inputs(
    cfg: TrainConfig,
    project: Project,
    dist: Dist,
    reporter: Reporter,
    should_cancel: Callable[[], bool],
    started: float,
) -> tuple[RunInputs, Notes]:
    """The items of one kind, the classes they have, Auto's data-based settings, the model,
    the input shape and the device."""
    kind = choose_kind(project, cfg)
    labelled = project.items(labelled=True)
    items = [it for it in labelled if it.kind == kind]
    classes, notes = _classes(project, items, kind)
    device = dist.device or resolve_device(cfg.device)
    colour = _colour_check(project, items, kind, cfg)
    cfg, auto_plan, profile = _auto(cfg, items, classes, kind, colour, device)
    model_name = cfg.resolved_model(kind)
    size = cfg.resolved_size(model_name)
    channels = input_channels(model_name, items, colour is not None and colour.is_grey)
    prep = PrepSettings(2 if cfg.slices or kind == "2d" else 3, size, channels, cfg.ct_window)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick kernels
    other = len(labelled) - len(items)
    if other:
        notes.insert(
            0, (f"{other} labelled item(s) of the other kind are not used by {model_name}", "info")
        )
    inputs = RunInputs(
        cfg=cfg, project=project, dist=dist, reporter=reporter, should_cancel=should_cancel,
        items=items, kind=kind, classes=classes, model_name=model_name, size=size,
        channels=channels, prep=prep, device=device, auto_plan=auto_plan, profile=profile,
        started=started,
    )  # fmt: skip
    return inputs, notes


def _auto(
    cfg: TrainConfig, items: list[Any], classes: list[str], kind: str, colour: Any, device: Any
) -> tuple[TrainConfig, Any, Any]:
    """The config with Auto's data-based choices, the plan and the data profile (Auto off:
    the config as given, None, None)."""
    if not cfg.auto:
        return cfg, None, None
    from training.recipe.auto import auto_settings, profile_items

    profile = profile_items(items, classes, "slices" if cfg.slices else kind, colour)
    auto_plan = auto_settings(cfg, profile, device.type)
    return dataclasses.replace(cfg, **auto_plan.values), auto_plan, profile


def _colour_check(project: Project, items: list[Any], kind: str, cfg: TrainConfig) -> Any:
    """2D items stored as colour: are they grey in fact? (decoded once from a sample;
    None for volumes, slice mode and grey-stored items). Channels and cache key follow."""
    from training.recipe.colour_check import check_colour, is_stored_colour

    if kind != "2d" or cfg.slices or not any(is_stored_colour(it) for it in items):
        return None
    from training.engine.data import _read_item

    return check_colour(items, lambda item: _read_item(project, item).array)


def _classes(project: Project, items: list[Any], kind: str) -> tuple[list[str], Notes]:
    """The project's classes that have labelled items of this kind (at least two)."""
    all_classes = project.class_names()
    present = {it.label for it in items}
    classes = [c for c in all_classes if c in present]
    if len(classes) < 2:
        raise DataError(
            f"{project.folder}: need labelled {kind} items of at least two classes "
            f"(found: {', '.join(sorted(present)) or 'none'})"
        )
    unused = [c for c in all_classes if c not in present]
    notes: Notes = []
    if unused:
        notes.append(
            (f"classes without labelled items are left out: {', '.join(unused)}", "warning")
        )
    return classes, notes


def screen_models(inputs: RunInputs) -> None:
    """Auto without a given model: screen candidates on an inner split (training.engine.screening)
    and take the winner's model and size; the plan records the table."""
    from training.engine import screening

    plan, profile = inputs.auto_plan, inputs.profile
    if plan is None or profile is None:
        return
    given = "model" in plan.given
    names = screening.wanted(inputs.cfg, inputs.kind, inputs.dist.world_size, given)
    if not names:
        return
    inputs.reporter.log(f"Auto: screening {len(names)} candidate models on an inner split")
    result = screening.run_screening(inputs, names, inputs.size, profile.extent)
    plan.screening, plan.screening_table = result.to_json(), result.table()
    winner = result.winner
    if winner is None:
        return
    why = (
        f"screening: the lowest inner validation loss of {len(result.candidates)} candidates "
        "trained from scratch (table below)"
    )
    plan.choose("model", winner.model, why)
    plan.choose("size", winner.size, f"the size {winner.model} was screened at")
    grey = bool((profile.colour_check or {}).get("grey_in_rgb"))
    channels = input_channels(winner.model, inputs.items, grey)
    inputs.cfg = dataclasses.replace(inputs.cfg, model=winner.model, size=winner.size)
    inputs.model_name, inputs.size, inputs.channels = winner.model, winner.size, channels
    inputs.prep = dataclasses.replace(inputs.prep, size=winner.size, channels=channels)


def check_run_id_free(inputs: RunInputs) -> None:
    run_id = inputs.cfg.run_id
    if run_id and inputs.lead:
        taken = {r.id for r in inputs.project.runs()}
        if run_id in taken or (inputs.project.runs_dir / run_id).exists():
            raise ConfigError(f"a run {run_id!r} already exists; choose another --run-id")


def create_run(
    inputs: RunInputs, estimate: dict[str, Any], auto_extra: dict[str, Any]
) -> RunContext:
    """The run's id (shared by all ranks), its database row, folder and config.json."""
    cfg, project = inputs.cfg, inputs.project
    run_id = cfg.run_id or (new_run_id(project, inputs.model_name, cfg.fold) if inputs.lead else "")
    run_id = inputs.dist.share(run_id)
    ctx = RunContext.of(inputs, run_id, project.runs_dir / run_id, estimate)
    ctx.reporter.run_dir = ctx.run_dir
    if ctx.lead:
        config = config_json(ctx, auto_extra)
        project.create_run(run_id, config, model=ctx.model_name)
        RunFolder(ctx.run_dir).write_config(config)
    return ctx


def config_json(ctx: RunContext, auto_extra: dict[str, Any]) -> dict[str, Any]:
    """config.json: every setting as the run uses it, and what Auto chose and why."""
    config = {
        **ctx.cfg.to_dict(),
        "model": ctx.model_name,
        "size": ctx.size,
        "run_id": ctx.run_id,
    }
    config["resolved"] = {
        "kind": ctx.kind,
        "classes": ctx.classes,
        "channels": ctx.channels,
        "device": str(ctx.device),
        "world_size": ctx.dist.world_size,
        "torch": torch.__version__,
        "train_layers": count_train_layers(
            ctx.model_name, len(ctx.classes), ctx.channels, ctx.cfg.train_layers
        ).to_json(),
    }
    if ctx.auto_plan is not None and ctx.profile is not None:
        config["resolved"]["auto"] = {
            **ctx.auto_plan.to_json(),
            "data": ctx.profile.to_json(),
            **auto_extra,
        }
    return config


def log_plan(ctx: RunContext) -> None:
    cfg, estimate = ctx.cfg, ctx.estimate
    if ctx.auto_plan is not None:
        ctx.log("Auto plan (docs/auto.md):")
        for line in ctx.auto_plan.lines():
            ctx.log(f"  {line}")
    ctx.log(balance_line(cfg))
    ctx.log(
        f"estimated time: {estimate['seconds']:.0f} s for {estimate['folds']} fold(s) x "
        f"{cfg.epochs} epochs ({estimate['samples_per_second']:.1f} training samples/s "
        "measured on warm-up batches)"
    )


def announce(ctx: RunContext) -> None:
    cfg = ctx.cfg
    planned = [1] if cfg.holdout else ([cfg.fold] if cfg.fold else list(range(1, cfg.folds + 1)))
    ctx.emit(
        msg.Started(
            ctx.run_id,
            msg.RunPlan(
                model=ctx.model_name,
                kind=ctx.kind,
                classes=list(ctx.classes),
                folds=planned,
                epochs=cfg.epochs,
                items=len(ctx.items),
                test_items=sum(1 for it in ctx.items if it.split == "test"),
                size=ctx.size,
                device=str(ctx.device),
                run_dir=str(ctx.run_dir),
                batch_size=cfg.batch_size,
                auto=ctx.auto_plan.to_json() if ctx.auto_plan else None,
                estimated_seconds=(ctx.estimate or {}).get("seconds"),
            ),
        )
    )


def warmup_data(shape: tuple[int, ...], n_classes: int, n: int = 16) -> LoadedData:
    """Random items at the input shape for the warm-up batches (speed does not depend on
    the pixel values, and the probe then runs before any item is decoded)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((n, *shape), generator=generator)
    return LoadedData([], x, torch.arange(n) % n_classes)
