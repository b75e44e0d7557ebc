# Zero-shot Kinetics-400 test of VideoSparseFormer btsp-clip-base: the
# SparseFormer bootstrapped from OpenAI CLIP ViT-B/16, inflated to video, with
# no video training at all. A video's embedding (class token, final norm and
# the checkpoint's CLIP projection) is compared with CLIP text embeddings of
# the 400 class names (docs/zero_shot.md). Test only:
#
#   python tools/zeroshot/build_text_classifier.py \
#       tools/data/kinetics/label_map_k400.txt --clip ViT-B-16 \
#       --model-path checkpoints/clip-vit-base-patch16 \
#       --out data/k400_clip-b16_classes.pt
#   python tools/test.py THIS_CONFIG \
#       checkpoints/sparseformer_btsp_clip_base_converted.pth
#
# The checkpoint is the official image file: tools/test.py converts it and
# inflates it to 8 replicates when it loads it; a converted file
# (tools/convert/sparseformer_official.py) works too. The btsp-clip-large
# config inherits this one. Another label set:
#   --cfg-options model.cls_head.classifier=FILE model.cls_head.num_classes=K
#
# Where the numbers come from:
#   [btsp]  "Bootstrapping SparseFormers from Vision Foundation Models" (Gao
#           et al., CVPR 2024) and its release sparseformer_btsp_openai_clip_
#           base: arch btsp-clip-base (768-d tokens, CLIP ViT-B/16's 512-d
#           projection without bias, LayerNorm eps 1e-5, class token).
#   [clip]  CLIP (Radford et al., 2021): input mean/std (0.48145466,
#           0.4578275, 0.40821073) / (0.26862954, 0.26130258, 0.27577711)
#           on 0-1 RGB, here x255; text side: the Kinetics prompt templates
#           and the logit scale 100 (stored in the classifier file).
#   [paper] SparseFormer (Gao et al., ICLR 2024), video classification: 32
#           frames at 224x224, 8 replicates per token, 4 clips x 3 crops.
#   [swin]  MMAction2's Video Swin K400 test pipeline (frame interval 2,
#           short side 224, ThreeCrop, batch 1) as in this project's K400
#           configs (videosparseformer-tiny_in1k-pre_8xb8-32x2x1-30e_
#           kinetics400-rgb.py).
#   [mmaction] MMAction2's default_runtime.py; multi-view test averaging of
#           probabilities (average_clips='prob') as its K400 configs.
#   [project] choices of this project, explained where they are made.
_base_ = ['mmaction::_base_/default_runtime.py']  # [mmaction]

custom_imports = dict(imports=['mmsparseformer'], allow_failed_imports=False)

model = dict(
    type='Recognizer3D',
    backbone=dict(
        type='VideoSparseFormer',
        arch='btsp-clip-base',  # [btsp]
        replicates=8,  # [paper]
        # CHECKPOINT of tools/test.py provides the weights
        pretrained=None),
    cls_head=dict(
        type='ZeroShotHead',
        num_classes=400,  # Kinetics-400
        in_channels=768,  # [btsp] token width of btsp-clip-base
        proj_dims=512,  # [btsp] CLIP ViT-B/16 embedding width
        # [project] built by tools/zeroshot/build_text_classifier.py with
        # --clip ViT-B-16 from tools/data/kinetics/label_map_k400.txt
        classifier='data/k400_clip-b16_classes.pt',
        average_clips='prob'),  # [mmaction]
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=[122.771, 116.746, 104.094],  # [clip] x 255
        std=[68.501, 66.632, 70.323],  # [clip] x 255
        format_shape='NCTHW'))

# dataset settings (MMAction2's K400 layout; docs/kinetics400.md)
dataset_type = 'RobustVideoDataset'  # [project] as the K400 recipe
data_root_val = 'data/kinetics400/videos_val'
ann_file_test = 'data/kinetics400/kinetics400_val_list_videos.txt'

file_client_args = dict(io_backend='disk')
test_pipeline = [  # 4 clips x 3 crops = 12 views [paper], sizes [swin]
    dict(type='DecordInit', **file_client_args),
    dict(
        type='SampleFrames',
        clip_len=32,  # [paper]
        frame_interval=2,  # [swin]
        num_clips=4,  # [paper]
        test_mode=True),
    dict(type='DecordDecode'),
    dict(type='Resize', scale=(-1, 224)),  # [swin]
    dict(type='ThreeCrop', crop_size=224),  # [paper]
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
test_dataloader = dict(
    batch_size=1,  # [swin]
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        ann_file=ann_file_test,
        data_prefix=dict(video=data_root_val),
        pipeline=test_pipeline,
        # [project] as the K400 recipe: an unreadable video is an error
        # naming the file, unless test_dataloader.dataset.skip_unreadable
        skip_unreadable=False,
        test_mode=True))
test_evaluator = dict(type='AccMetric')
test_cfg = dict(type='TestLoop')
