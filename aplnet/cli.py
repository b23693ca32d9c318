"""The command line: ``aplnet <command>`` and ``python -m aplnet``.

Commands: ``repl`` (the default), ``notes``, ``train``, ``predict``, ``demo``.
Bad input (a missing file, a wrong size, a mismatched checkpoint, a step
too big for memory…) prints one line, ``aplnet <command>: …``, and exits
with status 2, as does running out of memory anyway; a run whose loss
becomes NaN or infinite exits with status 1, keeping its last good
checkpoint.
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
                                       "every epoch.")
    for name, kind, text in TRAIN_OPTIONS:
        train.add_argument(f"--{name}", type=kind, default=None,
                           help=f"{text} (default {getattr(defaults, name)})")
    train.add_argument("--normalize", choices=METHODS, default=None,
                       help="image intensities: per-image percentiles 1 -> 0 and 99.8 -> 1, "
                            "the type's range (floats: min..max), or as stored; predict "
                            "applies the same (default percentile)")
    train.add_argument("--masks", choices=("classes", "instances"), default=None,
                       help="read mask labels as class indices, or as one label per object "
                            "(foreground where label > 0); default: with --classes 2, "
                            "two-valued masks are binary and others instances")
    train.add_argument("--out", metavar="RUN", help="run directory (default 'run')")
    train.add_argument("--resume", metavar="RUN",
                       help="continue RUN from its last checkpoint (only --epochs may change)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    predict = sub.add_parser("predict", help="segment images with a trained U-Net",
                             description="Segment images of any size by overlap-tile; write "
                                         "NAME_mask.png and NAME_overlay.png for each.")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="PNG or TIFF images")
    predict.add_argument("--model", required=True, metavar="RUN/model.npz",
                         help="a checkpoint written by 'aplnet train' (or UNet.save)")
    predict.add_argument("--out", required=True, metavar="DIR", help="output directory")
    predict.add_argument("--tile", type=int, help="input tile side (default: fit the image, "
                                                  "at most ~572)")
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")

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
    from .train import Settings, resume, train
    given = {name: getattr(args, name) for name in [n for n, _, _ in TRAIN_OPTIONS]
             + ["normalize", "masks"] if getattr(args, name) is not None}
    if args.resume:
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise ValueError(f"--out {args.out} and --resume {args.resume} differ; a resumed "
                             f"run writes to its own directory")
        if "data" in given and given["data"] != "synthetic":
            given["data"] = os.path.abspath(given["data"])
        resume(args.resume, given, progress=_progress(args))
        return 0
    if given.get("data", "synthetic") != "synthetic":
        given["data"] = os.path.abspath(given["data"])
    train(Settings(**given), args.out or "run", progress=_progress(args))
    return 0


def _predict(args):
    from .tiling import predict_files
    from .unet import UNet
    net = UNet.load(args.model)
    predict_files(net, args.images, args.out, args.tile, progress=_progress(args))
    return 0


def _demo(args):
    from .demo import demo
    demo(args.out, quick=args.quick, seed=args.seed, progress=_progress(args))
    return 0


def _run(args):
    from .train import TrainingDiverged
    commands = {"train": _train, "predict": _predict, "demo": _demo}
    try:
        return commands[args.command](args)
    except TrainingDiverged as err:
        print(f"aplnet {args.command}: {err}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError) as err:
        message = str(err)
        if not message.startswith((f"{args.command}:", f"{args.command} ")):
            message = f"{args.command}: {message}"
        print(f"aplnet {message}", file=sys.stderr)
        return 2
    except MemoryError as err:
        print(f"aplnet {args.command}: out of memory ({err or 'MemoryError'}); checkpoints "
              f"written so far are kept; use a smaller --batch, --size or --width",
              file=sys.stderr)
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
    if args.command in ("train", "predict", "demo"):
        return _run(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
