"""End-to-end tests of tools/train.py, tools/test.py and their launch
scripts, run as a user runs them (subprocesses, CPU only), on a tiny
generated video set with the micro VideoSparseFormer; their one-line errors
in-process (``mmsparseformer.cli.train`` / ``.test``).

``tests/data/configs/tool_test_hooks.py`` lets the runs report what they
did: the dataset indices each rank trained on, and a crash (SIGKILL) right
after an epoch's checkpoint.
"""
import glob
import os
import os.path as osp
import pickle
import signal
import socket
import subprocess
import sys

import pytest
import torch

from mmsparseformer.checkpoint_io import load_checkpoint_file
from mmsparseformer.cli import test as test_tool
from mmsparseformer.cli import train as train_tool
from mmsparseformer.testing import in_process, write_random_videos

pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(REPO, 'tools')
CONFIGS = osp.join(REPO, 'tests', 'data', 'configs')
MICRO = osp.join(CONFIGS, 'vsf_micro_2xb2-4x1x1-2e_tinyvideo-rgb.py')
PROBE = osp.join(CONFIGS, 'vsf_micro_probe.py')
NUM_TRAIN, NUM_VAL, NUM_CLASSES = 8, 4, 3
ITERS_PER_EPOCH = NUM_TRAIN // 2  # batch size 2, one process


def tool_env(**extra) -> dict:
    env = dict(os.environ)
    paths = [CONFIGS, REPO]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        PYTHON=sys.executable,  # the interpreter of the launch scripts
        CUDA_VISIBLE_DEVICES='',  # the CPU path, also on a GPU machine
        OMP_NUM_THREADS='1')
    env.update(extra)
    return env


def run(cmd, cwd, timeout=600, **env) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in cmd], cwd=cwd,
                          env=tool_env(**env), capture_output=True,
                          text=True, timeout=timeout)


