"""``kdrepro bench`` and the Performance page: behaviour only, never a timing threshold."""

from __future__ import annotations

import json

import pytest
import torch

from kdrepro.bench import SIZES, run_bench, table_text
from kdrepro.bench.suite import CHANNELS_LAST, FASTEST, RATIOS, VARIANTS, compile_left_out, synthetic_split
from kdrepro.bench.timing import StepClock
from kdrepro.book.performance import performance_text, publish_benchmark, target_lines
from kdrepro.book.toc import toc_text
from kdrepro.cli import main
from kdrepro.errors import ConfigError


def test_the_clock_times_only_the_steps_after_the_warm_up(monkeypatch):
    now = iter([10.0, 14.0])
    clock = StepClock(torch.device("cpu"), warmup=2, steps=3)
    monkeypatch.setattr(clock, "_now", lambda: next(now))
    for _ in range(5):
        clock.tick()
    assert clock.images_per_s(batch_size=8) == pytest.approx(3 * 8 / 4.0)
    with pytest.raises(ValueError):
        StepClock(torch.device("cpu"), warmup=0, steps=3)
    with pytest.raises(RuntimeError, match="1 of 2"):
        short = StepClock(torch.device("cpu"), warmup=1, steps=1)
        short.tick()
        short.images_per_s(8)


def test_synthetic_data_has_cifar_shape():
    split = synthetic_split(10)
    assert split.images.shape == (10, 3, 32, 32) and split.images.dtype == torch.uint8
    assert split.labels.max() < 100


@pytest.mark.slow
def test_quick_bench_measures_every_variant_and_ratio(tmp_path):
    from kdrepro.bench.suite import COMPILED, comparisons

    results = run_bench("quick", out_dir=tmp_path, log=lambda *_: None)
    variants, ratios = comparisons("no", compile=False)  # the quick size leaves compilation out
    assert [r["variant"] for r in results["rows"]] == list(variants) and COMPILED not in variants
    assert all(r["images_per_s"] > 0 and len(r["repeats"]) == SIZES["quick"].repeats for r in results["rows"])
    by_variant = {r["variant"]: r["images_per_s"] for r in results["rows"]}
    assert len(results["ratios"]) == len(ratios) == len(RATIOS) - 2  # compiled, and every switch together
    for ratio, (numerator, denominator, _) in zip(results["ratios"], ratios):
        assert ratio["ratio"] == pytest.approx(by_variant[numerator] / by_variant[denominator], rel=1e-2)
    assert json.loads((tmp_path / "results.json").read_text())["size"] == "quick"
    assert (tmp_path / "bench.svg").read_bytes().startswith(b"<?xml")
    data_path = results["data_path"]  # the streamed loader beside DeiT-Ti's step, as one ratio
    rows = {r["what"]: r["images_per_s"] for r in data_path["rows"]}
    assert len(rows) == 2 and all(v > 0 for v in rows.values()) and data_path["settings"]["workers"] == 1
    loader, step = rows.values()
    # the rows are rounded to 0.01 images/s: a slow step (under load) moves the ratio by up to 0.005 / step
    assert data_path["ratios"][0]["ratio"] == pytest.approx(loader / step, rel=1e-2 + 0.005 / step)
    assert "data path" in table_text(results) and "the CRD run" in table_text(results)
    assert results["crd_run"]["steps_timed"] == 1 and results["not_here"]  # CUDA graphs: not on a CPU


def test_an_unknown_bench_size_is_refused():
    with pytest.raises(ConfigError, match="valid: cpu, gpu, quick"):
        run_bench("huge")
    with pytest.raises(SystemExit):
        main(["bench", "--size", "huge"])


def _results(size="cpu", kd_ratio=1.3, stored_ratio=2.1, shared_ratio=3.0):
    rows = [{"pair": "resnet32x4 → resnet8x4", "variant": v, "images_per_s": 100.0, "repeats": [100.0, 100.0]}
            for v in VARIANTS]
    ratios = [{"pair": "resnet32x4 → resnet8x4", "ratio": r, "numerator": a, "denominator": b, "what": w}
              for r, (a, b, w) in zip((kd_ratio, shared_ratio, stored_ratio), RATIOS)]
    return {"schema": 1, "kind": "bench", "size": size, "machine": {"summary": "Test CPU, 2 cores, no GPU"},
            "commit": "abc", "dirty": False, "date": "2026-11-23T00:00:00Z",
            "settings": {"batch_size": 64, "warmup": 2, "steps": 6, "repeats": 2, "workers": 2},
            "rows": rows, "ratios": ratios, "not_built": ["GPU: eager against torch.compile against CUDA graphs"]}


