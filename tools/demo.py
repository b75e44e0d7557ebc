"""The whole system in one command, on CPU, on a built-in dataset: ``make
demo`` (``python tools/demo.py -h``; the logic is
mmsparseformer/cli/demo.py)."""
import sys

from mmsparseformer.cli.demo import main

if __name__ == '__main__':
    sys.exit(main())
