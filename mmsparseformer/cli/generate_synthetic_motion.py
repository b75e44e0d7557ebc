"""Write the Synthetic Motion dataset (mp4 clips, MMAction2 annotation lists
and a label map). See tools/data/synthetic/README.md.

Example::

    python tools/data/synthetic/generate_synthetic_motion.py \
        --root data/synthetic --num-train 2000 --num-val 240
"""
import argparse
import time
from typing import List, Optional

from ..datasets.synthetic_motion import (DEFAULT_CLASSES, MOTIONS,
                                         generate_synthetic_motion)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate the Synthetic Motion video dataset')
    parser.add_argument('--root', default='data/synthetic',
                        help='output directory')
    parser.add_argument('--num-train', type=int, default=2000,
                        help='training clips')
    parser.add_argument('--num-val', type=int, default=240,
                        help='validation clips')
    parser.add_argument('--num-test', type=int, default=240,
                        help='test clips')
    parser.add_argument('--num-frames', type=int, default=16,
                        help='frames per clip')
    parser.add_argument('--size', type=int, default=64,
                        help='frame height and width')
    parser.add_argument('--classes', nargs='+', default=list(DEFAULT_CLASSES),
                        choices=list(MOTIONS), help='classes, in label order')
    parser.add_argument('--seed', type=int, default=0, help='random seed')
    parser.add_argument('--num-workers', type=int, default=2,
                        help='processes that render and encode')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if an identical dataset exists')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    result = generate_synthetic_motion(
        args.root,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        seed=args.seed,
        num_workers=args.num_workers,
        overwrite=args.overwrite,
        num_frames=args.num_frames,
        size=args.size,
        classes=args.classes)
    verb = 'Generated' if result['generated'] else 'Reused the existing'
    print(f'{verb} Synthetic Motion in {args.root} '
          f'({time.perf_counter() - start:.1f} s): '
          f'{args.num_train} train / {args.num_val} val / '
          f'{args.num_test} test clips, '
          f'classes {args.classes}')
    for split, path in result['ann_files'].items():
        print(f'  {split}: {path}')
    print(f'  label map: {result["label_map"]}')
    return 0
