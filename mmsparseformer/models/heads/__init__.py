from .sparseformer_head import SparseFormerHead
from .text_classifier import (TextClassifier, TextClassifierError,
                              load_text_classifier, save_text_classifier)
from .zeroshot_head import ZeroShotHead

__all__ = [
    'SparseFormerHead', 'TextClassifier', 'TextClassifierError',
    'ZeroShotHead', 'load_text_classifier', 'save_text_classifier'
]
