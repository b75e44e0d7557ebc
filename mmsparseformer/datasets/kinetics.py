"""Kinetics annotation lists and label maps for MMAction2.

The official Kinetics CSV files have the columns
``label,youtube_id,time_start,time_end,split`` (some releases add
``is_cc``). Downloaded clips are named ``{youtube_id}_{start:06d}_{end:06d}``
with any video extension, flat or in class folders: the layout of the
ActivityNet crawler that MMAction2's ``tools/data/kinetics/download.py``
uses, and of the public Kinetics-400 archives.
"""
import ast
import csv
import importlib.util
import os
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple


from ..utils.label_map import read_label_map
from ..utils.video_io import VIDEO_EXTENSIONS, write_lines

#: Columns a Kinetics CSV must have.
CSV_COLUMNS = ('label', 'youtube_id', 'time_start', 'time_end')
#: How a downloaded clip is named (without extension).
DEFAULT_NAME_FORMAT = '{youtube_id}_{time_start:06d}_{time_end:06d}'


@dataclass
class KineticsClip:
    """One row of a Kinetics CSV."""
    label: str
    youtube_id: str
    time_start: int
    time_end: int
    split: str = ''

    def name(self, name_format: str = DEFAULT_NAME_FORMAT) -> str:
        return name_format.format(
            youtube_id=self.youtube_id,
            time_start=self.time_start,
            time_end=self.time_end,
            label=self.label)


@dataclass
class VideoList:
    """Result of :func:`build_video_list`."""
    lines: List[str] = field(default_factory=list)
    #: Clips of the CSV not found on disk: ``(clip name, label)``.
    missing: List[Tuple[str, str]] = field(default_factory=list)
    #: Clip names found more than once on disk: ``{name: [paths]}``.
    duplicates: Dict[str, List[str]] = field(default_factory=dict)


def _parse_time(value: str, column: str, where: str) -> int:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f'{where}: {column} must be a number of seconds, '
                         f'got {value!r}') from None
    if number != int(number) or number < 0:
        raise ValueError(f'{where}: {column} must be a whole non-negative '
                         f'number of seconds, got {value!r}')
    return int(number)


def read_kinetics_csv(csv_file: str) -> List[KineticsClip]:
    """Rows of an official Kinetics CSV (header required)."""
    if not osp.isfile(csv_file):
        raise FileNotFoundError(f'Kinetics CSV not found: {csv_file}')
    with open(csv_file, newline='') as f:
        reader = csv.DictReader(f)
        columns = [name.strip() for name in (reader.fieldnames or [])]
        missing = [name for name in CSV_COLUMNS if name not in columns]
        if missing:
            raise ValueError(
                f'{csv_file} lacks the column(s) {missing}; a Kinetics CSV '
                f'has the header {",".join(CSV_COLUMNS)},split (found '
                f'{columns or "no header"})')
        reader.fieldnames = columns
        clips = []
        for row in reader:
            where = f'{csv_file}:{reader.line_num}'
            if any(row.get(name) in (None, '') for name in CSV_COLUMNS):
                raise ValueError(f'{where}: empty or missing field in {row}')
            clips.append(
                KineticsClip(
                    label=row['label'].strip(),
                    youtube_id=row['youtube_id'].strip(),
                    time_start=_parse_time(row['time_start'], 'time_start',
                                           where),
                    time_end=_parse_time(row['time_end'], 'time_end', where),
                    split=(row.get('split') or '').strip()))
    if not clips:
        raise ValueError(f'{csv_file} has no clips')
    return clips


def label_names_from_csv(csv_files: Sequence[str]) -> List[str]:
    """The class names of Kinetics CSVs, sorted (the label-map order)."""
    names = set()
    for csv_file in csv_files:
        names.update(clip.label for clip in read_kinetics_csv(csv_file))
    return sorted(names)


def folder_name_to_label(name: str) -> str:
    """``'hurling_-sport-'`` -> ``'hurling (sport)'``: undo the folder-safe
    spelling of Kinetics class names (spaces as ``_``, brackets as ``-``)."""
    return re.sub(r'-([^-]*)-', r'(\1)', name.replace('_', ' '))


