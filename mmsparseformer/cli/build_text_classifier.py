"""``tools/zeroshot/build_text_classifier.py``: the command line of
:func:`~mmsparseformer.zeroshot.build_text_classifier`."""
import argparse
import os.path as osp
import sys
import time
from typing import List, Optional

from ..zeroshot.builder import (CLIP_EMBED_DIMS, CLIP_MODELS, DEFAULT_TEMPLATES,
                      ClipUnavailableError, build_text_classifier)

PROG = 'build_text_classifier'
EXAMPLE = """\
example (Kinetics-400, CLIP ViT-B/16 of btsp-clip-base, offline copy):
  python tools/zeroshot/build_text_classifier.py \\
      tools/data/kinetics/label_map_k400.txt --clip ViT-B-16 \\
      --model-path checkpoints/clip-vit-base-patch16 \\
      --out data/k400_clip-b16_classes.pt
"""


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='Build the text classifier of a zero-shot config: class '
        'names x prompt templates -> CLIP text embeddings, averaged over the '
        'templates and L2-normalised, saved with their metadata.',
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('label_map', help='class names, one per line')
    parser.add_argument(
        '--clip',
        required=True,
        choices=list(CLIP_MODELS),
        help='CLIP model of the checkpoint: ViT-B-16 (btsp-clip-base, '
        '512-d) or ViT-L-14 (btsp-clip-large, 768-d)')
    parser.add_argument(
        '--templates',
        help='prompt templates, one per line with {} for the class name '
        f'(default: the Kinetics templates of the CLIP paper, '
        f'{osp.relpath(DEFAULT_TEMPLATES)})')
    parser.add_argument(
        '--model-path',
        help='a local copy of the transformers model (default: the Hugging '
        f'Face cache entry of {CLIP_MODELS["ViT-B-16"]} / '
        f'{CLIP_MODELS["ViT-L-14"]})')
    parser.add_argument(
        '--download',
        action='store_true',
        help='fetch the model from the Hugging Face hub when it is not '
        'cached (never tried otherwise)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument('--out', required=True, help='output file (.pt)')
    return parser.parse_args(argv)


def report_progress(done: int, every: int = 50) -> None:
    """A line on stderr every ``every`` classes."""
    if done % every == 0:
        print(f'{done} classes embedded', file=sys.stderr, flush=True)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        classifier = build_text_classifier(
            args.label_map, args.clip, args.out, args.templates,
            args.model_path, args.download, args.device, report_progress)
    except (ClipUnavailableError, FileNotFoundError, ValueError) as err:
        print(f'{PROG}: error: {err}', file=sys.stderr)
        return 1
    dims = classifier.embed_dims
    if dims != CLIP_EMBED_DIMS[args.clip]:
        print(f'{PROG}: warning: {args.model_path} gives {dims}-d '
              f'embeddings; CLIP {args.clip}\'s are '
              f'{CLIP_EMBED_DIMS[args.clip]}-d', file=sys.stderr)
    meta = classifier.meta
    print(f'Wrote {args.out}: {classifier.num_classes} classes x {dims}-d, '
          f'CLIP {args.clip} ({args.model_path or meta["hf_model"]}), '
          f'{len(meta["templates"])} templates per class, logit scale '
          f'{meta["logit_scale"]:g} ({time.perf_counter() - start:.1f} s)')
    return 0
