"""The training engine: resume equals uninterrupted, NaN stops, several processes, teacher handling."""

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import HELPERS, REPO, launch_two_cpu_processes
from kdrepro.engine import Trainer, TrainConfig, load_model, save_model
from kdrepro.engine.schedule import lr_factor, weight_decay_at
from kdrepro.engine.optim import make_optimizer
from kdrepro.errors import ConfigError, NonFiniteLossError
from kdrepro.methods import KD, CrossEntropy, Distiller
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402


def _tiny(run_dir, *args, env=None):
    return subprocess.run([sys.executable, str(HELPERS / "tiny_run.py"), str(run_dir), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})}, cwd=REPO)


def _result(run_dir, rank=0):
    return json.loads((run_dir / f"result-rank{rank}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("method", ["ce", "stream"])
def test_a_run_killed_inside_an_epoch_resumes_from_its_checkpoint_there_to_the_same_result(tmp_path, method):
    """With checkpoint_every, a long epoch is not started over: the run resumes at the step of its
    last checkpoint, with the sums and generators (dropout) of that moment — bit for bit the same run."""
    import torch

    whole, killed = tmp_path / "whole", tmp_path / "killed"
    args = ["--method", method, "--checkpoint-every", "4"]
    assert _tiny(whole, *args).returncode == 0
    crashed = _tiny(killed, *args, "--kill-at-step", "25")  # 16 steps per epoch: the 10th of the second
    assert crashed.returncode == -9, crashed.stderr
    state = torch.load(killed / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 0 and state["within_epoch"]["epoch"] == 1 and state["within_epoch"]["step"] == 8
    resumed = _tiny(killed, *args)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _result(whole), _result(killed)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"]) and a["digest"] == b["digest"]
    if method == "stream":  # the second epoch's images: its first 8 batches before the kill, the rest after
        assert b["seen"]["1"] == a["seen"]["1"][8 * 32:]


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _tiny(whole).returncode == 0
    # 16 steps per epoch: step 25 is in the middle of the second epoch, after one checkpoint.
    crashed = _tiny(killed, "--kill-at-step", "25")
    assert crashed.returncode == -9, crashed.stderr
    assert (killed / "checkpoint.pt").exists() and not (killed / "result-rank0.json").exists()
    assert not [p for p in killed.iterdir() if p.name.endswith(".tmp")], "a half-written file was left"
    resumed = _tiny(killed)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _result(whole), _result(killed)
    strip = lambda h: [{k: v for k, v in r.items() if k != "time_s"} for r in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert a["digest"] == b["digest"]


@pytest.mark.slow
def test_two_cpu_processes_under_accelerate_launch(tmp_path):
    proc = launch_two_cpu_processes(str(HELPERS / "tiny_run.py"), str(tmp_path), "--epochs", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _result(tmp_path, 0), _result(tmp_path, 1)
    assert r0["num_processes"] == r1["num_processes"] == 2
    assert [r["processes"] for r in r0["history"]] == [2, 2]  # the history says how it was trained
    assert r0["digest"] == pytest.approx(r1["digest"], rel=1e-6)  # DDP kept the replicas in step
    assert r0["history"][-1]["test_errors"] == r1["history"][-1]["test_errors"]
    assert r0["history"][-1]["test_accuracy"] > 30  # it learned something (chance is 25 %)


def test_a_stage_that_trains_only_lower_layers_runs_on_two_processes(tmp_path):
    # FitNets' hint stage leaves the upper student without gradients: DDP must be told, or it hangs/fails
    proc = launch_two_cpu_processes(str(HELPERS / "tiny_run.py"), str(tmp_path), "--epochs", "1", "--method", "hint")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = _result(tmp_path, 0), _result(tmp_path, 1)
    assert r0["num_processes"] == 2 and r0["digest"] == pytest.approx(r1["digest"], rel=1e-6)
    assert r0["history"][-1]["train_hint"] > 0


def test_world_size_mismatch_is_refused(monkeypatch):
    import kdrepro.engine.accel as accel

    class OneProcess:
        num_processes = 1

        def __init__(self, **kwargs):
            pass

    monkeypatch.setattr(accel, "Accelerator", OneProcess)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="cpu=True"):
        accel.make_accelerator()


class _NaNAtStep3(Distiller):
    def __init__(self, student):
        super().__init__(student)
        self.calls = 0

    def forward(self, x, y, index=None):
        self.calls += 1
        out = self.student(x)
        loss = torch.nn.functional.cross_entropy(out.logits, y)
        return out, {"ce": loss * (float("nan") if self.calls == 3 else 1.0)}


def test_nan_loss_stops_with_epoch_and_step(tmp_path):
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    trainer = Trainer(TrainConfig(epochs=2, batch_size=32), tmp_path, verbose=False)
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 3"):
        trainer.fit(_NaNAtStep3(model), synthetic(256, 0))


def test_teacher_is_frozen_hidden_and_in_eval_mode():
    teacher = create_model("mlp_1200_1200_dropout", in_features=64, num_classes=4, seed=0)
    student = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=1)
    kd = KD(student, teacher, temperature=4.0)
    kd.train()
    assert not teacher.training and kd.student.training
    assert all(not n.startswith("teacher") for n, _ in kd.named_parameters())
    assert not any(k.startswith("teacher") for k in kd.state_dict())
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 4, (8,))
    _, losses = kd(x, y)
    sum(losses.values()).backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None for p in student.parameters())


def test_training_learns_and_checkpoint_mismatch_is_refused(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05)
    model = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=0)
    hist = Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(512, 0), synthetic(256, 1))
    assert len(hist) == 2 and hist[-1]["test_accuracy"] > 30
    assert json.loads((tmp_path / "history.json").read_text())[-1]["epoch"] == 2
    with pytest.raises(ConfigError, match="different recipe"):
        Trainer(cfg.replace(lr=0.1), tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(512, 0))


