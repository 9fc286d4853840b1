"""DeiT: the ViT with class and distillation tokens, the paper's losses by hand, the test-time
combination, the token-cosine analysis, and clear refusals of impossible set-ups."""

import math

import pytest
import torch
import torch.nn.functional as F

from kdrepro.errors import ConfigError
from kdrepro.methods.deit import (DeiT, hard_distillation, learned_token_cosine, soft_distillation, soft_kl,
                                  token_cosine)
from kdrepro.models import create_model

SMALL = dict(depth=2, embed_dim=48, num_heads=3, drop_path_rate=0.0)


def _vit(distilled: bool, seed: int = 0, classes: int = 10):
    return create_model("deit_tiny_distilled_p4" if distilled else "vit_tiny_p4", num_classes=classes, seed=seed,
                        **SMALL)


def test_token_counts_heads_and_the_papers_test_time_combination():
    x = torch.randn(4, 3, 32, 32)
    plain, distilled = _vit(False).eval(), _vit(True).eval()
    assert plain.vit.pos_embed.shape[1] == 64 + 1 and distilled.vit.pos_embed.shape[1] == 64 + 2
    out = distilled(x)
    expected = (F.softmax(out.heads["cls"], -1) + F.softmax(out.heads["dist"], -1)) / 2  # softmax outputs added
    torch.testing.assert_close(out.logits.exp(), expected)
    assert set(plain(x).heads) == {"cls"}
    assert len(distilled.prefix_tokens(x)) == SMALL["depth"] + 2


def test_default_size_is_deit_tiny():
    model = create_model("vit_tiny_p4", num_classes=100)
    blocks, width = len(model.vit.blocks), model.vit.embed_dim
    assert (blocks, width, model.vit.blocks[0].attn.num_heads) == (12, 192, 3)


def test_soft_and_hard_distillation_by_hand():
    s, t, y = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[0.0, 3.0, 0.0]]), torch.tensor([0])
    q = F.softmax(s / 3, -1)[0].tolist()
    p = F.softmax(t / 3, -1)[0].tolist()
    kl = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    soft = soft_distillation(s, t, y, temperature=3.0, lam=0.1)  # the official normalisation: ÷ batch × classes
    assert soft["kl"].item() == pytest.approx(0.1 * 9 * kl / 3, rel=1e-5)
    assert soft["ce"].item() == pytest.approx(0.9 * F.cross_entropy(s, y).item(), rel=1e-6)
    batch = soft_distillation(s, t, y, temperature=3.0, lam=0.1, normalisation="batch")
    assert batch["kl"].item() == pytest.approx(0.1 * 9 * kl, rel=1e-5)
    hard = hard_distillation(s, t, y)
    assert hard["teacher_ce"].item() == pytest.approx(0.5 * F.cross_entropy(s, torch.tensor([1])).item(), rel=1e-6)


def test_the_two_kl_normalisations_differ_by_exactly_the_number_of_classes():
    torch.manual_seed(0)
    n, classes, tau = 5, 7, 3.0
    s, t = torch.randn(n, classes) * 2, torch.randn(n, classes) * 2
    log_q, log_p = F.log_softmax(s / tau, -1), F.log_softmax(t / tau, -1)
    summed = (log_p.exp() * (log_p - log_q)).sum().item()  # KL summed over every sample and class
    elements, batch = soft_kl(s, t, tau, "elements").item(), soft_kl(s, t, tau, "batch").item()
    assert elements == pytest.approx(summed * tau * tau / (n * classes), rel=1e-5)  # DeiT losses.py: ÷ numel
    assert batch == pytest.approx(summed * tau * tau / n, rel=1e-5)
    assert batch / elements == pytest.approx(classes, rel=1e-6)
    assert soft_kl(s, t, tau).item() == elements  # the default is the official one
    with pytest.raises(ConfigError, match="valid: elements, batch"):
        soft_kl(s, t, tau, "mean")
    with pytest.raises(ConfigError, match="KL normalisation"):
        DeiT(_vit(False), create_model("resnet8", num_classes=10), mode="soft", kl_normalisation="sum")


def test_the_chapters_soft_run_is_the_official_loss_and_the_batch_mean_its_named_ablation():
    from kdrepro.chapters import deit as dc
    from kdrepro.recipes.deit import recipe

    r = recipe("medium")
    assert r.kl_normalisation == "elements"
    assert {"soft", "soft_batch"} <= set(dc.MODES) and dc.LABELS["soft"] != dc.LABELS["soft_batch"]
    teacher = create_model("resnet8", num_classes=10, seed=1)
    official = dc.build_method(r, "soft", _vit(False), teacher)
    ablation = dc.build_method(r, "soft_batch", _vit(False), teacher)
    assert (official.mode, official.kl_normalisation) == ("soft", "elements")
    assert (ablation.mode, ablation.kl_normalisation) == ("soft", "batch")
    assert (official.temperature, official.lam) == (ablation.temperature, ablation.lam) == (3.0, 0.1)
    x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 10, (4,))
    torch.manual_seed(0)
    kl_official = official(x, y)[1]["kl"]
    ablation.student.load_state_dict(official.student.state_dict())
    kl_batch = ablation(x, y)[1]["kl"]
    assert kl_batch.item() == pytest.approx(10 * kl_official.item(), rel=1e-5)  # 10 classes


