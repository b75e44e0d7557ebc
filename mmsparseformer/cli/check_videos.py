"""Decode every video of an annotation list in parallel and write the list
of unreadable ones.

    python tools/data/kinetics/check_videos.py \
        data/kinetics400/kinetics400_val_list_videos.txt \
        data/kinetics400/videos_val --out unreadable_val.txt --nproc 8

A video is readable when decord opens it, it has at least one frame, and its
first, middle and last frames decode (MMAction2's ``DecordInit`` /
``DecordDecode`` use decord too). The output has one ``name<TAB>reason``
line per unreadable video, names as in the list; it can be passed as
``--cfg-options test_dataloader.dataset.skip_unreadable=unreadable_val.txt``
to leave those videos out of a test (they are then listed in its log).
The exit status is 0 when every video is readable, 1 otherwise.
"""
import argparse
import os.path as osp
import sys
from functools import partial
from typing import List, Optional, Tuple

from mmengine.utils import track_parallel_progress, track_progress

from ..datasets.video_check import (check_video, read_list_filenames,
                                    write_unreadable_list)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Find the videos of an annotation list that do not '
        'decode')
    parser.add_argument('list', help='annotation list (filename label)')
    parser.add_argument('root', help='folder the list paths are relative to')
    parser.add_argument(
        '--out', required=True, help='where to write the unreadable videos')
    parser.add_argument(
        '--nproc', type=int, default=4, help='processes (default: '
        '%(default)s)')
    return parser.parse_args(argv)


def check_one(name: str, root: str) -> Tuple[str, Optional[str]]:
    """``(name, why it is unreadable or None)``."""
    return name, check_video(osp.join(root, name))


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    names = read_list_filenames(args.list)
    if not names:
        raise ValueError(f'{args.list} lists no video')
    task = partial(check_one, root=args.root)
    # the progress bar writes to the stdout of the call (redirectable)
    if args.nproc > 1:
        results = track_parallel_progress(task, names, args.nproc,
                                          file=sys.stdout)
    else:
        results = track_progress(task, names, file=sys.stdout)
    unreadable = [(name, reason) for name, reason in results
                  if reason is not None]
    write_unreadable_list(args.out, unreadable)
    print(f'\n{len(unreadable)} of {len(names)} videos are unreadable; '
          f'list written to {args.out}')
    for name, reason in unreadable[:20]:
        print(f'  {name}: {reason}')
    if len(unreadable) > 20:
        print(f'  ... and {len(unreadable) - 20} more')
    return 1 if unreadable else 0
