"""Zero-shot classification: the text classifier builder (on a tiny random
CLIP text model made here), ZeroShotHead against a direct cosine
computation, the two K400 zero-shot configs, and the one-line errors of the
tools where transformers or the CLIP weights are missing."""
import copy
import os.path as osp
import sys

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

import mmsparseformer  # noqa: F401  (registers the models)
from mmaction.registry import MODELS
from mmaction.structures import ActionDataSample
from mmsparseformer.models import ZeroShotHead
from mmsparseformer.models.heads.text_classifier import (
    TextClassifierError, load_text_classifier, save_text_classifier)
from mmsparseformer.cli import build_text_classifier as cli
from mmsparseformer.zeroshot import read_templates
from sparseformer_refs import btsp_fixture_arch
from zeroshot_refs import (random_text_classifier, write_tiny_clip,
                           write_tiny_full_clip)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs', 'recognition', 'videosparseformer')
ZERO_SHOT_CONFIGS = {
    'btsp-clip-base': osp.join(
        CONFIG_DIR, 'videosparseformer-btsp-clip-base_zeroshot_32x2x4_'
        'kinetics400-rgb.py'),
    'btsp-clip-large': osp.join(
        CONFIG_DIR, 'videosparseformer-btsp-clip-large_zeroshot_32x2x4_'
        'kinetics400-rgb.py'),
}
#: Token and CLIP embedding widths of the two archs.
WIDTHS = {'btsp-clip-base': (768, 512), 'btsp-clip-large': (1024, 768)}
NAMES = ['abseiling', 'air drumming', 'photo_bombing']


@pytest.fixture(scope='module')
def tiny_clip(tmp_path_factory):
    pytest.importorskip('transformers')
    return write_tiny_clip(str(tmp_path_factory.mktemp('tiny_clip')))


def write_label_map(path, names=NAMES) -> str:
    path.write_text('\n'.join(names) + '\n')
    return str(path)


def direct_class_embeddings(folder, names, templates) -> torch.Tensor:
    """The builder's result, computed prompt by prompt with transformers."""
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    model = CLIPTextModelWithProjection.from_pretrained(folder).eval()
    rows = []
    for name in names:
        text = name.replace('_', ' ')
        per_prompt = []
        for template in templates:
            tokens = tokenizer(template.format(text), return_tensors='pt')
            with torch.no_grad():
                embedding = model(**tokens).text_embeds[0]
            per_prompt.append(embedding / embedding.norm())
        mean = torch.stack(per_prompt).mean(dim=0)
        rows.append(mean / mean.norm())
    return torch.stack(rows)


# --------------------------------------------------------------------------
# the text classifier builder
# --------------------------------------------------------------------------
def test_builder_cli_matches_a_direct_computation(tiny_clip, tmp_path,
                                                  capsys):
    labels = write_label_map(tmp_path / 'labels.txt')
    templates = tmp_path / 'templates.txt'
    templates.write_text('# my templates\na photo of {}.\n\n'
                         'a video of a person {}.\n{} in a clip.\n')
    out = tmp_path / 'out' / 'classes.pt'
    assert cli.main([labels, '--clip', 'ViT-B-16', '--model-path', tiny_clip,
                     '--templates', str(templates), '--out', str(out)]) == 0
    assert 'Wrote' in capsys.readouterr().out

    classifier = load_text_classifier(str(out))
    template_list = ['a photo of {}.', 'a video of a person {}.',
                     '{} in a clip.']
    expected = direct_class_embeddings(tiny_clip, NAMES, template_list)
    assert classifier.embeddings.shape == (3, 12)
    torch.testing.assert_close(classifier.embeddings, expected, rtol=0,
                               atol=1e-6)
    assert torch.allclose(classifier.embeddings.norm(dim=-1),
                          torch.ones(3))
    meta = classifier.meta
    assert meta['clip_model'] == 'ViT-B-16'
    assert meta['hf_model'] == 'openai/clip-vit-base-patch16'
    assert meta['templates'] == template_list
    assert meta['label_map'] == NAMES == classifier.class_names
    assert meta['label_map_file'] == osp.abspath(labels)
    assert meta['embed_dims'] == 12
    assert meta['logit_scale'] == classifier.logit_scale == 100.
    assert meta['model_path'] == osp.abspath(tiny_clip)


