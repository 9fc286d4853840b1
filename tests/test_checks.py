"""Published numbers and verdicts: same setting or not comparable; pass and fail by the stated side."""

import pytest

from kdrepro.checks import NOT_COMPARABLE, PUBLISHED, check, check_claim, check_seeds, get_published
from kdrepro.errors import ConfigError

KEY = "hinton2015/mnist/distilled_errors"  # 74 errors, "at most" +20
SETTING = dict(get_published(KEY).setting)


def test_registry_entries_are_complete_and_unique():
    assert len({p.key for p in PUBLISHED}) == len(PUBLISHED)
    for p in PUBLISHED:
        assert p.source and p.paper and p.claim and p.unit, p.key
        assert p.setting.get("dataset"), f"{p.key} must state its dataset"
        assert p.sense in ("two-sided", "at most", "at least")
        if p.value is not None:
            assert p.tolerance > 0 and p.tolerance_reason, f"{p.key} needs a stated tolerance"


def test_smoke_is_never_a_pass():
    c = check(KEY, 74, scale="smoke", setting=SETTING)
    assert c.verdict == NOT_COMPARABLE and "smoke" in c.reason


def test_different_setting_is_not_comparable_and_says_why():
    c = check(KEY, 74, scale="medium", setting={**SETTING, "train_size": 2000})
    assert c.verdict == NOT_COMPARABLE and "train_size" in c.reason
    lossy = check(KEY, 74, scale="full", setting={**SETTING, "dataset": "cifar10-jpeg75"})
    assert lossy.verdict == NOT_COMPARABLE


def test_at_most_sense():
    assert check(KEY, 94, scale="medium", setting=SETTING).verdict == "pass"
    assert check(KEY, 50, scale="medium", setting=SETTING).verdict == "pass"
    bad = check(KEY, 95, scale="full", setting=SETTING)
    assert bad.verdict == "fail" and bad.difference == 21


def test_two_sided_sense():
    key = "hinton2015/mnist/student_errors"  # 146 ± 30
    setting = dict(get_published(key).setting)
    assert check(key, 176, scale="full", setting=setting).verdict == "pass"
    assert check(key, 115, scale="full", setting=setting).verdict == "fail"


def test_seeds_are_judged_on_their_mean_and_listed():
    one_bad_seed = check_seeds(KEY, [70, 80, 105], scale="full", setting=SETTING)  # mean 85 ≤ 74 + 20
    assert one_bad_seed.verdict == "pass" and one_bad_seed.measured == 85 and one_bad_seed.difference == 11
    assert "3 seed(s): 70, 80, 105, sd 18.0" in one_bad_seed.reason and "mean" in one_bad_seed.tolerance
    assert check_seeds(KEY, [90, 96, 99], scale="full", setting=SETTING).verdict == "fail"  # mean 95
    smoke = check_seeds(KEY, [74], scale="smoke", setting=SETTING)
    assert smoke.verdict == NOT_COMPARABLE and smoke.reason.startswith("smoke") and "1 seed(s): 74" in smoke.reason


def test_claims():
    key = "hinton2015/mnist/wide_temperature_flat"
    setting = dict(get_published(key).setting)
    assert check_claim(key, True, "spread 5", scale="medium", setting=setting).verdict == "pass"
    assert check_claim(key, False, "spread 50", scale="medium", setting=setting).verdict == "fail"
    assert check_claim(key, True, "x", scale="smoke", setting=setting).verdict == NOT_COMPARABLE
    with pytest.raises(ValueError, match="check_claim"):
        check(key, 1.0, scale="medium", setting=setting)


def test_unknown_key():
    with pytest.raises(ConfigError, match="no published number"):
        check("nobody2099/x", 1, scale="full", setting={})


