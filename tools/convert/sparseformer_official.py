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
    import mmsparseformer  # noqa: F401  (compat fixes, registries)
    from mmsparseformer.checkpoint_io import (CheckpointError,
                                              load_checkpoint_file)
    from mmsparseformer.models import VideoSparseFormer
    from mmsparseformer.models.checkpoint import (infer_official_arch,
                                                  official_state,
                                                  official_to_checkpoint,
                                                  unwrap_state_dict)
    try:
        state = unwrap_state_dict(load_checkpoint_file(args.src), args.src)
        state, layout = official_state(state, args.src)
        found = infer_official_arch(state, args.replicates)
        arch = args.arch or found['arch']
        if args.arch and found['name'] and args.arch != found['name']:
            raise CheckpointError(
                f'{args.src} holds a SparseFormer-{found["name"]}, not '
                f'--arch {args.arch}')
        replicates = args.replicates or found['replicates'] or 8
        backbone = VideoSparseFormer(arch=arch, replicates=replicates)
        checkpoint = official_to_checkpoint(state, backbone, args.src)
    except (CheckpointError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(checkpoint, args.dst)
    name = arch if isinstance(arch, str) else 'custom'
    print(f'{args.src} ({layout} layout) -> {args.dst}: VideoSparseFormer '
          f'arch={name}, replicates={replicates}, '
          f'{len(checkpoint["state_dict"])} tensors')
    return 0


if __name__ == '__main__':
    sys.exit(main())