def kinetics400_names_from_decord() -> List[str]:
    """The 400 Kinetics-400 class names that the ``decord`` package ships
    (``Kinetics400Attr.classes`` in ``decord/data/kinetics/
    kinetics400_action.py``), in the official spelling and sorted.

    The module is parsed, not imported: importing it requires mxnet.
    """
    spec = importlib.util.find_spec('decord')
    if spec is None or spec.origin is None:
        raise ImportError('decord is not installed; build the label map from '
                          'the Kinetics CSV files instead')
    source = osp.join(
        osp.dirname(spec.origin), 'data', 'kinetics', 'kinetics400_action.py')
    if not osp.isfile(source):
        raise FileNotFoundError(f'{source} not found: this decord does not '
                                'ship the Kinetics-400 class names')
    with open(source) as f:
        tree = ast.parse(f.read(), source)
    folder_names = None
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Attribute) and target.attr == 'classes'
                for target in node.targets):
            folder_names = ast.literal_eval(node.value)
    if not folder_names:
        raise ValueError(f'No Kinetics400Attr.classes list in {source}')
    names = sorted({folder_name_to_label(name) for name in folder_names})
    if len(names) != 400:
        raise ValueError(f'{source} lists {len(names)} distinct classes, '
                         'expected 400')
    return names


def load_label_map(path: str) -> Dict[str, int]:
    """``{class name: index}`` from a label map (one name a line)."""
    return {name: index for index, name in enumerate(read_label_map(path))}


def write_label_map(path: str, names: Sequence[str]) -> str:
    """One class name a line (the line is the label index)."""
    return write_lines(path, names)


def index_videos(root: str,
                 extensions: Sequence[str] = VIDEO_EXTENSIONS
                 ) -> Tuple[Dict[str, str], Dict[str, List[str]]]:
    """``{file stem: path relative to root}`` of the videos under ``root``
    (any depth), and the stems found more than once (the first path in
    sorted order is kept)."""
    if not osp.isdir(root):
        raise FileNotFoundError(f'Video folder not found: {root}')
    found: Dict[str, List[str]] = {}
    extensions = tuple(ext.lower() for ext in extensions)
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            stem, ext = osp.splitext(name)
            if ext.lower() in extensions:
                relative = osp.relpath(osp.join(folder, name), root)
                found.setdefault(stem, []).append(relative)
    index = {stem: sorted(paths)[0] for stem, paths in found.items()}
    duplicates = {
        stem: sorted(paths)
        for stem, paths in found.items() if len(paths) > 1
    }
    return index, duplicates


def build_video_list(csv_file: str,
                     video_root: str,
                     label_map: Dict[str, int],
                     name_format: str = DEFAULT_NAME_FORMAT,
                     extensions: Sequence[str] = VIDEO_EXTENSIONS
                     ) -> VideoList:
    """MMAction2 annotation lines (``path label``, paths relative to
    ``video_root``) for the clips of a Kinetics CSV found on disk.

    Raises ``ValueError`` for a CSV class missing from ``label_map``.
    """
    clips = read_kinetics_csv(csv_file)
    unknown = sorted({clip.label for clip in clips} - set(label_map))
    if unknown:
        raise ValueError(
            f'{len(unknown)} class(es) of {csv_file} are not in the label '
            f'map: {unknown[:10]}')
    index, duplicates = index_videos(video_root, extensions)
    result = VideoList(duplicates=duplicates)
    for clip in clips:
        name = clip.name(name_format)
        path = index.get(name)
        if path is None:
            result.missing.append((name, clip.label))
            continue
        if ' ' in path:
            raise ValueError(
                f'{osp.join(video_root, path)}: MMAction2 annotation lists '
                'are space-separated, so video paths cannot contain spaces; '
                'rename the folders (MMAction2: '
                'tools/data/kinetics/rename_classnames.sh)')
        result.lines.append(f'{path} {label_map[clip.label]}')
    return result
