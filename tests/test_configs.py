"""Every config under configs/ loads, builds its model and runs a forward;
the Kinetics-400 recipe's optimizer, pretrained paths and 12-view test; the
model zoo's metafile against the FLOP counter."""
import copy
import glob
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmsparseformer.analysis.report import (PROJECT_METAFILE,
                                            read_project_models)
from mmsparseformer.cli import get_flops
from mmsparseformer.models import VideoSparseFormer
from mmsparseformer.models.heads.text_classifier import save_text_classifier
from mmsparseformer.testing import MICRO_ARCH, write_video
from mmsparseformer.utils.config import model_cfg_without_weights

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# The zero-shot configs (test only, their head reads a text classifier
# file) are tested in tests/test_zeroshot.py.
ALL_CONFIGS = sorted(
    osp.relpath(path, ROOT)
    for path in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'),
                          recursive=True))
CONFIGS = [path for path in ALL_CONFIGS
           if '_zeroshot_' not in osp.basename(path)]
ALL_K400_CONFIGS = [path for path in CONFIGS if 'kinetics400' in path
                    and '_base_' not in path.split(osp.sep)]
# the bootstrapped SparseFormers' configs (tested in tests/test_btsp.py)
BTSP_CONFIGS = [path for path in ALL_K400_CONFIGS if '-btsp-' in path]
K400_CONFIGS = [path for path in ALL_K400_CONFIGS if path not in BTSP_CONFIGS]
K400_IDS = [osp.basename(path)[:-3] for path in K400_CONFIGS]
# one recipe per v1 arch; the other v1 K400 configs are data-loading
# variants of the tiny recipe (same model)
K400_RECIPES = [path for path in K400_CONFIGS if '_8xb8-32x2x1-30e_' in path]
ARCH_WIDTHS = dict(tiny=512, small=640, base=768)
ARCH_DROP_PATH = dict(tiny=0.2, small=0.3, base=0.4)


def load(path: str) -> Config:
    cfg = Config.fromfile(osp.join(ROOT, path))
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return cfg


def micro(model_cfg: dict) -> dict:
    """Shrink a VideoSparseFormer model config to MICRO_ARCH, loading no
    checkpoint."""
    model_cfg = model_cfg_without_weights(model_cfg)
    if model_cfg.get('backbone', {}).get('type') == 'VideoSparseFormer':
        model_cfg['backbone']['arch'] = copy.deepcopy(MICRO_ARCH)
        if model_cfg.get('cls_head'):
            model_cfg['cls_head']['in_channels'] = MICRO_ARCH['cortex_dims']
    return model_cfg


def clip_batch(num_classes: int, batch: int = 2, views: int = 1,
               frames: int = 4, size: int = 32) -> dict:
    """A batch as MMAction2's pipeline packs it (uint8 NCTHW views)."""
    generator = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(0, 256, (views, 3, frames, size, size),
                      generator=generator).to(torch.uint8)
        for _ in range(batch)
    ]
    samples = [
        ActionDataSample().set_gt_label(index % num_classes)
        for index in range(batch)
    ]
    return dict(inputs=inputs, data_samples=samples)


def check_forward(model, num_classes: int) -> None:
    batch = clip_batch(num_classes)
    model.train()
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_cls']) and losses['loss_cls'] > 0
    model.eval()
    with torch.no_grad():
        predictions = model.test_step(batch)
    assert len(predictions) == len(batch['inputs'])
    for prediction in predictions:
        assert prediction.pred_score.shape == (num_classes, )
        assert torch.isfinite(prediction.pred_score).all()


def test_configs_found():
    assert len(K400_RECIPES) == 3, K400_CONFIGS
    assert len(BTSP_CONFIGS) == 4, BTSP_CONFIGS
    assert all('videosparseformer-tiny_' in p for p in K400_CONFIGS
               if p not in K400_RECIPES), K400_CONFIGS
    for arch in ARCH_WIDTHS:
        assert f'configs/_base_/models/video_sparseformer_{arch}.py' in CONFIGS


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_runs_forward(path):
    """Every config: loads; if it has a model (not a model-less base), the
    model builds at micro size and runs a training and a test forward."""
    cfg = load(path)
    if 'model' not in cfg:
        assert '_base_' in path.split(osp.sep), \
            f'{path} is not a base config but defines no model'
        return
    model = MODELS.build(micro(cfg.model))
    model.init_weights()
    check_forward(model, cfg.model.cls_head.num_classes)