def test_the_distillation_head_learns_the_teacher_and_the_class_head_the_labels():
    student, teacher = _vit(True), create_model("resnet8", num_classes=10, seed=1)
    method = DeiT(student, teacher, mode="token_hard")
    x, y = torch.randn(6, 3, 32, 32), torch.randint(0, 10, (6,))
    out, losses = method(x, y)
    losses["teacher_ce"].backward()
    assert student.vit.head.weight.grad is None or not student.vit.head.weight.grad.any()
    assert student.vit.head_dist.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_tokens_cosine_is_measured_per_layer():
    cos = token_cosine(_vit(True), torch.randn(8, 3, 32, 32))
    assert len(cos) == SMALL["depth"] + 2 and all(-1 <= c <= 1 for c in cos)


def test_learned_token_cosine_is_between_the_two_token_vectors_themselves():
    model = _vit(True)
    with torch.no_grad():
        model.vit.cls_token.copy_(torch.zeros_like(model.vit.cls_token))
        model.vit.dist_token.copy_(torch.zeros_like(model.vit.dist_token))
        model.vit.cls_token[0, 0, :2] = torch.tensor([1.0, 0.0])
        model.vit.dist_token[0, 0, :2] = torch.tensor([1.0, 1.0])
    assert learned_token_cosine(model) == pytest.approx(1 / math.sqrt(2))  # not moved by position embeddings
    with pytest.raises(ConfigError, match="two prefix tokens"):
        learned_token_cosine(_vit(False))


def _deit_setup_with(cosines_rows: dict[str, list[float]]):
    """The DeiT chapter's checks on made-up accuracies and a made-up cosine table."""
    from types import SimpleNamespace

    import pandas as pd

    from kdrepro.chapters import deit as dc
    from kdrepro.data import get_spec
    from kdrepro.recipes.deit import recipe

    runs = {(m, 0): (None, [{"test_accuracy": 70.0}], None) for m in dc.MODES}
    ds = dc.DeitSetup("medium", recipe("medium"), "cifar10", get_spec("cifar10"), None, (0,),
                      (None, SimpleNamespace(size=10_000)), runs)
    index = [dc.LEARNED, "input", "block 1", dc.OUTPUT]
    cosines = pd.DataFrame({dc.LABELS["token_hard"]: cosines_rows["token"],
                            dc.LABELS["two_class_tokens"]: cosines_rows["twins"]}, index=index)
    return next(c for c in dc.checks(ds, cosines) if c.key == "touvron2021/claim/tokens_distinct")


def test_tokens_distinct_compares_the_learned_tokens_and_the_output_embeddings():
    paper = _deit_setup_with({"token": [0.06, 0.2, 0.6, 0.93], "twins": [0.999, 0.99, 0.999, 0.999]})
    assert paper.verdict == "pass" and "learned tokens: class/distillation 0.060, two class tokens 0.999" \
        in paper.measured
    # two class tokens whose learned vectors stay apart: the collapse the paper reports did not happen
    apart = _deit_setup_with({"token": [0.06, 0.2, 0.6, 0.93], "twins": [0.05, 0.99, 0.999, 0.999]})
    assert apart.verdict == "fail"


def test_impossible_set_ups_are_refused_with_what_to_do():
    teacher = create_model("resnet8", num_classes=10)
    with pytest.raises(ConfigError, match="distillation token"):
        DeiT(_vit(False), teacher, mode="token_hard")
    with pytest.raises(ConfigError, match="class token"):
        DeiT(_vit(True), teacher, mode="soft")
    with pytest.raises(ConfigError, match="without a teacher"):
        DeiT(_vit(True), teacher, mode="two_class_tokens")
    with pytest.raises(ConfigError, match="valid"):
        DeiT(_vit(True), teacher, mode="medium")
    wrong = DeiT(_vit(True, classes=10), create_model("resnet8", num_classes=100), mode="token_hard")
    with pytest.raises(ConfigError, match="teacher predicts 100 classes"):
        wrong(torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    with pytest.raises(ConfigError, match="two prefix tokens"):
        token_cosine(_vit(False), torch.randn(2, 3, 32, 32))


def test_an_unknown_mode_is_refused_before_anything_trains():
    from types import SimpleNamespace

    from kdrepro.chapters import deit as dc

    ds = SimpleNamespace(seeds=(0,), runs={})
    with pytest.raises(ConfigError, match="unknown mode.*'token'.*valid: none"):
        dc.run(ds, ["none", "token"])
    assert ds.runs == {}


def test_a_claim_whose_runs_were_left_out_is_listed_not_judged():
    from types import SimpleNamespace

    import pandas as pd

    from kdrepro.chapters import deit as dc
    from kdrepro.data import get_spec
    from kdrepro.recipes.deit import recipe

    runs = {(m, 0): (None, [{"test_accuracy": 70.0}], None) for m in ("none", "token_hard")}
    ds = dc.DeitSetup("medium", recipe("medium"), "cifar10", get_spec("cifar10"), None, (0,),
                      (None, SimpleNamespace(size=10_000)), runs)
    checks = {c.key: c for c in dc.checks(ds, pd.DataFrame())}
    assert checks["touvron2021/claim/hard_at_least_soft"].verdict == "not comparable"
    assert "needs the hard and soft runs" in checks["touvron2021/claim/hard_at_least_soft"].reason
    assert checks["touvron2021/claim/distilled_beats_alone"].verdict == "inconclusive"
