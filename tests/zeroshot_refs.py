"""Small offline stand-ins for the zero-shot tests: a randomly initialised
CLIP text model with a byte-level BPE tokenizer written from scratch, and
random text classifier files."""
import json
import os.path as osp

import torch
import torch.nn.functional as F

from mmsparseformer.models.heads.text_classifier import save_text_classifier

#: Two merges, so that the tokenizer does more than split into bytes.
MERGES = [('p', 'h'), ('ph', 'o</w>')]


def byte_symbols() -> list:
    """The 256 printable symbols byte-level BPE maps bytes to (printable
    bytes stand for themselves, the others are shifted past 255)."""
    printable = [
        *range(ord('!'), ord('~') + 1), *range(ord('¡'), ord('¬') + 1),
        *range(ord('®'), ord('ÿ') + 1)
    ]
    shifted = [b for b in range(256) if b not in printable]
    codes = printable + [256 + i for i in range(len(shifted))]
    return [chr(code) for code in codes]


def write_tiny_tokenizer(folder: str) -> int:
    """A CLIP tokenizer (byte-level BPE, CLIP's special tokens) as the
    files ``CLIPTokenizer.from_pretrained(folder)`` reads; returns the
    vocabulary size (its last two ids: start and end of text)."""
    symbols = byte_symbols()
    vocab = symbols + [s + '</w>' for s in symbols]
    vocab += [a + b for a, b in MERGES]
    vocab += ['<|startoftext|>', '<|endoftext|>']
    with open(osp.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump({token: i for i, token in enumerate(vocab)}, f)
    with open(osp.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + ''.join(f'{a} {b}\n' for a, b in MERGES))
    with open(osp.join(folder, 'tokenizer_config.json'), 'w') as f:
        json.dump(dict(tokenizer_class='CLIPTokenizer'), f)
    return len(vocab)


def tiny_text_config(vocab_size: int, projection_dim: int):
    from transformers import CLIPTextConfig
    return CLIPTextConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=77,  # CLIP's context length
        projection_dim=projection_dim,
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1)


def write_tiny_clip(folder: str, projection_dim: int = 12,
                    seed: int = 0) -> str:
    """A random CLIP text model with projection and its tokenizer, saved
    as transformers saves them (``from_pretrained(folder)`` loads both)."""
    from transformers import CLIPTextModelWithProjection
    config = tiny_text_config(write_tiny_tokenizer(folder), projection_dim)
    torch.manual_seed(seed)
    CLIPTextModelWithProjection(config).save_pretrained(folder)
    return folder


def write_tiny_full_clip(folder: str, projection_dim: int = 12,
                         seed: int = 0):
    """A random whole CLIP model (text and image towers), the layout of
    the ``openai/clip-vit-*`` checkpoints; returns the model."""
    from transformers import CLIPConfig, CLIPModel, CLIPVisionConfig
    text = tiny_text_config(write_tiny_tokenizer(folder), projection_dim)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64,
                              num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=16)
    config = CLIPConfig(text_config=text.to_dict(),
                        vision_config=vision.to_dict(),
                        projection_dim=projection_dim)
    torch.manual_seed(seed)
    model = CLIPModel(config).eval()
    model.save_pretrained(folder)
    return model


def random_text_classifier(path: str, num_classes: int, embed_dims: int,
                           seed: int = 0, **meta) -> torch.Tensor:
    """A text classifier file of random unit rows; returns the rows."""
    gen = torch.Generator().manual_seed(seed)
    rows = F.normalize(torch.randn(num_classes, embed_dims, generator=gen),
                       dim=-1)
    meta.setdefault('label_map', [f'class {i}' for i in range(num_classes)])
    meta.setdefault('clip_model', 'random')
    save_text_classifier(path, rows, meta)
    return rows
