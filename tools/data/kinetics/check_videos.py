"""``python tools/data/kinetics/check_videos.py -h``; the logic is
mmsparseformer/cli/check_videos.py."""
import sys

from mmsparseformer.cli.check_videos import main

if __name__ == '__main__':
    sys.exit(main())
