"""Installs mmsparseformer, the VideoSparseFormer extension of MMAction2."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(name: str) -> list:
    """Requirement lines of ``requirements/<name>.txt`` without comments."""
    with open(osp.join(HERE, 'requirements', f'{name}.txt')) as f:
        lines = (re.sub(r'#.*', '', line).strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    with open(osp.join(HERE, 'mmsparseformer', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmsparseformer',
    version=read_version(),
    description='VideoSparseFormer for video recognition, an MMAction2 '
    'extension',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['mmsparseformer', 'mmsparseformer.*']),
    # the C++ source of the CPU kernels, compiled on first use
    # and the prompt templates of the zero-shot text classifiers
    package_data={
        'mmsparseformer.ops': ['csrc/*.cpp', 'csrc/*.h'],
        'mmsparseformer.zeroshot': ['templates/*.txt'],
    },
    python_requires='>=3.9',
    install_requires=read_requirements('runtime'),
    extras_require=dict(
        tests=read_requirements('tests'),
        deploy=read_requirements('deploy'),
        zeroshot=read_requirements('zeroshot'),
    ),
    zip_safe=False,
)
