"""Reports: the ``<out>/<method>.json`` contract and the all-methods ``report.html``."""

from reprlab.report.html import build_html
from reprlab.report.schema import (
    VERDICTS,
    Claim,
    Figure,
    MethodReport,
    figure_to_png,
    load_method_json,
    write_method_json,
)

__all__ = [
    "VERDICTS",
    "Claim",
    "Figure",
    "MethodReport",
    "build_html",
    "figure_to_png",
    "load_method_json",
    "write_method_json",
]