def test_targets_are_reported_met_or_missed_in_words():
    lines = target_lines(_results(kd_ratio=1.3, stored_ratio=2.1))
    assert "**1.30×** (target ≥ 1×) — **met**" in lines[0]
    assert "**2.10×** (target ≥ 2.5×) — **missed**" in lines[1]
    assert "**1.00×** (target ≥ 1.6×) — **missed** (kdrepro: the fastest live-teacher step" in lines[2]
    assert "not measured" in target_lines({**_results(), "rows": []})[2]
    bf16 = {**_results(), "ratios": [{"pair": "resnet32x4 → resnet8x4", "ratio": 1.06, "numerator": "kdrepro",
                                      "denominator": "reference-style, in kdrepro's precision", "what": "like for like"}]}
    assert target_lines(bf16)[0].endswith("**met** (against the reference-style, in kdrepro's precision)")
    compiling = {**_results(), "precision": {"kdrepro": "bf16", "reference": "no"},
                 "machine": {"summary": "Test CPU, 2 cores, no GPU", "gpus": 0}}
    compiling["settings"] = {**compiling["settings"], "compile": True}
    assert not compile_left_out(_results())  # a size that does not compile
    on_gpu = {**compiling, "machine": {"summary": "Test GPU", "gpus": 1}}
    assert not compile_left_out(on_gpu) and compile_left_out(compiling)  # refused under bf16 on a CPU only
    refused = compiling
    refused["rows"] = [{**r, "images_per_s": 180.0 if r["variant"] == CHANNELS_LAST else 100.0} for r in refused["rows"]]
    fastest = target_lines(refused)[2]  # the fastest live step, whichever switches it took
    assert "**1.80×** (target ≥ 1.6×) — **met** (kdrepro, channels-last convolutions: the fastest" in fastest
    assert "--compile is refused under bf16 on a CPU" in fastest
    assert "**3.00×** (target ≥ 3×) — **met**" in lines[3]  # the students sharing a teacher
    assert "not measured" in target_lines({**_results(size="gpu"), "ratios": []})[0]
    shared = target_lines(_results(stored_ratio=2.33, shared_ratio=1.79))[3]  # sharing bounded by no teacher at all
    assert "**1.79×** (target ≥ 3×) — **missed**" in shared and "2.33× here" in shared and "out of reach" in shared


def test_publishing_a_bench_puts_it_on_the_performance_page(tmp_path):
    book = tmp_path / "book"
    assert "No benchmark has been published yet" in performance_text(book)
    publish_benchmark(_results(), book)
    page = (book / "performance.md").read_text()
    assert "## cpu: Test CPU, 2 cores, no GPU" in page and "figures/performance-cpu-test-cpu.svg" in page
    assert (book / "figures" / "performance-cpu-test-cpu.svg").is_file()
    assert "Not measured, because kdrepro does not have them yet: GPU: eager against" in page
    assert "book/performance" in toc_text(book)
    assert "The data path" not in page  # a run from before the bench measured it
    data_path = {"settings": {"images": 64, "batch_size": 16, "workers": 2, "image_size": 224},
                 "rows": [{"what": "decode + augment, 2 workers", "images_per_s": 138.7},
                          {"what": "DeiT-Ti training step, no teacher", "images_per_s": 4.2}],
                 "ratios": [{"what": "loader ÷ no teacher", "ratio": 33.02}]}
    publish_benchmark({**_results(), "data_path": data_path}, book)
    page = (book / "performance.md").read_text()
    assert "### The data path" in page and "| decode + augment, 2 workers | 138.7 |" in page
    assert "| loader ÷ no teacher | 33.02× |" in page and "batch 16, 64 generated JPEGs (2 workers)" in page


def test_each_kind_of_machine_keeps_its_own_published_bench(tmp_path):
    book = tmp_path / "book"
    intel = {**_results(), "machine": {"summary": "Intel(R) Xeon(R) Processor, 2 cores, no GPU",
                                       "cpu": "Intel(R) Xeon(R) Processor", "gpu": None, "cpu_native_bf16": True}}
    amd = {**_results(), "machine": {"summary": "AMD EPYC, 2 cores, no GPU", "cpu": "AMD EPYC", "gpu": None,
                                     "cpu_native_bf16": False}}
    # the same processor name with native bf16 trains in another precision: a kind of its own
    amd_bf16 = {**amd, "date": "2026-12-05T00:00:00Z", "machine": {**amd["machine"], "cpu_native_bf16": True}}
    for results in (intel, amd, {**amd, "date": "2026-12-02T00:00:00Z"}, amd_bf16):
        publish_benchmark(results, book)
    assert sorted(p.name for p in (book / "benchmarks").iterdir()) == [
        "cpu-amd-epyc-bf16.json", "cpu-amd-epyc.json", "cpu-intel-xeon-processor-bf16.json"]
    page = (book / "performance.md").read_text()
    assert page.count("## cpu: ") == 3 and "figures/performance-cpu-amd-epyc.svg" in page
    assert "figures/performance-cpu-amd-epyc-bf16.svg" in page
    amd_section = page.split("## cpu: AMD EPYC, 2 cores, no GPU\n")[1].split("## cpu:")[0]
    assert "2026-12-02T00:00:00Z" in amd_section and "2026-11-23" not in amd_section
    assert "2026-12-05T00:00:00Z" in page.split("## cpu: AMD EPYC, 2 cores, no GPU, native bf16")[1]


