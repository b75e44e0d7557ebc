"""Text classifiers for zero-shot heads: class names x prompt templates ->
CLIP text embeddings, averaged over the templates.

Each prompt's embedding is L2-normalised, the class's prompts are averaged
and the mean is L2-normalised again (the prompt ensembling of the CLIP
paper). The CLIP text encoder is transformers' ``CLIPTextModelWithProjection``
with its ``CLIPTokenizer``; transformers is the optional extra ``zeroshot``
and is imported only here, when a classifier is built.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models.heads.text_classifier import (CLIP_LOGIT_SCALE,
                                            TextClassifier,
                                            load_text_classifier,
                                            save_text_classifier)
from ..utils.label_map import read_label_map

#: The CLIP models of the CLIP-bootstrapped SparseFormers and their
#: transformers checkpoints (``btsp-clip-base``: ViT-B/16, ``-large``:
#: ViT-L/14).
CLIP_MODELS = {
    'ViT-B-16': 'openai/clip-vit-base-patch16',
    'ViT-L-14': 'openai/clip-vit-large-patch14',
}
#: Width of their text embeddings (their projection_dim).
CLIP_EMBED_DIMS = {'ViT-B-16': 512, 'ViT-L-14': 768}
#: The prompt templates used when none are given.
DEFAULT_TEMPLATES = osp.join(
    osp.dirname(osp.abspath(__file__)), 'templates', 'kinetics_clip.txt')
#: The optional dependency and how to install it.
EXTRA = 'zeroshot'
INSTALL_HINT = (f"install the '{EXTRA}' extra: pip install "
                f"'mmsparseformer[{EXTRA}]' (from a clone: pip install -e "
                f"'.[{EXTRA}]')")


class ClipUnavailableError(RuntimeError):
    """The CLIP text encoder cannot be loaded here: transformers is missing
    or the weights are not available."""


def import_transformers() -> Any:
    """The transformers module, or one clear error naming the extra."""
    try:
        import transformers
    except ImportError as err:
        raise ClipUnavailableError(
            f'transformers is not installed ({err}); {INSTALL_HINT}'
        ) from err
    return transformers


def read_lines(path: str, what: str) -> List[str]:
    """Non-empty lines of a text file that are not ``#`` comments."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    with open(path, encoding='utf-8') as f:
        lines = [line.strip() for line in f]
    lines = [line for line in lines if line and not line.startswith('#')]
    if not lines:
        raise ValueError(f'{what} {path} is empty')
    return lines


def read_class_names(path: str) -> List[str]:
    """Class names of a label map, one per line (index = line)."""
    names = read_label_map(path)
    if not names:
        raise ValueError(f'Label map {path} is empty')
    return names


def read_templates(path: Optional[str] = None) -> List[str]:
    """Prompt templates, one per line, each with one ``{}``."""
    path = path or DEFAULT_TEMPLATES
    templates = read_lines(path, 'Template file')
    for template in templates:
        if template.count('{}') != 1:
            raise ValueError(f'Template file {path}: {template!r} must hold '
                             'exactly one {} (the class name)')
    return templates


def prompt_name(name: str) -> str:
    """A class name as it goes into a prompt (``_`` read as spaces)."""
    return ' '.join(name.replace('_', ' ').split())


def prompts(name: str, templates: Sequence[str]) -> List[str]:
    return [template.replace('{}', prompt_name(name))
            for template in templates]


@dataclass
class ClipTextEncoder:
    """A CLIP text tower with projection, and its tokenizer."""
    model: Any
    tokenizer: Any
    clip: str
    source: str

    @property
    def embed_dims(self) -> int:
        return self.model.config.projection_dim

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> Tensor:
        """L2-normalised text embeddings ``(len(texts), embed_dims)``."""
        tokens = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.model.config.max_position_embeddings,
            return_tensors='pt')
        device = next(self.model.parameters()).device
        output = self.model(
            input_ids=tokens['input_ids'].to(device),
            attention_mask=tokens['attention_mask'].to(device))
        return F.normalize(output.text_embeds.float(), dim=-1).cpu()