def test_a_checkpoint_from_before_a_new_setting_still_resumes(tmp_path):
    """A setting added to TrainConfig later (with a default that keeps the old behaviour) does not orphan
    the checkpoints written before it; a changed value still does."""
    cfg = TrainConfig(epochs=2, batch_size=32)
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    Trainer(cfg.replace(epochs=1), tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(256, 0))
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    later = ("patience", "monitor", "alpha", "weight_decay_end", "decay_exempt", "clip_per_parameter")
    saved["config"] = {k: v for k, v in saved["config"].items() if k not in later}
    saved["config"]["epochs"] = 2
    torch.save(saved, tmp_path / "checkpoint.pt")
    history = Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(256, 0))
    assert [h["epoch"] for h in history] == [1, 2]
    with pytest.raises(ConfigError, match="different recipe"):
        Trainer(cfg.replace(alpha=0.9), tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(256, 0))


def test_stored_teacher_refuses_augmentation():
    from kdrepro.data import Augment
    from kdrepro.methods import StoredTeacher

    student = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    kd = KD(student, StoredTeacher(torch.zeros(512, 4)))
    with pytest.raises(ConfigError, match="un-augmented"):
        Trainer(TrainConfig(epochs=1, batch_size=32), None, verbose=False).fit(
            kd, synthetic(512, 0), augment=Augment(jitter=2))


def test_save_and_load_model_by_name(tmp_path):
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    save_model(model, tmp_path / "m.pt", test_errors=12)
    again, info = load_model(tmp_path / "m.pt")
    assert info == {"test_errors": 12}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(FileNotFoundError, match="train it first"):
        load_model(tmp_path / "missing.pt")


