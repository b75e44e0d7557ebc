"""Re-encode a video dataset for cheap training clips
(``python tools/data/kinetics/reencode_videos.py -h``; the logic is
mmsparseformer/cli/reencode_videos.py)."""
import sys

from mmsparseformer.cli.reencode_videos import main

if __name__ == '__main__':
    sys.exit(main())
