"""The command line: ``aplnet <command>`` and ``python -m aplnet``.

Commands: ``repl`` (the default), ``notes``, ``train``, ``predict``, ``evaluate``,
``demo``, ``export``.
Bad input (a missing file, a wrong size, a mismatched checkpoint, a step
too big for memory, an ``--out`` that cannot be written…) prints one line,
``aplnet <command>: …``, and exits with status 2, as does running out of
memory anyway; an I/O error names its file. ``train`` holds a lock on its
run folder while it runs (:mod:`aplnet.runs`): a second run there is
refused, naming the holder's pid, as is a new run in a folder that holds
one, unless ``--resume`` or ``--overwrite`` says what to do with it. A run
that diverges (see :mod:`aplnet.divergence`) exits with status 1, keeping
its last good checkpoint.
"""

import argparse
import os
import sys

TRAIN_OPTIONS = [
    # name, type, help
    ("data", str, "'synthetic', or a directory with images/ and masks/ (or the ISBI "
                  "train-volume.tif and train-labels.tif)"),
    ("size", int, "input tile side in pixels; must be valid for --depth"),
    ("depth", int, "levels of the U-Net (the paper: 5)"),
    ("width", int, "channels of the first level (the paper: 64)"),
    ("epochs", int, "passes over the training images"),
    ("batch", int, "tiles per step"),
    ("lr", float, "learning rate"),
    ("momentum", float, "SGD momentum (the paper: 0.99)"),
    ("seed", int, "seed of the weights, the synthetic data and the tile order"),
    ("classes", int, "classes in the masks"),
    ("images", int, "synthetic images to train on"),
    ("w0", float, "weight-map border term (the paper: 10; 0 keeps only class balance)"),
    ("elastic", float, "elastic deformation's standard deviation in pixels (0: none)"),
    ("steps_per_epoch", int, "steps per epoch (0: enough tiles to cover the training "
                             "pixels once)"),
    ("val", str, "a directory of held-out images and masks (as --data), scored after "
                 "each epoch"),
    ("val_split", float, "share of the training images to hold out instead, drawn by "
                         "--seed (0: none)"),
    ("patience", int, "stop after this many epochs without a better held-out Dice "
                      "(0: never)"),
    ("lr_schedule", str, "constant, cosine (to 0 over --epochs) or step (/10 after each "
                         "third of --epochs)"),
]