def test_builder_default_templates_are_clips_kinetics_ones(tiny_clip,
                                                           tmp_path):
    templates = read_templates()
    assert len(templates) == 28 and len(set(templates)) == 28
    assert templates[0] == 'a photo of {}.'
    assert templates[-1] == 'a demonstration of a person practicing {}.'
    out = tmp_path / 'classes.pt'
    assert cli.main([write_label_map(tmp_path / 'labels.txt', NAMES[:2]),
                     '--clip', 'ViT-L-14', '--model-path', tiny_clip,
                     '--out', str(out)]) == 0
    classifier = load_text_classifier(str(out))
    assert classifier.meta['templates'] == templates
    assert classifier.meta['clip_model'] == 'ViT-L-14'
    expected = direct_class_embeddings(tiny_clip, NAMES[:2], templates)
    torch.testing.assert_close(classifier.embeddings, expected, rtol=0,
                               atol=1e-6)


def test_builder_reads_a_whole_clip_checkpoint(tmp_path):
    """The openai/clip-vit-* repositories hold the whole CLIP model: the
    builder takes its text tower and projection."""
    pytest.importorskip('transformers')
    from transformers import CLIPTokenizer
    folder = tmp_path / 'full_clip'
    folder.mkdir()
    model = write_tiny_full_clip(str(folder))
    out = tmp_path / 'classes.pt'
    assert cli.main([write_label_map(tmp_path / 'labels.txt'), '--clip',
                     'ViT-B-16', '--model-path', str(folder), '--templates',
                     write_label_map(tmp_path / 't.txt', ['a video of {}.']),
                     '--out', str(out)]) == 0
    tokenizer = CLIPTokenizer.from_pretrained(str(folder))
    tokens = tokenizer([f'a video of {n.replace("_", " ")}.' for n in NAMES],
                       padding=True, return_tensors='pt')
    with torch.no_grad():
        pooled = model.text_model(**tokens).pooler_output
        expected = F.normalize(model.text_projection(pooled), dim=-1)
    torch.testing.assert_close(load_text_classifier(str(out)).embeddings,
                               expected, rtol=0, atol=1e-6)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err, 'no error message'
    assert 'Traceback' not in '\n'.join(err)
    return err[-1]


def test_builder_without_transformers_names_the_extra(tmp_path, capsys,
                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, 'transformers', None)  # import fails
    labels = write_label_map(tmp_path / 'labels.txt')
    assert cli.main([labels, '--clip', 'ViT-B-16', '--out',
                     str(tmp_path / 'c.pt')]) == 1
    message = one_line_error(capsys)
    assert message.startswith('build_text_classifier: error: transformers '
                              'is not installed')
    assert "'zeroshot' extra" in message and '.[zeroshot]' in message
    assert not (tmp_path / 'c.pt').exists()


def test_builder_without_the_weights_says_so_offline(tmp_path, capsys,
                                                     monkeypatch):
    pytest.importorskip('transformers')
    from huggingface_hub import constants
    monkeypatch.setattr(constants, 'HF_HUB_CACHE', str(tmp_path / 'cache'))
    labels = write_label_map(tmp_path / 'labels.txt')
    out = str(tmp_path / 'c.pt')
    assert cli.main([labels, '--clip', 'ViT-B-16', '--out', out]) == 1
    message = one_line_error(capsys)
    assert 'openai/clip-vit-base-patch16' in message
    assert 'not available offline' in message and '--model-path' in message
    assert str(tmp_path / 'cache') in message
    (tmp_path / 'empty').mkdir()
    for path, expected in ((tmp_path / 'missing', 'no such folder'),
                           (tmp_path / 'empty', 'holds no CLIP text model')):
        assert cli.main([labels, '--clip', 'ViT-B-16', '--model-path',
                         str(path), '--out', out]) == 1
        assert expected in one_line_error(capsys)


def test_builder_bad_label_map_and_templates(tiny_clip, tmp_path, capsys):
    out = str(tmp_path / 'c.pt')
    cases = [
        ([str(tmp_path / 'nope.txt')], 'Label map not found'),
        ([write_label_map(tmp_path / 'dup.txt', ['a', 'b', 'a'])],
         "'a' appears twice"),
        ([write_label_map(tmp_path / 'ok.txt'), '--templates',
          write_label_map(tmp_path / 't.txt', ['no placeholder'])],
         'exactly one {}'),
    ]
    for args, fragment in cases:
        assert cli.main(args + ['--clip', 'ViT-B-16', '--model-path',
                                tiny_clip, '--out', out]) == 1
        assert fragment in one_line_error(capsys)


# --------------------------------------------------------------------------
# ZeroShotHead
# --------------------------------------------------------------------------
def make_head(path, num_classes=4, in_channels=16, embed_dims=8, seed=0,
              **kwargs) -> ZeroShotHead:
    head = ZeroShotHead(num_classes, in_channels, str(path),
                        proj_dims=embed_dims, **kwargs)
    torch.manual_seed(seed)
    with torch.no_grad():
        for param in head.parameters():
            param.normal_()
    return head.eval()


