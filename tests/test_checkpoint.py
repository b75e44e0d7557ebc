"""Checkpoint layouts, conversion, inflation, loading and their errors."""
import os.path as osp
import re

import pytest
import torch

from mmsparseformer.checkpoint_io import CheckpointError, load_checkpoint_file
from mmsparseformer.cli import sparseformer_official
from mmsparseformer.models import SparseFormerHead, VideoSparseFormer
from mmsparseformer.models.checkpoint import (detect_layout,
                                              load_backbone_checkpoint,
                                              load_head_checkpoint,
                                              rename_imagenet_release)
from mmsparseformer.models.conversion import infer_official_arch
from sparseformer_refs import fixture_arch, random_official_image_state



class RecordingLogger:
    """Collects what a loader logs."""

    def __init__(self):
        self.lines = []

    def info(self, msg):
        self.lines.append(('info', msg))

    def warning(self, msg):
        self.lines.append(('warning', msg))

    def text(self):
        return '\n'.join(msg for _, msg in self.lines)


def to_imagenet_release(key):
    """Official library key -> original ImageNet training-code key."""
    for pattern, repl in [(r'^initial_roi\.', 'token_roi.'),
                          (r'^initial_embedding\.', 'token_embedding.'),
                          (r'\.out_proj\.', '.tuo_proj.'),
                          (r'\.norm1\.', '.ln_attn.'), (r'\.norm2\.', '.ffn.0.'),
                          (r'\.mlp\.fc1\.', '.ffn.1.'),
                          (r'\.mlp\.fc2\.', '.ffn.3.'),
                          (r'\.attn\.qkv\.(weight|bias)$', r'.attn.in_proj_\1'),
                          (r'\.attn\.proj\.', '.attn.out_proj.'),
                          (r'^norm\.', 'head.norm.'),
                          (r'^proj\.', 'head.classifier.')]:
        key = re.sub(pattern, repl, key)
    return key


def video_logits(reference, path, replicates, clip, via_init_cfg=False):
    source = dict(init_cfg=dict(type='Pretrained', checkpoint=path)) \
        if via_init_cfg else dict(pretrained=path)
    backbone = VideoSparseFormer(
        fixture_arch(reference), replicates=replicates, **source).eval()
    backbone.init_weights()
    head = SparseFormerHead(
        10, backbone.embed_dims,
        init_cfg=dict(type='Pretrained', checkpoint=path)).eval()
    head.init_weights()
    with torch.no_grad():
        return head(backbone(clip))


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_imagenet_release_renames_to_library_layout(official_keys, arch):
    release = official_keys[f'imagenet_release_{arch}']
    renamed = rename_imagenet_release(
        {k: torch.zeros(s) for k, s in release.items()})
    library = official_keys[f'image_{arch}']
    assert set(renamed) == set(library)
    for key, value in renamed.items():
        assert list(value.shape) == library[key], key


@pytest.mark.parametrize('layout,name', [
    ('official_image', 'image_tiny'),
    ('official_video', 'video_small_replicates8'),
    ('imagenet_release', 'imagenet_release_base'),
])
def test_detect_layout(official_keys, layout, name):
    state = {k: torch.zeros(s) for k, s in official_keys[name].items()}
    assert detect_layout(state) == layout


def test_detect_layout_rejects_other_models():
    with pytest.raises(CheckpointError, match='not a SparseFormer checkpoint'):
        detect_layout({'conv1.weight': torch.zeros(1)}, 'resnet.pth')


@pytest.mark.parametrize('arch', ['tiny', 'small', 'base'])
def test_infer_official_arch(official_keys, arch):
    image = {k: torch.zeros(s) for k, s in official_keys[f'image_{arch}'].items()}
    assert infer_official_arch(image)['name'] == arch
    video = {
        k: torch.zeros(s)
        for k, s in official_keys[f'video_{arch}_replicates8'].items()
    }
    found = infer_official_arch(video)
    assert (found['name'], found['replicates']) == (arch, 8)


@pytest.mark.parametrize('wrap', ['model', 'state_dict', None])
@pytest.mark.parametrize('release', [False, True])
def test_pretrained_image_checkpoint_is_inflated(official_reference, tmp_path,
                                                 wrap, release):
    state = official_reference['image']['state_dict']
    if release:
        state = {to_imagenet_release(k): v for k, v in state.items()}
    path = str(tmp_path / 'image.pth')
    torch.save({wrap: state} if wrap else state, path)
    ref = official_reference['inflated']
    logits = video_logits(official_reference, path, 2, ref['input'])
    assert (logits - ref['logits']).abs().max() < 1e-5


@pytest.mark.parametrize('via_init_cfg', [False, True])
def test_pretrained_video_checkpoint(official_reference, tmp_path,
                                     via_init_cfg):
    ref = official_reference['video']
    path = str(tmp_path / 'video.pth')
    torch.save(ref['state_dict'], path)
    logits = video_logits(official_reference, path, 2, ref['input'],
                          via_init_cfg)
    assert (logits - ref['logits']).abs().max() < 1e-5


def test_load_logs_layout_loaded_and_dropped(official_reference, tmp_path):
    state = dict(official_reference['image']['state_dict'])
    state['extra.weight'] = torch.zeros(3)
    del state['layers.0.norm1.bias']
    path = str(tmp_path / 'image.pth')
    torch.save(state, path)
    backbone = VideoSparseFormer(fixture_arch(official_reference),
                                 replicates=2)
    logger = RecordingLogger()
    result = load_backbone_checkpoint(backbone, path, logger)
    assert result['layout'] == 'official_image'
    assert result['missing'] == ['units.0.attn.norm.bias']
    assert result['dropped'] == ['extra.weight']
    text = logger.text()
    assert 'official_image layout, inflated to 2 replicates' in text
    assert "missing in" in text and 'units.0.attn.norm.bias' in text
    assert 'dropped from' in text and 'extra.weight' in text


