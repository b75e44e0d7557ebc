# MMAction2's tools/train.py (same flags, same behaviour) with mmsparseformer
# imported, the gloo fallback for distributed runs without CUDA, and one-line
# errors for the mistakes a user can fix: mmsparseformer/cli/train.py.
from mmsparseformer.cli.train import main

if __name__ == '__main__':
    main()