def test_schedules():
    cos = TrainConfig(epochs=10, schedule="cosine")
    assert lr_factor(cos, 0) == pytest.approx(1.0) and lr_factor(cos, 10) == pytest.approx(0.0)
    assert lr_factor(cos, 5) == pytest.approx(0.5)
    step = TrainConfig(epochs=240, schedule="step", milestones=[150, 180, 210], gamma=0.1)
    assert [lr_factor(step, e) for e in (0, 149.9, 150, 185, 239)] == pytest.approx([1, 1, 0.1, 0.01, 0.001])
    expo = TrainConfig(epochs=1000, schedule="exponential", gamma=0.5, final_lr_factor=0.1)
    assert [lr_factor(expo, e) for e in (0, 1, 2.5, 3, 10)] == pytest.approx([1, 0.5, 0.5 ** 2.5, 0.125, 0.1])
    with pytest.raises(ConfigError, match="valid"):
        TrainConfig(schedule="poly")
    with pytest.raises(ConfigError, match="unknown training setting"):
        TrainConfig.from_dict({"epochs": 1, "learning_rate": 0.1})


def test_resume_refuses_another_method_setting_or_data(tmp_path):
    cfg = TrainConfig(epochs=1, batch_size=32)
    teacher = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)

    def student():
        return create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=1)

    Trainer(cfg, tmp_path, verbose=False).fit(KD(student(), teacher, temperature=4.0), synthetic(256, 0))
    # the same run again is finished already: it returns its history without training
    again = Trainer(cfg, tmp_path, verbose=False).fit(KD(student(), teacher, temperature=4.0), synthetic(256, 0))
    assert len(again) == 1
    with pytest.raises(ConfigError, match="different recipe, method"):
        Trainer(cfg, tmp_path, verbose=False).fit(KD(student(), teacher, temperature=8.0), synthetic(256, 0))
    subset = synthetic(256, 0)
    subset.indices = torch.arange(128)
    with pytest.raises(ConfigError, match="different recipe, method"):
        Trainer(cfg, tmp_path, verbose=False).fit(KD(student(), teacher, temperature=4.0), subset)


def test_unseeded_models_differ_and_seeded_ones_repeat():
    a, b = (create_model("mlp", hidden=(4,), in_features=8, num_classes=2) for _ in range(2))
    assert not torch.equal(a.head.weight, b.head.weight)
    c, d = (create_model("mlp", hidden=(4,), in_features=8, num_classes=2, seed=5) for _ in range(2))
    assert torch.equal(c.head.weight, d.head.weight)


def test_bad_settings_are_refused_early():
    for bad in ({"max_steps_per_epoch": 0}, {"lr": 0.0}, {"warmup_epochs": 20, "epochs": 10}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)


def test_a_splits_size_counts_its_subset():
    from kdrepro.engine import Split

    whole = Split(torch.zeros(10, 3, 2, 2, dtype=torch.uint8), torch.zeros(10, dtype=torch.long), (0.5,) * 3, (0.25,) * 3)
    assert whole.size == 10
    assert Split(whole.images, whole.labels, whole.mean, whole.std, torch.arange(4)).size == 4


def test_resume_refuses_another_device_precision_or_process_count(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32)
    run = lambda: Trainer(cfg, tmp_path, verbose=False).fit(  # noqa: E731
        CrossEntropy(create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=1)), synthetic(256, 0))
    path = tmp_path / "checkpoint.pt"
    run()
    state = torch.load(path, weights_only=False)
    assert state["context"] == {"device": "cpu", "mixed_precision": "no", "processes": 1, "channels_last": True}
    state["epoch"], state["history"] = 0, state["history"][:1]  # as if killed after epoch 1, on a GPU in bf16
    state["context"] = {"device": "cuda", "mixed_precision": "bf16", "processes": 1, "channels_last": True}
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"device 'cuda' → 'cpu', mixed_precision 'bf16' → 'no'.*--fresh"):
        run()
    state["context"] = {"device": "cpu", "mixed_precision": "no", "processes": 1}  # before channels-last by default
    torch.save(state, path)
    with pytest.raises(ConfigError, match=r"\(channels_last None → True\).*add --no-channels-last"):
        run()
    del state["context"]  # a checkpoint from before the context was recorded resumes as it always did
    torch.save(state, path)
    assert len(run()) == 2
    finished = torch.load(path, weights_only=False)
    finished["context"] = {"device": "cuda", "mixed_precision": "bf16", "processes": 4}
    torch.save(finished, path)
    assert run() == finished["history"]  # a finished run (a shared teacher, say) is reused wherever it was made


