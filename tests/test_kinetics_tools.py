"""Kinetics data tools: label map, annotation lists from the official CSV,
and the parallel video checker."""
import csv
import importlib
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest

from mmsparseformer.cli import check_videos
from mmsparseformer.datasets.kinetics import (folder_name_to_label,
                                              kinetics400_names_from_decord,
                                              load_label_map,
                                              read_kinetics_csv)
from mmsparseformer.testing import write_lines, write_video

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools', 'data', 'kinetics')
LABEL_MAP = osp.join(TOOLS, 'label_map_k400.txt')


def load_tool(name: str):
    """The logic of ``tools/data/kinetics/<name>.py``."""
    return importlib.import_module(f'mmsparseformer.cli.{name}')


def write_csv(path, rows, header=('label', 'youtube_id', 'time_start',
                                  'time_end', 'split')) -> str:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def test_label_map_is_the_sorted_kinetics400_names():
    with open(LABEL_MAP) as f:
        names = [line.rstrip('\n') for line in f]
    assert len(names) == 400 == len(set(names))
    assert names == sorted(names)
    # the checked-in copy is exactly what decord's list gives
    assert names == kinetics400_names_from_decord()
    assert names[0] == 'abseiling' and names[-1] == 'zumba'
    assert 'hurling (sport)' in names
    assert 'passing American football (not in game)' in names
    assert "massaging person's head" in names
    label_map = load_label_map(LABEL_MAP)
    assert label_map['abseiling'] == 0 and label_map['zumba'] == 399


def test_folder_names_to_official_names():
    assert folder_name_to_label('hurling_-sport-') == 'hurling (sport)'
    assert folder_name_to_label('skiing_-not_slalom_or_crosscountry-') == \
        'skiing (not slalom or crosscountry)'
    assert folder_name_to_label('playing_guitar') == 'playing guitar'


def test_build_label_map_from_csv(tmp_path, capsys):
    train = write_csv(tmp_path / 'train.csv', [
        ('zumba', 'a', 1, 11, 'train'),
        ('hurling (sport)', 'b', 2, 12, 'train'),
        ('abseiling', 'c', 3, 13, 'train'),
    ])
    val = write_csv(tmp_path / 'val.csv', [('hurling (sport)', 'd', 0, 10,
                                             'val'),
                                            ('bowling', 'e', 0, 10, 'val')])
    out = str(tmp_path / 'map.txt')
    assert load_tool('build_label_map').main([train, val, '--out', out]) == 0
    with open(out) as f:
        assert f.read().splitlines() == [
            'abseiling', 'bowling', 'hurling (sport)', 'zumba'
        ]
    captured = capsys.readouterr()
    assert 'Wrote 4 class names' in captured.out
    assert 'WARNING: 4 classes' in captured.err


def test_build_video_list(tmp_path, capsys):
    """Flat and class-folder clips are found by name; a clip missing on
    disk is reported and written to --missing-out."""
    videos = tmp_path / 'videos_train'
    (videos / 'playing_guitar').mkdir(parents=True)
    for relative in ('abc_000004_000014.mp4',
                     'playing_guitar/Xy-_q9_000120_000130.mkv',
                     'zzz_000000_000010.mp4', 'notes.txt'):
        (videos / relative).write_bytes(b'x')
    csv_file = write_csv(tmp_path / 'train.csv', [
        ('abseiling', 'abc', 4, 14, 'train'),
        ('playing guitar', 'Xy-_q9', '120.0', 130, 'train'),
        ('hurling (sport)', 'gone', 7, 17, 'train'),
        ('zumba', 'zzz', 0, 10, 'train'),
    ])
    out = str(tmp_path / 'list.txt')
    missing_out = str(tmp_path / 'missing.txt')
    tool = load_tool('build_video_list')
    assert tool.main([csv_file, str(videos), out,
                      '--missing-out', missing_out]) == 0
    label_map = load_label_map(LABEL_MAP)
    with open(out) as f:
        assert f.read().splitlines() == [
            f'abc_000004_000014.mp4 {label_map["abseiling"]}',
            'playing_guitar/Xy-_q9_000120_000130.mkv '
            f'{label_map["playing guitar"]}',
            f'zzz_000000_000010.mp4 {label_map["zumba"]}',
        ]
    with open(missing_out) as f:
        assert f.read().splitlines() == ['gone_000007_000017\thurling (sport)']
    captured = capsys.readouterr()
    assert 'Wrote 3 of 4 clips' in captured.out
    assert (f'WARNING: 1 of 4 clips listed in {csv_file} are missing under '
            f'{videos}') in captured.err
    assert 'missing: gone_000007_000017 (hurling (sport))' in captured.err


def test_build_video_list_warns_on_duplicates(tmp_path, capsys):
    videos = tmp_path / 'videos'
    (videos / 'a').mkdir(parents=True)
    (videos / 'abc_000004_000014.mp4').write_bytes(b'x')
    (videos / 'a' / 'abc_000004_000014.webm').write_bytes(b'x')
    csv_file = write_csv(tmp_path / 'val.csv',
                         [('abseiling', 'abc', 4, 14, 'val')])
    out = str(tmp_path / 'list.txt')
    load_tool('build_video_list').main([csv_file, str(videos), out])
    with open(out) as f:
        assert f.read().splitlines() == ['a/abc_000004_000014.webm 0']
    assert 'clip abc_000004_000014 found 2 times' in capsys.readouterr().err


