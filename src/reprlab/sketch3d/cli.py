"""``reprlab sketch3d predict SKETCH.png --out shape.ply``: one sketch to a 3-D point cloud."""

from __future__ import annotations

import argparse

__all__ = ["register_subcommand"]


def _cmd_predict(args: argparse.Namespace) -> int:
    from reprlab.sketch3d.pipeline import predict_file

    path = predict_file(args.image, args.out, checkpoint=args.checkpoint,
                        work_dir=args.work_dir, standardize=not args.no_standardize)
    print(path)
    return 0


def register_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Add ``sketch3d predict`` to the ``reprlab`` command line."""
    p = subparsers.add_parser("sketch3d", help="3-D shapes from free-hand sketches")
    sub = p.add_subparsers(dest="sketch3d_command", metavar="SUBCOMMAND")
    q = sub.add_parser("predict", help="reconstruct a point cloud from a sketch image")
    q.add_argument("image", help="the sketch (PNG/JPEG; dark lines on a light background)")
    q.add_argument("--out", required=True, help="output point cloud, .ply or .obj")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", default=None,
                     help="a trained model file (sketch3d_model.pt)")
    src.add_argument("--work-dir", default=None,
                     help="work folder of a `reprlab reproduce sketch3d --out DIR` run, "
                          "e.g. DIR/sketch3d/work/quick")
    q.add_argument("--no-standardize", action="store_true",
                   help="skip the sketch standardization module")
    q.set_defaults(func=_cmd_predict)

    def _help(args: argparse.Namespace) -> int:
        p.print_help()
        return 1

    p.set_defaults(func=_help)
