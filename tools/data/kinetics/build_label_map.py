"""``python tools/data/kinetics/build_label_map.py -h``; the logic is
mmsparseformer/cli/build_label_map.py."""
import sys

from mmsparseformer.cli.build_label_map import main

if __name__ == '__main__':
    sys.exit(main())