@pytest.mark.slow
@pytest.mark.parametrize(
    'path', K400_RECIPES, ids=[osp.basename(p)[:-3] for p in K400_RECIPES])
def test_k400_config_real_arch_forward(path):
    """The real tiny/small/base models of the K400 configs (no pretrained
    weights) on a small clip: backbone and head widths agree. Batch 1,
    test mode only: the token part costs the same at any input size."""
    cfg = load(path)
    model = MODELS.build(model_cfg_without_weights(cfg.model))
    model.init_weights()
    model.eval()
    batch = clip_batch(400, batch=1)
    with torch.no_grad():
        prediction = model.test_step(batch)[0].pred_score
    assert prediction.shape == (400, )
    assert prediction.sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize('path', K400_CONFIGS, ids=K400_IDS)
def test_k400_config_values(path):
    """The paper's protocol and the per-arch values in the K400 configs."""
    cfg = load(path)
    arch = cfg.model.backbone.arch
    assert arch in osp.basename(path)
    assert cfg.model.backbone.replicates == 8
    # the arch's own drop path rate (the configs leave it to the arch)
    assert cfg.model.backbone.get('drop_path_rate') is None
    assert VideoSparseFormer.arch_zoo[arch]['drop_path_rate'] == \
        ARCH_DROP_PATH[arch]
    assert cfg.model.cls_head.in_channels == ARCH_WIDTHS[arch]
    assert cfg.model.cls_head.num_classes == 400
    assert cfg.model.cls_head.average_clips == 'prob'
    # one pretrained path used by the backbone and the head
    assert cfg.model.backbone.pretrained == cfg.pretrained
    assert cfg.model.cls_head.init_cfg == dict(
        type='Pretrained', checkpoint=cfg.pretrained)
    assert arch in cfg.pretrained

    def step(pipeline, name):
        return [t for t in pipeline if t['type'] == name][0]

    train = step(cfg.train_pipeline, 'SampleFrames')
    assert (train.clip_len, train.frame_interval, train.num_clips) == \
        (32, 2, 1)
    assert step(cfg.train_pipeline, 'Flip').flip_ratio == 0.5
    assert step(cfg.train_pipeline, 'RandomResizedCrop')
    val = step(cfg.val_dataloader.dataset.pipeline, 'SampleFrames')
    assert val.num_clips == 1
    assert step(cfg.val_dataloader.dataset.pipeline, 'CenterCrop')
    test = step(cfg.test_dataloader.dataset.pipeline, 'SampleFrames')
    assert (test.clip_len, test.num_clips) == (32, 4)
    assert step(cfg.test_dataloader.dataset.pipeline,
                'ThreeCrop').crop_size == 224
    assert cfg.test_dataloader.dataset.skip_unreadable is False
    # AMP comes from --amp: MMAction2's train.py accepts only OptimWrapper
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.clip_grad.max_norm > 0
    assert cfg.optim_wrapper.optimizer.type == 'AdamW'
    schedulers = [s.type for s in cfg.param_scheduler]
    assert schedulers == ['LinearLR', 'CosineAnnealingLR']
    assert {'type': 'UnreadableVideoHook'} in cfg.custom_hooks


@pytest.mark.parametrize('path', K400_CONFIGS, ids=K400_IDS)
def test_k400_weight_decay_groups(path):
    """No weight decay on norms, biases, 1-d parameters, initial RoIs and
    embeddings; every other weight decays; the new classifier learns 10x
    faster than the pretrained network."""
    cfg = load(path)
    model = MODELS.build(micro(cfg.model))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    base_lr = cfg.optim_wrapper.optimizer.lr
    base_wd = cfg.optim_wrapper.optimizer.weight_decay
    assert base_wd > 0
    group_of = {}
    for group in wrapper.optimizer.param_groups:
        for param in group['params']:
            group_of[id(param)] = group
    no_decay = set()
    for name, param in model.named_parameters():
        group = group_of[id(param)]
        if param.ndim <= 1 or name.endswith(
            ('initial_rois', 'initial_embeddings')):
            assert group['weight_decay'] == 0, name
            no_decay.add(name.split('.')[-1] if 'initial' in name else name)
        else:
            assert group['weight_decay'] == pytest.approx(base_wd), name
        expected_lr = base_lr * (10 if name.startswith('cls_head.fc_cls')
                                 else 1)
        assert group['lr'] == pytest.approx(expected_lr), name
    # the parameter kinds the issue names are all covered
    assert {'initial_rois', 'initial_embeddings'} <= no_decay
    assert 'backbone.units.0.sampling.offsets.bias' in no_decay
    assert 'backbone.units.0.attn.norm.weight' in no_decay
    assert 'backbone.units.1.transition.1.weight' in no_decay  # a LayerNorm
    assert 'cls_head.norm.weight' in no_decay
    assert 'backbone.units.0.sampling.mixing.channel_bias' in no_decay


