# VideoSparseFormer-Tiny: Recognizer3D + VideoSparseFormer backbone +
# SparseFormerHead, with MMAction2's usual ActionDataPreprocessor (ImageNet
# mean/std in 0-255 RGB, NCTHW clips). The arch (widths, tokens, points,
# drop path) comes from the backbone's arch table (docs/model.md, "Units and
# ops"); replicates=8 is the paper's token inflation for Kinetics
# (docs/model.md, "Inflation"); in_channels is the arch's cortex width;
# average_clips='prob' is MMAction2's multi-view test default.
model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoSparseFormer', arch='tiny', replicates=8,
        pretrained=None),
    cls_head=dict(
        type='SparseFormerHead',
        in_channels=512,
        num_classes=400,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
