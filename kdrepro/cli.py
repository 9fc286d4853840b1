"""The ``kdrepro`` command: prepare data, run and publish chapters, build the book."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import ConfigError, KdreproError


def _say(text: str) -> None:
    """Print from the first process only: under ``accelerate launch`` every process runs the command."""
    from .engine import is_main_process

    if is_main_process():
        print(text, flush=True)


def _cmd_chapters(args) -> None:
    from .chapters.registry import ALL_CHAPTERS

    for c in ALL_CHAPTERS:
        state = "ready" if c.exists else "planned"
        print(f"{c.name:<13} {state:<8} {c.label:>3}. {c.title}  [full: {c.full_data}]")


def _cmd_data_prepare(args) -> None:
    from .data import prepare
    from .data.image_folders import FOLDER_DATASETS, read_folder_meta, register
    from .data.imagenet22k import NAME as IN22K
    from .data.imagenet22k import read_meta as read_in22k_meta
    from .data.imagenet22k import register as register_in22k

    if args.source and len(args.names) != 1:
        raise ConfigError("--from names one dataset's folder: prepare one dataset at a time")
    for name in args.names:
        if name == IN22K:
            if args.source:
                path = register_in22k(args.source, fname_format=args.fname_format)
            else:
                path = Path(read_in22k_meta()["path"])
            print(f"{name}: registered, reading {path}" if args.source else f"{name}: registered at {path}")
            continue
        if name in FOLDER_DATASETS:
            if args.source:
                path = register(name, args.source)
            else:
                path = Path(read_folder_meta(name)["path"])  # already registered, or how to register it
            print(f"{name}: registered, reading {path}" if args.source else f"{name}: registered at {path}")
            continue
        if args.source:
            raise ConfigError(f"--from is for image-folder datasets ({', '.join([*FOLDER_DATASETS, IN22K])}); put {name}'s "
                              f"raw files in its raw/ folder instead (see `kdrepro data prepare --help`)")
        path = prepare(name, force=args.force, download=not args.no_download)
        print(f"{name}: ready in {path}")


def _cmd_data_list(args) -> None:
    from .data import DATASETS, is_prepared
    from .paths import data_root

    print(f"data root: {data_root()}")
    for name, spec in DATASETS.items():
        lossy = " (lossy copy)" if spec.lossy else ""
        print(f"{name:<16} {'prepared' if is_prepared(name) else 'missing':<9}{lossy}")
    from .data.image_folders import FOLDER_DATASETS, META

    for name in FOLDER_DATASETS:
        known = (data_root() / name / META).is_file()
        print(f"{name:<16} {'registered' if known else 'missing':<9} (image folder: `kdrepro data prepare {name} --from PATH`)")
    known = (data_root() / "imagenet21k" / META).is_file()
    print(f"{'imagenet21k':<16} {'registered' if known else 'missing':<9} (a zip per class: "
          "`kdrepro data prepare imagenet21k --from PATH`)")


def _cmd_run(args) -> None:
    import logging

    from .chapters.runner import parse_value, run_chapter

    # papermill logs each cell's output at INFO: stream it, so a long run shows its epochs
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    params = {name: parse_value(value) for name, value in (args.param or [])}
    if args.precision:  # the notebook's kernel inherits it; every "auto" recipe of the chapter follows it
        os.environ["KDREPRO_PRECISION"] = args.precision
    from .engine.speed import SPEED_SWITCHES

    for name, env in SPEED_SWITCHES.items():  # inherited by the kernel too; unset: the switch's default
        on = getattr(args, name)
        if on is not None:
            os.environ[env] = "1" if on else "0"
    path = run_chapter(args.chapter, args.scale, params, out_dir=args.out, fresh=args.fresh, rehearse=args.rehearse)
    print(f"executed notebook: {path}\nresults: {path.parent / 'results.json'}")


def _cmd_publish(args) -> None:
    from .book import publish

    path = publish(args.chapter, args.scale, time_only=args.time_only)
    print(f"{'time recorded in' if args.time_only else 'published'}: {path}")


def _cmd_scoreboard(args) -> None:
    from .book import refresh_book
    from .paths import book_root

    refresh_book()
    print(f"regenerated: {book_root() / 'scoreboard.md'}, the chapter headers and the landing table")


def _cmd_book(args) -> None:
    from .book import build_book

    html = build_book(strict=not args.no_strict)
    print(f"book: {html}")
    if args.check:
        from .book.browser import check_book

        screenshots = html.parent / "browser"
        problems = check_book(html, screenshots=screenshots)
        print(f"screenshots: {screenshots}")
        if problems:
            listing = "\n".join(f"  {p}" for p in problems)
            raise KdreproError(f"the browser check of the book found {len(problems)} problem(s):\n{listing}")
        print("browser check: every page loads clean")


def _cmd_bench(args) -> None:
    from .bench import run_bench, table_text
    from .bench.suite import default_size
    from .paths import runs_root

    size = args.size or default_size()
    out = args.out or runs_root() / "bench" / size
    results = run_bench(size, out_dir=out)
    print(table_text(results))
    print(f"results: {out / 'results.json'}, figure: {out / 'bench.svg'}")
    if args.publish:
        from .book.performance import publish_benchmark

        print(f"published: {publish_benchmark(results)}")


def _cmd_gpu_check(args) -> None:
    from .bench.device_check import run_check
    from .chapters.registry import available
    from .paths import runs_root

    out = args.out or runs_root() / "gpu-check"
    report = run_check([c.name for c in available()], out, budget_s=args.budget)
    print((out / "report.md").read_text())
    if not report["ok"]:
        raise KdreproError(f"some parts of the check failed: see {out / 'report.md'} and the logs beside it")


def _cmd_teacher_train(args) -> None:
    from .data import first_available
    from .recipes.cifar import recipe
    from .training.teachers import train_teacher

    dataset = args.dataset or first_available(recipe(args.scale).datasets)
    t = train_teacher(args.model, dataset, args.scale, args.seed)
    _say(f"teacher {args.model} on {dataset} ({args.scale}, seed {args.seed}): "
         f"{t.accuracy:.2f}% test accuracy, saved to {t.path}")


def _cmd_teacher_list(args) -> None:
    from .training.teachers import list_teachers

    rows = list_teachers()
    if not rows:
        print("no teachers saved yet: `kdrepro teacher train MODEL --scale SCALE`")
    for t in rows:
        print(f"{t['model']:<12} {t['dataset']:<16} {t['scale']:<7} seed {t['seed']}  "
              f"{t['test_accuracy']:6.2f}%  {t['path']}")


def _cmd_pair_train(args) -> None:
    from .chapters.cifar import run_methods, setup

    ps = setup(args.scale, args.teacher, args.student, args.dataset, teacher_mode=args.teacher_mode, seeds=args.seeds)
    runs = run_methods(ps, args.methods, share_teacher=not args.separately)
    for (method, seed), run in runs.items():
        _say(f"{method:<8} seed {seed}: {run.accuracy:.2f}% ({ps.teacher_name} → {ps.student}, {ps.dataset})")


def _cmd_deit_train(args) -> None:
    from .chapters import deit as dc

    ds = dc.setup(args.scale, size=args.size, teacher_checkpoint=args.teacher_checkpoint, workers=args.workers,
                  seeds=args.seeds, evaluate_teacher=False, teacher_source=args.teacher_source)
    modes = args.modes or dc.MODES
    dc.run(ds, modes)
    for mode in modes:
        _say(f"{mode:<17} {', '.join(f'{a:.2f}' for a in dc.accuracies(ds, mode))}% "
             f"({ds.student_name(mode)}, {ds.dataset}, {ds.scale})")


def _cmd_dino_train(args) -> None:
    from .chapters import dino as dc

    variants = args.variants or dc.default_variants(args.scale)
    unknown = sorted(set(variants) - set(dc.VARIANTS))
    if unknown:
        raise ConfigError(f"unknown variant(s) {', '.join(unknown)}; valid: {', '.join(dc.VARIANTS)}")
    ds = dc.setup(args.scale, workers=args.workers, run=args.run)
    dc.run(ds, variants)
    for variant in variants:
        if ds.imagenet:  # the official linear evaluation too: the notebook then reuses it
            linear = dc.linear_evaluation(ds, variant)
            _say(f"{variant:<14} linear evaluation: best epoch {max(e['test_accuracy'] for e in linear):.2f}% "
                 f"({ds.dataset}, {ds.scale})")
        else:
            _say(f"{variant:<14} trained ({ds.dataset}, {ds.scale})")


def _cmd_ctkd_imagenet(args) -> None:
    from .chapters import ctkd_imagenet as cki

    ci = cki.setup("full", args.teacher_checkpoint, args.workers, args.seeds)
    _say(ci.describe())
    cki.run(ci)
    _say(cki.table(ci).to_string())


def _cmd_tinyvit_train(args) -> None:
    from .chapters import tinyvit_imagenet as tic

    ti = tic.setup(args.size, args.routes, args.teacher_checkpoint, args.workers, args.seeds)
    _say(ti.describe())
    tic.run(ti)
    _say(tic.table(ti).to_string())


def _cmd_dml_train(args) -> None:
    from .chapters import dml as dc

    cohorts = [tuple(c.split("+")) for c in args.cohorts] if args.cohorts else None
    ds = dc.setup(args.scale, cohorts, args.peer_counts, args.dataset, args.seeds, not args.simultaneous)
    dc.run(ds)
    for (models, seed), run in ds.cohorts.items():
        alone = [ds.alone[(m, k, seed)].accuracies[0] for k, m in enumerate(models)]
        _say(f"{' + '.join(models)} seed {seed}: DML {', '.join(f'{a:.2f}' for a in run.accuracies)}% | "
             f"alone {', '.join(f'{a:.2f}' for a in alone)}% ({ds.dataset})")


def _cmd_hinton_train(args) -> None:
    from .chapters import hinton as hc
    from .chapters.runner import run_dir

    hs = hc.setup(args.scale, args.out or run_dir("hinton", args.scale))
    seeds = args.seeds if args.seeds is not None else list(range(hs.recipe.seeds))
    for line in hc.train_parts(hs, tuple(args.parts), seeds):
        _say(line)


def _cmd_fitnets_mnist_train(args) -> None:
    from .chapters import fitnets_mnist as fm
    from .chapters.runner import run_dir

    ms = fm.setup(args.scale, args.out or run_dir("fitnets_mnist", args.scale), args.seed)
    for line in fm.train_parts(ms, tuple(args.parts)):
        _say(line)


def _imagenet_options(command: argparse.ArgumentParser, teacher: str | None = None) -> None:
    """The options of a command that trains on streamed ImageNet: the teacher's file (when it has a
    pretrained teacher), the decoding workers, the seeds (when it trains several)."""
    if teacher:
        command.add_argument("--teacher-checkpoint", default=None, help=teacher)
        command.add_argument("--seeds", nargs="+", type=int, default=None)
    command.add_argument("--workers", type=int, default=None, help="full: image-decoding workers per process")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kdrepro", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("chapters", help="list the chapters and their short names").set_defaults(func=_cmd_chapters)

    data = sub.add_parser("data", help="prepare or list datasets").add_subparsers(dest="action", required=True)
    prep = data.add_parser("prepare", help="prepare datasets in the data root (KDREPRO_DATA)")
    prep.add_argument("names", nargs="+", metavar="NAME")
    prep.add_argument("--force", action="store_true", help="prepare again even if present")
    prep.add_argument("--no-download", action="store_true", help="never try torchvision's download")
    prep.add_argument("--from", dest="source", default=None, metavar="PATH",
                      help="imagenet: the folder holding train/<wnid>/ and val/<wnid>/; imagenet21k: the folder "
                           "holding in22k_image_names.txt and one zip per class; checked and recorded, not copied")
    prep.add_argument("--fname-format", default="{}.jpeg",
                      help="imagenet21k: an image's file name inside its class's zip (TinyViT's DATA.FNAME_FORMAT)")
    prep.set_defaults(func=_cmd_data_prepare)
    data.add_parser("list", help="list datasets and whether they are prepared").set_defaults(func=_cmd_data_list)

    run = sub.add_parser("run", help="execute a chapter with papermill into runs/CHAPTER/SCALE/")
    run.add_argument("chapter")
    run.add_argument("--scale", default="smoke", help="smoke (default), medium or full")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="override a notebook parameter (repeatable)")
    run.add_argument("--out", default=None, help="output folder (default runs/CHAPTER/SCALE)")
    run.add_argument("--fresh", action="store_true",
                     help="delete the output folder first (default: resume from its checkpoints)")
    run.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                     help="auto (default): bf16 where the GPU or CPU computes it natively, else float32; "
                          "fp32: float32 everywhere (bit-for-bit runs); bf16: bf16 autocast everywhere")
    switch = argparse.BooleanOptionalAction
    run.add_argument("--channels-last", action=switch, default=None, dest="channels_last",
                     help="convolutions in channels-last memory layout (the default: faster on the CPUs timed and on "
                          "GPUs); --no-channels-last: the plain layout, the reference path")
    run.add_argument("--compile", action=switch, default=None,
                     help="torch.compile each trained network (off by default: minutes to compile, then faster steps)")
    run.add_argument("--cuda-graphs", action=switch, default=None, dest="cuda_graphs",
                     help="on a CUDA GPU: the compiled step replayed as CUDA graphs (torch.compile's "
                          "reduce-overhead mode; refused on a CPU)")
    run.add_argument("--rehearse", action="store_true",
                     help="with --scale full: run the full recipe end to end with every training capped to a few "
                          "steps, on whatever data is prepared (into runs/CHAPTER/full-rehearsal; never published)")
    run.set_defaults(func=_cmd_run)

    teacher = sub.add_parser("teacher", help="train or list teachers").add_subparsers(dest="action", required=True)
    tt = teacher.add_parser("train", help="train a zoo model as a teacher with the CIFAR recipe of a scale")
    tt.add_argument("model", help="a zoo model name, e.g. resnet56 (see kdrepro.models.list_models())")
    tt.add_argument("--scale", default="medium", help="smoke, medium (default) or full")
    tt.add_argument("--dataset", default=None, help="default: the first prepared of the recipe's datasets")
    tt.add_argument("--seed", type=int, default=0)
    tt.set_defaults(func=_cmd_teacher_train)
    teacher.add_parser("list", help="list saved teachers and their accuracy").set_defaults(func=_cmd_teacher_list)

    deit = sub.add_parser("deit", help="train the DeiT chapter's runs (e.g. under accelerate launch)").add_subparsers(
        dest="action", required=True)
    dt = deit.add_parser("train", help="train (or resume) the DeiT chapter's students of the given modes")
    dt.add_argument("--scale", default="full", help="full (default: ImageNet), medium or smoke")
    dt.add_argument("--modes", nargs="+", default=None,
                    help="none soft soft_batch hard token_hard two_class_tokens (default: all, as the chapter)")
    dt.add_argument("--size", default=None, help="full: tiny (default), small or base")
    _imagenet_options(dt, "full: a state dict of timm's regnety_160")
    dt.add_argument("--teacher-source", default=None, choices=("live", "store"),
                    help="full: live (default) or store: the teacher's top-100 recorded once per seed on the run's "
                         "batches, read by every distilled mode")
    dt.set_defaults(func=_cmd_deit_train)

    ctkd = sub.add_parser("ctkd", help="train CTKD's ImageNet row (e.g. under accelerate launch)").add_subparsers(
        dest="action", required=True)
    ci = ctkd.add_parser("imagenet", help="train (or resume) ResNet18 from ResNet34 by KD and by KD + CTKD on ImageNet")
    _imagenet_options(ci, "a state dict of torchvision's ResNet34 (offline)")
    ci.set_defaults(func=_cmd_ctkd_imagenet)

    tinyvit = sub.add_parser("tinyvit", help="train TinyViT at full scale on ImageNet (e.g. under accelerate launch)"
                             ).add_subparsers(dest="action", required=True)
    tv = tinyvit.add_parser("train", help="train (or resume) the routes' stages: the teacher pass and 22k "
                                          "pretraining, the 1k fine-tuning, the 1k run from scratch")
    tv.add_argument("--size", default=None, help="5m (default), 11m or 21m")
    tv.add_argument("--routes", nargs="+", default=None, help="in21k in1k (default: both)")
    _imagenet_options(tv, "in21k: the official clip_vit_large_patch14_22k.pth")
    tv.set_defaults(func=_cmd_tinyvit_train)

    dino = sub.add_parser("dino", help="train the DINO chapter's runs (e.g. under accelerate launch)").add_subparsers(
        dest="action", required=True)
    dn = dino.add_parser("train", help="train (or resume) DINO and its ablations; at full, the linear evaluation too")
    dn.add_argument("--scale", default="full", help="full (default: ImageNet), medium or smoke")
    dn.add_argument("--variants", nargs="+", default=None,
                    help="dino no_centering no_sharpening (default: the chapter's: all; at full, dino)")
    dn.add_argument("--run", default="vanilla", help="full: the README's vanilla (100 epochs, default) or boosted run")
    _imagenet_options(dn)
    dn.set_defaults(func=_cmd_dino_train)

    pair = sub.add_parser("pair", help="train students of a CIFAR teacher–student pair").add_subparsers(
        dest="action", required=True)
    pt = pair.add_parser("train", help="train (or resume) students with the given methods and seeds")
    pt.add_argument("--scale", default="medium", help="smoke, medium (default) or full")
    pt.add_argument("--teacher", default=None, help="default: the scale's first pair")
    pt.add_argument("--student", default=None)
    pt.add_argument("--dataset", default=None)
    pt.add_argument("--methods", nargs="+", default=["student", "kd", "fitnet", "at", "ab"],
                    help="student kd fitnet fitnet2 at ab ctkd ctkd_instance kd_store")
    pt.add_argument("--seeds", nargs="+", type=int, default=None)
    pt.add_argument("--teacher-mode", default="load", choices=["load", "train"],
                    help="load (default: refuse if the teacher is missing) or train it if missing")
    pt.add_argument("--separately", action="store_true",
                    help="train every method alone (default: KD, FitNet, AT and CTKD of a seed share the "
                         "teacher's forward)")
    pt.set_defaults(func=_cmd_pair_train)

    dml = sub.add_parser("dml", help="train Deep Mutual Learning cohorts and their independent twins").add_subparsers(
        dest="action", required=True)
    dt = dml.add_parser("train", help="train (or resume) cohorts and twins; runs under accelerate launch too")
    dt.add_argument("--scale", default="medium", help="smoke, medium (default) or full")
    dt.add_argument("--cohorts", nargs="+", default=None, metavar="A+B",
                    help="networks joined by +, e.g. resnet32+resnet32 mobilenet+resnet32 (default: the scale's)")
    dt.add_argument("--peer-counts", nargs="+", type=int, default=None,
                    help="cohort sizes for the more-peers experiment (default: the scale's)")
    dt.add_argument("--dataset", default=None)
    dt.add_argument("--seeds", nargs="+", type=int, default=None)
    dt.add_argument("--simultaneous", action="store_true", help="update every network from the same predictions "
                    "instead of the paper's Algorithm 1")
    dt.set_defaults(func=_cmd_dml_train)

    spread = ("(or resume) into the folders `kdrepro run` uses, so that several processes share one long "
              "run: each trains what it is given, waits for a run another one trains, and the chapter reuses them")
    hinton = sub.add_parser("hinton", help="train the Hinton chapter's runs in this process").add_subparsers(
        dest="action", required=True)
    ht = hinton.add_parser("train", help=f"train the given parts and seeds {spread}")
    ht.add_argument("--scale", default="full", help="full (default), medium or smoke")
    ht.add_argument("--parts", nargs="+", default=["headline"],
                    help="headline (teacher, student, distilled; default), sweeps (the temperature sweeps), "
                         "restricted (no 3s; only 7s and 8s): the chapter uses the last two at seed 0")
    ht.add_argument("--seeds", nargs="+", type=int, default=None, help="default: every seed of the recipe")
    ht.add_argument("--out", type=Path, default=None, help="default: runs/hinton/SCALE, the chapter's")
    ht.set_defaults(func=_cmd_hinton_train)

    fitnets_mnist = sub.add_parser("fitnets-mnist", help="train the nets of FitNets' Table 4 (MNIST) in this "
                                   "process").add_subparsers(dest="action", required=True)
    ft = fitnets_mnist.add_parser("train", help=f"train the given nets {spread}")
    ft.add_argument("--scale", default="full", help="full (default), medium or smoke")
    ft.add_argument("--parts", nargs="+", default=["teacher", "backprop", "kd", "hints"],
                    help="teacher, backprop, kd, hints (default: all; kd and hints train or await the teacher)")
    ft.add_argument("--seed", type=int, default=0, help="the chapter's seed (default 0)")
    ft.add_argument("--out", type=Path, default=None, help="default: runs/fitnets_mnist/SCALE, the chapter's")
    ft.set_defaults(func=_cmd_fitnets_mnist_train)

    pub = sub.add_parser("publish", help="copy an executed run into book/ as the page the book shows")
    pub.add_argument("chapter")
    pub.add_argument("scale")
    pub.add_argument("--time-only", action="store_true",
                     help="only record the run's time (shown in every chapter's rerun box), not its page")
    pub.set_defaults(func=_cmd_publish)

    sub.add_parser("scoreboard", help="regenerate the pages derived from the published runs (scoreboard, "
                   "chapter headers, landing table)").set_defaults(func=_cmd_scoreboard)
    bench = sub.add_parser("bench", help="time kdrepro's training step against a reference-style pipeline, "
                           "and a live teacher against stored logits, side by side")
    bench.add_argument("--size", choices=["cpu", "gpu", "quick"], default=None,
                       help="gpu on a GPU, else cpu (default); quick only checks that it runs")
    bench.add_argument("--out", type=Path, default=None, help="default: runs/bench/SIZE")
    bench.add_argument("--publish", action="store_true", help="also put the run on the book's Performance page")
    bench.set_defaults(func=_cmd_bench)

    gpu = sub.add_parser("gpu-check", help="on a GPU machine: the CUDA path's tests, every chapter at smoke "
                         "scale and the gpu benchmark, in one report (elsewhere: the CPU parts, and what was skipped)")
    gpu.add_argument("--out", type=Path, default=None, help="default: runs/gpu-check")
    gpu.add_argument("--budget", type=float, default=480, help="seconds the whole check may take (default 480)")
    gpu.set_defaults(func=_cmd_gpu_check)

    book = sub.add_parser("book", help="build the HTML book into _build/html")
    book.add_argument("--no-strict", action="store_true", help="do not treat warnings as errors")
    book.add_argument("--check", action="store_true",
                      help="then open every page in headless Chromium and fail on broken links, images, math, "
                           "console errors or external requests; screenshots go to _build/browser")
    book.set_defaults(func=_cmd_book)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except KdreproError as e:
        print(f"kdrepro: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
