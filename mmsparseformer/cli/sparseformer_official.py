"""Convert an official SparseFormer checkpoint to an MMAction2 checkpoint.

Reads any official layout (the library's image or video files, the original
ImageNet-release files), renames to this project's keys, inflates image
weights to ``--replicates`` tubes per token, and writes
``{'state_dict': {'backbone.*', 'cls_head.*'}, 'meta': ...}`` that loads with
``backbone.pretrained=DST``, the head's ``init_cfg`` or ``load_from=DST``.

Example::

    python tools/convert/sparseformer_official.py \\
        sparseformer_v1_tiny.pth checkpoints/vsf-tiny_in1k_r8.pth --replicates 8
"""
import argparse
import os
import os.path as osp
import sys

import torch

from ..checkpoint_io import CheckpointError
from ..models.conversion import convert_official_checkpoint


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='official SparseFormer checkpoint')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument(
        '--arch',
        default=None,
        help="'tiny', 'small' or 'base' (default: inferred from the shapes)")
    parser.add_argument(
        '--replicates',
        type=int,
        default=None,
        help='tubes per image token; default 8 for image checkpoints, '
        'inferred for video checkpoints')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        converted = convert_official_checkpoint(args.src, args.arch,
                                                args.replicates)
    except (CheckpointError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    checkpoint = converted['checkpoint']
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(checkpoint, args.dst)
    arch = converted['arch']
    name = arch if isinstance(arch, str) else 'custom'
    print(f'{args.src} ({converted["layout"]} layout) -> {args.dst}: '
          f'VideoSparseFormer arch={name}, '
          f'replicates={converted["replicates"]}, '
          f'{len(checkpoint["state_dict"])} tensors')
    return 0
