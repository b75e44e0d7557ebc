"""Draw where a VideoSparseFormer's tokens look on a video.

Runs the model on one view of VIDEO (the config's test pipeline, reduced to
one clip and a centre crop) and draws, over the original decoded frames,
each chosen unit's token tubes (boxes, faded away from the tube's time
span) and sampling points (dots on their nearest frame), one colour per
token. Writes an animation (``--out`` ``.gif`` or ``.mp4``, one image per
clip frame, columns = units) and a PNG contact sheet (rows = frames,
columns = units).

Example::

    python tools/visualize_tokens.py CONFIG CHECKPOINT demo.mp4 \\
        --out work_dirs/tokens.gif --units 0 1 --group 0

CHECKPOINT may be ``none``: the config's backbone ``pretrained`` (e.g. an
official image checkpoint, inflated on the fly) or a fresh init is used.
"""
import argparse
import sys
import time
from typing import List, Optional

from mmengine.config import DictAction

from ..visualization import (TokenTubeVisualization, save_visualization,
                             visualize_clip)


def _add_selection_args(parser: argparse.ArgumentParser) -> None:
    """Which units, tokens and repetitions are drawn."""
    parser.add_argument(
        '--units',
        type=int,
        nargs='+',
        default=None,
        help='units to draw (default: all sampling units)')
    parser.add_argument(
        '--tokens',
        type=int,
        nargs='+',
        default=None,
        help='token indices to draw (default: all tokens of --group)')
    parser.add_argument(
        '--group',
        type=int,
        default=0,
        help='replicate group whose N0 tokens are drawn (default 0)')
    parser.add_argument(
        '--repeats',
        choices=['all', 'last'],
        default='all',
        help='a repeated unit (the focusing unit): one column per '
        'repetition, or only the last one (default: all)')


def _add_drawing_args(parser: argparse.ArgumentParser) -> None:
    """Sizes, frame rate and box opacity of the drawing."""
    parser.add_argument(
        '--height',
        type=int,
        default=240,
        help='panel height in pixels (0: original frame size)')
    parser.add_argument(
        '--max-rows', type=int, default=8, help='frames on the contact sheet')
    parser.add_argument(
        '--fps', type=float, default=4., help='animation frame rate')
    parser.add_argument(
        '--fade-frames',
        type=float,
        default=2.,
        help='frames over which a box fades away from its tube')
    parser.add_argument(
        '--min-alpha',
        type=float,
        default=0.,
        help='opacity of boxes far from their tube (default 0: hidden)')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n\n', 1)[1])
    parser.add_argument('config', help='MMAction2 config of the recognizer')
    parser.add_argument(
        'checkpoint',
        help="checkpoint (any SparseFormer layout), or 'none' for the "
        "config's pretrained / a fresh init")
    parser.add_argument('video', help='video file')
    parser.add_argument(
        '--out', required=True, help='animation to write: .gif or .mp4')
    parser.add_argument(
        '--sheet',
        default=None,
        help='contact sheet PNG (default: --out with a .png suffix)')
    _add_selection_args(parser)
    _add_drawing_args(parser)
    parser.add_argument(
        '--device', default='cpu', help="device, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (as in MMAction2 tools)')
    return parser.parse_args(argv)


def print_summary(vis: TokenTubeVisualization) -> None:
    """What was drawn: the view, the columns, the top classes."""
    trace = vis.trace
    for note in trace.notes:
        print(f'single view: {note}')
    print(f'{len(trace.frames)} frames {trace.frames.shape[2]}x'
          f'{trace.frames.shape[1]} (video frames '
          f'{trace.frame_inds.tolist()}), model input '
          f'{trace.input_hw[1]}x{trace.input_hw[0]}')
    print('columns: ' + ', '.join(c['label'] for c in vis.columns) +
          f'; {len(vis.tokens)} tokens')
    if trace.scores is not None:
        top = trace.scores.argsort()[::-1][:5]
        print('top classes: ' + ', '.join(
            f'{int(i)} ({trace.scores[i]:.3f})' for i in top))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    checkpoint = None if args.checkpoint.lower() == 'none' else \
        args.checkpoint
    start = time.perf_counter()
    try:
        vis = visualize_clip(
            args.config,
            checkpoint,
            args.video,
            device=args.device,
            cfg_options=args.cfg_options,
            units=args.units,
            tokens=args.tokens,
            group=args.group,
            repeats=args.repeats,
            panel_height=args.height or None,
            max_rows=args.max_rows,
            fade_frames=args.fade_frames,
            min_alpha=args.min_alpha)
        out, sheet = save_visualization(vis, args.out, args.sheet, args.fps)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
        print(f'visualize_tokens: error: {err}', file=sys.stderr)
        return 1
    print_summary(vis)
    print(f'wrote {out} ({len(vis.animation)} frames) and {sheet} '
          f'in {time.perf_counter() - start:.1f} s')
    return 0
