"""Accuracy against GFLOPs: a run beside MMAction2's Kinetics model zoo.

The model zoo is read from the ``metafile.yml`` files shipped in the
installed mmaction2 wheel (``mmaction/.mim/configs/recognition/*/``): top-1,
top-5, FLOPs per view and parameters of every entry with results on the
dataset, and the views of its test protocol from the config it names.

This project's configs are described the same way in
``configs/recognition/videosparseformer/metafile.yml`` (GFLOPs, parameters,
input and views; not yet trained, so no results): :func:`project_model`
reads a config's entry (``tests/test_configs.py`` keeps the numbers equal
to what ``tools/analysis/get_flops.py`` counts).
"""
import functools
import glob
import json
import os.path as osp
import pickle
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import mmaction
from mmaction.evaluation.functional import top_k_accuracy
from ..utils.config import (PROJECT_CONFIGS, PROJECT_ROOT, load_config,
                            read_view_protocol)
from ..utils.markdown import markdown_table

#: Multipliers of the suffixes used in metafiles ("88G", "28.2M").
_SUFFIXES = {'': 1., 'K': 1e3, 'M': 1e6, 'G': 1e9, 'T': 1e12}


def parse_quantity(value) -> Optional[float]:
    """``'88G'`` -> 8.8e10, ``2967543760`` -> 2967543760., else None."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = re.fullmatch(r'\s*([0-9.]+)\s*([KMGT]?)\s*', str(value))
    if not match:
        return None
    return float(match.group(1)) * _SUFFIXES[match.group(2)]


@dataclass
class ZooEntry:
    """One model-zoo result."""
    name: str
    collection: str
    top1: float
    top5: Optional[float]
    gflops_per_view: Optional[float]
    params_m: Optional[float]
    views: Optional[int]
    config: str

    @property
    def total_gflops(self) -> Optional[float]:
        if self.gflops_per_view is None or self.views is None:
            return None
        return self.gflops_per_view * self.views


def mmaction_root() -> str:
    """The installed mmaction2 package's ``.mim`` folder."""
    return osp.join(osp.dirname(mmaction.__file__), '.mim')


def _config_views(root: str, config: str) -> Optional[int]:
    """Views of a zoo config's test protocol, or None if unreadable."""
    path = osp.join(root, config)
    if not osp.isfile(path) and path.endswith('.py.py'):
        path = path[:-3]  # a typo in some metafiles
    if not osp.isfile(path):
        return None
    try:
        return read_view_protocol(load_config(path), shape=(1, 1, 1)).views
    except Exception:  # a config this environment cannot parse
        return None


def read_metafile(path: str) -> List[dict]:
    """The ``Models`` of an MMAction2 ``metafile.yml``."""
    import yaml
    with open(path) as f:
        return list((yaml.safe_load(f) or {}).get('Models') or [])


def _zoo_entries(path: str, dataset: str, root: str,
                 with_views: bool) -> List[ZooEntry]:
    """The entries of one metafile with a top-1 result on ``dataset``."""
    # MMAction2 config names end with their dataset ("..._kinetics400-rgb");
    # a few metafiles file other datasets' results under Kinetics-400.
    tag = dataset.lower().replace('-', '')
    entries = []
    for model in read_metafile(path):
        metadata = model.get('Metadata') or {}
        config = model.get('Config', '')
        for result in model.get('Results') or []:
            metrics = result.get('Metrics') or {}
            if result.get('Dataset') != dataset or \
                    'Top 1 Accuracy' not in metrics:
                continue
            if tag not in osp.basename(config).lower().replace('-', ''):
                continue  # a result filed under the wrong dataset
            flops = parse_quantity(metadata.get('FLOPs'))
            params = parse_quantity(metadata.get('Parameters'))
            top5 = metrics.get('Top 5 Accuracy')
            entries.append(
                ZooEntry(
                    name=model.get('Name', config),
                    collection=model.get('In Collection',
                                         osp.basename(osp.dirname(path))),
                    top1=float(metrics['Top 1 Accuracy']),
                    top5=float(top5) if top5 is not None else None,
                    gflops_per_view=flops / 1e9 if flops else None,
                    params_m=params / 1e6 if params else None,
                    views=_config_views(root, config) if with_views else None,
                    config=config))
    return entries


