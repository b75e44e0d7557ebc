"""``python tools/data/kinetics/build_video_list.py -h``; the logic is
mmsparseformer/cli/build_video_list.py."""
import sys

from mmsparseformer.cli.build_video_list import main

if __name__ == '__main__':
    sys.exit(main())
