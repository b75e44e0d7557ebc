"""Write the Synthetic Motion dataset; see tools/data/synthetic/README.md
(``python tools/data/synthetic/generate_synthetic_motion.py -h``; the logic
is mmsparseformer/cli/generate_synthetic_motion.py)."""
import sys

from mmsparseformer.cli.generate_synthetic_motion import main

if __name__ == '__main__':
    sys.exit(main())