def build_parser():
    from .intensity import METHODS
    from .train import Settings
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="aplnet",
        description="The U-Net as APL-style array expressions in numpy.")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.add_parser("repl", help="an interactive console with aplnet loaded")
    notes = sub.add_parser("notes", help="list the notes' chapters, or print chapter N")
    notes.add_argument("chapter", nargs="?", help="chapter number (e.g. 2) or name")

    train = sub.add_parser("train", help="train a U-Net, checkpointing each epoch",
                           description="Train a U-Net on synthetic cells or on a folder of "
                                       "images and masks; RUN/model.npz is rewritten after "
                                       "every epoch. A folder that holds a run is refused "
                                       "unless --resume or --overwrite is given, and so is a "
                                       "second run in a folder while one is going (named by "
                                       "its pid). A diverging run stops with status 1, "
                                       "keeping its last good checkpoint.")
    for name, kind, text in TRAIN_OPTIONS:
        train.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                           help=f"{text} (default {str(getattr(defaults, name)) or 'none'})")
    train.add_argument("--normalize", choices=METHODS, default=None,
                       help="image intensities: per-image percentiles 1 -> 0 and 99.8 -> 1, "
                            "the type's range (floats: min..max), or as stored; predict "
                            "applies the same (default percentile)")
    train.add_argument("--masks", choices=("classes", "instances"), default=None,
                       help="read mask labels as class indices, or as one label per object "
                            "(foreground where label > 0); default: with --classes 2, "
                            "two-valued masks are binary and others instances")
    train.add_argument("--no-bias", dest="bias", action="store_false", default=None,
                       help="convolutions without biases (default: with them, as Caffe's, the "
                            "paper's framework, have; without, a narrow network can die to "
                            "a constant output)")
    train.add_argument("--out", metavar="RUN", help="run directory (default 'run')")
    train.add_argument("--resume", metavar="RUN",
                       help="continue RUN from its last checkpoint (only --epochs may change)")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run --out holds (without it, a folder holding a run "
                            "is refused)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    predict = sub.add_parser("predict", help="segment images with a trained U-Net",
                             description="Segment images of any size by overlap-tile; write "
                                         "NAME_mask.png and NAME_overlay.png for each, NAME "
                                         "being the file's name without its suffix. Should "
                                         "two inputs give the same NAME (a/c0.png and "
                                         "b/c0.png), the later ones in the order given get "
                                         "NAME-2, NAME-3, ...; each output is named in the "
                                         "log. Files are written under a temporary name and "
                                         "renamed when complete. An --out ending .zarr or "
                                         ".tif takes one image (a TIFF read lazily) through "
                                         "Dask block by block, for images larger than "
                                         "memory, and writes its labels there (needs the "
                                         "'dask' extra).")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or TIFF images")
    predict.add_argument("--model", required=True, metavar="RUN/model.npz",
                         help="a checkpoint written by 'aplnet train' (or UNet.save)")
    predict.add_argument("--out", required=True, metavar="DIR", help="output directory")
    predict.add_argument("--tile", type=int, help="input tile side (default: fit the image, "
                                                  "at most ~572; a larger one is cut to the "
                                                  "smallest tile covering the image)")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")
    predict.add_argument("--overwrite", action="store_true",
                         help="replace an existing .zarr/.tif output")
    predict.add_argument("--scheduler", metavar="ADDRESS",
                         help="a dask.distributed scheduler for the .zarr/.tif road "
                              "(default: local threads)")

    export = sub.add_parser("export", help="write a trained U-Net as an ONNX graph",
                            description="Write a checkpoint as an ONNX model (needs the "
                                        "'onnx' extra).")
    export.add_argument("model", metavar="RUN/model.npz", help="a checkpoint")
    export.add_argument("--onnx", required=True, metavar="FILE.onnx", help="the ONNX file")
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")

    evaluate = sub.add_parser(
        "evaluate", help="score a trained U-Net, or predicted masks, against true masks",
        description="Score a checkpoint on a data directory (segmenting each image by "
                    "overlap-tile), or predicted masks against true ones: per image and "
                    "pooled pixel accuracy, foreground IoU and Dice, the ISBI 2012 pixel, "
                    "Rand and warping errors, and the Data Science Bowl 2018 instance AP.")
    evaluate.add_argument("--model", metavar="RUN/model.npz", help="a checkpoint to evaluate")
    evaluate.add_argument("--data", metavar="DIR", help="with --model: images/ and masks/ "
                                                        "(or the ISBI stacks)")
    evaluate.add_argument("--pred", metavar="DIR", help="predicted masks (NAME_mask.png or NAME.*)")
    evaluate.add_argument("--truth", metavar="DIR", help="with --pred: true masks NAME.*")
    evaluate.add_argument("--tile", type=int, help="input tile side (default: fit the image)")
    evaluate.add_argument("--json", action="store_true", help="print JSON instead of a table")
    evaluate.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="train on synthetic cells, report held-out IoU",
                          description="Train a small U-Net on synthetic cells, segment "
                                      "held-out images, and write predictions, an overlay "
                                      "and a loss curve.")
    demo.add_argument("--out", default="aplnet-demo", metavar="DIR",
                      help="output directory (default aplnet-demo)")
    demo.add_argument("--quick", action="store_true", help="a seconds-long run (for tests)")
    demo.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _progress(args):
    return False if args.no_progress else None


def _train(args):
    from .runs import clear_run, refuse_existing_run, remove_stale_temporaries, run_lock
    from .train import CHECKPOINT, Settings, resume, train
    given = {name: getattr(args, name) for name in [n for n, _, _ in TRAIN_OPTIONS]
             + ["normalize", "masks", "bias"] if getattr(args, name) is not None}
    if args.resume:
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise ValueError(f"--out {args.out} and --resume {args.resume} differ; a resumed "
                             f"run writes to its own directory")
        if args.overwrite:
            raise ValueError("--overwrite and --resume contradict each other: a resumed run "
                             "keeps its checkpoint")
        checkpoint = os.path.join(args.resume, CHECKPOINT)
        if not os.path.isdir(args.resume):
            raise ValueError(f"{checkpoint}: no such checkpoint file; nothing to resume")
        _absolute_paths(given)
        with run_lock(args.resume, "--resume"):   # a run still writing it is named first
            if not os.path.isfile(checkpoint):
                raise ValueError(f"{checkpoint}: no such checkpoint file; nothing to resume")
            remove_stale_temporaries(args.resume)
            resume(args.resume, given, progress=_progress(args))
        return 0
    _absolute_paths(given)
    settings = Settings(**given).check()    # before a folder is made for the run
    out = args.out or "run"
    with run_lock(out):
        refuse_existing_run(out, args.overwrite)
        train(settings, out, progress=_progress(args),
              before_writing=clear_run if args.overwrite else None)
    return 0


