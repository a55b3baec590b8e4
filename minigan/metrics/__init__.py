"""Sample-quality metrics and the feature extractors they run on.

On (N, D) feature arrays (numpy or minigan tensors) and logits (:mod:`.scores`): ``fid``,
``kid`` (mean, std), ``inception_score`` (mean, std), ``precision_recall``,
``density_coverage``. On the 2-D toy mixtures (:mod:`.toy`): ``mixture_quality`` for ``RING8``
and ``GRID25``. Features (:mod:`.digits`): the shipped digits classifier (``load_classifier``,
``classify``, ``class_coverage``, ``mean_confidence``, ``class_accuracy``). A generator against
a dataset (:mod:`.evaluator`): ``Evaluator`` (for training loops) and
``python -m minigan.evaluate`` (the command line).
"""

from minigan.metrics.digits import (
    DigitsClassifier,
    FeatureError,
    class_accuracy,
    class_coverage,
    class_histogram,
    classify,
    load_classifier,
    mean_confidence,
)
from minigan.metrics.evaluator import (
    METRICS,
    EvaluationWarning,
    Evaluator,
    FeatureSet,
    compare,
    get_extractor,
    real_features,
    sample_features,
)
from minigan.metrics.scores import (
    MetricError,
    MetricWarning,
    density_coverage,
    feature_stats,
    fid,
    fid_from_stats,
    inception_score,
    kid,
    mmd2_unbiased,
    precision_recall,
)
from minigan.metrics.toy import GRID25, MIXTURES, RING8, Mixture, mixture_quality

__all__ = [
    "fid", "fid_from_stats", "feature_stats", "kid", "mmd2_unbiased", "inception_score",
    "precision_recall", "density_coverage", "MetricError", "MetricWarning",
    "mixture_quality", "Mixture", "RING8", "GRID25", "MIXTURES",
    "DigitsClassifier", "FeatureError", "load_classifier", "classify", "class_coverage",
    "class_histogram", "mean_confidence", "class_accuracy",
    "Evaluator", "EvaluationWarning", "FeatureSet", "METRICS", "compare", "get_extractor",
    "real_features", "sample_features",
]
