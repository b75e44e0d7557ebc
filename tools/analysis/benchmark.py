"""Clips/s and peak memory of VideoSparseFormer-T beside MMAction2's Video
Swin-T, TimeSformer, X3D-M and MViTv2-S (``python
tools/analysis/benchmark.py -h``; the logic is
mmsparseformer/cli/benchmark.py)."""
import sys

from mmsparseformer.cli.benchmark import main

if __name__ == '__main__':
    sys.exit(main())
