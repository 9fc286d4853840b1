"""DINO: the loss by hand, the schedules, the EMA teacher and the centre, the head, the views,
the k-NN vote, the class-token attention, and two processes in step."""

import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import HELPERS, launch_two_cpu_processes
from kdrepro.data.multicrop import MultiCrop
from kdrepro.errors import ConfigError, DatasetError
from kdrepro.evaluation.frozen_features import knn_predict, linear_probe_accuracy
from kdrepro.methods.dino import DINO, DinoHead, DinoNet, dino_loss, teacher_momentum, teacher_temperature
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))


def _tiny_dino(**kwargs) -> DINO:
    vit = create_model("vit_tiny_p4", num_classes=0, img_size=8, depth=1, embed_dim=12, num_heads=2,
                       dynamic_img_size=True, seed=0)
    student = DinoNet(vit, DinoHead(12, out_dim=6, hidden_dim=8, bottleneck_dim=4))
    return DINO(student, mean=(0.5,) * 3, std=(0.25,) * 3, total_steps=10,
                crops=MultiCrop(global_size=8, local_size=4, n_local=1), **kwargs)


def test_loss_is_the_mean_cross_entropy_over_pairs_of_different_views():
    s = [torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]), torch.tensor([[2.0, 0.0]])]
    t = [torch.tensor([[0.5, 0.0]]), torch.tensor([[0.0, 0.0]])]
    c = torch.tensor([[0.1, -0.1]])

    def ce(ti, si):
        p = [math.exp((ti[k] - c[0, k].item()) / 0.5) for k in range(2)]
        p = [v / sum(p) for v in p]
        q = [math.exp(si[k] / 1.0) for k in range(2)]
        return -sum(pk * math.log(qk / sum(q)) for pk, qk in zip(p, q))

    pairs = [(0, 1), (0, 2), (1, 0), (1, 2)]  # teacher view i, student view j ≠ i
    expected = sum(ce(t[i][0].tolist(), s[j][0].tolist()) for i, j in pairs) / len(pairs)
    assert dino_loss(s, t, c, student_temp=1.0, teacher_temp=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_schedules_start_middle_and_end():
    assert teacher_momentum(0.0) == pytest.approx(0.996)
    assert teacher_momentum(0.5) == pytest.approx(0.998)
    assert teacher_momentum(1.0) == pytest.approx(1.0)
    assert teacher_temperature(0, 0.04, 0.07, 30) == pytest.approx(0.04)
    assert teacher_temperature(29, 0.04, 0.07, 30) == pytest.approx(0.07)  # reached in the last warm-up epoch
    assert teacher_temperature(30, 0.04, 0.07, 30) == teacher_temperature(99, 0.04, 0.07, 30) == 0.07


def test_teacher_temperature_warm_up_matches_the_official_per_epoch_array():
    # main_dino.py: linspace(0.04, 0.07, 3) then 0.07: hand-computed 0.04, 0.055, 0.07, 0.07
    assert [teacher_temperature(e, 0.04, 0.07, 3) for e in range(4)] == pytest.approx([0.04, 0.055, 0.07, 0.07])
    assert [teacher_temperature(e, 0.04, 0.07, 1) for e in range(2)] == [0.04, 0.07]  # linspace(a, b, 1) == [a]
    assert teacher_temperature(0, 0.04, 0.07, 0) == 0.07
    m = _tiny_dino(teacher_temp=0.07, teacher_temp_start=0.04, teacher_temp_warmup_epochs=3)
    seen = []
    for epoch in range(4):  # constant within an epoch: the method reads it from the epoch it is told
        m.set_epoch(epoch)
        seen.append(m.current_teacher_temp())
    assert seen == pytest.approx([0.04, 0.055, 0.07, 0.07])
    with pytest.raises(ConfigError, match="whole epochs"):
        teacher_temperature(0, 0.04, 0.07, 2.5)


def test_head_last_layer_is_weight_normalised_with_a_fixed_unit_norm():
    head = DinoHead(12, out_dim=7, hidden_dim=8, bottleneck_dim=4)
    assert not head.last_g.requires_grad
    out = head(torch.randn(3, 12))
    z = F.normalize(head.mlp(torch.randn(1, 12)), dim=-1)
    assert out.shape == (3, 7) and z.norm().item() == pytest.approx(1.0)
    w = head.last_g * F.normalize(head.last_v, dim=-1)
    assert torch.allclose(w.norm(dim=1), torch.ones(7))
    assert DinoHead(12, 7, 8, 4, norm_last_layer=False).last_g.requires_grad


def test_teacher_gets_no_gradient_and_follows_the_student_by_ema():
    m = _tiny_dino().train()
    assert all(not p.requires_grad for p in m.momentum_teacher.parameters())
    trained = {id(p) for p in m.parameters() if p.requires_grad}
    assert trained.isdisjoint({id(p) for p in m.momentum_teacher.parameters()})
    torch.manual_seed(0)
    _, losses = m(torch.randn(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
    losses["dino"].backward()
    assert all(p.grad is None for p in m.momentum_teacher.parameters())
    with torch.no_grad():
        for p in m.student.parameters():
            p.add_(1.0)
    before = [p.clone() for p in m.momentum_teacher.parameters()]
    m.apply_constraints()  # step 0 of 10: momentum 0.996
    for b, t, s in zip(before, m.momentum_teacher.parameters(), m.student.parameters()):
        assert torch.allclose(t, 0.996 * b + 0.004 * s, atol=1e-6)
    assert int(m.steps_done) == 1


def test_centre_is_a_moving_average_of_the_teachers_global_view_outputs(monkeypatch):
    m = _tiny_dino().train()
    views = [torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8), torch.randn(4, 3, 4, 4)]
    monkeypatch.setattr(m, "views", lambda x: views)
    m.centre.fill_(1.0)
    with torch.no_grad():
        t = torch.cat([m.momentum_teacher(v).logits for v in views[:2]]).mean(0, keepdim=True)
    m(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))
    assert torch.allclose(m.centre, 0.9 * 1.0 + 0.1 * t, atol=1e-6)
    m.eval()(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))  # evaluation leaves it alone
    assert torch.allclose(m.centre, 0.9 * 1.0 + 0.1 * t, atol=1e-6)


