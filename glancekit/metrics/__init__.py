"""Metrics in plain numpy, each checked by hand in tests/test_metrics.py; tasks pick the ones they report."""
from .classification import (accuracy, classification_report, confusion_matrix, per_class_prf,
                             top_k_accuracy)
from .bootstrap import bootstrap_intervals
from .calibration import expected_calibration_error, reliability
from .verification import det_curve, eer, roc_auc, roc_curve

__all__ = ["accuracy", "classification_report", "confusion_matrix", "per_class_prf", "top_k_accuracy",
           "roc_curve", "roc_auc", "det_curve", "eer", "bootstrap_intervals",
           "expected_calibration_error", "reliability"]