def run_train(cwd, *args, **env):
    return run([sys.executable, osp.join(TOOLS, 'train.py'), *args], cwd,
               **env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def succeeded(result: subprocess.CompletedProcess) -> bool:
    if result.returncode != 0:
        print(result.stdout[-5000:], result.stderr[-5000:], sep='\n')
    return result.returncode == 0


def run_log(work_dir) -> str:
    """The text of the runner's log files in a work dir."""
    return ''.join(
        open(path).read()
        for path in glob.glob(osp.join(str(work_dir), '*', '*.log')))


def load_runner_checkpoint(path) -> dict:
    return load_checkpoint_file(str(path))  # weights_only, runner globals


def read_samples(work_dir, rank, epoch) -> dict:
    import json
    with open(osp.join(str(work_dir), 'samples',
                       f'rank{rank}_epoch{epoch}.json')) as f:
        return json.load(f)


def load_dump(path) -> dict:
    """Dumped predictions by dataset index."""
    with open(path, 'rb') as f:
        results = pickle.load(f)
    return {int(result['sample_idx']): result for result in results}


def tool_error(capsys, tool, *args) -> str:
    """Run a tool's ``main`` in-process; it must end with exit status 1 and
    one line on stderr (no traceback). Returns that line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        tool.main([str(arg) for arg in args])
    assert info.value.code == 1
    stderr = capsys.readouterr().err
    assert 'Traceback' not in stderr, stderr[-3000:]
    message = stderr.strip().splitlines()[-1]
    assert 'error:' in message
    return message


def assert_single_line_error(message, *fragments):
    for fragment in fragments:
        assert fragment in message, message


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A working directory with ``data/tinyvideo/{train,val}``."""
    root = tmp_path_factory.mktemp('tools')
    write_random_videos(
        str(root / 'data' / 'tinyvideo' / 'train'), NUM_TRAIN, NUM_CLASSES,
        num_frames=6, seed=0)
    write_random_videos(
        str(root / 'data' / 'tinyvideo' / 'val'), NUM_VAL, NUM_CLASSES,
        num_frames=6, seed=1)
    return root


@pytest.fixture(scope='module')
def uninterrupted(workspace):
    """Two epochs in one go: the reference of the resume test and the
    checkpoint of the test.py tests."""
    work_dir = workspace / 'uninterrupted'
    result = run_train(workspace, PROBE, '--work-dir', work_dir)
    assert succeeded(result)
    return work_dir


@pytest.fixture(scope='module')
def single_dump(workspace, uninterrupted):
    """Per-sample scores of ``tools/test.py --dump`` in one process."""
    dump = workspace / 'single.pkl'
    with in_process(workspace):
        test_tool.main([
            MICRO, str(uninterrupted / 'epoch_2.pth'), '--dump', str(dump),
            '--work-dir', str(workspace / 'test_single')
        ])
    return dump


# --------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------
def test_resume_after_kill_continues_at_epoch_2(workspace, uninterrupted):
    work_dir = workspace / 'killed'
    killed = run_train(workspace, PROBE, '--work-dir', work_dir,
                       '--cfg-options', 'custom_hooks.1.epoch=1')
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert osp.isfile(work_dir / 'epoch_1.pth')
    assert not osp.exists(work_dir / 'epoch_2.pth')
    # what the killed run trained on; a rerun of epoch 1 would rewrite it
    os.remove(work_dir / 'samples' / 'rank0_epoch1.json')

    resumed = run_train(workspace, PROBE, '--work-dir', work_dir, '--resume')
    assert succeeded(resumed)
    assert not osp.exists(work_dir / 'samples' / 'rank0_epoch1.json')
    assert read_samples(work_dir, 0, 2)['samples'] == \
        read_samples(uninterrupted, 0, 2)['samples']

    # the resumed run ends exactly where the uninterrupted run ends
    expected = load_runner_checkpoint(uninterrupted / 'epoch_2.pth')
    actual = load_runner_checkpoint(work_dir / 'epoch_2.pth')
    for ckpt in (expected, actual):
        assert (ckpt['meta']['epoch'], ckpt['meta']['iter']) == \
            (2, 2 * ITERS_PER_EPOCH)
    assert expected['state_dict'].keys() == actual['state_dict'].keys()
    for name, value in expected['state_dict'].items():
        torch.testing.assert_close(
            actual['state_dict'][name], value, rtol=0, atol=1e-6, msg=name)

    # optimizer: AdamW moments and step counts, learning rate
    expected_optim, actual_optim = expected['optimizer'], actual['optimizer']
    assert actual_optim['param_groups'][0]['lr'] == pytest.approx(
        expected_optim['param_groups'][0]['lr'], rel=1e-12)
    assert expected_optim['state'].keys() == actual_optim['state'].keys()
    for index, state in expected_optim['state'].items():
        assert float(actual_optim['state'][index]['step']) == \
            float(state['step']) == 2 * ITERS_PER_EPOCH
        for key in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(
                actual_optim['state'][index][key], state[key], rtol=0,
                atol=1e-6)

    # schedulers: both the warm-up and the cosine decay
    assert len(actual['param_schedulers']) == 2
    for got, want in zip(actual['param_schedulers'],
                         expected['param_schedulers']):
        for key in ('last_step', '_global_step'):
            assert got[key] == want[key]
        assert got['_last_value'] == pytest.approx(want['_last_value'])


def test_dist_train_two_cpu_processes(workspace):
    work_dir = workspace / 'dist'
    result = run([
        'bash', osp.join(TOOLS, 'dist_train.sh'), PROBE, 2, '--work-dir',
        work_dir, '--auto-scale-lr', '--cfg-options',
        'auto_scale_lr.base_batch_size=8'
    ], workspace, PORT=str(free_port()))
    assert succeeded(result)
    assert 'communicate over gloo' in run_log(work_dir)

    for epoch in (1, 2):
        ranks = [read_samples(work_dir, rank, epoch) for rank in (0, 1)]
        seen = [set(record['samples']) for record in ranks]
        assert all(len(record['samples']) == NUM_TRAIN // 2
                   for record in ranks)
        assert not seen[0] & seen[1], seen  # different samples
        assert seen[0] | seen[1] == set(range(NUM_TRAIN))  # all of them
        # gradients were averaged: both ranks hold the same weights
        assert ranks[0]['param_checksum'] == pytest.approx(
            ranks[1]['param_checksum'], rel=1e-9)
    assert read_samples(work_dir, 0, 1)['param_checksum'] != \
        read_samples(work_dir, 0, 2)['param_checksum']

    checkpoint = load_runner_checkpoint(work_dir / 'epoch_2.pth')
    assert checkpoint['meta']['iter'] == 2 * NUM_TRAIN // 4
    # --auto-scale-lr: 2 processes x batch 2 = 4 of the 8 the lr was set for
    assert checkpoint['optimizer']['param_groups'][0][
        'initial_lr'] == pytest.approx(1e-3 * 4 / 8)


# --------------------------------------------------------------------------
# testing
# --------------------------------------------------------------------------
def test_test_dump_writes_the_checkpoint_scores(workspace, uninterrupted,
                                                single_dump, monkeypatch):
    results = load_dump(single_dump)
    assert sorted(results) == list(range(NUM_VAL))
    for result in results.values():
        assert result['pred_score'].shape == (NUM_CLASSES, )
        assert float(result['pred_score'].sum()) == pytest.approx(1, 1e-5)

    # the same scores from the checkpoint's weights, computed here
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    from mmaction.registry import DATASETS, MODELS
    monkeypatch.chdir(workspace)  # the config's data paths are relative
    cfg = Config.fromfile(MICRO)
    with DefaultScope.overwrite_default_scope('mmaction'):
        model = MODELS.build(cfg.model).eval()
        model.load_state_dict(
            load_checkpoint_file(
                str(uninterrupted / 'epoch_2.pth'))['state_dict'])
        dataset = DATASETS.build(cfg.test_dataloader.dataset)
        for index in range(NUM_VAL):
            with torch.no_grad():
                [sample] = model.test_step(pseudo_collate([dataset[index]]))
            torch.testing.assert_close(results[index]['pred_score'],
                                       sample.pred_score, rtol=0, atol=1e-6)


def test_dist_test_matches_one_process(workspace, uninterrupted,
                                       single_dump):
    dump = workspace / 'dist.pkl'
    result = run([
        'bash', osp.join(TOOLS, 'dist_test.sh'), MICRO,
        uninterrupted / 'epoch_2.pth', 2, '--dump', dump, '--work-dir',
        workspace / 'test_dist'
    ], workspace, PORT=str(free_port()))
    assert succeeded(result)
    assert 'communicate over gloo' in run_log(workspace / 'test_dist')
    single, dist = load_dump(single_dump), load_dump(dump)
    assert sorted(dist) == sorted(single)
    for index, expected in single.items():
        torch.testing.assert_close(dist[index]['pred_score'],
                                   expected['pred_score'], rtol=0,
                                   atol=1e-6)


FAKE_SRUN = """#!/usr/bin/env bash
# Stands in for srun: records its arguments, drops its options and runs the
# program as Slurm's single task 0.
echo "$@" > "$SRUN_LOG"
while [[ "$1" == -* ]]; do
    if [[ "$1" == -p ]]; then shift; fi
    shift
done
export SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 \\
    SLURM_NODELIST=localhost MASTER_ADDR=127.0.0.1
exec "$@"
"""


def test_slurm_test_script(workspace, uninterrupted, single_dump,
                           tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'srun').chmod(0o755)
    srun_log, dump = tmp_path / 'srun.txt', tmp_path / 'slurm.pkl'
    result = run([
        'bash', osp.join(TOOLS, 'slurm_test.sh'), 'part', 'vsf-job', MICRO,
        uninterrupted / 'epoch_2.pth', '--dump', dump, '--work-dir',
        tmp_path / 'work'
    ], workspace, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}',
        SRUN_LOG=str(srun_log), GPUS='1', GPUS_PER_NODE='1',
        MASTER_PORT=str(free_port()))
    assert succeeded(result)
    srun_args = srun_log.read_text()
    for option in ('-p part', '--job-name=vsf-job', '--ntasks=1',
                   '--ntasks-per-node=1', '--launcher=slurm'):
        assert option in srun_args
    assert 'communicate over gloo' in run_log(tmp_path / 'work')
    single, slurm = load_dump(single_dump), load_dump(dump)
    for index, expected in single.items():
        torch.testing.assert_close(slurm[index]['pred_score'],
                                   expected['pred_score'], rtol=0,
                                   atol=1e-6)