def test_csv_errors_name_the_problem(tmp_path):
    bad_header = write_csv(tmp_path / 'a.csv', [('x', 1, 2)],
                           header=('youtube_id', 'time_start', 'time_end'))
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['label'\]"):
        read_kinetics_csv(bad_header)
    bad_time = write_csv(tmp_path / 'b.csv',
                         [('abseiling', 'abc', 'soon', 10, 'train')])
    with pytest.raises(ValueError, match=r'b.csv:2: time_start'):
        read_kinetics_csv(bad_time)
    unknown = write_csv(tmp_path / 'c.csv',
                        [('flying carpets', 'abc', 0, 10, 'train')])
    (tmp_path / 'v').mkdir()
    with pytest.raises(ValueError, match='flying carpets'):
        load_tool('build_video_list').main(
            [unknown, str(tmp_path / 'v'), str(tmp_path / 'out.txt')])
    with pytest.raises(FileNotFoundError, match='no_such.csv'):
        read_kinetics_csv(str(tmp_path / 'no_such.csv'))


def test_check_videos_cli(tmp_path, capsys):
    """check_videos.py decodes the list with 2 processes, shows progress and
    writes the unreadable videos with reasons; exit status 1."""
    root = tmp_path / 'videos'
    rng = np.random.default_rng(0)
    write_video(str(root / 'good.mp4'),
                rng.integers(0, 256, (9, 24, 32, 3), dtype=np.uint8))
    write_video(str(root / 'one_frame.mp4'),
                rng.integers(0, 256, (1, 24, 32, 3), dtype=np.uint8))
    (root / 'corrupt.mp4').write_bytes(
        rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (root / 'empty.mp4').write_bytes(b'')
    names = ['good.mp4', 'corrupt.mp4', 'one_frame.mp4', 'empty.mp4',
             'missing.mp4']
    list_file = write_lines(
        str(tmp_path / 'list.txt'),
        [f'{name} {index % 2}' for index, name in enumerate(names)])
    out = str(tmp_path / 'unreadable.txt')
    assert check_videos.main(
        [list_file, str(root), '--out', out, '--nproc', '2']) == 1
    stdout = capsys.readouterr().out
    assert '5/5' in stdout
    assert '3 of 5 videos are unreadable' in stdout
    with open(out) as f:
        lines = dict(line.rstrip('\n').split('\t') for line in f)
    assert list(lines) == ['corrupt.mp4', 'empty.mp4', 'missing.mp4']
    assert lines['empty.mp4'] == 'empty file (0 bytes)'
    assert lines['missing.mp4'] == 'file not found'
    assert lines['corrupt.mp4'].startswith('RuntimeError')


@pytest.mark.slow
def test_prepare_k400_script(tmp_path):
    """The documented one-command preparation on a tiny Kinetics layout:
    lists for both splits, the missing and the unreadable clips."""
    data = tmp_path / 'kinetics400'
    rng = np.random.default_rng(0)
    for split, clips in (('train', [('abseiling', 'aaa', 0, 10, 'ok'),
                                    ('zumba', 'bbb', 5, 15, 'corrupt'),
                                    ('bowling', 'ccc', 1, 11, None)]),
                         ('val', [('zumba', 'ddd', 2, 12, 'ok')])):
        rows = []
        for label, youtube_id, start, end, kind in clips:
            rows.append((label, youtube_id, start, end, split))
            path = data / f'videos_{split}' / label.replace(' ', '_') / \
                f'{youtube_id}_{start:06d}_{end:06d}.mp4'
            if kind == 'ok':
                write_video(str(path), rng.integers(
                    0, 256, (5, 32, 32, 3), dtype=np.uint8))
            elif kind == 'corrupt':
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b'\x01' * 64)
        (data / 'annotations').mkdir(exist_ok=True)
        write_csv(data / 'annotations' / f'{split}.csv', rows)
    result = subprocess.run(
        ['bash', osp.join(TOOLS, 'prepare_k400.sh'), str(data), '2'],
        capture_output=True, text=True, cwd=ROOT,
        env=dict(os.environ, PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr
    label_map = load_label_map(LABEL_MAP)

    def lines(name):
        with open(data / name) as f:
            return f.read().splitlines()

    assert lines('kinetics400_train_list_videos.txt') == [
        f'abseiling/aaa_000000_000010.mp4 {label_map["abseiling"]}',
        f'zumba/bbb_000005_000015.mp4 {label_map["zumba"]}',
    ]
    assert lines('kinetics400_val_list_videos.txt') == [
        f'zumba/ddd_000002_000012.mp4 {label_map["zumba"]}'
    ]
    assert lines('missing_train.txt') == ['ccc_000001_000011\tbowling']
    assert [line.split('\t')[0] for line in lines('unreadable_train.txt')
            ] == ['zumba/bbb_000005_000015.mp4']
    assert lines('unreadable_val.txt') == []