def test_compare_speed_times_each_distiller_side_by_side_whatever_its_schedule():
    from kdrepro.bench.timing import compare_speed
    from kdrepro.data import Augment
    from kdrepro.engine import TrainConfig
    from kdrepro.methods import KD, CrossEntropy
    from kdrepro.models import create_model

    built = []

    def student():
        built.append(1)
        return CrossEntropy(create_model("resnet8", num_classes=100, seed=0))

    def kd():
        return KD(create_model("resnet8", num_classes=100, seed=0), create_model("resnet8", num_classes=100, seed=1))

    # a 20-epoch recipe with 3 warm-up epochs: the timing runs one epoch of a few steps all the same
    config = TrainConfig(epochs=20, batch_size=8, lr=0.01, schedule="cosine", warmup_epochs=3.0)
    table = compare_speed({"alone": student, "kd": kd}, config, synthetic_split(64), dict.fromkeys(("alone", "kd"),
                          Augment(crop_padding=2, flip=True)), steps=2, repeats=2, warmup=1)
    assert list(table.index) == ["alone", "kd"] and len(built) == 2  # a fresh distiller for every round
    assert table.loc["alone", "speed-up"] == 1.0 and (table["images/s (median)"] > 0).all()
    assert all(len(r.split(", ")) == 2 for r in table["repeats"])


def test_in_bf16_the_reference_also_runs_in_bf16_for_a_like_for_like_ratio():
    from kdrepro.bench.suite import KDREPRO, REFERENCE, SAME_PRECISION, comparisons

    assert comparisons("no") == (VARIANTS, RATIOS)
    variants, ratios = comparisons("bf16")
    assert variants[SAME_PRECISION].pipeline == "reference" and variants[SAME_PRECISION].precision == "bf16"
    pairs = [(a, b) for a, b, _ in ratios]
    assert (KDREPRO, REFERENCE) in pairs and (KDREPRO, SAME_PRECISION) in pairs
    assert "both in bf16" in dict(((a, b), w) for a, b, w in ratios)[(KDREPRO, SAME_PRECISION)]


def test_a_switched_variant_runs_the_engine_with_its_switch_and_restores_the_environment(monkeypatch):
    from kdrepro.bench.suite import CHANNELS_LAST, COMPILED, KDREPRO, switched_on
    from kdrepro.engine.speed import speed_switches

    monkeypatch.setenv("KDREPRO_COMPILE", "1")
    monkeypatch.setenv("KDREPRO_CHANNELS_LAST", "0")
    with switched_on(VARIANTS[CHANNELS_LAST].switches):
        assert speed_switches() == {"channels_last": True, "compile": False, "cuda_graphs": False}
    with switched_on(VARIANTS[KDREPRO].switches):  # the plain eager step: channels-last off, default or not
        assert speed_switches() == {"channels_last": False, "compile": False, "cuda_graphs": False}
    assert speed_switches() == {"channels_last": False, "compile": True, "cuda_graphs": False}  # as it was
    assert VARIANTS[COMPILED].switches == ("compile",)


def test_the_reference_pipeline_runs_under_bf16_autocast_when_asked(monkeypatch):
    import kdrepro.bench.reference as reference
    from kdrepro.models import create_model

    dtypes = []
    real = reference.F.cross_entropy
    monkeypatch.setattr(reference.F, "cross_entropy", lambda z, y: dtypes.append(z.dtype) or real(z, y))
    split = synthetic_split(32)
    for precision in ("no", "bf16"):
        reference.reference_kd_steps(create_model("resnet8", num_classes=100, seed=1),
                                     create_model("resnet8", num_classes=100, seed=0), split.images, split.labels,
                                     split.mean, split.std, batch_size=8, steps=1, warmup=1, workers=0,
                                     device=torch.device("cpu"), precision=precision)
    assert dtypes == [torch.float32] * 2 + [torch.bfloat16] * 2  # warm-up and timed step of each


