"""Orthogonal convolutional neural networks (Wang et al., arXiv:1911.12207): an orthogonality
regulariser on conv layers as linear operators, and exact conv spectra."""

from reprlab.ortho.functional import (
    conv_operator_matrix,
    conv_singular_values,
    dilate_kernel,
    filter_similarity,
    kernel_orth_loss,
    orth_conv_loss,
    ortho_padding,
    polyphase_kernel,
    spectrum_stats,
)
from reprlab.ortho.modules import (
    LAYER_SETS,
    OrthogonalRegularizer,
    conv_layers,
    layer_spectra,
    model_redundancy,
    regularized_layers,
    unwrap,
)

__all__ = ["orth_conv_loss", "kernel_orth_loss", "ortho_padding", "polyphase_kernel",
           "conv_operator_matrix", "conv_singular_values", "filter_similarity",
           "spectrum_stats", "dilate_kernel", "OrthogonalRegularizer", "LAYER_SETS",
           "regularized_layers", "conv_layers", "layer_spectra", "model_redundancy", "unwrap"]
