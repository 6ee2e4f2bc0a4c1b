"""The ModelSpec table and partial fine-tuning (--train-layers): every model's blocks cover its
parameters exactly once, last:N freezes exactly the expected parameters, frozen blocks keep
their BatchNorm statistics through training, and the new models train and load local weights."""

from __future__ import annotations

import pytest
import torch
from projects import make_project

from training.config import MODELS, ConfigError, TrainConfig
from training.freeze import apply_train_layers, set_train_mode
from training.model_specs import SPECS, TrainLayersError, parse_train_layers
from training.models import build_model


def _meta_model(name: str) -> torch.nn.Module:
    """The model's structure without memory or initialisation cost."""
    with torch.device("meta"):
        return build_model(name, 2, SPECS[name].channels or 1)


def _owners(name: str, pname: str) -> list[str]:
    s = SPECS[name]
    paths = [p for block in s.blocks for p in block] + [s.head]
    return [p for p in paths if pname == p or pname.startswith(p + ".")]


@pytest.mark.parametrize("name", MODELS)
def test_spec_blocks_and_head_cover_every_parameter_once(name):
    model = _meta_model(name)
    modules = dict(model.named_modules())
    s = SPECS[name]
    for block in s.blocks:
        assert all(path in modules for path in block), block
    assert s.head in modules and isinstance(modules[s.head], torch.nn.Linear)
    assert s.gradcam_layer in modules
    for pname, _ in model.named_parameters():
        assert len(_owners(name, pname)) == 1, pname
    assert s.cost is not None and s.cost[0] == sum(p.numel() for p in model.parameters())


# Written out by hand from the architectures (not from the table), so a wrong table fails.
EXPECTED_LAST = {
    ("resnet18", 3): ("layer3.1", "layer4.0", "layer4.1", "fc"),
    ("densenet121", 1): ("features.denseblock4", "features.norm5", "classifier"),
    ("vgg16", 3): ("features.28", "classifier.0", "classifier.3", "classifier.6"),
    ("mobilenet_v2", 2): ("features.17", "features.18", "classifier.1"),
    ("convnext_tiny", 2): ("features.7.1", "features.7.2", "classifier.0", "classifier.2"),
    ("convnext_tiny", 4): (
        "features.5.8",
        "features.6",
        "features.7",
        "classifier.0",
        "classifier.2",
    ),
    ("medicalnet_resnet10", 1): ("layer4.0", "fc"),
    ("medicalnet_resnet18", 3): ("layer3.1", "layer4.0", "layer4.1", "fc"),
    ("efficientnet_b0", 1): ("features.8", "classifier.1"),
    ("inception_v3", 2): ("Mixed_7b", "Mixed_7c", "fc"),
}