def test_ablations_change_the_target_as_the_paper_says():
    assert _tiny_dino(sharpening=False).current_teacher_temp() == 0.1  # τ_t = τ_s
    assert _tiny_dino(teacher_temp=0.04).current_teacher_temp() == 0.04
    m = _tiny_dino(centering=False)
    m.centre.fill_(5.0)
    x = torch.randn(4, 3, 8, 8)
    stats = m.output_statistics(x)
    m.centre.zero_()
    assert m.output_statistics(x) == stats  # the centre is not used without centring
    assert 0 <= stats["teacher_entropy"] <= stats["max_entropy"] == pytest.approx(math.log(6))


def test_multicrop_views_have_their_sizes_and_stay_images():
    x = torch.rand(5, 3, 32, 32)
    torch.manual_seed(0)
    views = MultiCrop(n_local=3)(x)
    assert [tuple(v.shape) for v in views] == [(5, 3, 32, 32)] * 2 + [(5, 3, 16, 16)] * 3
    assert all(v.min() >= 0 and v.max() <= 1 for v in views)
    torch.manual_seed(0)
    again = MultiCrop(n_local=3)(x)
    assert all(torch.equal(a, b) for a, b in zip(views, again))  # the engine's seeding makes views replayable
    assert not torch.allclose(views[0], views[1])


def test_full_crop_without_flip_is_the_identity():
    from kdrepro.data.multicrop import resized_crop_and_flip
    x = torch.rand(64, 3, 8, 8)
    torch.manual_seed(1)
    out = resized_crop_and_flip(x, 8, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    same = [torch.allclose(o, i, atol=1e-5) for o, i in zip(out, x)]
    mirrored = [torch.allclose(o, i.flip(-1), atol=1e-5) for o, i in zip(out, x)]
    assert all(a or b for a, b in zip(same, mirrored)) and any(same) and any(mirrored)


def test_knn_vote_is_weighted_by_similarity():
    train = F.normalize(torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), dim=-1)
    labels = torch.tensor([0, 0, 1])
    test = F.normalize(torch.tensor([[1.0, 0.05], [0.1, 1.0]]), dim=-1)
    assert knn_predict(train, labels, test, num_classes=2, k=3).tolist() == [0, 1]
    # one very close neighbour of class 1 outweighs two far ones of class 0 at a low temperature
    train2 = F.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.2], [1.0, 0.3]]), dim=-1)
    q = F.normalize(torch.tensor([[0.2, 1.0]]), dim=-1)
    assert knn_predict(train2, torch.tensor([1, 0, 0]), q, num_classes=2, k=3, temperature=0.07).item() == 1