def test_head_scores_are_scaled_cosines(tmp_path):
    path = tmp_path / 'classes.pt'
    rows = random_text_classifier(str(path), 4, 8)
    head = make_head(path)
    tokens = torch.randn(3, 5, 16)
    with torch.no_grad():
        scores = head(tokens)
        video = head.proj(head.norm(tokens[:, 0]))  # the class token
        expected = 100. * F.cosine_similarity(
            video[:, None], rows[None], dim=-1)
    torch.testing.assert_close(scores, expected, rtol=1e-5, atol=1e-5)
    assert head.class_names == [f'class {i}' for i in range(4)]
    # the logit scale of the file, or the head's own
    random_text_classifier(str(path), 4, 8, logit_scale=50.)
    with torch.no_grad():
        torch.testing.assert_close(make_head(path)(tokens), expected / 2)
        torch.testing.assert_close(
            make_head(path, logit_scale=10.)(tokens), expected / 10)


def test_head_has_no_classifier_parameters_and_trains_norm_and_proj(
        tmp_path):
    path = tmp_path / 'classes.pt'
    random_text_classifier(str(path), 4, 8)
    head = make_head(path).train()
    assert [name for name, _ in head.named_parameters()] == [
        'norm.weight', 'norm.bias', 'proj.weight']
    assert head.fc_cls is None
    # the text embeddings are a buffer that checkpoints do not carry
    assert 'classifier' not in head.state_dict()
    samples = [ActionDataSample().set_gt_label(i) for i in (0, 3)]
    losses = head.loss(torch.randn(2, 5, 16), samples)
    losses['loss_cls'].backward()
    assert torch.isfinite(losses['loss_cls'])
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in head.parameters())


def test_head_averages_views_as_mmaction_heads(tmp_path):
    path = tmp_path / 'classes.pt'
    random_text_classifier(str(path), 4, 8)
    head = make_head(path, average_clips='prob')
    tokens = torch.randn(2 * 3, 5, 16)  # 2 videos x 3 views
    samples = [ActionDataSample(), ActionDataSample()]
    with torch.no_grad():
        predictions = head.predict(tokens, samples)
        logits = head(tokens).view(2, 3, 4)
    for index, prediction in enumerate(predictions):
        torch.testing.assert_close(prediction.pred_score,
                                   logits[index].softmax(-1).mean(0))


def test_head_refuses_a_classifier_that_does_not_fit(tmp_path):
    path = tmp_path / 'classes.pt'
    random_text_classifier(str(path), 4, 12)
    with pytest.raises(TextClassifierError) as info:
        make_head(path, embed_dims=8)
    message = str(info.value)
    assert str(path) in message
    assert '12-d class embeddings' in message and '8-d' in message
    random_text_classifier(str(path), 5, 8)
    with pytest.raises(TextClassifierError) as info:
        make_head(path, num_classes=4)
    message = str(info.value)
    assert str(path) in message
    assert 'has 5 classes' in message and 'num_classes=4' in message


def test_head_errors_for_missing_and_foreign_files(tmp_path):
    with pytest.raises(TextClassifierError, match='not found.*'
                       'build_text_classifier'):
        make_head(tmp_path / 'nope.pt')
    torch.save(dict(state_dict={}), tmp_path / 'ckpt.pt')
    with pytest.raises(TextClassifierError, match='not a text classifier'):
        make_head(tmp_path / 'ckpt.pt')
    with pytest.raises(TextClassifierError, match='must be'):
        save_text_classifier(str(tmp_path / 'x.pt'), torch.zeros(3), {})
    random_text_classifier(str(tmp_path / 'c.pt'), 4, 8)
    with pytest.raises(ValueError, match='proj_dims'):
        ZeroShotHead(4, 16, str(tmp_path / 'c.pt'), proj_dims=None)


# --------------------------------------------------------------------------
# the K400 zero-shot configs
# --------------------------------------------------------------------------
def load(path: str) -> Config:
    cfg = Config.fromfile(path)
    init_default_scope(cfg.get('default_scope', 'mmaction'))
    return cfg