def test_auto_precision_is_bf16_only_where_the_gpu_or_cpu_has_it_natively(monkeypatch):
    import kdrepro.engine.accel as accel
    import kdrepro.provenance as provenance

    monkeypatch.delenv("KDREPRO_PRECISION", raising=False)  # the suite forces fp32
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert accel.auto_precision(on_gpu=True) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert accel.auto_precision(on_gpu=True) == "no"  # a V100 or T4: emulated only
    for flags, expected in (({"avx2", "avx512f"}, "no"), ({"avx512f", "avx512_bf16"}, "bf16"),
                            ({"amx_tile", "amx_bf16"}, "bf16"), (set(), "no")):
        monkeypatch.setattr(provenance, "cpu_flags", lambda flags=flags: flags)
        assert accel.auto_precision(on_gpu=False) == expected, flags
    assert provenance.machine()["cpu_native_bf16"] is False  # the last flags: none
    monkeypatch.setattr(provenance, "cpu_flags", lambda: {"avx512_bf16"})
    for forced, expected in (("fp32", "no"), ("FP32", "no"), ("bf16", "bf16"), ("auto", "bf16")):
        monkeypatch.setenv("KDREPRO_PRECISION", forced)
        assert accel.auto_precision(on_gpu=False) == expected
    monkeypatch.setenv("KDREPRO_PRECISION", "fp8")
    with pytest.raises(ConfigError, match="valid: fp32, bf16, auto"):
        accel.auto_precision(on_gpu=False)


def test_bf16_autocast_on_the_cpu_lands_where_float32_does(monkeypatch):
    """The same short run in float32 and in bf16 autocast: accuracies within a few points (the
    spread of seeds on this task), and the loss goes down in both."""
    from accelerate.state import AcceleratorState

    results = {}
    for precision in ("no", "bf16"):
        AcceleratorState._reset_state(True)  # one precision per process otherwise
        model = create_model("mlp", hidden=(32,), in_features=64, num_classes=4, seed=0)
        trainer = Trainer(TrainConfig(epochs=3, batch_size=32, lr=0.05, mixed_precision=precision), None, verbose=False)
        assert trainer.context["mixed_precision"] == precision
        results[precision] = trainer.fit(CrossEntropy(model), synthetic(512, 0), synthetic(256, 1))
    AcceleratorState._reset_state(True)
    for hist in results.values():
        assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert abs(results["bf16"][-1]["test_accuracy"] - results["no"][-1]["test_accuracy"]) <= 5


