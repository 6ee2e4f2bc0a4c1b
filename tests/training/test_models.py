"""Model zoo: every family builds and runs forward at a tiny size; heads, freezing, model_info;
safe pretrained loading (MedicalNet format, torchvision state dicts, safetensors), refusal of
mismatched files and of pickles that carry code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from training.freeze import freeze_encoder, set_train_mode
from training.models import build_model, model_info
from training.weights import WeightsError, load_pretrained, save_weights


@pytest.mark.parametrize(
    ("name", "shape", "outputs"),
    [
        ("cnn3d_small", (2, 1, 16, 16, 16), 1),
        ("cnn_small", (2, 1, 32, 32), 3),
        ("medicalnet_resnet10", (2, 1, 16, 16, 16), 1),
        ("medicalnet_resnet18", (1, 1, 16, 16, 16), 3),
        ("resnet18", (2, 3, 32, 32), 1),
        ("mobilenet_v2", (2, 3, 32, 32), 1),
        ("efficientnet_b0", (2, 3, 32, 32), 3),
    ],
)
def test_models_build_and_forward(name, shape, outputs):
    n_classes = 2 if outputs == 1 else outputs
    model = build_model(name, n_classes, in_channels=shape[1]).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == (shape[0], outputs)


@pytest.mark.parametrize(
    "name",
    ["medicalnet_resnet34", "medicalnet_resnet50", "resnet50", "resnet101", "densenet121", "vgg16"],
)
def test_big_models_build_and_forward(name):
    three_d = name.startswith("medicalnet")
    shape = (1, 1, 16, 16, 16) if three_d else (1, 3, 32, 32)
    model = build_model(name, 2, in_channels=shape[1]).eval()
    with torch.no_grad():
        assert model(torch.randn(shape)).shape == (1, 1)


def test_densenet_and_vgg_heads_are_replaced():
    # The head swap is checked without running the large networks forward.
    for name, path in (("densenet121", "classifier"), ("vgg16", "classifier")):
        model = build_model(name, 3, in_channels=3)
        head = model.classifier if name == "densenet121" else model.classifier[6]
        assert head.out_features == 3, path


def test_medicalnet_shortcut_settings():
    r10 = build_model("medicalnet_resnet10", 2)
    r18 = build_model("medicalnet_resnet18", 2)
    # shortcut B: a 1x1 conv downsample without bias; shortcut A: parameter-free padding
    assert isinstance(r10.layer2[0].downsample, torch.nn.Sequential)
    assert r10.layer2[0].downsample[0].bias is None
    assert not isinstance(r18.layer2[0].downsample, torch.nn.Module)
    assert r10.conv1.stride == (2, 2, 2) and r10.conv1.kernel_size == (7, 7, 7)


def test_freeze_encoder_trains_only_the_head():
    model = build_model("cnn3d_small", 2)
    trainable = freeze_encoder(model, "cnn3d_small")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names == ["head.weight", "head.bias"]
    assert trainable == model.head.weight.numel() + model.head.bias.numel()
    set_train_mode(model, "cnn3d_small", "head")
    assert not model.features[1].training and model.head.training  # BN stats frozen


def test_model_info_counts_parameters_and_macs():
    model = build_model("cnn_small", 2, in_channels=1)
    info = model_info(model, "cnn_small", 1, 32)
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["macs"] > 1e5 and info["input_shape"] == [1, 32, 32]
    first_conv_macs = 16 * 1 * 9 * 32 * 32
    assert info["macs"] > first_conv_macs


def _medicalnet_file(tmp_path: Path, name: str = "medicalnet_resnet10") -> tuple[Path, dict]:
    """A checkpoint in MedicalNet's published format: {'state_dict': {'module.<key>': ...}}
    with its segmentation head (conv_seg) and no classification fc."""
    source = build_model(name, 2)
    state = {
        f"module.{k}": v.clone() + 0.5
        for k, v in source.state_dict().items()
        if not k.startswith("fc.")
    }
    state["module.conv_seg.0.weight"] = torch.randn(32, 512, 3, 3, 3)
    path = tmp_path / "resnet_10_23dataset.pth"
    torch.save({"state_dict": state, "epoch": 200}, path)
    return path, state


def test_medicalnet_checkpoint_loads(tmp_path):
    path, state = _medicalnet_file(tmp_path)
    model = build_model("medicalnet_resnet10", 2)
    head_before = model.fc.weight.clone()
    report = load_pretrained(model, "medicalnet_resnet10", path)
    assert torch.equal(model.conv1.weight, state["module.conv1.weight"])
    assert torch.equal(model.layer4[0].bn2.running_mean, state["module.layer4.0.bn2.running_mean"])
    assert torch.equal(model.fc.weight, head_before)  # the new head stays new
    assert len(report.loaded) == len([k for k in state if not k.startswith("module.conv_seg")])
    assert "conv_seg.0.weight" in report.skipped_head
    assert "layer1.0.conv1" in report.to_json()["loaded_layers"]


def test_mismatched_file_is_refused(tmp_path):
    path, _ = _medicalnet_file(tmp_path, "medicalnet_resnet18")
    model = build_model("medicalnet_resnet10", 2)
    with pytest.raises(WeightsError, match="does not fit medicalnet_resnet10"):
        load_pretrained(model, "medicalnet_resnet10", path)
    other = tmp_path / "unrelated.pt"
    torch.save({"encoder.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(WeightsError, match="only 0%"):
        load_pretrained(build_model("cnn3d_small", 2), "cnn3d_small", other)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker  # type: ignore[attr-defined]
    path = tmp_path / "evil.pth"
    with path.open("wb") as fh:
        pickle.dump({"state_dict": {"conv1.weight": evil}}, fh, protocol=2)
    with pytest.raises(WeightsError, match="refused"):
        load_pretrained(build_model("medicalnet_resnet10", 2), "medicalnet_resnet10", path)
    assert not marker.exists()


def test_torchvision_state_dict_and_safetensors_load(tmp_path):
    source = build_model("resnet18", 2, in_channels=3)
    imagenet_like = {k: v + 1 for k, v in source.state_dict().items() if not k.startswith("fc.")}
    imagenet_like["fc.weight"] = torch.randn(1000, 512)  # the ImageNet head: skipped
    imagenet_like["fc.bias"] = torch.randn(1000)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(imagenet_like, path)
    model = build_model("resnet18", 2, in_channels=3)
    report = load_pretrained(model, "resnet18", path)
    assert torch.equal(model.layer1[0].conv1.weight, imagenet_like["layer1.0.conv1.weight"])
    assert set(report.skipped_head) == {"fc.weight", "fc.bias"}
    st = tmp_path / "w.safetensors"
    save_weights(model, st)
    other = build_model("resnet18", 2, in_channels=3)
    load_pretrained(other, "resnet18", st)
    assert torch.equal(other.layer1[0].conv1.weight, model.layer1[0].conv1.weight)


def test_corrupt_and_missing_files_are_clear(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="bad.safetensors"):
        load_pretrained(build_model("cnn_small", 2), "cnn_small", bad)
    with pytest.raises(WeightsError, match="not found"):
        load_pretrained(build_model("cnn_small", 2), "cnn_small", tmp_path / "nope.pth")


def test_device_resolution_and_download_refusal():
    from training.loop import DeviceError, resolve_device

    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(DeviceError, match="no CUDA GPU"):
            resolve_device("cuda")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(WeightsError, match="no published pretrained weights"):
        load_pretrained(build_model("cnn_small", 2), "cnn_small", "download")
