# MMAction2's tools/test.py (same flags, same behaviour) with mmsparseformer
# imported, the gloo fallback for distributed runs without CUDA, and one-line
# errors for the mistakes a user can fix: mmsparseformer/cli/test.py.
from mmsparseformer.cli.test import main

if __name__ == '__main__':
    main()
