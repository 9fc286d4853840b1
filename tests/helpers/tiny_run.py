"""A tiny training run on synthetic data, for engine tests (resume, kill, several processes).

usage: python tiny_run.py RUN_DIR [--kill-at-step N] [--epochs E]
Writes RUN_DIR/result-rank{R}.json with the history, the process count and a weight digest.
"""

import argparse
import json
import os
import signal
import sys
from pathlib import Path

import torch

from kdrepro.engine import Split, Trainer, TrainConfig
from kdrepro.data.multicrop import MultiCrop
from kdrepro.data.streaming import StreamSplit
from kdrepro.methods import CrossEntropy
from kdrepro.methods.deit import DeiT
from kdrepro.methods.dino import DINO, DinoHead, DinoNet
from kdrepro.methods.fitnets import HintPretraining
from kdrepro.methods.mutual_learning import MutualLearning
from kdrepro.models import create_model


def synthetic(n: int, seed: int, channels: int = 1) -> Split:
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 4, (n,), generator=g)
    images = (torch.rand(n, channels, 8, 8, generator=g) * 128 + labels[:, None, None, None] * 30).to(torch.uint8)
    return Split(images, labels, (0.5,) * channels, (0.25,) * channels)


class _Normalised(torch.utils.data.Dataset):
    """A tensor split as a map-style dataset of normalised images (what a transform would return)."""

    def __init__(self, split: Split):
        self.split = split

    def __len__(self) -> int:
        return len(self.split.labels)

    def __getitem__(self, i: int):
        x = (self.split.images[i].float() / 255 - 0.5) / 0.25
        return x, int(self.split.labels[i])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run_dir")
    p.add_argument("--kill-at-step", type=int, default=None)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--checkpoint-every", type=int, default=None, help="also checkpoint every N steps of an epoch")
    p.add_argument("--method", default="ce", choices=["ce", "hint", "dml", "deit", "dino", "stream"],
                   help="hint: FitNets' hint stage on CIFAR ResNets (leaves parameters without gradient); "
                        "dml: two CIFAR ResNets learning from each other (two optimisers, two DDP wrappers); "
                        "deit: a ViT with a distillation token taught by a CNN; "
                        "dino: a ViT and its EMA teacher on multi-crop views (centre all-reduced); "
                        "stream: the MLP on the same images streamed through DataLoader workers (records "
                        "which images each process trained on, per epoch)")
    args = p.parse_args()

    def kill(event, state, trainer):  # simulate a crash in the middle of an epoch
        if event == "step" and state.global_step == args.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)

    config = TrainConfig(epochs=args.epochs, batch_size=32, lr=0.05, schedule="cosine", seed=3,
                         checkpoint_every=args.checkpoint_every)
    trainer = Trainer(config, args.run_dir, verbose=False, callbacks=[kill] if args.kill_at_step else [])
    if args.method == "hint":
        model = create_model("resnet8", num_classes=4, seed=1)
        distiller = HintPretraining(model, create_model("resnet14", num_classes=4, seed=2), image_shape=(3, 8, 8))
        channels = 3
    elif args.method == "dml":
        model = create_model("resnet8", num_classes=4, seed=1)
        peer = create_model("resnet8", num_classes=4, seed=2)
        distiller, channels = MutualLearning([model, peer]), 3
    elif args.method == "deit":
        vit = create_model("deit_tiny_distilled_p4", num_classes=4, img_size=8, depth=2, embed_dim=24, num_heads=2,
                           seed=1)
        distiller, channels = DeiT(vit, create_model("resnet8", num_classes=4, seed=2), mode="token_hard"), 3
    elif args.method == "dino":
        vit = create_model("vit_tiny_p4", num_classes=0, img_size=8, depth=2, embed_dim=24, num_heads=2,
                           dynamic_img_size=True, seed=1)
        student = DinoNet(vit, DinoHead(24, out_dim=32, hidden_dim=16, bottleneck_dim=8))
        crops = MultiCrop(global_size=8, local_size=4, n_local=2)
        distiller = DINO(student, mean=(0.5,) * 3, std=(0.25,) * 3, total_steps=args.epochs * 16, crops=crops)
        channels = 3
    else:
        model = create_model("mlp", hidden=(32, 32), in_features=64, num_classes=4, hidden_dropout=0.3, seed=1)
        distiller, channels = CrossEntropy(model), 1
    test = None if args.method == "dino" else synthetic(256, 1, channels)  # DINO has no classifier to test
    train = synthetic(512, 0, channels)
    seen = {}
    if args.method == "stream":
        def record(event, state, trainer):
            if event == "step":
                seen.setdefault(state.epoch, []).extend(state.batch_index.tolist())

        trainer.callbacks.append(record)
        train = StreamSplit(_Normalised(train), train.labels, workers=2)
    history = trainer.fit(distiller, train, test)
    # weights and buffers (BatchNorm statistics): every process must end with the same model
    digest = float(sum(t.detach().double().sum() * (i + 1) for i, t in enumerate(distiller.state_dict().values())))
    rank = trainer.accelerator.process_index
    out = {"history": history, "num_processes": trainer.accelerator.num_processes, "digest": digest, "seen": seen}
    Path(args.run_dir, f"result-rank{rank}.json").write_text(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