@pytest.mark.parametrize(("name", "n"), list(EXPECTED_LAST))
def test_last_n_trains_exactly_the_expected_parameters(name, n):
    model = _meta_model(name)
    info = apply_train_layers(model, name, f"last:{n}")
    prefixes = EXPECTED_LAST[name, n]
    expected = {
        pname
        for pname, _ in model.named_parameters()
        if any(pname.startswith(p + ".") for p in prefixes)
    }
    trainable = {pname for pname, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected
    assert info.trainable_parameters == sum(
        p.numel() for p in model.parameters() if p.requires_grad
    )
    assert info.parameters == sum(p.numel() for p in model.parameters())
    assert info.blocks_trained == n


def test_head_all_and_too_many_blocks():
    model = _meta_model("resnet18")
    head = apply_train_layers(model, "resnet18", "head")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    assert head.blocks_trained == 0 and head.blocks_total == 9
    for value in ("all", "last:99"):
        info = apply_train_layers(model, "resnet18", value)
        assert info.trainable_parameters == info.parameters
    with pytest.raises(TrainLayersError, match="head, all or last:N"):
        parse_train_layers("last:-1")
    with pytest.raises(ConfigError, match="--train-layers"):
        TrainConfig(train_layers="top3").validate()
    with pytest.raises(ConfigError, match="inception_v3 needs --size of at least 75"):
        TrainConfig(model="inception_v3", size=64).validate()


def _train_step(model: torch.nn.Module, name: str, layers: str, x: torch.Tensor) -> None:
    """One optimizer step the way the engine's loop does it (mode set per epoch)."""
    apply_train_layers(model, name, layers)
    set_train_mode(model, name, layers)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(x).float().pow(2).mean()
    loss.backward()
    opt.step()


@pytest.mark.parametrize(
    ("name", "frozen_bn", "trained_bn", "shape"),
    [
        ("resnet18", "layer2.0.bn1", "layer4.1.bn2", (4, 3, 32, 32)),
        ("mobilenet_v2", "features.3.conv.3", "features.18.1", (4, 3, 32, 32)),
        ("medicalnet_resnet10", "layer1.0.bn1", "layer4.0.bn2", (2, 1, 16, 16, 16)),
    ],
)
def test_frozen_batchnorm_statistics_do_not_move(name, frozen_bn, trained_bn, shape):
    torch.manual_seed(0)
    model = build_model(name, 2, shape[1])
    modules = dict(model.named_modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _train_step(model, name, "last:2", torch.randn(shape) * 2 + 1)
    after = model.state_dict()
    for stat in ("running_mean", "running_var", "weight"):
        assert torch.equal(after[f"{frozen_bn}.{stat}"], before[f"{frozen_bn}.{stat}"]), stat
    moved = f"{trained_bn}.running_mean"
    assert not torch.equal(after[moved], before[moved])
    assert not modules[frozen_bn].training and modules[trained_bn].training


def test_precise_bn_leaves_frozen_blocks_alone():
    from training.loop import Context, precise_bn

    torch.manual_seed(0)
    model = build_model("resnet18", 2, 3)
    apply_train_layers(model, "resnet18", "last:1")
    set_train_mode(model, "resnet18", "last:1")
    frozen = model.layer3[1].bn2.running_var.clone()
    trained = model.layer4[1].bn2.running_var.clone()
    ctx = Context(
        torch.randn(8, 3, 32, 32) * 3, torch.zeros(8, dtype=torch.long), 2, torch.device("cpu")
    )
    precise_bn(model, ctx, range(8), 4)
    assert torch.equal(model.layer3[1].bn2.running_var, frozen)
    assert not torch.equal(model.layer4[1].bn2.running_var, trained)


@pytest.mark.slow  # ~30 s each on a quiet 2-core CPU: the networks themselves are large
@pytest.mark.parametrize(("name", "size"), [("inception_v3", 75), ("convnext_tiny", 32)])
def test_new_models_train_one_epoch(tmp_path, name, size):
    project = make_project(tmp_path, 12, kind="2d", size=size)
    folder = project.folder
    project.close()
    from training.api import run_training

    cfg = TrainConfig(
        project=str(folder), model=name, folds=2, epochs=1, batch_size=4, size=size,
        augment="none", lr=1e-3, threads=2, train_layers="last:2", predict_unlabelled=False,
    )  # fmt: skip
    out = run_training(cfg)
    assert out.status == "finished", out.error
    info = out.metrics["model_info"]
    assert info["train_layers"] == "last:2" and info["blocks_trained"] == 2
    assert 0 < info["trainable_parameters"] < info["parameters"]
    assert len(out.metrics["folds"]) == 2
    config = (out.run_dir / "config.json").read_text()
    assert '"trainable_parameters"' in config  # resolved.train_layers in config.json


def _published_state(name: str) -> dict[str, torch.Tensor]:
    """A state dict in the format torchvision publishes (ImageNet head of 1000 classes;
    Inception v3 with its auxiliary classifier), with values our model does not start with."""
    import torchvision

    kwargs = {"aux_logits": True, "init_weights": False} if name == "inception_v3" else {}
    source = torchvision.models.get_model(name, weights=None, num_classes=1000, **kwargs)
    return {k: v + 0.25 if v.is_floating_point() else v for k, v in source.state_dict().items()}


@pytest.mark.parametrize(
    ("name", "probe", "skipped"),
    [
        ("inception_v3", "Mixed_6e.branch7x7_1.conv.weight", "AuxLogits."),
        ("convnext_tiny", "features.5.3.block.0.weight", "classifier.2."),
    ],
)
def test_local_weights_load_for_the_new_models(tmp_path, name, probe, skipped):
    from training.weights import load_pretrained

    state = _published_state(name)
    path = tmp_path / f"{name}-imagenet.pth"
    torch.save(state, path)
    model = build_model(name, 2, 3)
    head = SPECS[name].head
    head_before = dict(model.named_modules())[head].weight.clone()
    report = load_pretrained(model, name, path)
    assert torch.equal(model.state_dict()[probe], state[probe])
    assert torch.equal(dict(model.named_modules())[head].weight, head_before)
    assert any(k.startswith(skipped) for k in report.skipped_head)
    assert not report.missing and not report.unexpected


def test_plan_check_warns_about_a_frozen_random_encoder(tmp_path):
    from training.plan import check_plan

    project = make_project(tmp_path, 12, kind="2d", size=16)

    def warned(**config) -> bool:
        check = check_plan(project, {"model": "resnet18", "folds": 2, **config})
        return any("a frozen random encoder learns little" in w for w in check.warnings)

    assert warned(train_layers="head") and warned(train_layers="last:3")
    assert not warned(train_layers="head", pretrained=str(tmp_path / "w.pth"))
    assert not warned() and not warned(train_layers="last:9")  # 9 of 9 blocks: nothing frozen
    project.close()