@functools.lru_cache(maxsize=4)
def read_model_zoo(dataset: str = 'Kinetics-400',
                   root: Optional[str] = None,
                   with_views: bool = True) -> Tuple[ZooEntry, ...]:
    """Every model-zoo entry with a top-1 result on ``dataset``.

    Args:
        dataset (str): The ``Dataset`` of the metafile results.
        root (str, optional): The ``.mim`` folder (default: the installed
            mmaction2's).
        with_views (bool): Read each entry's config for its test views.

    Entries whose config name does not name the dataset (e.g. an sthv2
    config under ``Kinetics-400``) are left out.
    """
    root = root or mmaction_root()
    pattern = osp.join(root, 'configs', 'recognition', '*', 'metafile.yml')
    files = sorted(glob.glob(pattern))
    if not files:
        raise FileNotFoundError(f'No metafile.yml under {pattern}: is '
                                'mmaction2 installed with its configs?')
    return tuple(entry for path in files
                 for entry in _zoo_entries(path, dataset, root, with_views))


# ------------------------------------------------------- this project's zoo
#: This project's model zoo, in MMAction2's metafile format.
PROJECT_METAFILE = osp.join(PROJECT_CONFIGS, 'recognition',
                            'videosparseformer', 'metafile.yml')


@dataclass
class ProjectModel:
    """A config of this project as its metafile describes it: one view
    (``input_shape`` ``(T, H, W)``) costs ``gflops_per_view`` GFLOPs
    (multiply-accumulates, every op counted), ``views`` views a video."""
    name: str
    config: str  # relative to the repository
    gflops_per_view: float
    paper_gflops_per_view: float
    params_m: float
    views: int
    input_shape: Tuple[int, int, int]

    @property
    def config_path(self) -> str:
        return osp.join(PROJECT_ROOT, self.config)


def _project_model(model: dict) -> ProjectModel:
    metadata = model['Metadata']
    return ProjectModel(
        name=model['Name'],
        config=model['Config'],
        gflops_per_view=parse_quantity(metadata['FLOPs']) / 1e9,
        paper_gflops_per_view=parse_quantity(
            metadata['Paper-comparable FLOPs']) / 1e9,
        params_m=parse_quantity(metadata['Parameters']) / 1e6,
        views=int(metadata['Views']),
        input_shape=tuple(
            int(v) for v in str(metadata['Input']).split('x')))


def read_project_models(path: str = PROJECT_METAFILE
                        ) -> Tuple[ProjectModel, ...]:
    """Every model of this project's metafile."""
    return tuple(_project_model(model) for model in read_metafile(path))


def project_model(config: str,
                  path: str = PROJECT_METAFILE) -> Optional[ProjectModel]:
    """The metafile entry of the config file ``config``, or None (a config
    object, another file, or no metafile)."""
    if not isinstance(config, str) or not osp.isfile(path):
        return None
    wanted = osp.realpath(config)
    return next((model for model in read_project_models(path)
                 if osp.realpath(model.config_path) == wanted), None)


