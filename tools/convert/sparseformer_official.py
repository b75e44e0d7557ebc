"""Convert an official SparseFormer checkpoint to an MMAction2 checkpoint
(``python tools/convert/sparseformer_official.py -h``; the logic is
mmsparseformer/cli/sparseformer_official.py)."""
import sys

from mmsparseformer.cli.sparseformer_official import main

if __name__ == '__main__':
    sys.exit(main())
