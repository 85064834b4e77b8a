"""Moved to :mod:`pairbench.pairs._study_cli` (beside the study pair); kept until ``cli.py`` imports it from there."""
from pairbench.pairs._study_cli import PERSISTENT, ablation, ablation_main, add_study_arguments, format_ablation, study_main  # noqa: F401