def test_linear_probe_separates_separable_features():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=g)
    f = torch.randn(300, 8, generator=g) * 0.3 + F.one_hot(y, 8).float() * 2
    assert linear_probe_accuracy(f[:200], y[:200], f[200:], y[200:], 3, epochs=50) > 95


def test_class_attention_matches_timms_attention_weights():
    vit = create_model("vit_tiny_p4", num_classes=0, depth=2, embed_dim=12, num_heads=2, seed=0).eval()
    attn = vit.vit.blocks[-1].attn
    attn.fused_attn = False
    seen = {}
    attn.attn_drop.register_forward_hook(lambda mod, i, o: seen.setdefault("w", o))
    x = torch.randn(2, 3, 32, 32)
    vit(x)
    maps = vit.class_attention(x)
    assert maps.shape == (2, 2, 8, 8)
    assert torch.allclose(maps, seen["w"][:, :, 0, 1:].reshape(2, 2, 8, 8), atol=1e-6)


def test_the_full_recipe_is_the_official_vanilla_run():
    from kdrepro.recipes.dino import DinoImageNetRecipe, recipe

    r = recipe("full")
    assert isinstance(r, DinoImageNetRecipe) and (r.epochs, r.batch_size, r.out_dim) == (100, 512, 65536)
    assert (r.crops.n_global, r.crops.global_size, r.crops.n_local, r.crops.local_size) == (2, 224, 8, 96)
    assert (r.teacher_temp_start, r.teacher_temp, r.momentum, r.freeze_last_layer) == (0.04, 0.04, 0.996, 1)
    c = r.config()
    assert c.optimizer == "adamw" and c.lr == pytest.approx(1e-3) and c.lr * c.final_lr_factor == pytest.approx(1e-6)
    assert (c.weight_decay, c.weight_decay_end, c.decay_exempt) == (0.04, 0.4, "bias_and_norm")
    assert (c.grad_clip, c.clip_per_parameter, c.warmup_epochs) == (3.0, True, 10)
    lin = r.linear_config()
    assert (lin.optimizer, lin.epochs, lin.batch_size, lin.weight_decay) == ("sgd", 100, 1024, 0.0)
    assert lin.lr == pytest.approx(0.004)  # 0.001 per 256 images


def test_full_scale_says_how_to_register_imagenet(tmp_path, monkeypatch):
    from kdrepro.chapters import dino as dc

    monkeypatch.setenv("KDREPRO_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="kdrepro data prepare imagenet --from PATH"):
        dc.setup("full")


def test_the_last_layer_stays_frozen_in_the_first_epochs_only():
    m = _tiny_dino(freeze_last_layer=1).train()
    opt = torch.optim.AdamW([p for p in m.parameters() if p.requires_grad], lr=0.1, weight_decay=0.04)
    for epoch in (0, 1):
        m.set_epoch(epoch)
        before = m.student.head.last_v.detach().clone(), m.student.head.mlp[0].weight.detach().clone()
        opt.zero_grad()
        m(torch.rand(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))[1]["dino"].backward()
        m.before_optimizer_step()
        opt.step()
        assert torch.equal(m.student.head.last_v, before[0]) == (epoch == 0)  # not even decayed in epoch 0
        assert not torch.equal(m.student.head.mlp[0].weight, before[1])


def test_views_of_one_size_go_through_the_network_together_with_the_same_outputs():
    from kdrepro.methods.dino import same_size_forward

    net = _tiny_dino().student.eval()
    views = [torch.randn(3, 3, 8, 8), torch.randn(3, 3, 8, 8), torch.randn(3, 3, 4, 4), torch.randn(3, 3, 4, 4)]
    calls = []
    net.register_forward_hook(lambda mod, i, o: calls.append(i[0].shape[0]))
    together = same_size_forward(net, views)
    assert calls == [6, 6]  # two forward passes, one per size
    for v, out in zip(views, together):
        assert torch.allclose(out, net(v).logits, atol=1e-5)


def test_the_linear_evaluation_trains_one_layer_on_the_last_class_tokens_of_a_frozen_vit():
    from kdrepro.evaluation.frozen_features import LinearOnFrozen

    vit = create_model("vit_tiny_p4", num_classes=0, img_size=8, depth=3, embed_dim=12, num_heads=2, seed=0)
    x = torch.randn(2, 3, 8, 8)
    assert torch.allclose(vit.eval().last_class_tokens(x, 1), vit(x).logits, atol=1e-6)  # the last: the output
    probe = LinearOnFrozen(vit, num_classes=5, blocks=2).train()
    assert not vit.training and probe.linear.in_features == 24  # 2 blocks × 12
    assert [n for n, p in probe.named_parameters() if p.requires_grad] == ["linear.weight", "linear.bias"]
    F.cross_entropy(probe(x).logits, torch.tensor([0, 1])).backward()
    assert probe.linear.weight.grad is not None and all(p.grad is None for p in vit.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["dino", "deit"])
def test_two_processes_train_in_step(tmp_path, method):
    proc = launch_two_cpu_processes(str(HELPERS / "tiny_run.py"), str(tmp_path), "--epochs", "2", "--method", method)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"result-rank{r}.json").read_text()) for r in (0, 1))
    assert r0["num_processes"] == r1["num_processes"] == 2
    assert [r["processes"] for r in r0["history"]] == [2, 2]
    # the student (and for DINO its EMA teacher and the centre) agree on both processes
    assert r0["digest"] == pytest.approx(r1["digest"], rel=1e-6)
    assert all(math.isfinite(r["train_loss"]) for r in r0["history"])
    if method == "dino":
        assert "train_accuracy" not in r0["history"][-1]  # no classifier: no training accuracy
    assert "marked ready twice" not in proc.stderr


