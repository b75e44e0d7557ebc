"""Recognise the actions in video files with a trained recognizer
(``python tools/infer.py -h``; the logic is mmsparseformer/cli/infer.py)."""
import sys

from mmsparseformer.cli.infer import main

if __name__ == '__main__':
    sys.exit(main())
