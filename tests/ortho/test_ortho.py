import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reprlab.ortho import (
    OrthogonalRegularizer,
    conv_operator_matrix,
    conv_singular_values,
    filter_similarity,
    kernel_orth_loss,
    layer_spectra,
    model_redundancy,
    orth_conv_loss,
    ortho_padding,
    polyphase_kernel,
)
from reprlab.rpg import resnet, rpg

CASES = [(m, c, k, s) for k in (1, 3, 5) for s in (1, 2) for m, c in ((4, 3), (3, 4), (6, 2))]


def _kernel(m, c, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(m, c, k, k, generator=g, dtype=torch.float64) / (c * k)


def test_padding_rule():
    assert ortho_padding(3, 1) == 2 and ortho_padding(3, 2) == 2
    assert ortho_padding(5, 2) == 4 and ortho_padding(1, 2) == 0 and ortho_padding(5, 3) == 3
    with pytest.raises(ValueError, match="stride"):
        ortho_padding(3, 0)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_zero_for_orthogonal_delta_kernel(k, stride):
    q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(k)))
    delta = torch.zeros(5, 5, k, k, dtype=torch.float64)
    delta[:, :, k // 2, k // 2] = q
    assert float(orth_conv_loss(delta, stride=stride, form="row")) < 1e-20
    if stride == 1:
        assert float(orth_conv_loss(delta, stride=1, form="column")) < 1e-20
    assert float(kernel_orth_loss(delta)) < 1e-20


def test_random_kernel_not_orthogonal():
    assert float(orth_conv_loss(_kernel(4, 4, 3))) > 0.1


@pytest.mark.parametrize("m,c,k,s", CASES)
def test_matches_explicit_operator_circular(m, c, k, s):
    """With circular padding every row is interior: ‖MMᵀ−I‖² = H'W'·L_row, ‖MᵀM−I‖² =
    (HW/S²)·L_col."""
    K = _kernel(m, c, k)
    n = 12
    A = conv_operator_matrix(K, n, stride=s, padding=k // 2, padding_mode="circular")
    rows = A.shape[0] // m
    row_dev = ((A @ A.T - torch.eye(A.shape[0], dtype=A.dtype)) ** 2).sum() / rows
    col_dev = ((A.T @ A - torch.eye(A.shape[1], dtype=A.dtype)) ** 2).sum() / (n * n / s**2)
    torch.testing.assert_close(orth_conv_loss(K, stride=s, form="row"), row_dev)
    torch.testing.assert_close(orth_conv_loss(K, stride=s, form="column"), col_dev)


@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (5, 2), (5, 1)])
def test_matches_explicit_operator_interior_rows_zero_padding(k, s):
    """Zero padding: for an output position whose neighbourhood avoids the boundary, the
    rows (all channels) of MMᵀ−I carry exactly the row-form loss (the paper's theorem)."""
    m, c = 3, 4
    K = _kernel(m, c, k, seed=2)
    n = 16
    A = conv_operator_matrix(K, n, stride=s, padding=k // 2)
    hw = int(round((A.shape[0] // m) ** 0.5))
    dev = A @ A.T - torch.eye(A.shape[0], dtype=A.dtype)
    centre = hw // 2
    rows = [ch * hw * hw + centre * hw + centre for ch in range(m)]
    torch.testing.assert_close((dev[rows] ** 2).sum(), orth_conv_loss(K, stride=s, form="row"))


def test_official_padding_one_is_wrong_for_stride_two():
    """k=3, S=2: padding 1 (official code) evaluates odd shifts (-1, +1), which are no row
    overlaps at all, and misses the centre Gram; P = 2 gives shifts (-2, 0, +2)."""
    K = _kernel(4, 4, 3, seed=5)
    assert F.conv2d(K, K, stride=2, padding=1).shape[-2:] == (2, 2)  # no centre entry
    good = F.conv2d(K, K, stride=2, padding=ortho_padding(3, 2))
    assert good.shape[-2:] == (3, 3)
    mat = K.reshape(4, -1)
    torch.testing.assert_close(good[:, :, 1, 1], mat @ mat.T)


def test_auto_form_picks_fewer_entries():
    K = _kernel(8, 2, 3)  # M > C·S² at stride 1: column form
    assert orth_conv_loss(K, form="auto") == orth_conv_loss(K, form="column")
    assert orth_conv_loss(K, stride=2, form="auto") == orth_conv_loss(K, stride=2, form="row")
    one = _kernel(3, 5, 1)
    mat = one.reshape(3, 5)
    torch.testing.assert_close(orth_conv_loss(one), ((mat @ mat.T - torch.eye(3)) ** 2).sum())


def test_polyphase_equivalence():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    K = _kernel(4, 3, 3)
    ref = F.conv2d(x, K, stride=2)
    alt = F.conv2d(F.pixel_unshuffle(x, 2), polyphase_kernel(K, 2))
    torch.testing.assert_close(ref, alt)


@pytest.mark.parametrize("m,c,k,s", [(4, 3, 3, 1), (3, 4, 3, 2), (6, 2, 5, 2), (2, 2, 1, 2)])
def test_singular_values_match_explicit_matrix(m, c, k, s):
    K = _kernel(m, c, k, seed=3)
    A = conv_operator_matrix(K, 8, stride=s, padding=k // 2, padding_mode="circular")
    sv = torch.linalg.svdvals(A)
    fast = conv_singular_values(K, 8, stride=s)
    torch.testing.assert_close(fast, sv[:fast.numel()])


def test_gradcheck():
    K = _kernel(3, 2, 3).requires_grad_()
    assert torch.autograd.gradcheck(lambda w: orth_conv_loss(w, stride=2), (K,))
    assert torch.autograd.gradcheck(lambda w: orth_conv_loss(w, form="column"), (K,))


def test_bad_inputs():
    with pytest.raises(ValueError, match="weight must be"):
        orth_conv_loss(torch.randn(3, 3, 3))
    with pytest.raises(ValueError, match="form"):
        orth_conv_loss(torch.randn(2, 2, 3, 3), form="diag")
    with pytest.raises(ValueError, match="stride"):
        orth_conv_loss(torch.randn(2, 2, 3, 3), stride=0)
    with pytest.raises(ValueError, match="divisible"):
        conv_singular_values(torch.randn(2, 2, 3, 3), 7, stride=2)
    with pytest.raises(ValueError, match="weight"):
        OrthogonalRegularizer(resnet((4, 8), (1, 1)), -1.0)


def test_filter_similarity():
    q, _ = torch.linalg.qr(torch.randn(9, 9, dtype=torch.float64))
    assert float(filter_similarity(q.T.reshape(9, 1, 3, 3)).max()) < 1e-12
    same = torch.ones(3, 2, 3, 3)
    torch.testing.assert_close(filter_similarity(same), torch.ones(3))


def test_regularizer_sums_layers_and_reduces_loss():
    torch.manual_seed(0)
    model = resnet((4, 8), (1, 1))
    reg = OrthogonalRegularizer(model, 0.5)
    layers = reg.layer_losses()
    assert len(layers) == 5 and "conv1" not in layers
    torch.testing.assert_close(reg(model), 0.5 * sum(layers.values()))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    start = float(reg().detach())
    for _ in range(100):
        opt.zero_grad()
        reg().backward()
        opt.step()
    assert float(reg().detach()) < 0.2 * start
    with pytest.raises(ValueError, match="another model"):
        reg(resnet((4, 8), (1, 1)))


def test_regularizer_on_rpg_generated_weights():
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 200)
    reg = OrthogonalRegularizer(net, 1.0)
    assert len(reg.layers) == 5
    reg().backward()
    assert net.banks["all"].weight.grad.abs().sum() > 0


def test_grouped_conv_regularized_per_group():
    conv = nn.Conv2d(4, 4, 3, groups=2, bias=False)
    model = nn.Sequential(nn.Conv2d(1, 4, 1), conv)
    reg = OrthogonalRegularizer(model, 1.0)
    w = conv.weight
    torch.testing.assert_close(reg(), orth_conv_loss(w[:2]) + orth_conv_loss(w[2:]))


def test_layer_spectra_and_redundancy():
    model = resnet((4, 8), (1, 1))
    spec = layer_spectra(model, 12)
    assert set(spec) == {"conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1",
                         "layer2.0.conv2", "layer2.0.downsample.0"}
    # layer2.0.conv2 sees a 6x6 input: 36 frequencies x min(8, 8) singular values
    assert spec["layer2.0.conv2"]["singular_values"].numel() == 36 * 8
    assert spec["layer1.0.conv1"]["condition_number"] >= 1.0
    red = model_redundancy(model)
    assert all(0 <= v <= 1 for v in red.values())
