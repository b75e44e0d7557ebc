"""Build the text classifier of a zero-shot config from a label map.

Class names x prompt templates (default: the Kinetics templates of the CLIP
paper) -> CLIP text embeddings (transformers; ``pip install -e
'.[zeroshot]'``), averaged over the templates and L2-normalised, saved with
the CLIP model, templates, label map, width and logit scale. See
docs/zero_shot.md.

Example::

    python tools/zeroshot/build_text_classifier.py \\
        tools/data/kinetics/label_map_k400.txt --clip ViT-B-16 \\
        --model-path checkpoints/clip-vit-base-patch16 \\
        --out data/k400_clip-b16_classes.pt
"""
import sys

from mmsparseformer.cli.build_text_classifier import main

if __name__ == '__main__':
    sys.exit(main())