@pytest.mark.parametrize("last, verdict", [(35.0, "pass"), (28.1, "inconclusive"), (26.5, "fail"), (15.0, "fail")])
def test_knn_claim_counts_a_rise_only_beyond_the_test_sets_sampling_noise(last, verdict):
    from kdrepro.data import get_spec
    from kdrepro.checks import sampling_noise
    from kdrepro.chapters.dino import DinoSetup, checks
    from kdrepro.engine import Split
    from kdrepro.recipes.dino import recipe

    test = Split(torch.zeros(5000, 3, 2, 2, dtype=torch.uint8), torch.zeros(5000, dtype=torch.long), (0.5,) * 3,
                 (0.25,) * 3)
    history = [{"epoch": 1, "probe_knn": 27.2, "probe_teacher_entropy": 5.0, "probe_kl": 0.1},
               {"epoch": 2, "probe_knn": last, "probe_teacher_entropy": 5.0, "probe_kl": 0.1}]
    ds = DinoSetup("medium", recipe("medium"), "cifar10-jpeg75", get_spec("cifar10-jpeg75"), (test, test), test,
                   runs={"dino": (None, history, None)})
    knn = next(c for c in checks(ds, initial=27.0) if c.key == "caron2021/claim/knn_above_chance")
    assert knn.verdict == verdict
    assert 1.7 < sampling_noise(28.1, 28.1, 5000) < 1.9  # 2 · 100 · sqrt(2 · 0.281 · 0.719 / 5000)


def test_the_teacher_update_reads_the_step_count_once_and_again_after_a_load(monkeypatch):
    m = _tiny_dino()
    reads = []
    original = torch.Tensor.__int__
    monkeypatch.setattr(torch.Tensor, "__int__", lambda t: reads.append(1) or original(t))
    for _ in range(5):
        m.apply_constraints()
    assert len(reads) == 1 and int(m.steps_done) == 5
    state = m.state_dict()
    state["steps_done"] = torch.tensor(8)
    m.load_state_dict(state)
    reads.clear()
    m.apply_constraints()
    assert len(reads) == 1 and m._steps == 9  # the loaded count, not the host's old one