def test_test_show_dir_draws_the_clips(workspace, uninterrupted, tmp_path):
    show_dir = tmp_path / 'vis'
    with in_process(workspace):
        test_tool.main([
            MICRO, str(uninterrupted / 'epoch_2.pth'), '--show-dir',
            str(show_dir), '--work-dir', str(tmp_path / 'work')
        ])
    # one folder per sample, one image per frame of the 4-frame clip
    for index in range(NUM_VAL):
        frames = glob.glob(osp.join(str(show_dir), f'{index}_0', '*',
                                    '*.png'))
        assert len(frames) == 4, (index, frames)


# --------------------------------------------------------------------------
# errors a user can fix: one line naming the key or file, exit status 1
# --------------------------------------------------------------------------
@pytest.fixture
def in_workspace(workspace):
    """The tools' working directory (the configs' data paths are relative
    to it), on the CPU."""
    with in_process(workspace):
        yield workspace


def test_unknown_model_type(in_workspace, tmp_path, capsys):
    config = tmp_path / 'typo.py'
    config.write_text(
        f'_base_ = [{MICRO!r}]\n'
        "model = dict(backbone=dict(type='VideoSparseFormr'))\n")
    message = tool_error(capsys, train_tool, config, '--work-dir',
                         tmp_path / 'work')
    assert_single_line_error(message,
                             "model.backbone.type='VideoSparseFormr'",
                             str(config), 'custom_imports')


