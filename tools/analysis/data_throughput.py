"""Does the data loader or the model bound training? Measure both
(``python tools/analysis/data_throughput.py -h``; the logic is
mmsparseformer/cli/data_throughput.py)."""
import sys

from mmsparseformer.cli.data_throughput import main

if __name__ == '__main__':
    sys.exit(main())
