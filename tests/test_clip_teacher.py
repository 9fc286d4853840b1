"""TinyViT's CLIP-ViT-L/14-22k teacher: the official layout converted into timm's ViT gives the official
model's logits (written here from CLIP's visual equations), on ImageNet-normalised input; wrong files
are refused in one line."""

import re

import pytest
import timm
import torch
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from kdrepro.errors import ConfigError
from kdrepro.models.clip_teacher import CLIP_MEAN, CLIP_STD, clip_vit_l14_22k
from tests.helpers.standins import save_random_clip_checkpoint

TINY = dict(width=128, layers=2, patch_size=8, image_size=32, embed_dim=32)
TINY_TIMM = dict(embed_dim=128, depth=2, patch_size=8, img_size=32)  # heads: 128 // 64, as the official rule


def reference_logits(s: dict, x: torch.Tensor, heads: int) -> torch.Tensor:
    """CLIP's visual tower and TinyViT's head, from the equations, on CLIP-normalised ``x``."""
    s = {k: v.float() for k, v in s.items()}
    width = s["visual.class_embedding"].numel()
    ln = lambda t, name: F.layer_norm(t, (width,), s[f"{name}.weight"], s[f"{name}.bias"], eps=1e-5)  # noqa: E731
    t = F.conv2d(x, s["visual.conv1.weight"], stride=s["visual.conv1.weight"].shape[-1]).flatten(2).transpose(1, 2)
    t = torch.cat([s["visual.class_embedding"].expand(len(t), 1, width), t], 1) + s["visual.positional_embedding"]
    t = ln(t, "visual.ln_pre")
    for i in range(sum(k.endswith("attn.in_proj_weight") for k in s)):
        b = f"visual.transformer.resblocks.{i}."
        attn = torch.nn.MultiheadAttention(width, heads, batch_first=True)
        attn.load_state_dict({k[len(b) + 5:]: v for k, v in s.items() if k.startswith(b + "attn.")})
        h = ln(t, b + "ln_1")
        t = t + attn(h, h, h, need_weights=False)[0]
        h = F.linear(ln(t, b + "ln_2"), s[b + "mlp.c_fc.weight"], s[b + "mlp.c_fc.bias"])
        t = t + F.linear(h * torch.sigmoid(1.702 * h), s[b + "mlp.c_proj.weight"], s[b + "mlp.c_proj.bias"])
    feature = ln(t[:, 0], "visual.ln_post") @ s["visual.proj"]
    return F.linear(feature, s["head.weight"], s["head.bias"])


def test_the_timm_teacher_on_imagenet_normalised_input_gives_the_official_models_logits(tmp_path):
    path = save_random_clip_checkpoint(tmp_path / "clip.pth", 10, **TINY)
    teacher = clip_vit_l14_22k(path, num_classes=10, **TINY_TIMM)
    assert not teacher.training and teacher.model_name == "clip_vit_large_patch14_22k"
    pixels = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    as_clip = (pixels - torch.tensor(CLIP_MEAN).view(3, 1, 1)) / torch.tensor(CLIP_STD).view(3, 1, 1)
    as_imagenet = ((pixels - torch.tensor(IMAGENET_DEFAULT_MEAN).view(3, 1, 1))
                   / torch.tensor(IMAGENET_DEFAULT_STD).view(3, 1, 1))
    with torch.no_grad():
        expected = reference_logits(torch.load(path)["model"], as_clip, heads=2)
        out = teacher(as_imagenet)
        misread = teacher(as_clip).logits  # without the renormalisation: the check below can see it
    assert out.logits.shape == (3, 10) and out.features[0].shape == (3, 1 + 4 * 4, 128)
    assert torch.allclose(out.logits, expected, atol=1e-4), (out.logits - expected).abs().max()
    assert (misread - expected).abs().max() > 100 * 1e-4


def refusal(*args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        clip_vit_l14_22k(*args, **kwargs)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_missing_damaged_or_foreign_checkpoints_are_refused_in_one_line(tmp_path):
    assert re.search(r"no Hub copy: download https://github.com/wkcn/.*teacher_checkpoint PATH", refusal(None))
    good = save_random_clip_checkpoint(tmp_path / "clip.pth", 10, **TINY)
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(good.read_bytes()[:1000])
    assert "damaged" in refusal(damaged, num_classes=10, **TINY_TIMM)
    assert "does not exist" in refusal(tmp_path / "nothing.pth")
    torch.save(timm.create_model("resnet18", num_classes=10).state_dict(), tmp_path / "resnet.pth")
    assert re.search(r"not TinyViT's CLIP-ViT-L/14-22k .*missing, e.g. \['cls_token'.*unexpected, e.g. \['conv1",
                     refusal(tmp_path / "resnet.pth", num_classes=10, **TINY_TIMM))
    assert re.search(r"wrong shape, e.g. \['head.weight \(10, 128\) vs \(21841, 128\)",
                     refusal(good, **TINY_TIMM))  # 10 classes, not 22k's
    assert re.search(r"wrong shape, e.g. \['cls_token \(1, 1, 128\) vs \(1, 1, 1024\)",
                     refusal(good, num_classes=10))  # a tiny file is no ViT-L/14


def test_a_random_official_checkpoint_round_trips(tmp_path):
    path = save_random_clip_checkpoint(tmp_path / "clip.pth", 7, **TINY)
    blob = torch.load(path)
    assert set(blob) == {"model"} and blob["model"]["visual.proj"].dtype == torch.float16
    assert blob["model"]["visual.proj"].shape == (128, 32) and blob["model"]["head.weight"].shape == (7, 32)
    teacher = clip_vit_l14_22k(path, num_classes=7, **TINY_TIMM)
    head = teacher.model.head.weight
    folded = blob["model"]["head.weight"].double() @ blob["model"]["visual.proj"].double().T
    assert head.shape == (7, 128) and torch.allclose(head.double(), folded, atol=1e-6)
    assert teacher(torch.randn(2, 3, 32, 32)).logits.shape == (2, 7)