def test_pretrained_override_loads_both(tmp_path):
    """--cfg-options model.backbone.pretrained / cls_head.init_cfg.checkpoint
    load the given file into the backbone and the head's norm; a classifier
    with another class count is dropped."""
    path = K400_CONFIGS[0]
    cfg = load(path)
    source = MODELS.build(micro(dict(cfg.model, cls_head=dict(
        cfg.model.cls_head, num_classes=10))))
    torch.manual_seed(1)
    with torch.no_grad():
        for param in source.parameters():
            param.normal_()
    checkpoint = str(tmp_path / 'own.pth')
    torch.save({'state_dict': source.state_dict()}, checkpoint)

    cfg.merge_from_dict({
        'model.backbone.pretrained': checkpoint,
        'model.cls_head.init_cfg.checkpoint': checkpoint
    })
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg['backbone']['arch'] = copy.deepcopy(MICRO_ARCH)
    model_cfg['cls_head']['in_channels'] = MICRO_ARCH['cortex_dims']
    model = MODELS.build(model_cfg)
    model.init_weights()
    loaded = model.state_dict()
    for key, value in source.state_dict().items():
        if key.startswith('backbone.') or key.startswith('cls_head.norm.'):
            torch.testing.assert_close(loaded[key], value, msg=key)
    assert loaded['cls_head.fc_cls.weight'].shape == (400, 64)


@pytest.mark.slow
def test_k400_test_pipeline_twelve_views_averaged(tmp_path):
    """The K400 test pipeline makes 4 clips x 3 crops = 12 views of
    3x32x224x224 per video, and Recognizer3D's prediction is the mean of
    the 12 per-view softmax scores."""
    cfg = load(K400_CONFIGS[0])
    rng = np.random.default_rng(0)
    video = write_video(
        str(tmp_path / 'clip.mp4'),
        rng.integers(0, 256, (100, 64, 80, 3), dtype=np.uint8))
    from mmengine.dataset import Compose
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    packed = pipeline(
        dict(filename=video, label=3, start_index=0, modality='RGB'))
    inputs = packed['inputs']
    assert inputs.shape == (12, 3, 32, 224, 224)
    # views are crop-major (FormatShape): 4 clips at different times, each
    # as a left / centre / right crop of the 224x280 frames
    views = inputs.view(3, 4, 3, 32, 224, 224)
    for crop in range(3):
        for clip in range(4):
            for other in range(clip + 1, 4):
                assert not torch.equal(views[crop, clip], views[crop, other])
    for clip in range(4):
        assert not torch.equal(views[0, clip], views[1, clip])
        assert not torch.equal(views[1, clip], views[2, clip])

    num_classes = 5
    model_cfg = micro(cfg.model)
    model_cfg['cls_head']['num_classes'] = num_classes
    model = MODELS.build(model_cfg)
    model.init_weights()
    model.eval()
    torch.manual_seed(0)
    with torch.no_grad():
        model.cls_head.fc_cls.weight.normal_()  # spread the scores
        batch = dict(inputs=[inputs], data_samples=[packed['data_samples']])
        prediction = model.test_step(batch)[0].pred_score
        data = model.data_preprocessor(batch, False)
        views = data['inputs'][0]  # (12, 3, 32, 224, 224), normalised
        logits = model.cls_head(model.backbone(views))
    assert logits.shape == (12, num_classes)
    expected = logits.softmax(dim=-1).mean(dim=0)
    torch.testing.assert_close(prediction, expected, rtol=1e-5, atol=1e-6)
    # probabilities, not averaged logits
    assert not torch.allclose(prediction, logits.mean(dim=0), atol=1e-3)
    assert prediction.sum().item() == pytest.approx(1.0, abs=1e-5)


