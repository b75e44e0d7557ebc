"""Reading a label map: one class name a line, the line being the label."""
import os.path as osp
from typing import List


def read_label_map(path: str) -> List[str]:
    """The class names of a label map (blank lines skipped); a missing file
    or a name listed twice is an error naming the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Label map not found: {path}')
    with open(path, encoding='utf-8') as f:
        names = [line.strip() for line in f if line.strip()]
    seen = set()
    for name in names:
        if name in seen:
            raise ValueError(f'Label map {path}: {name!r} appears twice')
        seen.add(name)
    return names
