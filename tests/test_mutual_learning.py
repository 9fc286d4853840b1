"""Deep Mutual Learning: the loss (Eq. 10) by hand, Algorithm 1's sequential updates against a
hand-written step, BatchNorm statistics counted once, resume, and two processes under
``accelerate launch`` (one DDP wrapper and one optimiser per network)."""

import copy
import json
import math
import sys

import pytest
import torch
import torch.nn.functional as F

from conftest import HELPERS, launch_two_cpu_processes
from kdrepro.engine import Trainer, TrainConfig
from kdrepro.engine.trainer import train_loader
from kdrepro.methods.mutual_learning import MutualLearning, batchnorm_statistics_kept, mutual_loss
from kdrepro.models import create_model

sys.path.insert(0, str(HELPERS))
from tiny_run import synthetic  # noqa: E402


def _kl(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def test_mutual_loss_is_cross_entropy_plus_mean_kl_from_the_peers():
    z = torch.tensor([[1.0, 0.0, -1.0]])
    peers = [torch.tensor([[0.0, 0.0, 0.0]]), torch.tensor([[0.0, 2.0, 0.0]])]
    softmax = lambda v: [math.exp(a) / sum(math.exp(b) for b in v) for a in v]  # noqa: E731
    q = softmax([1.0, 0.0, -1.0])
    expected_kl = (_kl(softmax([0, 0, 0]), q) + _kl(softmax([0, 2, 0]), q)) / 2  # Eq. 10, K = 3
    losses = mutual_loss(z, peers, torch.tensor([0]))
    assert losses["kl"].item() == pytest.approx(expected_kl, rel=1e-5)
    assert losses["ce"].item() == pytest.approx(-math.log(q[0]), rel=1e-5)
    same = mutual_loss(z, [z.clone()], torch.tensor([0]))
    assert same["kl"].item() == pytest.approx(0.0, abs=1e-6)


def test_no_gradient_reaches_a_peer_through_another_networks_loss():
    a, b = create_model("mlp", hidden=(8,), in_features=4, num_classes=3, seed=0), \
        create_model("mlp", hidden=(8,), in_features=4, num_classes=3, seed=1)
    x, y = torch.randn(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    losses = mutual_loss(a(x).logits, [b(x).logits], y)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in a.parameters())
    assert all(p.grad is None for p in b.parameters())


def _mlp(seed):
    return create_model("mlp", hidden=(16,), in_features=64, num_classes=4, seed=seed)


@pytest.mark.parametrize("sequential", [True, False])
def test_one_engine_step_equals_algorithm_1_written_by_hand(sequential):
    nets = [_mlp(1), _mlp(2), _mlp(3)]
    manual = copy.deepcopy(nets)
    train = synthetic(64, 0)
    config = TrainConfig(epochs=1, batch_size=16, lr=0.1, momentum=0.0, schedule="constant", seed=5,
                         max_steps_per_epoch=1)
    batch = next(iter(train_loader(config, train, None, "cpu")))  # the batch the engine will train on
    Trainer(config, verbose=False).fit(MutualLearning(nets, sequential=sequential), train)

    # Algorithm 1 by hand: each network steps in turn on its peers' latest predictions
    opts = [torch.optim.SGD(n.parameters(), lr=0.1) for n in manual]
    logits = [n(batch.x).logits.detach() for n in manual]
    for k, net in enumerate(manual):
        out = net(batch.x).logits
        peers = [logits[j] for j in range(3) if j != k]
        kl = sum(F.kl_div(F.log_softmax(out, 1), F.log_softmax(p, 1), reduction="batchmean", log_target=True)
                 for p in peers) / 2
        loss = F.cross_entropy(out, batch.y) + kl
        opts[k].zero_grad()
        loss.backward()
        opts[k].step()
        if sequential:
            logits[k] = net(batch.x).logits.detach()
    for trained, expected in zip(nets, manual):
        for p, q in zip(trained.parameters(), expected.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_sequential_and_simultaneous_updates_differ():
    ends = []
    for sequential in (True, False):
        nets = [_mlp(1), _mlp(2)]
        config = TrainConfig(epochs=1, batch_size=16, lr=0.5, momentum=0.0, schedule="constant", seed=5,
                             max_steps_per_epoch=2)
        Trainer(config, verbose=False).fit(MutualLearning(nets, sequential=sequential), synthetic(64, 0))
        ends.append(torch.cat([p.detach().flatten() for p in nets[1].parameters()]))
    assert not torch.allclose(ends[0], ends[1])


def test_recomputing_predictions_leaves_batchnorm_statistics_alone():
    net = create_model("resnet8", num_classes=4, seed=0).train()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k or "num_batches" in k}
    with torch.no_grad(), batchnorm_statistics_kept(net):
        net(torch.randn(8, 3, 8, 8) * 3 + 1)
    after = net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    net(torch.randn(8, 3, 8, 8) * 3 + 1)  # and outside the context they move again
    assert not all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())