def test_head_drops_classifier_of_other_class_count(official_reference,
                                                    tmp_path):
    path = str(tmp_path / 'image.pth')
    state = official_reference['image']['state_dict']
    torch.save(state, path)
    logger = RecordingLogger()
    head = SparseFormerHead(7, 128)
    result = load_head_checkpoint(head, path, logger)
    assert result['dropped'] == ['fc_cls.weight', 'fc_cls.bias']
    assert result['loaded'] == ['norm.bias', 'norm.weight']
    assert torch.equal(head.norm.weight, state['norm.weight'])
    assert 'it has 10 classes, the config 7' in logger.text()
    same = SparseFormerHead(10, 128)
    assert load_head_checkpoint(same, path)['dropped'] == []
    assert torch.equal(same.fc_cls.weight, state['proj.weight'])


def test_checkpoint_of_another_arch_fails_with_key_and_shapes(
        official_keys, tmp_path):
    path = str(tmp_path / 'tiny.pth')
    torch.save(random_official_image_state(official_keys['image_tiny']), path)
    backbone = VideoSparseFormer('small', replicates=2)
    with pytest.raises(CheckpointError) as err:
        load_backbone_checkpoint(backbone, path)
    message = str(err.value)
    assert path in message
    assert re.search(r"'\S+' has shape \(\d+(, \d+)*\) in the checkpoint but "
                     r"\(\d+(, \d+)*\) in VideoSparseFormer\(arch='small'",
                     message)


def test_video_checkpoint_with_other_replicates_fails(official_reference,
                                                      tmp_path):
    path = str(tmp_path / 'video.pth')
    torch.save(official_reference['video']['state_dict'], path)
    backbone = VideoSparseFormer(fixture_arch(official_reference),
                                 replicates=4)
    with pytest.raises(CheckpointError, match=r"'initial_rois' has shape "
                       r'\(32, 6\) in the checkpoint but \(64, 6\)'):
        load_backbone_checkpoint(backbone, path)


def test_unreadable_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match='not found: .*nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(CheckpointError, match='empty: .*empty.pth'):
        load_checkpoint_file(str(empty))
    corrupt = tmp_path / 'corrupt.pth'
    corrupt.write_bytes(b'PK\x03\x04 this is not a checkpoint' * 10)
    with pytest.raises(CheckpointError, match='corrupt.pth: the file is '
                       'corrupt'):
        load_checkpoint_file(str(corrupt))
    truncated = tmp_path / 'truncated.pth'
    torch.save({'w': torch.randn(100, 100)}, str(truncated))
    truncated.write_bytes(truncated.read_bytes()[:2000])
    with pytest.raises(CheckpointError, match='truncated.pth'):
        load_checkpoint_file(str(truncated))


def test_arbitrary_globals_are_refused(tmp_path):
    path = str(tmp_path / 'evil.pth')
    torch.save({'weights': torch.zeros(1), 'call': str.upper}, path)
    with pytest.raises(CheckpointError, match='Refusing to load .*evil.pth'):
        load_checkpoint_file(path)


def test_convert_tool_writes_mmaction_checkpoint(official_reference,
                                                 tmp_path, capsys):
    src = str(tmp_path / 'image.pth')
    dst = str(tmp_path / 'out' / 'vsf.pth')
    torch.save({'model': official_reference['image']['state_dict']}, src)
    assert sparseformer_official.main([src, dst, '--replicates', '2']) == 0
    assert 'official_image layout' in capsys.readouterr().out
    checkpoint = load_checkpoint_file(dst)
    assert checkpoint['meta']['replicates'] == 2
    keys = checkpoint['state_dict']
    assert all(k.startswith(('backbone.', 'cls_head.')) for k in keys)
    ref = official_reference['inflated']
    # loadable as a pretrained backbone + head ...
    logits = video_logits(official_reference, dst, 2, ref['input'])
    assert (logits - ref['logits']).abs().max() < 1e-5
    # ... and as a whole-recognizer state dict (load_from)
    from mmaction.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmaction')
    recognizer = MODELS.build(
        dict(
            type='Recognizer3D',
            backbone=dict(
                type='VideoSparseFormer',
                arch=fixture_arch(official_reference),
                replicates=2),
            cls_head=dict(type='SparseFormerHead', num_classes=10,
                          in_channels=128)))
    recognizer.load_state_dict(keys, strict=True)


def test_convert_tool_errors(official_keys, tmp_path, capsys):
    src = str(tmp_path / 'tiny.pth')
    torch.save({k: torch.zeros(s)
                for k, s in official_keys['image_tiny'].items()}, src)
    dst = str(tmp_path / 'out.pth')
    assert sparseformer_official.main([src, dst, '--arch', 'small']) == 1
    assert 'holds a SparseFormer-tiny, not --arch small' in \
        capsys.readouterr().err
    assert sparseformer_official.main([str(tmp_path / 'x.pth'), dst]) == 1
    assert 'not found' in capsys.readouterr().err
    assert not osp.exists(dst)


def test_a_file_that_is_no_checkpoint_is_called_so(tmp_path):
    """Bytes torch cannot unpickle at all are not 'a checkpoint with
    forbidden globals'."""
    path = tmp_path / 'notes.pth'
    path.write_text('not a checkpoint')
    with pytest.raises(CheckpointError,
                       match='Cannot read checkpoint .*notes.pth: the file is '
                       'corrupt or not a PyTorch checkpoint'):
        load_checkpoint_file(str(path))
