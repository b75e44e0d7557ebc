"""Build an MMAction2 annotation list from an official Kinetics CSV and a
folder of downloaded clips.

    python tools/data/kinetics/build_video_list.py \
        data/kinetics400/annotations/train.csv data/kinetics400/videos_train \
        data/kinetics400/kinetics400_train_list_videos.txt

Each line is ``<path relative to the folder> <label index>``; the index is
the line of the class in the label map (default
``tools/data/kinetics/label_map_k400.txt``, sorted class names). Clips are
found by name, ``{youtube_id}_{time_start:06d}_{time_end:06d}.<ext>`` at any
depth (flat or class folders). Clips the CSV lists but the folder lacks are
reported (and written with ``--missing-out``); they are not in the list.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from ..datasets.kinetics import (DEFAULT_NAME_FORMAT, VideoList,
                                 build_video_list, load_label_map)
from ..utils.config import PROJECT_ROOT
from ..utils.video_io import write_lines

DEFAULT_LABEL_MAP = osp.join(PROJECT_ROOT, 'tools', 'data', 'kinetics',
                             'label_map_k400.txt')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Annotation list (path label) from a Kinetics CSV')
    parser.add_argument('csv', help='official Kinetics CSV '
                        '(label,youtube_id,time_start,time_end,split)')
    parser.add_argument('root', help='folder of the downloaded clips')
    parser.add_argument('out', help='annotation list to write')
    parser.add_argument(
        '--label-map',
        default=DEFAULT_LABEL_MAP,
        help='class names, one a line (default: %(default)s)')
    parser.add_argument(
        '--missing-out', help='write the clips missing on disk here')
    parser.add_argument(
        '--name-format',
        default=DEFAULT_NAME_FORMAT,
        help='file name (no extension) of a clip (default: %(default)s)')
    parser.add_argument(
        '--max-shown', type=int, default=10,
        help='missing clips to print (default: %(default)s)')
    return parser.parse_args(argv)


def report_problems(args: argparse.Namespace, result: VideoList,
                    total: int) -> None:
    """Warn about clips found twice and clips missing on disk (written to
    ``--missing-out``)."""
    for name, paths in sorted(result.duplicates.items()):
        print(f'WARNING: clip {name} found {len(paths)} times: '
              f'{", ".join(paths)}; using {paths[0]}', file=sys.stderr)
    if not result.missing:
        return
    print(f'WARNING: {len(result.missing)} of {total} clips listed in '
          f'{args.csv} are missing under {args.root}:', file=sys.stderr)
    for name, label in result.missing[:args.max_shown]:
        print(f'  missing: {name} ({label})', file=sys.stderr)
    if len(result.missing) > args.max_shown:
        print(f'  ... and {len(result.missing) - args.max_shown} more',
              file=sys.stderr)
    if args.missing_out:
        with open(args.missing_out, 'w') as f:
            f.writelines(f'{name}\t{label}\n'
                         for name, label in result.missing)
        print(f'The missing clips are listed in {args.missing_out}',
              file=sys.stderr)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    label_map = load_label_map(args.label_map)
    result = build_video_list(args.csv, args.root, label_map,
                              name_format=args.name_format)
    write_lines(args.out, result.lines)
    total = len(result.lines) + len(result.missing)
    print(f'Wrote {len(result.lines)} of {total} clips of {args.csv} to '
          f'{args.out}')
    report_problems(args, result, total)
    return 0
