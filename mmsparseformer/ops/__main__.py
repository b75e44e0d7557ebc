"""Build the compiled CPU kernels now: ``python -m mmsparseformer.ops``."""
import sys

from .kernels import library_name, load_cpu_kernels, load_error

if __name__ == '__main__':
    if load_cpu_kernels(verbose='-v' in sys.argv[1:]):
        print(f'{library_name()}: built and loaded')
        sys.exit(0)
    print(f'{library_name()}: unavailable: {load_error() or "disabled"}')
    sys.exit(1)
