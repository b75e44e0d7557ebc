# VideoSparseFormer-Tiny on Kinetics-400 with every data-loading option:
# training videos re-encoded to a short side of 256 with a keyframe every
# 32 frames, decoded by the seeking PyAV decoder, 2 clips per decoded video.
# Validation and testing read the original videos (the reported accuracy is
# on the standard data). Measured effect, and what differs from the plain
# recipe: docs/data_loading.md.
# Sources:
#   repeated augmentation, its batch/epoch arithmetic and schedule:
#     videosparseformer-tiny_in1k-pre_8xb8-repaug2-32x2x1-15e_kinetics400-rgb.py  # noqa: E501
#   the PyAV decoder:
#     videosparseformer-tiny_in1k-pre_8xb8-pyav-32x2x1-30e_kinetics400-rgb.py
#   the re-encoded videos: made once with
#     python tools/data/kinetics/reencode_videos.py \
#         data/kinetics400/videos_train data/kinetics400/videos_train_256p \
#         --short-side 256 --gop 32
#     (x264 tune=fastdecode, crf 23; the annotation list is unchanged)
_base_ = [
    'videosparseformer-tiny_in1k-pre_8xb8-repaug2-32x2x1-15e_kinetics400-rgb.py'  # noqa: E501
]

file_client_args = dict(io_backend='disk')
train_pipeline = [
    dict(type='PyAVSeekInit', **file_client_args),
    dict(type='SampleFrames', clip_len=32, frame_interval=2, num_clips=1),
    dict(type='PyAVSeekDecode'),
    # no Resize(-1, 256): the re-encoded videos have that short side already
    # (a copy of every frame saved). Videos the re-encoder did not upscale
    # (short side below 256) are cropped at their own size: the crop covers
    # the same share of the frame and is resized to 224 all the same.
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), keep_ratio=False),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='FormatShape', input_format='NCTHW'),
    dict(type='PackActionInputs')
]
train_dataloader = dict(
    dataset=dict(
        data_prefix=dict(video='data/kinetics400/videos_train_256p'),
        pipeline=train_pipeline))
