"""TinyViT's 22k→1k fine-tuning options: layer-wise lr decay (TRAIN.LAYER_LR_DECAY) and BatchNorms
kept in eval mode while training (TRAIN.EVAL_BN_WHEN_TRAINING), as microsoft/Cream's TinyViT applies them."""

import pytest
import timm
import torch

from kdrepro.engine import Split, Trainer, TrainConfig
from kdrepro.engine.schedule import lr_factor
from kdrepro.engine.optim import layer_lr_scales, make_optimizer, param_groups, set_schedule
from kdrepro.engine.trainer import _same_recipe
from kdrepro.errors import ConfigError
from kdrepro.methods import KD, CrossEntropy
from kdrepro.models import create_model
from kdrepro.models.pretrained import TimmClassifier

D = 0.8


def _official(exponent: int) -> float:
    return D ** exponent


def _tiny(num_classes=4):
    """A small TinyViT (timm's TinyVit inside kdrepro's CifarTinyViT, as ``.net``), with BatchNorms."""
    return create_model("tinyvit_5m", num_classes=num_classes, seed=0, embed_dims=(8, 16, 16, 16),
                        depths=(1, 1, 2, 1), num_heads=(1, 1, 1, 1))


def _images(n=64, seed=0) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = (torch.rand(n, 3, 32, 32, generator=g) * 128 + labels[:, None, None, None] * 30).to(torch.uint8)
    return Split(images, labels, (0.5,) * 3, (0.25,) * 3)


def test_tiny_vit_5m_layer_scales_follow_the_official_rule():
    """TinyViT.set_layer_lr_decay: 12 blocks, block i (over all stages) gets D ** (11 - i); the patch
    embedding block 0's scale; a patch merging its stage's last block's; the norm and head 1."""
    model = timm.create_model("tiny_vit_5m_224", num_classes=10)
    scales = layer_lr_scales(model, D)
    assert set(scales) == {n for n, _ in model.named_parameters()}
    expected = {
        "patch_embed.conv1.conv.weight": 11,
        "patch_embed.conv2.bn.bias": 11,
        "stages.0.blocks.0.conv1.conv.weight": 11,  # first block of stage 0
        "stages.0.blocks.1.conv3.bn.weight": 10,
        "stages.1.downsample.conv1.conv.weight": 10,  # officially layers[0].downsample: stage 0's last block
        "stages.1.blocks.0.attn.qkv.weight": 9,
        "stages.2.downsample.conv2.conv.weight": 8,
        "stages.2.blocks.3.attn.qkv.weight": 4,  # block 2 + 2 + 3 = 7 overall
        "stages.2.blocks.5.mlp.fc2.weight": 2,
        "stages.3.downsample.conv3.bn.weight": 2,
        "stages.3.blocks.0.attn.attention_biases": 1,
        "stages.3.blocks.1.local_conv.conv.weight": 0,
        "head.norm.weight": 0,
        "head.fc.weight": 0,
        "head.fc.bias": 0,
    }
    for name, exponent in expected.items():
        assert scales[name] == pytest.approx(_official(exponent)), name
    assert sorted({round(torch.tensor(s).log().item() / torch.tensor(D).log().item()) for s in scales.values()}) \
        == list(range(12))


def test_timms_own_layer_decay_differs_from_the_official_rule():
    """timm's param_groups_layer_decay (TinyVit.group_matcher) makes 14 layers: the patch embedding and
    the head have their own, so every block gets one factor more (and the stem two) than officially."""
    from timm.optim import param_groups_layer_decay

    model = timm.create_model("tiny_vit_5m_224", num_classes=10)
    names = {id(p): n for n, p in model.named_parameters()}
    timms = {names[id(p)]: g["lr_scale"] for g in param_groups_layer_decay(model, layer_decay=D) for p in g["params"]}
    assert timms["patch_embed.conv1.conv.weight"] == pytest.approx(D ** 13)
    assert timms["stages.0.blocks.0.conv1.conv.weight"] == pytest.approx(D ** 12)
    assert timms["stages.3.blocks.1.local_conv.conv.weight"] == pytest.approx(D)
    assert timms["stages.1.downsample.conv1.conv.weight"] == pytest.approx(D ** 10)  # here they agree
    assert timms["head.fc.weight"] == pytest.approx(1.0)


def test_wrapped_students_are_found_and_other_models_refused():
    timm_student = TimmClassifier(timm.create_model("tiny_vit_5m_224", num_classes=10))
    kd = KD(timm_student, create_model("mlp", hidden=(8,), in_features=3 * 32 * 32, num_classes=10, seed=0))
    scales = layer_lr_scales(kd, D)
    assert scales["student.model.patch_embed.conv1.conv.weight"] == pytest.approx(D ** 11)
    assert scales["student.model.head.fc.weight"] == 1.0
    own = layer_lr_scales(CrossEntropy(_tiny()), D)  # kdrepro's CifarTinyViT holds it as .net; 5 blocks
    assert own["student.net.stages.2.blocks.1.attn.qkv.weight"] == pytest.approx(D)
    assert own["student.net.stages.3.blocks.0.attn.qkv.weight"] == own["student.net.head.fc.weight"] == 1.0
    mlp = CrossEntropy(create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0))
    with pytest.raises(ConfigError, match="layer_decay") as err:
        param_groups(mlp, TrainConfig(layer_decay=0.8))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("exempt", ["none", "bias_and_norm", "timm"])