def test_views_are_float32_under_bf16_autocast():
    m = _tiny_dino()
    x = torch.randn(2, 3, 8, 8)
    torch.manual_seed(0)
    reference = m.views(x)
    torch.manual_seed(0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        views = m.views(x)
    assert all(v.dtype == torch.float32 for v in views)
    assert all(torch.equal(a, b) for a, b in zip(views, reference))  # the same crops and colours, unrounded


def test_multicrop_views_made_by_the_workers_train_dino_through_the_streamed_loader(tmp_path):
    """ImageNet's path: the DataLoader workers cut DINO's views (torchvision v2), the loader hands the
    method a list of view batches, and one engine trains it."""
    from PIL import Image
    from torchvision.datasets import ImageFolder

    from kdrepro.data.multicrop_views import MultiCropViews
    from kdrepro.data.streaming import StreamLoader, StreamSplit
    from kdrepro.engine import TrainConfig, Trainer

    sys.path.insert(0, str(HELPERS))
    from standins import make_image_folder

    image = Image.fromarray(torch.randint(0, 256, (50, 60, 3), dtype=torch.uint8).numpy())
    views = MultiCropViews(MultiCrop(global_size=8, local_size=4, n_local=1))(image)
    assert [tuple(v.shape) for v in views] == [(3, 8, 8), (3, 8, 8), (3, 4, 4)] and views[0].dtype == torch.float32
    full = MultiCropViews()  # the paper's: 2 × 224 px and 10 × 96 px
    assert [v.shape[-1] for v in full(image)] == [224] * 2 + [96] * 10
    folder = make_image_folder(tmp_path / "images", per_class=(4, 1))
    split = StreamSplit.from_image_folder(ImageFolder(str(folder / "train"),
                                                      transform=MultiCropViews(MultiCrop(8, 4, n_local=1))),
                                       workers=1)
    batch = next(iter(StreamLoader(split, 4)))
    assert isinstance(batch.x, list) and [tuple(v.shape) for v in batch.x] == [(4, 3, 8, 8)] * 2 + [(4, 3, 4, 4)]
    dino = _tiny_dino()
    history = Trainer(TrainConfig(epochs=1, batch_size=4, optimizer="adamw", lr=1e-3), None, verbose=False).fit(
        dino, split)
    assert history[0]["train_dino"] > 0
    with pytest.raises(ConfigError, match="made 2 views, the method expects 3"):
        dino.views(batch.x[:2])


def test_the_train_command_refuses_an_unknown_variant_and_trains_the_chapters_runs(capsys, tmp_path, monkeypatch):
    from kdrepro.cli import main

    assert main(["dino", "train", "--variants", "no_centring"]) == 2
    assert "unknown variant(s) no_centring; valid: dino, no_centering, no_sharpening" in capsys.readouterr().err
    monkeypatch.setenv("KDREPRO_RUNS", str(tmp_path))
    assert main(["dino", "train", "--scale", "smoke", "--variants", "dino"]) == 0
    assert "dino           trained" in capsys.readouterr().out
    assert list(tmp_path.glob("dino/*/smoke/dino/seed0/checkpoint.pt"))


def test_the_boosted_run_is_the_readmes_and_is_checked_against_its_own_numbers():
    from types import SimpleNamespace

    import pandas as pd

    from kdrepro.chapters import dino as dc
    from kdrepro.recipes.dino import recipe

    r = recipe("full", "boosted")
    assert (r.epochs, r.batch_size, r.norm_last_layer) == (300, 1024, False) and r.config().lr == pytest.approx(2e-3)
    assert [teacher_temperature(e, r.teacher_temp_start, r.teacher_temp, r.teacher_temp_warmup_epochs)
            for e in (0, 29, 30)] == [0.04, pytest.approx(0.07), 0.07]
    with pytest.raises(ConfigError, match="valid: vanilla, boosted"):
        recipe("full", "longest")
    ds = dc.DinoSetup("full", r, "imagenet", None, (None, SimpleNamespace(size=50_000)), None, classes=1000)
    ds.runs["dino"] = (None, [{"probe_teacher_entropy": 3.0, "probe_kl": 0.5}], None)
    final = pd.DataFrame({"k-NN (%)": [73.0], "linear, best epoch (%)": [75.8]}, index=[dc.LABELS["dino"]])
    by_key = {c.key: c for c in dc.checks(ds, initial=1.0, final=final)}
    boosted = by_key["caron2021/imagenet/linear/vit_s16_300ep_boosted"]
    assert boosted.measured == 75.8 and boosted.published == 76.1 and boosted.verdict == "pass"
    assert by_key["caron2021/imagenet/knn/vit_s16_100ep"].verdict == "not comparable"  # the other run: not measured
    assert ds.setting["recipe"] == "dino-boosted-300"