class _HostReads:
    """Counts the reads of a tensor's value by the host (each one a synchronisation on a GPU)."""

    METHODS = ("item", "tolist", "__float__", "__int__", "__bool__")

    def __init__(self, monkeypatch):
        self.count = 0
        for name in self.METHODS:
            original = getattr(torch.Tensor, name)

            def counted(t, *a, _original=original, **k):
                self.count += 1
                return _original(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.mark.parametrize("with_callback", [False, True])
def test_the_training_step_reads_nothing_back_from_the_device(monkeypatch, with_callback):
    """An epoch of 4 steps and one of 12 read the same number of values on the host: no read per step."""
    callbacks = [lambda event, state, trainer: None] if with_callback else []

    def reads(n_images: int) -> int:
        model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
        trainer = Trainer(TrainConfig(epochs=1, batch_size=32), verbose=False, callbacks=callbacks)
        counter = _HostReads(monkeypatch)
        trainer.fit(CrossEntropy(model), synthetic(n_images, 0))
        monkeypatch.undo()
        return counter.count

    assert reads(4 * 32) == reads(12 * 32)


def test_a_non_finite_loss_is_reported_at_its_step_though_checked_later(tmp_path):
    from kdrepro.engine.nonfinite import CHECK_EVERY

    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    trainer = Trainer(TrainConfig(epochs=1, batch_size=4), tmp_path, verbose=False)
    assert 3 < CHECK_EVERY < 256 // 4  # the check at step CHECK_EVERY reports step 3
    with pytest.raises(NonFiniteLossError, match=r"at epoch 1, step 3 \(ce=nan\)"):
        trainer.fit(_NaNAtStep3(model), synthetic(256, 0))
    assert not (tmp_path / "checkpoint.pt").exists()  # nothing of the poisoned epoch is kept


class _ScriptedErrors:
    """Patches the engine's evaluation so that the validation split gets the given error counts in turn."""

    def __init__(self, monkeypatch, valid_errors):
        import kdrepro.engine.trainer as trainer

        self.errors, real = list(valid_errors), trainer.evaluate_split

        def fake(net, split, **kw):
            out = real(net, split, **kw)
            if len(split.labels) == 77:  # the validation split below
                out["errors"] = self.errors.pop(0)
            return out

        monkeypatch.setattr(trainer, "evaluate_split", fake)


def _valid():
    return synthetic(77, 2)


def test_early_stopping_keeps_the_best_validation_epoch_and_stops_after_patience(tmp_path, monkeypatch):
    _ScriptedErrors(monkeypatch, [30, 20, 25, 20, 26, 27, 28])
    cfg = TrainConfig(epochs=10, batch_size=32, lr=0.05, patience=3)
    model = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    weights = {}
    probe = {"w": lambda d: weights.setdefault(len(weights) + 1, d.student.head.weight.detach().clone()).sum()}
    hist = Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(256, 0), valid=_valid(),
                                                     probes=probe)
    assert [r["valid_errors"] for r in hist] == [30, 20, 25, 20, 26]  # stopped 3 epochs after the best, epoch 2
    assert [r["best_epoch"] for r in hist] == [1, 2, 2, 2, 2]  # a tie is no improvement
    assert torch.equal(model.head.weight, weights[2])  # the kept weights are epoch 2's
    # resumed, the stopped run is finished: no training, the best weights again
    again = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=1)
    hist2 = Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(again), synthetic(256, 0), valid=_valid())
    assert hist2 == hist and torch.equal(again.head.weight, weights[2])


def test_early_stopping_needs_a_validation_split_and_a_valid_monitor():
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    with pytest.raises(ConfigError, match="validation split"):
        Trainer(TrainConfig(epochs=2, batch_size=32, patience=1), None, verbose=False).fit(
            CrossEntropy(model), synthetic(64, 0))
    with pytest.raises(ConfigError, match="valid: errors, loss"):
        TrainConfig(monitor="accuracy")
    with pytest.raises(ConfigError, match="patience"):
        TrainConfig(patience=0)


def test_the_loss_monitor_scores_the_methods_own_loss_and_rmsprop_trains(tmp_path):
    cfg = TrainConfig(epochs=3, batch_size=32, optimizer="rmsprop", lr=1e-3, alpha=0.9, schedule="constant",
                      monitor="loss")
    model = create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=0)
    trainer = Trainer(cfg, None, verbose=False)
    assert isinstance(make_optimizer(list(model.parameters()), cfg), torch.optim.RMSprop)
    hist = trainer.fit(CrossEntropy(model), synthetic(512, 0), valid=_valid())
    assert all(r["valid_score"] == r["valid_method_loss"] for r in hist)
    assert hist[-1]["valid_method_loss"] < hist[0]["valid_method_loss"]
    assert hist[-1]["valid_method_loss"] == pytest.approx(hist[-1]["valid_loss"], rel=1e-4)  # CE: the same loss



def test_a_damaged_checkpoint_falls_back_to_the_previous_epoch_or_is_refused_in_one_line(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32)

    def fit(folder):
        model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
        return Trainer(cfg, folder, verbose=False).fit(CrossEntropy(model), synthetic(256, 0), synthetic(128, 1))

    reference = fit(tmp_path / "reference")
    run = tmp_path / "run"
    fit(run)  # checkpoint.pt after epoch 2, checkpoint.prev.pt after epoch 1
    last = run / "checkpoint.pt"
    last.write_bytes(last.read_bytes()[:1000])  # a copy cut short
    with pytest.warns(UserWarning, match="damaged.*resuming from the previous checkpoint"):
        resumed = fit(run)
    assert [h["epoch"] for h in resumed] == [1, 2]  # epoch 2 trained again from epoch 1's checkpoint
    assert resumed[-1]["test_loss"] == pytest.approx(reference[-1]["test_loss"])  # the run it would have been
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (run / name).write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"is damaged and no earlier checkpoint is readable.*--fresh"):
        fit(run)


