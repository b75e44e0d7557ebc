# A micro VideoSparseFormer recognizer (about 0.1 M parameters) for the
# tests of the analysis, inference and deployment tools: 4-frame clips of
# 32x32, 2 clips x 3 crops at test time, 5 classes.
default_scope = 'mmaction'
custom_imports = dict(imports=['mmsparseformer'], allow_failed_imports=False)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoSparseFormer',
        arch=dict(
            conv_channels=16,
            num_tokens=4,
            num_points=8,
            focus_dims=32,
            cortex_dims=64,
            focus_repeats=2,
            cortex_depth=2,
            sampling_units=(0, 1),
            num_heads=4,
            mlp_ratio=2),
        replicates=2),
    cls_head=dict(
        type='SparseFormerHead',
        num_classes=5,
        in_channels=64,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))

test_pipeline = [
    dict(type='DecordInit'),
    dict(
        type='SampleFrames',
        clip_len=4,
        frame_interval=1,
        num_clips=2,
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 32)),
    dict(type='ThreeCrop', crop_size=32),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_dataloader = dict(
    batch_size=1,
    num_workers=0,
    dataset=dict(
        type='VideoDataset',
        ann_file='',
        data_prefix=dict(video=''),
        pipeline=test_pipeline,
        test_mode=True))