def test_the_gpu_check_runs_its_cpu_parts_here_and_says_what_it_skipped(tmp_path):
    from kdrepro.bench.device_check import run_check

    report = run_check([], tmp_path, budget_s=300, log=lambda *_: None)
    assert not report["gpu"] and report["ok"], report["parts"]
    assert list(report["parts"]) == ["bench"] and report["bench"]["size"] == "quick"
    assert report["bench"]["precision"] == {"kdrepro": "no", "reference": "no"}
    assert any("no GPU" in s for s in report["skipped"])
    page = (tmp_path / "report.md").read_text()
    assert "| bench | passed |" in page and "skipped: the CUDA path's tests (no GPU)" in page
    assert "### The CRD run, extrapolated" in page and "met" not in page  # its targets are a GPU's
    assert "skipped: the full-scale rehearsals on the GPU" in page
    assert json.loads((tmp_path / "report.json").read_text())["ok"]


def test_the_deit_step_reads_its_teacher_from_a_store_of_the_same_batches(tmp_path):
    """The data path's store row: DeiT-Ti's hard-distillation step with the teacher recorded beforehand on
    its batches (recorded once, then read), beside the live teacher's — both measured."""
    import torch

    from kdrepro.bench.data_path import DataPathSize, step_images_per_s

    size = DataPathSize(batch_size=2, warmup=1, steps=1, workers=1, teacher="resnet18")
    live = step_images_per_s(size, torch.device("cpu"), "resnet18")
    stored = step_images_per_s(size, torch.device("cpu"), "resnet18", tmp_path / "store")
    assert live > 0 and stored > 0 and (tmp_path / "store" / "samples.i64").is_file()


def test_the_crd_run_is_extrapolated_from_an_epoch_timed_through_the_engine():
    from kdrepro.bench.crd_run import LIVE, RECORDING, STORED, CrdRunSize, measure_crd_run, run_config

    config = run_config(CrdRunSize(steps=1))
    assert (config.epochs, config.batch_size, config.lr, config.milestones) == (2, 64, 0.05, [150, 180, 210])
    crd = measure_crd_run(CrdRunSize(steps=1), log=lambda *_: None)
    assert (crd["epochs"], crd["steps_per_epoch"], crd["steps_timed"]) == (240, 781, 1)
    rows = {r["what"]: r for r in crd["rows"]}
    assert list(rows) == [LIVE, RECORDING, STORED]
    for r in rows.values():  # one step scaled to the epoch's 781, the epoch to the run's 240
        assert r["seconds_per_epoch"] > 0
        assert r["run_minutes"] == pytest.approx(r["seconds_per_epoch"] * 240 / 60, abs=0.01)
    assert rows[LIVE]["target_minutes"] == 5.0 and rows[STORED]["target_minutes"] == 3.0


def test_the_crd_run_targets_are_judged_only_for_a_gpu():
    from kdrepro.bench.crd_run import LIVE, STORED, crd_run_lines

    crd = {"pair": "resnet32x4 → resnet8x4", "epochs": 240, "train_images": 50_000, "batch_size": 64,
           "steps_per_epoch": 781, "steps_timed": 781,
           "rows": [{"what": LIVE, "seconds_per_epoch": 1.0, "run_minutes": 4.0, "target_minutes": 5.0},
                    {"what": STORED, "seconds_per_epoch": 1.0, "run_minutes": 4.0, "target_minutes": 3.0}]}
    judged = "\n".join(crd_run_lines(crd, judge=True))
    assert "one whole epoch" in judged and "≤ 5 min — **met**" in judged and "≤ 3 min — **missed**" in judged
    plain = "\n".join(crd_run_lines({**crd, "steps_timed": 5}, judge=False))
    assert "the first 5 steps of an epoch, scaled to its 781" in plain and "met" not in plain
    assert crd_run_lines(None, judge=True) == []


def test_the_performance_page_shows_the_gpu_checks_report_layout_and_whether_a_gpu_ran_it(tmp_path):
    from kdrepro.bench.device_check import report_format

    layout = report_format()
    assert "| gpu tests | <passed, or failed (its status)> | <s> |" in layout
    assert "| live teacher | <s> | <min> | ≤ 5 min — **<met or missed>** |" in layout and "0.0" not in layout
    page = performance_text(tmp_path / "book")
    assert "## The GPU check" in page and layout.rstrip() in page and "No GPU has run it yet" in page
    publish_benchmark(_results(size="gpu"), tmp_path / "book")
    assert "A GPU's benchmark is published above." in performance_text(tmp_path / "book")


def test_the_compiled_variants_are_left_out_where_the_engine_refuses_them():
    from kdrepro.bench.suite import compile_here

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert compile_here(SIZES["cpu"], cpu, "no") == (True, [])
    assert compile_here(SIZES["gpu"], cuda, "bf16") == (True, [])
    assert compile_here(SIZES["quick"], cpu, "bf16") == (False, [])  # quick never compiles
    compiled, skipped = compile_here(SIZES["cpu"], cpu, "bf16")
    assert not compiled and FASTEST in skipped[0] and "refused under bf16" in skipped[0]