def test_channels_last_and_compiled_steps_train_as_the_eager_step_does(monkeypatch):
    """The two speed switches change the memory layout and the kernels, not the arithmetic: the same
    run's losses agree to float32 rounding, and what is saved is the plain module."""
    from kdrepro.engine import Split

    g = torch.Generator().manual_seed(0)
    split = Split(torch.randint(0, 256, (48, 3, 16, 16), generator=g, dtype=torch.uint8),
                  torch.randint(0, 4, (48,), generator=g), (0.5,) * 3, (0.25,) * 3)
    cfg = TrainConfig(epochs=1, batch_size=16, lr=0.05)

    def run(channels_last="0", compile="0"):
        monkeypatch.setenv("KDREPRO_CHANNELS_LAST", channels_last)
        monkeypatch.setenv("KDREPRO_COMPILE", compile)
        model = create_model("resnet8", num_classes=4, seed=0)
        trainer = Trainer(cfg, None, verbose=False)
        history = trainer.fit(CrossEntropy(model), split)
        return history[0]["train_loss"], model, trainer.context

    eager, _, context = run()
    channels_last, model, cl_context = run(channels_last="1")
    compiled, model2, _ = run(compile="1")
    assert "channels_last" not in context and cl_context["channels_last"] is True  # unfinished runs keep to it
    assert channels_last == pytest.approx(eager, rel=1e-4) and compiled == pytest.approx(eager, rel=1e-4)
    convs = [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    assert type(model2).__name__ != "OptimizedModule" and not any("_orig_mod" in k for k in model2.state_dict())


def _decay_of(module, cfg) -> dict[str, float]:
    """Each trainable parameter's weight decay in the optimiser the engine builds for ``module``."""
    from kdrepro.engine.optim import param_groups

    optimizer = make_optimizer(param_groups(module, cfg), cfg)
    names = {id(p): n for n, p in module.named_parameters()}
    return {names[id(p)]: g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}


def test_decay_exempt_spares_biases_and_norms_and_timms_tokens():
    import timm

    from kdrepro.engine.optim import param_groups

    cfg = TrainConfig(optimizer="adamw", weight_decay=0.05)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))
    net[2].bias.requires_grad_(False)  # frozen: in no group
    assert len(make_optimizer(param_groups(net, cfg), cfg).param_groups) == 1  # "none"
    assert _decay_of(net, cfg) == {"0.weight": 0.05, "0.bias": 0.05, "1.weight": 0.05, "1.bias": 0.05, "2.weight": 0.05}
    assert _decay_of(net, cfg.replace(decay_exempt="bias_and_norm")) == {
        "0.weight": 0.05, "0.bias": 0.0, "1.weight": 0.0, "1.bias": 0.0, "2.weight": 0.05}
    vit = timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=1, num_classes=3)
    wrapped = torch.nn.ModuleDict({"student": torch.nn.ModuleDict({"vit": vit})})  # names "student.vit.…"
    plain, timm_style = (_decay_of(wrapped, cfg.replace(decay_exempt=e)) for e in ("bias_and_norm", "timm"))
    tokens = {"student.vit.pos_embed", "student.vit.cls_token"}
    assert all(plain[n] == 0.05 and timm_style[n] == 0.0 for n in tokens)
    others = lambda decay: {n: d for n, d in decay.items() if n not in tokens}  # noqa: E731
    assert others(plain) == others(timm_style)
    assert timm_style["student.vit.blocks.0.attn.qkv.weight"] == 0.05
    assert timm_style["student.vit.blocks.0.attn.qkv.bias"] == timm_style["student.vit.norm.weight"] == 0.0
    with pytest.raises(ConfigError, match="valid: none, bias_and_norm, timm"):
        TrainConfig(decay_exempt="bias")