def _absolute_paths(given):
    """--data and --val as absolute paths, as the checkpoint stores them."""
    for name in ("data", "val"):
        if given.get(name) and given[name] != "synthetic":
            given[name] = os.path.abspath(given[name])


def _predict(args):
    from .files import output_folder
    from .tiling import predict_files
    from .unet import UNet
    if args.out.lower().rstrip("/").endswith((".zarr", ".tif", ".tiff")):
        return _predict_lazily(args)
    with output_folder(args.out):
        net = UNet.load(args.model)
        predict_files(net, args.images, args.out, args.tile, progress=_progress(args))
    return 0


def _evaluate(args):
    from .evaluate import evaluate_folders, evaluate_network, table, to_json
    if bool(args.model) == bool(args.pred):
        raise ValueError("give --model RUN/model.npz --data DIR, or --pred DIR --truth DIR")
    if args.model:
        if not args.data or args.truth:
            raise ValueError("--model needs --data DIR (and no --truth)")
        from .train import read_directory
        from .unet import UNet
        net = UNet.load(args.model)
        results = evaluate_network(net, read_directory(args.data), args.tile,
                                   progress=_progress(args))
    else:
        if not args.truth or args.data or args.tile:
            raise ValueError("--pred needs --truth DIR (and no --data or --tile)")
        results = evaluate_folders(args.pred, args.truth)
    print(to_json(results) if args.json else table(results))
    return 0


def _predict_lazily(args):
    if len(args.images) != 1:
        raise ValueError(f"--out {args.out} takes one image; got {len(args.images)}")
    try:
        import dask.array, tifffile, zarr  # noqa: F401,E401  (the extra, before any work)
    except ImportError as err:
        raise ValueError(f"--out {args.out} needs the dask extra: pip install "
                         f"'aplnet[dask]' ({err})") from None
    from .lazy import predict_file
    from .unet import UNet
    net = UNet.load(args.model)
    predict_file(net, args.images[0], args.out, args.tile, args.overwrite, args.scheduler,
                 _progress(args))
    return 0


def _export(args):
    from .onnx_export import export
    from .unet import UNet
    try:
        import onnx  # noqa: F401  (the extra, before any work)
    except ImportError as err:
        raise ValueError(f"--onnx needs the onnx extra: pip install 'aplnet[onnx]' ({err})") from None
    export(UNet.load(args.model), args.onnx, overwrite=args.overwrite)
    return 0


def _demo(args):
    from .demo import demo
    demo(args.out, quick=args.quick, seed=args.seed, progress=_progress(args))
    return 0


MEMORY_ADVICE = {
    "train": "checkpoints written so far are kept; use a smaller --batch, --size or --width",
    "predict": "outputs written so far are kept; use a smaller --tile",
    "demo": "free some memory, or try the seconds-long 'aplnet demo --quick'",
}


def _run(args):
    from .files import describe_os_error
    from .train import TrainingDiverged
    commands = {"train": _train, "predict": _predict, "evaluate": _evaluate, "demo": _demo,
                "export": _export}
    if args.command != "export":
        from .heap import keep_freed_memory
        keep_freed_memory()         # each step reuses the memory the last one freed
    try:
        return commands[args.command](args)
    except TrainingDiverged as err:
        print(f"aplnet {args.command}: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as err:
        message = describe_os_error(err) if isinstance(err, OSError) else str(err)
        if not message.startswith((f"{args.command}:", f"{args.command} ")):
            message = f"{args.command}: {message}"
        print(f"aplnet {message}", file=sys.stderr)
        return 2
    except MemoryError as err:
        print(f"aplnet {args.command}: out of memory ({err or 'MemoryError'}); "
              f"{MEMORY_ADVICE.get(args.command, 'free some memory')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"aplnet {args.command}: interrupted (checkpoints written so far are kept)",
              file=sys.stderr)
        return 130


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "repl"):
        from .repl import main as repl_main
        return repl_main()
    if args.command == "notes":
        from .chapters import main as notes_main
        return notes_main(args.chapter)
    if args.command in ("train", "predict", "evaluate", "demo", "export"):
        return _run(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
