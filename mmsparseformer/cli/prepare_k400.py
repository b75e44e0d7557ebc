"""``tools/data/kinetics/prepare_k400.sh``: build the Kinetics-400
annotation lists of both splits and check every video, in one process.

DATA_ROOT must hold the official CSV files ``annotations/{train,val}.csv``
and the downloaded clips in ``videos_{train,val}/``. Writes, in DATA_ROOT,
``kinetics400_{train,val}_list_videos.txt`` (the lists the configs read),
``missing_{train,val}.txt`` (clips of the CSV not on disk) and
``unreadable_{train,val}.txt`` (clips that do not decode).
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from . import build_video_list, check_videos

SPLITS = ('train', 'val')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', nargs='?', default='data/kinetics400',
                        help='default: %(default)s')
    parser.add_argument('nproc', nargs='?', type=int, default=8,
                        help='processes that decode (default: %(default)s)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    root = args.data_root
    for split in SPLITS:
        video_list = osp.join(root, f'kinetics400_{split}_list_videos.txt')
        build_video_list.main([
            osp.join(root, 'annotations', f'{split}.csv'),
            osp.join(root, f'videos_{split}'), video_list, '--missing-out',
            osp.join(root, f'missing_{split}.txt')
        ])
        # 1 only says that unreadable videos were found (and listed)
        status = check_videos.main([
            video_list,
            osp.join(root, f'videos_{split}'), '--out',
            osp.join(root, f'unreadable_{split}.txt'), '--nproc',
            str(args.nproc)
        ])
        if status > 1:
            return status
    print('Done. Training replaces unreadable videos; validation skips them.')
    print('To leave the unreadable ones out of a test run (they are then '
          'listed):')
    print('  --cfg-options test_dataloader.dataset.skip_unreadable='
          f'{osp.join(root, "unreadable_val.txt")}')
    return 0


if __name__ == '__main__':  # the shell script runs python -m this module
    sys.exit(main())
