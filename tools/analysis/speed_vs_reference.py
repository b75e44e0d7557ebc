"""VideoSparseFormer's fast path against the direct implementation of the
spec (``python tools/analysis/speed_vs_reference.py -h``; the logic is
mmsparseformer/cli/speed_vs_reference.py)."""
import sys

from mmsparseformer.cli.speed_vs_reference import main

if __name__ == '__main__':
    sys.exit(main())
