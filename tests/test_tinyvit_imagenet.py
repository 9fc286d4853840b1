"""TinyViT at full scale: the official recipes' values, the 1k → 22k class map, the 22k model scored
on ImageNet-1k, and the fine-tuning head taken from the 22k head's rows."""

import pytest
import torch

from kdrepro.chapters import tinyvit_imagenet as tic
from kdrepro.errors import ConfigError
from kdrepro.models import ModelOutput
from kdrepro.recipes.tinyvit import recipe
from kdrepro.recipes.tinyvit_imagenet import FULL, TinyVitImageNetRecipe


def test_the_full_recipe_is_the_official_configs():
    r = recipe("full")
    assert r is FULL and r.model == "tiny_vit_5m_224" and r.k == 100
    p, f, s = r.pretrain, r.finetune, r.scratch
    # main.py: lr × total batch / 512; 22k distillation on 4 × 8 GPUs × 128, the others on 8 × 128
    assert (p.epochs, p.batch_size, p.lr, p.weight_decay, p.warmup_epochs) == (90, 4096, 2e-3, 0.01, 5)
    assert (f.epochs, f.batch_size, f.lr, f.layer_decay, f.bn_eval, f.weight_decay) == (30, 1024, 5e-4, 0.8, True, 1e-8)
    assert (s.epochs, s.lr, s.warmup_epochs, s.mixup, s.cutmix, s.smoothing) == (300, 1e-3, 20, 0.8, 1.0, 0.1)
    assert [s.drop_path_of(n) for n in ("5m", "11m", "21m")] == [0.0, 0.1, 0.2]
    assert [p.drop_path_of(n) for n in ("5m", "11m", "21m")] == [0.0, 0.0, 0.1]
    cfg = f.config(3)
    assert cfg.final_lr_factor * cfg.lr == pytest.approx(2e-5) and cfg.grad_clip == 5.0 and cfg.seed == 3
    assert cfg.decay_exempt == "timm" and cfg.layer_decay == 0.8 and cfg.bn_eval
    assert s.config().final_lr_factor * s.config().lr == pytest.approx(1e-5)


@pytest.mark.parametrize("changes, message", [({"size": "7m"}, "unknown TinyViT size '7m'"),
                                              ({"routes": ("in22k",)}, "unknown route"),
                                              ({"routes": ()}, "unknown route")])
def test_a_bad_size_or_route_is_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        TinyVitImageNetRecipe(**changes)


def test_the_class_map_follows_the_wordnet_ids(monkeypatch):
    monkeypatch.setattr(tic, "read_folder_meta", lambda name: {"classes": ["n01", "n03", "n02"]})
    assert tic.class_map(["n00", "n01", "n02", "n04"]).tolist() == [1, -1, 2]  # n03: not among the 22k


class _Fixed(torch.nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return ModelOutput(self.logits)


def test_a_22k_model_is_scored_on_1k_through_the_map_with_a_constant_for_a_missing_class():
    logits = torch.tensor([[1.0, -2.0, 3.0, 4.0]])
    out = tic.Remapped(_Fixed(logits), torch.tensor([3, -1, 0]))(torch.zeros(1))
    assert out.logits.tolist() == [[4.0, 0.0, 1.0]]


def test_the_fine_tuning_head_is_the_22k_heads_rows_and_the_mean_for_a_missing_class():
    r = TinyVitImageNetRecipe()
    ti = tic.TinyVitImageNet(r, None, val=None, classes=3, seeds=(0,), workers=0)
    pretrained = tic.student(ti, 6, 0.0, seed=0)
    mapping = torch.tensor([5, -1, 2])
    net = tic.one_k_head(pretrained, mapping, 3, 0.0, ti, seed=1)
    w22, b22 = pretrained.model.head.fc.weight, pretrained.model.head.fc.bias
    w1, b1 = net.model.head.fc.weight, net.model.head.fc.bias
    assert torch.equal(w1[0], w22[5]) and torch.equal(w1[2], w22[2]) and torch.equal(b1[2], b22[2])
    assert torch.allclose(w1[1], w22[[5, 2]].mean(0)) and torch.allclose(b1[1], b22[[5, 2]].mean(0))
    body = [k for k in net.state_dict() if not k.startswith("model.head.fc.")]
    assert all(torch.equal(net.state_dict()[k], pretrained.state_dict()[k]) for k in body)


def test_the_train_command_refuses_a_bad_route_and_trains_a_route_as_a_rehearsal(monkeypatch, tmp_path, capsys):
    import sys

    from conftest import HELPERS
    from kdrepro.cli import main

    sys.path.insert(0, str(HELPERS))
    from standins import make_imagenet_standin

    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path / "runs"))
    assert main(["tinyvit", "train", "--routes", "in22k"]) == 2
    assert "unknown route(s) 'in22k'" in capsys.readouterr().err
    make_imagenet_standin(tmp_path / "data")
    monkeypatch.setenv("KDREPRO_REHEARSE", "1")  # the 300-epoch recipe capped to a few steps
    assert main(["tinyvit", "train", "--routes", "in1k", "--workers", "0"]) == 0
    out = capsys.readouterr().out
    assert "from scratch on ImageNet-1k" in out and "79.1" in out  # the README's row beside ours
    assert (tmp_path / "runs" / "rehearsal" / "tinyvit" / "imagenet" / "full" / "tinyvit_5m" / "scratch" / "seed0").is_dir()
