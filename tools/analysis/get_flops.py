"""Parameters and GFLOPs of one view of a config's recognizer
(``python tools/analysis/get_flops.py -h``; the logic is
mmsparseformer/cli/get_flops.py)."""
import sys

from mmsparseformer.cli.get_flops import main

if __name__ == '__main__':
    sys.exit(main())
