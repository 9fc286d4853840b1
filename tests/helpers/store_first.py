"""Record a top-K store as the first thing a process does (no Accelerator yet), under ``accelerate launch``.

usage: accelerate launch ... store_first.py OUT_DIR
The main process is slowed down just before it writes the store's meta, so a process that did not
wait for it would open the store too early. Each process writes OUT_DIR/rank{R}.json.
"""

import json
import os
import sys
import time
from pathlib import Path

import torch

from kdrepro.data import SeededAugment
from kdrepro.models import create_model
from kdrepro.stores import topk

sys.path.insert(0, str(Path(__file__).parent))
from tiny_run import synthetic  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    rank = int(os.environ["RANK"])
    if rank == 0:
        write = topk.write_json

        def slow_write(path, record):
            time.sleep(3)  # the main process is late: the others must wait at the barrier
            return write(path, record)

        topk.write_json = slow_write
    teacher = create_model("resnet8", num_classes=4, seed=1)
    store = topk.record_sparse_logits(teacher, synthetic(40, 0, channels=3), SeededAugment(crop_padding=1, seed=2),
                                      epochs=1, k=3, path=out / "store", batch_size=7)
    (out / f"rank{rank}.json").write_text(json.dumps({
        "k": store.meta["k"], "complete": store.complete(1, torch.arange(40)),
        "device": str(next(teacher.parameters()).device)}))


if __name__ == "__main__":
    main()
