"""Report a test run: top-1 against GFLOPs beside MMAction2's model zoo
(``python tools/analysis/report.py -h``; the logic is
mmsparseformer/cli/report.py)."""
import sys

from mmsparseformer.cli.report import main

if __name__ == '__main__':
    sys.exit(main())