def test_the_weight_decay_follows_a_cosine_in_the_decayed_group_only(tmp_path):
    cfg = TrainConfig(epochs=2, batch_size=32, optimizer="adamw", lr=1e-3, weight_decay=0.04, weight_decay_end=0.4,
                      decay_exempt="bias_and_norm")
    assert [weight_decay_at(cfg, e) for e in (0, 1, 2)] == pytest.approx([0.04, 0.22, 0.4])
    assert weight_decay_at(cfg.replace(weight_decay_end=None), 1) == 0.04
    with pytest.raises(ConfigError, match="weight_decay above 0"):
        TrainConfig(weight_decay_end=0.4)
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(128, 0))  # 4 steps an epoch
    groups = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["optimizer"]["param_groups"]
    assert sorted(g["weight_decay"] for g in groups) == pytest.approx([0.0, weight_decay_at(cfg, 1 + 3 / 4)])


@pytest.mark.parametrize("per_parameter", [True, False])
def test_per_parameter_clipping_bounds_each_gradient_on_its_own(per_parameter):
    from kdrepro.engine.nonfinite import NonFiniteWatch

    cfg = TrainConfig(grad_clip=1.0, clip_per_parameter=per_parameter)
    net = torch.nn.ParameterDict({name: torch.nn.Parameter(torch.zeros(4)) for name in ("big", "small")})
    big, small = torch.tensor([6.0, 8.0, 0.0, 0.0]), torch.tensor([0.3, 0.4, 0.0, 0.0])  # norms 10 and 0.5
    loss = (net["big"] * big).sum() + (net["small"] * small).sum()
    trainer = Trainer(cfg, None, verbose=False)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    trainer._update(net, optimizer, {"loss": loss}, NonFiniteWatch(torch.device("cpu")), 0, Distiller(net))
    if per_parameter:  # DINO's clip_gradients
        assert net["big"].grad.norm().item() == pytest.approx(1.0, abs=1e-4)
        assert torch.equal(net["small"].grad, small)
    else:  # the global norm, sqrt(10² + 0.5²), scales both
        scale = 1.0 / (10**2 + 0.5**2) ** 0.5
        assert torch.allclose(net["big"].grad, big * scale, atol=1e-5)
        assert torch.allclose(net["small"].grad, small * scale, atol=1e-6)


class _DropsHeadWeightGradient(CrossEntropy):
    def __init__(self, student):
        super().__init__(student)
        self.calls = 0

    def before_optimizer_step(self):
        self.calls += 1
        self.student.head.weight.grad = None


def test_the_hook_before_each_optimiser_step_can_drop_a_gradient():
    cfg = TrainConfig(epochs=2, batch_size=32, optimizer="adamw", lr=1e-2, weight_decay=0.1)
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    head, bias = model.head.weight.detach().clone(), model.head.bias.detach().clone()
    method = _DropsHeadWeightGradient(model)
    Trainer(cfg, None, verbose=False).fit(method, synthetic(128, 0))  # 4 steps an epoch
    assert method.calls == 8
    assert torch.equal(model.head.weight, head)  # no step at all, not even AdamW's decay
    assert not torch.equal(model.head.bias, bias)



def test_a_second_process_waits_for_the_run_folder_then_reuses_the_finished_run(tmp_path, capsys):
    cfg = TrainConfig(epochs=1, batch_size=32, lr=0.05)
    model = create_model("mlp", hidden=(8,), in_features=64, num_classes=4, seed=0)
    holder = subprocess.Popen([sys.executable, "-c", "import filelock, sys, time; lock = filelock.FileLock(sys.argv[1]); "
                               "lock.acquire(); print('held', flush=True); time.sleep(3)", str(tmp_path / ".lock")],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"  # another process is in the run folder
    history = Trainer(cfg, tmp_path, verbose=False).fit(CrossEntropy(model), synthetic(64, 0))
    assert holder.poll() is not None  # it trained only once the other had let go
    assert "waiting: another process is training" in capsys.readouterr().out and len(history) == 1