def _unavailable(clip: str, source: str, model_path: Optional[str],
                 download: bool, err: Exception) -> ClipUnavailableError:
    reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if model_path is not None:
        return ClipUnavailableError(
            f'--model-path {model_path} holds no CLIP text model and '
            f'tokenizer that transformers can load ({reason})')
    if not download:
        from huggingface_hub.constants import HF_HUB_CACHE
        return ClipUnavailableError(
            f'CLIP {clip} ({source}) is not available offline: it is not in '
            f'the Hugging Face cache ({HF_HUB_CACHE}); pass --model-path DIR '
            'with a local copy, or --download where the hub can be reached')
    return ClipUnavailableError(
        f'cannot download CLIP {clip} ({source}) from the Hugging Face hub '
        f'({reason}); pass --model-path DIR with a local copy')


def load_clip_text_encoder(clip: str,
                           model_path: Optional[str] = None,
                           download: bool = False,
                           device: str = 'cpu') -> ClipTextEncoder:
    """transformers' CLIP text model and tokenizer of ``clip``.

    Args:
        clip (str): A name of :data:`CLIP_MODELS`.
        model_path (str, optional): A local folder with the model
            (``save_pretrained`` layout, e.g. a download of
            ``openai/clip-vit-base-patch16``); default: the Hugging Face
            cache entry of ``CLIP_MODELS[clip]``.
        download (bool): Fetch the model from the hub when it is not cached
            (never tried otherwise, so an offline machine fails at once).
        device (str): Where the text model runs.
    """
    if clip not in CLIP_MODELS:
        raise ValueError(f'Unknown CLIP model {clip!r}: choose from '
                         f'{list(CLIP_MODELS)}')
    transformers = import_transformers()
    if model_path is not None and not osp.isdir(model_path):
        raise ClipUnavailableError(f'--model-path {model_path}: no such '
                                   'folder')
    source = model_path or CLIP_MODELS[clip]
    local_only = model_path is not None or not download
    try:
        tokenizer = transformers.CLIPTokenizer.from_pretrained(
            source, local_files_only=local_only)
        model = transformers.CLIPTextModelWithProjection.from_pretrained(
            source, local_files_only=local_only)
    except (OSError, ValueError) as err:
        raise _unavailable(clip, source, model_path, download, err) from err
    return ClipTextEncoder(model.eval().to(device), tokenizer, clip, source)


def class_embeddings(encoder: ClipTextEncoder,
                     names: Sequence[str],
                     templates: Sequence[str],
                     progress: Optional[Callable[[int], None]] = None
                     ) -> Tensor:
    """``(len(names), embed_dims)``: per class, its prompts' normalised
    embeddings averaged, then normalised."""
    rows = []
    for index, name in enumerate(names):
        per_prompt = encoder.encode(prompts(name, templates))
        rows.append(F.normalize(per_prompt.mean(dim=0), dim=-1))
        if progress is not None:
            progress(index + 1)
    return torch.stack(rows)


def build_text_classifier(label_map: str,
                          clip: str,
                          out: str,
                          templates: Optional[str] = None,
                          model_path: Optional[str] = None,
                          download: bool = False,
                          device: str = 'cpu',
                          progress: Optional[Callable[[int], None]] = None
                          ) -> TextClassifier:
    """Build and save the text classifier of a label map (see the module
    docstring); returns what was saved."""
    names = read_class_names(label_map)
    template_list = read_templates(templates)
    encoder = load_clip_text_encoder(clip, model_path, download, device)
    embeddings = class_embeddings(encoder, names, template_list, progress)
    meta = dict(
        clip_model=clip,
        hf_model=CLIP_MODELS[clip],
        model_path=osp.abspath(model_path) if model_path else None,
        templates=template_list,
        templates_file=osp.abspath(templates or DEFAULT_TEMPLATES),
        label_map=names,
        label_map_file=osp.abspath(label_map),
        logit_scale=CLIP_LOGIT_SCALE,
        normalisation='each prompt L2-normalised, the mean over the '
        'templates L2-normalised',
        transformers=import_transformers().__version__)
    save_text_classifier(out, embeddings, meta)
    return load_text_classifier(out)