def test_groups_combine_the_layer_scale_with_the_weight_decay_exemption(exempt):
    model = timm.create_model("tiny_vit_5m_224", num_classes=10)
    c = TrainConfig(optimizer="adamw", lr=1e-3, weight_decay=0.05, decay_exempt=exempt, layer_decay=D)
    groups = param_groups(model, c)
    plain = param_groups(model, c.replace(layer_decay=None))
    scales = layer_lr_scales(model, D)
    names = {id(p): n for n, p in model.named_parameters()}
    assert sum(len(g["params"]) for g in groups) == sum(1 for p in model.parameters() if p.requires_grad)
    for g in groups:
        assert {scales[names[id(p)]] for p in g["params"]} == {g["lr_scale"]}
    if exempt == "none":  # every group at the optimiser's weight decay
        assert all("weight_decay" not in g for g in groups)
        return
    no_decay = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert no_decay == {names[id(p)] for g in plain if g["weight_decay"] == 0 for p in g["params"]}
    assert "stages.0.blocks.0.conv1.bn.weight" in no_decay and "head.fc.bias" in no_decay
    assert "stages.1.blocks.0.attn.qkv.weight" not in no_decay
    # the official no_weight_decay_keywords(): attention_biases, 2-d, exempt under "timm" only
    assert ("stages.1.blocks.0.attn.attention_biases" in no_decay) == (exempt == "timm")


def test_the_schedule_multiplies_each_groups_scale():
    model = timm.create_model("tiny_vit_5m_224", num_classes=10)
    c = TrainConfig(epochs=4, optimizer="adamw", lr=1e-3, weight_decay=0.05, decay_exempt="timm", layer_decay=D,
                    warmup_epochs=1)
    opt = torch.optim.AdamW(param_groups(model, c), lr=c.lr, weight_decay=c.weight_decay)
    for progress in (0.5, 2.25):
        set_schedule([opt], c, progress)
        for g in opt.param_groups:
            assert g["lr"] == pytest.approx(c.lr * lr_factor(c, progress) * g["lr_scale"])
    assert {round(g["lr"] / (c.lr * lr_factor(c, 2.25)), 9) for g in opt.param_groups} \
        == {round(D ** k, 9) for k in range(12)}


def test_a_training_step_sets_base_lr_times_scale_times_schedule(monkeypatch):
    import kdrepro.engine.trainer as trainer_module

    made = []

    def keeping(params, c):  # the engine's optimiser factory, keeping what it makes
        made.append(make_optimizer(params, c))
        return made[-1]

    monkeypatch.setattr(trainer_module, "make_optimizer", keeping)
    c = TrainConfig(epochs=1, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=0.05, decay_exempt="timm",
                    layer_decay=D, max_steps_per_epoch=2)
    trainer = Trainer(c, verbose=False, progress=False)
    history = trainer.fit(CrossEntropy(_tiny()), _images())
    (opt,) = made
    factor = lr_factor(c, 0 + 1 / 2)  # the last step's
    assert len({g["lr_scale"] for g in opt.param_groups}) == 5  # 5 blocks: D**4 … 1
    for g in opt.param_groups:
        assert g["lr"] == pytest.approx(c.lr * g["lr_scale"] * factor)
    assert history[-1]["lr"] == pytest.approx(c.lr * factor)  # the history keeps the base lr


def _bn_run(bn_eval: bool):
    student = _tiny()
    bns = [m for m in student.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    conv = student.net.stages[0].blocks[0].conv1.conv.weight
    before = ([b.running_mean.clone() for b in bns], conv.detach().clone())
    modes = []

    def watch(event, state, trainer):
        if event == "step":
            modes.append((student.training, {b.training for b in bns}))

    c = TrainConfig(epochs=2, batch_size=16, optimizer="adamw", lr=1e-3, bn_eval=bn_eval, max_steps_per_epoch=2)
    Trainer(c, verbose=False, progress=False, callbacks=[watch]).fit(CrossEntropy(student), _images())
    return bns, before, conv, modes


def test_bn_eval_freezes_the_running_statistics_while_the_weights_train():
    bns, (means, weight), conv, modes = _bn_run(True)
    assert modes == [(True, {False})] * 4  # every step of both epochs: the student trains, its BNs don't
    assert all(torch.equal(b.running_mean, m) for b, m in zip(bns, means))
    assert not torch.equal(conv.detach(), weight)
    bns, (means, _), _, modes = _bn_run(False)
    assert modes == [(True, {True})] * 4
    assert not all(torch.equal(b.running_mean, m) for b, m in zip(bns, means))


def test_bad_layer_decays_are_refused():
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ConfigError, match="layer_decay"):
            TrainConfig(layer_decay=bad)
    assert TrainConfig(layer_decay=1.0).layer_decay == 1.0


def test_the_new_settings_round_trip_and_old_configs_still_load():
    c = TrainConfig(layer_decay=0.8, bn_eval=True)
    assert TrainConfig.from_dict(c.to_dict()) == c
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("layer_decay", "bn_eval")}
    loaded = TrainConfig.from_dict(old)
    assert (loaded.layer_decay, loaded.bn_eval) == (None, False)
    assert _same_recipe(old, TrainConfig()) and not _same_recipe(old, c)