def test_a_relative_claim_holds_on_any_stated_dataset_but_not_an_unstated_one():
    key = "zagoruyko2017/claim/at_beats_student"
    setting = {"dataset": "cifar10-jpeg75", "comparison": "same student, teacher, data and recipe"}
    assert check_claim(key, True, "AT 70 vs 69", scale="medium", setting=setting).verdict == "pass"
    assert check_claim(key, False, "AT 68 vs 69", scale="medium", setting=setting).verdict == "fail"
    unstated = check_claim(key, True, "", scale="medium", setting={"comparison": setting["comparison"]})
    assert unstated.verdict == NOT_COMPARABLE and "dataset" in unstated.reason
    assert check_claim(key, True, "", scale="smoke", setting=setting).verdict == NOT_COMPARABLE


def test_an_improvement_is_judged_against_the_spread_of_the_seeds():
    from kdrepro.checks import INCONCLUSIVE, check_improvement
    key, setting = "tian2020/claim/kd_beats_student", {"dataset": "cifar10", "comparison": "same student, teacher, data and recipe"}
    clear = check_improvement(key, [74.0, 74.2], [70.0, 70.4], scale="medium", setting=setting)
    assert clear.verdict == "pass" and "spread" in clear.measured
    within = check_improvement(key, [74.0, 74.6], [73.9, 74.5], scale="medium", setting=setting)
    assert within.verdict == INCONCLUSIVE and "more seeds" in within.reason
    worse = check_improvement(key, [70.0, 70.2], [74.0, 74.4], scale="medium", setting=setting)
    assert worse.verdict == "fail"
    one_seed = check_improvement(key, [74.1], [74.0], scale="medium", setting=setting)
    assert one_seed.verdict == "pass" and "not measured" in one_seed.measured
    assert check_improvement(key, [74.1], [74.0], scale="smoke", setting=setting).verdict == "not comparable"
    # one seed per side with the test set's size: its sampling noise (2 SE ≈ 1.24 points here) decides
    noisy = check_improvement(key, [74.1], [74.0], scale="medium", setting=setting, test_images=10_000)
    assert noisy.verdict == INCONCLUSIVE and "sampling noise" in noisy.reason
    assert check_improvement(key, [76.0], [74.0], scale="medium", setting=setting, test_images=10_000).verdict == "pass"
    assert check_improvement(key, [72.0], [74.0], scale="medium", setting=setting, test_images=10_000).verdict == "fail"


def test_inconclusive_checks_make_a_chapter_partly_reproduced_never_reproduced():
    from kdrepro.book.summary import INCONCLUSIVE, PARTLY, overall_verdict
    assert overall_verdict([{"verdict": "pass", "published": "holds"}, {"verdict": "inconclusive"}]) == PARTLY
    assert overall_verdict([{"verdict": "inconclusive"}, {"verdict": "not comparable"}]) == INCONCLUSIVE


def test_registry_states_what_each_corrected_entry_measured():
    from kdrepro.checks import published

    for size in ("5m", "11m", "21m"):  # TinyViT's ImageNet-1k rows: from scratch, no distillation (Cream README)
        p = get_published(f"wu2022/imagenet/in1k/tinyvit_{size}")
        assert "from scratch" in p.claim and "no distillation" in p.claim and "distilled on" not in p.claim
        assert p.setting["distillation"] == "none"
        assert get_published(f"wu2022/imagenet/in21k/tinyvit_{size}").setting["pretraining"] == "in21k"
    sparse = get_published("wu2022/claim/sparse_k_enough").claim
    assert "K = 10 of 21,841" not in sparse and "K = 100" in sparse  # config.py: DISTILL.LOGITS_TOPK = 100
    # DML: CIFAR-100 accuracies are Table 2 (Table 1 lists parameter counts)
    assert not hasattr(published, "DML_TABLE1") and published.DML_TABLE2[("resnet32", "resnet32")][2] == 71.19
    for p in published.published_for("zhang2018/cifar100"):
        assert "Table 2" in p.source, p.key
    peers = get_published("zhang2018/claim/more_peers_help")
    assert "Market-1501" in peers.claim and "mAP" in peers.claim and "analogue" in peers.claim
    assert "MobileNet" in peers.source
    tokens = get_published("touvron2021/claim/tokens_distinct").claim
    assert "0.999 between the two learned tokens" in tokens and "0.999 at the output" not in tokens
