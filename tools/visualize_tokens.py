"""Draw where a VideoSparseFormer's tokens look on a video (``python
tools/visualize_tokens.py -h``; the logic is
mmsparseformer/cli/visualize_tokens.py)."""
import sys

from mmsparseformer.cli.visualize_tokens import main

if __name__ == '__main__':
    sys.exit(main())