@pytest.mark.parametrize('tool', ['train', 'test'])
def test_missing_checkpoint(in_workspace, tmp_path, tool, capsys):
    missing = tmp_path / 'no_such_dir' / 'epoch_9.pth'
    if tool == 'train':
        message = tool_error(capsys, train_tool, MICRO, '--resume', missing,
                             '--work-dir', tmp_path / 'work')
    else:
        message = tool_error(capsys, test_tool, MICRO, missing)
    assert_single_line_error(message, str(missing), 'not found')


def test_corrupt_checkpoint(in_workspace, uninterrupted, tmp_path, capsys):
    # a checkpoint cut short, as by a crash while it was written
    corrupt = tmp_path / 'cut.pth'
    data = (uninterrupted / 'epoch_2.pth').read_bytes()
    corrupt.write_bytes(data[:len(data) // 2])
    message = tool_error(capsys, test_tool, MICRO, corrupt)
    assert_single_line_error(message, str(corrupt), 'corrupt')


class Payload:
    """Unpickling it would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_checkpoint_with_untrusted_global_is_refused(in_workspace,
                                                     uninterrupted,
                                                     tmp_path, capsys):
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    checkpoint = load_runner_checkpoint(uninterrupted / 'epoch_2.pth')
    checkpoint['payload'] = Payload(str(marker))
    torch.save(checkpoint, evil)
    message = tool_error(capsys, test_tool, MICRO, evil, '--work-dir',
                         tmp_path / 'work')
    assert_single_line_error(message, str(evil), 'not allow-listed',
                             'io.open')
    assert not marker.exists()


def test_amp_on_cpu(in_workspace, tmp_path, capsys):
    message = tool_error(capsys, train_tool, MICRO, '--amp', '--work-dir',
                         tmp_path / 'work')
    assert_single_line_error(message, '--amp', 'CUDA')


def test_config_file_not_found(in_workspace, tmp_path, capsys):
    missing = tmp_path / 'nope.py'
    message = tool_error(capsys, train_tool, missing)
    assert_single_line_error(message, str(missing))