def test_every_peer_is_evaluated_and_each_has_its_own_optimiser_state(tmp_path):
    nets = [create_model("resnet8", num_classes=4, seed=1), create_model("resnet8", num_classes=4, seed=2)]
    config = TrainConfig(epochs=1, batch_size=32, lr=0.05, schedule="constant", seed=0)
    history = Trainer(config, tmp_path, verbose=False).fit(MutualLearning(nets), synthetic(128, 0, 3),
                                                           synthetic(64, 1, 3))
    record = history[-1]
    assert {"test_accuracy", "peer2_test_accuracy", "train_peer1_kl", "train_peer2_ce"} <= set(record)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert set(saved["optimizer"]) == {"peer1", "peer2"}
    assert {k.split(".")[0] for k in saved["model"]} == {"peers"}  # no duplicate "student." copy


def test_an_interrupted_run_resumes_to_the_same_networks(tmp_path):
    def run(folder, stop_after=None):
        nets = [create_model("resnet8", num_classes=4, seed=1), create_model("resnet8", num_classes=4, seed=2)]

        def stop(event, state, trainer):
            if event == "epoch" and state.epoch + 1 == stop_after:
                raise KeyboardInterrupt

        config = TrainConfig(epochs=2, batch_size=32, lr=0.05, schedule="cosine", seed=0, max_steps_per_epoch=3)
        history = Trainer(config, folder, verbose=False, callbacks=[stop]).fit(MutualLearning(nets),
                                                                                synthetic(128, 0, 3))
        return nets, history

    whole, h_whole = run(tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", stop_after=1)
    resumed, h_resumed = run(tmp_path / "cut")
    for a, b in zip(whole, resumed):
        for (k, v), w in zip(a.state_dict().items(), b.state_dict().values()):
            assert torch.equal(v, w), k
    assert [r["train_loss"] for r in h_whole] == [r["train_loss"] for r in h_resumed]


def test_bad_peer_lists_are_refused():
    net = _mlp(0)
    with pytest.raises(ValueError, match="at least two"):
        MutualLearning([net])
    with pytest.raises(ValueError, match="same module"):
        MutualLearning([net, net])


@pytest.mark.slow
def test_two_processes_train_two_peers_in_step(tmp_path):
    proc = launch_two_cpu_processes(str(HELPERS / "tiny_run.py"), str(tmp_path), "--epochs", "2", "--method", "dml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"result-rank{r}.json").read_text()) for r in (0, 1))
    assert r0["num_processes"] == r1["num_processes"] == 2
    assert [r["processes"] for r in r0["history"]] == [2, 2]
    assert r0["digest"] == pytest.approx(r1["digest"], rel=1e-6)  # both peers, BatchNorm statistics included
    last = r0["history"][-1]
    assert last["peer2_test_accuracy"] == r1["history"][-1]["peer2_test_accuracy"]
    assert last["test_accuracy"] > 30 and last["peer2_test_accuracy"] > 30  # both learned (chance 25 %)
    assert "marked ready twice" not in proc.stderr


def test_cli_refuses_unknown_networks_before_training(capsys):
    from kdrepro.cli import main
    assert main(["dml", "train", "--scale", "smoke", "--cohorts", "resnet8+nosuch"]) != 0
    err = capsys.readouterr().err
    assert "unknown network(s) nosuch" in err and "resnet32" in err
