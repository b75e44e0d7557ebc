"""Check that video files decode, and read/write lists of unreadable ones.

Shared by ``tools/data/kinetics/check_videos.py`` and by
:class:`~mmsparseformer.datasets.RobustVideoDataset` (``skip_unreadable``).
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.fileio import list_from_file


def check_video(path: str, num_threads: int = 1) -> Optional[str]:
    """Decode a video with decord, as MMAction2's ``DecordInit/Decode`` do.

    The video must exist, report at least one frame, and its first, middle
    and last frames must decode to non-empty images.

    Returns:
        ``None`` for a readable video, else the reason it is unreadable.
    """
    import decord
    if not osp.isfile(path):
        return 'file not found'
    if osp.getsize(path) == 0:
        return 'empty file (0 bytes)'
    try:
        reader = decord.VideoReader(path, num_threads=num_threads)
        num_frames = len(reader)
        if num_frames <= 0:
            return 'no frames'
        indices = sorted({0, num_frames // 2, num_frames - 1})
        frames = reader.get_batch(indices).asnumpy()
    except Exception as error:  # decord raises RuntimeError / DECORDError
        return f'{type(error).__name__}: {first_line(error)}'
    if frames.shape[0] != len(indices) or frames.size == 0:
        return (f'decoded {frames.shape[0]} of the frames {indices} '
                f'(shape {frames.shape})')
    return None


def first_line(error: BaseException) -> str:
    """The first line of an error message (decord's span many lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def read_list_filenames(list_file: str, delimiter: str = ' ') -> List[str]:
    """The video names of an MMAction2 annotation list (first field)."""
    names = []
    for line in list_from_file(list_file):
        line = line.strip()
        if not line:
            continue
        names.append(line.split(delimiter)[0])
    return names


def write_unreadable_list(path: str,
                          unreadable: Sequence[Tuple[str, str]]) -> str:
    """Write ``name<TAB>reason`` lines (the names as in the annotation list).
    """
    with open(path, 'w') as f:
        for name, reason in unreadable:
            f.write(f'{name}\t{reason}\n')
    return path


def read_unreadable_list(path: str) -> Dict[str, str]:
    """Read a list written by :func:`write_unreadable_list` (or plain names,
    one a line): ``{name: reason}``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'List of unreadable videos not found: {path}')
    listed = {}
    for line in list_from_file(path):
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        name, _, reason = line.partition('\t')
        listed[name.strip()] = reason.strip() or 'listed in ' + path
    return listed