# ----------------------------------------------------------------- results
def _as_array(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def accuracy_from_dump(path: str, topk: Sequence[int] = (1, 5)
                       ) -> Dict[str, float]:
    """Top-k accuracy (%) from a ``tools/test.py --dump`` pickle (a list of
    dicts with ``pred_score`` and ``gt_label``)."""
    with open(path, 'rb') as f:
        samples = pickle.load(f)
    if not isinstance(samples, (list, tuple)) or not samples:
        raise ValueError(f'{path}: expected a non-empty list of results '
                         f'(tools/test.py --dump), got {type(samples)}')
    scores, labels = [], []
    for index, sample in enumerate(samples):
        if not isinstance(sample, dict) or 'pred_score' not in sample or \
                'gt_label' not in sample:
            raise KeyError(f'{path}: result {index} lacks pred_score or '
                           'gt_label')
        scores.append(_as_array(sample['pred_score']).reshape(-1))
        labels.append(int(_as_array(sample['gt_label']).reshape(-1)[0]))
    if len({len(s) for s in scores}) != 1:
        raise ValueError(f'{path}: results have different class counts')
    accuracies = top_k_accuracy(scores, labels, tuple(topk))
    result = {f'top{k}': 100. * float(a) for k, a in zip(topk, accuracies)}
    result['num_samples'] = len(samples)
    result['num_classes'] = len(scores[0])
    return result


def accuracy_from_json(path: str) -> Dict[str, float]:
    """Top-1/top-5 (%) from JSON: ``top1``/``top5`` or MMAction2's
    ``acc/top1``/``acc/top5``; fractions (<= 1) are taken as such."""
    with open(path) as f:
        data = json.load(f)
    result = {}
    for k in (1, 5):
        for key in (f'top{k}', f'acc/top{k}', f'top{k}_acc'):
            if key in data:
                value = float(data[key])
                result[f'top{k}'] = 100. * value if value <= 1. else value
                break
    if 'top1' not in result:
        raise KeyError(f'{path}: no top1 (or acc/top1) entry')
    return result


def read_accuracy(path: str) -> Dict[str, float]:
    """Accuracy from a ``.pkl`` dump or a ``.json`` summary."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'Results file not found: {path}')
    if path.endswith('.json'):
        return accuracy_from_json(path)
    return accuracy_from_dump(path)


# ----------------------------------------------------------------- output
@dataclass
class RunRow:
    """The evaluated run."""
    name: str
    top1: float
    top5: Optional[float]
    gflops_per_view: float
    paper_gflops_per_view: float
    views: int
    params_m: float

    @property
    def total_gflops(self) -> float:
        return self.gflops_per_view * self.views


def _fmt(value, spec: str = '.2f') -> str:
    return '-' if value is None else format(value, spec)


def report_table(run: RunRow, zoo: Sequence[ZooEntry] = ()) -> str:
    """Markdown table ``model | top-1 | top-5 | GFLOPs/view | views |
    params`` with the run first, then the zoo by GFLOPs per video."""
    rows = [('model', 'top-1', 'top-5', 'GFLOPs/view', 'views', 'params'),
            (f'**{run.name}** (this run)', f'{run.top1:.2f}', _fmt(run.top5),
             f'{run.gflops_per_view:.4g} (paper-comparable '
             f'{run.paper_gflops_per_view:.4g})', run.views,
             f'{run.params_m:.3g} M')]
    ordered = sorted(zoo, key=lambda e: (e.total_gflops is None,
                                         e.total_gflops or 0.))
    for entry in ordered:
        params = '-' if entry.params_m is None else f'{entry.params_m:.3g} M'
        rows.append((entry.name, f'{entry.top1:.2f}', _fmt(entry.top5),
                     _fmt(entry.gflops_per_view, '.4g'),
                     _fmt(entry.views, 'd'), params))
    return markdown_table(rows, pad=False)


def plot_accuracy_vs_gflops(run: RunRow,
                            zoo: Sequence[ZooEntry],
                            path: str,
                            dataset: str = 'Kinetics-400') -> Tuple[int, int]:
    """PNG of top-1 against total GFLOPs (per view x views), the zoo by
    collection and the run highlighted. Returns (zoo points, skipped)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    plotted = [e for e in zoo if e.total_gflops]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    collections = sorted({e.collection for e in plotted})
    cmap = plt.get_cmap('tab20', max(len(collections), 1))
    for index, collection in enumerate(collections):
        points = [e for e in plotted if e.collection == collection]
        ax.scatter([e.total_gflops for e in points],
                   [e.top1 for e in points],
                   s=22,
                   color=cmap(index),
                   label=collection,
                   alpha=0.8)
    ax.scatter([run.total_gflops], [run.top1],
               s=160,
               marker='*',
               color='red',
               edgecolor='black',
               zorder=5,
               label=f'{run.name} (this run)')
    ax.annotate(
        run.name, (run.total_gflops, run.top1),
        xytext=(6, 6),
        textcoords='offset points',
        fontsize=9,
        color='red')
    ax.set_xscale('log')
    ax.set_xlabel('GFLOPs per video (GFLOPs per view x views, log scale)')
    ax.set_ylabel(f'{dataset} top-1 (%)')
    ax.set_title(f'{dataset}: top-1 against inference cost '
                 f'(MMAction2 model zoo from its metafiles)')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc='best')
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return len(plotted), len(zoo) - len(plotted)