@pytest.mark.parametrize('arch', list(ZERO_SHOT_CONFIGS))
def test_zero_shot_config_values(arch):
    cfg = load(ZERO_SHOT_CONFIGS[arch])
    width, embed_dims = WIDTHS[arch]
    backbone, head = cfg.model.backbone, cfg.model.cls_head
    assert (backbone.arch, backbone.replicates) == (arch, 8)
    assert backbone.pretrained is None  # CHECKPOINT of tools/test.py
    assert head.type == 'ZeroShotHead' and head.num_classes == 400
    assert (head.in_channels, head.proj_dims) == (width, embed_dims)
    tag = 'b16' if arch.endswith('base') else 'l14'
    assert head.classifier == f'data/k400_clip-{tag}_classes.pt'
    assert head.average_clips == 'prob'
    preprocessor = cfg.model.data_preprocessor
    clip_mean = [0.48145466, 0.4578275, 0.40821073]
    clip_std = [0.26862954, 0.26130258, 0.27577711]
    assert preprocessor.mean == pytest.approx([255 * m for m in clip_mean],
                                              abs=1e-3)
    assert preprocessor.std == pytest.approx([255 * s for s in clip_std],
                                             abs=1e-3)
    pipeline = {step['type']: step for step in
                cfg.test_dataloader.dataset.pipeline}
    sampler = pipeline['SampleFrames']
    assert (sampler.clip_len, sampler.frame_interval, sampler.num_clips) == \
        (32, 2, 4)
    assert pipeline['ThreeCrop'].crop_size == 224
    assert cfg.train_dataloader is None and cfg.optim_wrapper is None
    from mmsparseformer.utils.config import read_view_protocol
    assert read_view_protocol(cfg).views == 12


@pytest.mark.parametrize('arch', list(ZERO_SHOT_CONFIGS))
def test_zero_shot_config_head_builds_with_its_classifier(arch, tmp_path,
                                                          monkeypatch):
    cfg = load(ZERO_SHOT_CONFIGS[arch])
    width, embed_dims = WIDTHS[arch]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TextClassifierError, match='build_text_classifier'):
        MODELS.build(cfg.model.cls_head)
    random_text_classifier(cfg.model.cls_head.classifier, 400, embed_dims)
    head = MODELS.build(cfg.model.cls_head)
    assert head.classifier.shape == (400, embed_dims)
    assert head.proj.weight.shape == (embed_dims, width)


@pytest.mark.slow
def test_btsp_clip_base_zero_shot_model_runs(tmp_path, monkeypatch):
    """The whole model of the base config (random weights) on a small
    clip: backbone and head widths agree, 400 probabilities per video."""
    cfg = load(ZERO_SHOT_CONFIGS['btsp-clip-base'])
    monkeypatch.chdir(tmp_path)
    random_text_classifier(cfg.model.cls_head.classifier, 400, 512)
    model = MODELS.build(copy.deepcopy(cfg.model)).eval()
    inputs = [torch.randint(0, 256, (2, 3, 4, 32, 32), dtype=torch.uint8)]
    with torch.no_grad():
        prediction = model.test_step(
            dict(inputs=inputs, data_samples=[ActionDataSample()]))[0]
    assert prediction.pred_score.shape == (400, )
    assert prediction.pred_score.sum().item() == pytest.approx(1., abs=1e-5)


# --------------------------------------------------------------------------
# an official checkpoint as the CHECKPOINT of tools/test.py / infer.py
# --------------------------------------------------------------------------
def fixture_recognizer(btsp_reference, head: dict):
    return MODELS.build(dict(
        type='Recognizer3D',
        backbone=dict(type='VideoSparseFormer', replicates=2,
                      arch=btsp_fixture_arch(btsp_reference, 'clip_style')),
        cls_head=dict(in_channels=128, num_classes=3, proj_dims=12, **head),
        data_preprocessor=dict(type='ActionDataPreprocessor',
                               format_shape='NCTHW')))


def test_official_checkpoint_loads_into_a_zero_shot_recognizer(
        btsp_reference, tmp_path):
    from mmsparseformer.apis import load_recognizer_weights
    from mmsparseformer.checkpoint_io import CheckpointError
    from mmsparseformer.models.checkpoint import (convert_state_dict,
                                                  official_file_layout)
    init_default_scope('mmaction')
    state = btsp_reference['clip_style']['state_dict']
    official = str(tmp_path / 'official.pth')
    torch.save(dict(model=state), official)
    assert official_file_layout(official) == 'official_image'
    random_text_classifier(str(tmp_path / 'c.pt'), 3, 12)
    model = fixture_recognizer(
        btsp_reference, dict(type='ZeroShotHead',
                             classifier=str(tmp_path / 'c.pt')))
    load_recognizer_weights(model, official)
    converted = convert_state_dict(state, model.backbone)
    for key, value in converted['backbone'].items():
        torch.testing.assert_close(model.backbone.state_dict()[key], value)
    for key, value in converted['head'].items():  # norm, CLIP projection
        torch.testing.assert_close(model.cls_head.state_dict()[key], value)
    own = str(tmp_path / 'own.pth')
    torch.save(dict(state_dict=model.state_dict()), own)
    assert official_file_layout(own) is None
    # a head that needs a trained classifier: the error says so
    model = fixture_recognizer(
        btsp_reference, dict(type='SparseFormerHead', pool='cls'))
    with pytest.raises(CheckpointError) as info:
        load_recognizer_weights(model, official)
    message = str(info.value)
    assert 'cls_head.fc_cls.weight' in message
    assert 'no classifier for this config' in message
