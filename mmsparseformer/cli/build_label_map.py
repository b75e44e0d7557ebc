"""Write a Kinetics label map: one class name a line, sorted (index = line).

From the official CSV files (the classes they use)::

    python tools/data/kinetics/build_label_map.py \
        data/kinetics400/annotations/train.csv --out label_map_k400.txt

or from the 400 Kinetics-400 names that the installed ``decord`` package
ships (how ``tools/data/kinetics/label_map_k400.txt`` was made)::

    python tools/data/kinetics/build_label_map.py --from-decord \
        --out tools/data/kinetics/label_map_k400.txt
"""
import argparse
import sys
from typing import List, Optional

from ..datasets.kinetics import (kinetics400_names_from_decord,
                                 label_names_from_csv, write_label_map)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('csv', nargs='*', help='official Kinetics CSV files')
    parser.add_argument(
        '--from-decord',
        action='store_true',
        help='use the Kinetics-400 class names shipped in decord')
    parser.add_argument('--out', required=True, help='label map to write')
    args = parser.parse_args(argv)
    if bool(args.csv) == args.from_decord:
        parser.error('give either CSV files or --from-decord')
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.from_decord:
        names = kinetics400_names_from_decord()
    else:
        names = label_names_from_csv(args.csv)
    write_label_map(args.out, names)
    print(f'Wrote {len(names)} class names to {args.out}')
    if not args.from_decord and len(names) not in (400, 600, 700):
        print(f'WARNING: {len(names)} classes; Kinetics-400/600/700 have '
              '400/600/700', file=sys.stderr)
    return 0