# ------------------------------------------------------------- model zoo
METAFILE_MODELS = read_project_models()
#: The SparseFormer paper's GFLOPs per view at the Kinetics-400 protocol,
#: and every op of the official library measured with this counter
#: (docs/model.md, "FLOP conventions").
PAPER = {'tiny': 22., 'small': 38., 'base': 74.}
EVERY_OP = {'tiny': 23.1, 'small': 39.3, 'base': 75.1}


def test_metafile_lists_every_recognition_config():
    listed = sorted(model.config for model in METAFILE_MODELS)
    leaves = sorted(path for path in ALL_CONFIGS
                    if path.startswith(osp.join('configs', 'recognition')))
    assert listed == leaves
    readme = open(osp.join(osp.dirname(PROJECT_METAFILE),
                           'README.md')).read()
    for model in METAFILE_MODELS:
        assert f'[config]({osp.basename(model.config)})' in readme
        assert f'{model.params_m:.4g}M' in readme, model.name


def model_and_protocol(config: str) -> str:
    """What the FLOP count of a config depends on: its model and its test
    pipeline (entries that share them share their numbers)."""
    cfg = load(config)
    model_cfg = model_cfg_without_weights(cfg.model)
    model_cfg.get('cls_head', {}).pop('init_cfg', None)
    return json.dumps([model_cfg, cfg.test_dataloader.dataset.pipeline],
                      sort_keys=True, default=str)


def distinct_models(models) -> list:
    """One entry per distinct model and protocol, the others checked to
    claim the same numbers."""
    first = {}
    for model in models:
        key = model_and_protocol(model.config)
        if key in first:
            other = first[key]
            assert (model.gflops_per_view, model.paper_gflops_per_view,
                    model.params_m, model.input_shape, model.views) == (
                        other.gflops_per_view, other.paper_gflops_per_view,
                        other.params_m, other.input_shape, other.views), \
                f'{model.name} and {other.name} have one model'
        else:
            first[key] = model
    return list(first.values())


COUNTED_MODELS = distinct_models(METAFILE_MODELS)


def flops_args(model, tmp_path) -> list:
    """get_flops arguments; a zero-shot config gets a random text
    classifier of its widths (its own is built from CLIP weights)."""
    args = [model.config_path, '--json', str(tmp_path / 'flops.json')]
    head = load(model.config).model.cls_head
    if head.type == 'ZeroShotHead':
        classifier = str(tmp_path / 'classes.pt')
        save_text_classifier(classifier,
                             torch.randn(head.num_classes, head.proj_dims),
                             dict(clip_model='random'))
        args += ['--cfg-options', f'model.cls_head.classifier={classifier}']
    return args


@pytest.mark.slow
@pytest.mark.parametrize(
    'model', COUNTED_MODELS, ids=[m.name for m in COUNTED_MODELS])
def test_metafile_numbers_are_what_get_flops_counts(model, tmp_path,
                                                    capsys):
    """GFLOPs, paper-comparable GFLOPs, parameters, input and views of
    every distinct metafile model, against tools/analysis/get_flops.py on
    its config; at the Kinetics-400 protocol also against the paper."""
    assert get_flops.main(flops_args(model, tmp_path)) == 0
    counted = json.loads((tmp_path / 'flops.json').read_text())
    assert f'{counted["gflops_per_view"]:.4g}' == \
        f'{model.gflops_per_view:.4g}'
    assert f'{counted["paper_comparable_gflops_per_view"]:.4g}' == \
        f'{model.paper_gflops_per_view:.4g}'
    assert f'{counted["params"] / 1e6:.4g}' == f'{model.params_m:.4g}'
    assert counted['input_shape'] == [1, 3, *model.input_shape]
    assert counted['views'] == model.views
    arch = load(model.config).model.backbone.arch
    if not isinstance(arch, str) or arch not in PAPER:  # not a paper model
        assert counted['paper'] is None
        return
    assert counted['views'] == 12
    assert counted['paper']['gflops'] == PAPER[arch]
    assert math.isclose(
        counted['paper_comparable_gflops_per_view'], PAPER[arch],
        rel_tol=0.05)
    assert math.isclose(
        counted['gflops_per_view'], EVERY_OP[arch], rel_tol=0.01)
    assert 'paper-comparable differs by' in capsys.readouterr().out
