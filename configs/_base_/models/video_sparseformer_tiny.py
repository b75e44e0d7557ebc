# VideoSparseFormer-Tiny (SparseFormer v1 tiny, DESIGN §2): Recognizer3D +
# VideoSparseFormer backbone + SparseFormerHead, MMAction2's usual
# ActionDataPreprocessor (ImageNet mean/std in 0-255 RGB, NCTHW clips).
# Sources: arch and drop path 0.2 = SparseFormer v1 tiny (its ImageNet
# recipe); replicates=8 = the paper's token inflation for Kinetics;
# in_channels=512 = the arch's cortex width; average_clips='prob' = MMAction2's
# multi-view test default (Swin/MViT K400 configs); dropout_ratio=0. =
# SparseFormerHead's default.
custom_imports = dict(imports=['mmsparseformer'], allow_failed_imports=False)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoSparseFormer',
        arch='tiny',
        replicates=8,
        drop_path_rate=0.2,
        pretrained=None),
    cls_head=dict(
        type='SparseFormerHead',
        in_channels=512,
        num_classes=400,
        dropout_ratio=0.,
        average_clips='prob'),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        format_shape='NCTHW'))
