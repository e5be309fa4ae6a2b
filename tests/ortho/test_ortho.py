import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reprlab.nets import resnet
from reprlab.ortho import (
    OrthogonalRegularizer,
    conv_operator_matrix,
    conv_singular_values,
    dilate_kernel,
    filter_similarity,
    kernel_orth_loss,
    layer_spectra,
    model_redundancy,
    orth_conv_loss,
    ortho_padding,
    polyphase_kernel,
    regularized_layers,
)
from reprlab.rpg import banks, rpg

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
    with pytest.raises(ValueError, match="squared"):
        orth_conv_loss(torch.randn(2, 2, 3, 3), squared=1)
    with pytest.raises(ValueError, match="dilation"):
        orth_conv_loss(torch.randn(2, 2, 3, 3), dilation=0)
    with pytest.raises(ValueError, match="floating"):
        orth_conv_loss(torch.ones(2, 2, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=">= 2 dims"):
        kernel_orth_loss(torch.randn(3))
    with pytest.raises(ValueError, match="groups"):
        conv_singular_values(torch.randn(3, 2, 3, 3), 8, groups=2)
    with pytest.raises(ValueError, match="padding"):
        conv_operator_matrix(torch.randn(2, 2, 3, 3), 5, padding=-1)
    with pytest.raises(ValueError, match="stride"):
        orth_conv_loss(torch.randn(2, 2, 3, 3), stride=1.5)


def test_filter_similarity():
    q, _ = torch.linalg.qr(torch.randn(9, 9, dtype=torch.float64))
    assert float(filter_similarity(q.T.reshape(9, 1, 3, 3)).max()) < 1e-12
    same = torch.ones(3, 2, 3, 3)
    torch.testing.assert_close(filter_similarity(same), torch.ones(3))




@pytest.mark.parametrize("kwargs,match", [
    ({"weight": -1.0}, "weight"), ({"weight": float("nan")}, "weight"),
    ({"weight": float("inf")}, "weight"), ({"weight": True}, "weight"),
    ({"weight": "0.1"}, "weight"), ({"layers": "some"}, "layers"), ({"kind": "svd"}, "kind"),
    ({"squared": "no"}, "squared"), ({"skip_first": 0}, "skip_first"), ({"select": 1}, "select"),
])
def test_regularizer_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OrthogonalRegularizer(resnet((4, 8), (1, 1)), **kwargs)


def test_official_layer_set_resnet18_and_bottleneck():
    from reprlab.nets import resnet18

    plan = regularized_layers(resnet18())
    conv = [n for n, _, k in plan if k == "conv"]
    kernel = [n for n, _, k in plan if k == "kernel"]
    # main_orth18.py: every block's conv1 (conv loss), the three downsample 1x1s (kernel loss)
    assert conv == [f"layer{s}.{b}.conv1" for s in (1, 2, 3, 4) for b in (0, 1)]
    assert kernel == [f"layer{s}.0.downsample.0" for s in (2, 3, 4)]

    class Bottleneck(nn.Module):  # torchvision layout
        def __init__(self, c, down):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)
            self.conv3 = nn.Conv2d(c, c, 1)
            self.downsample = nn.Sequential(nn.Conv2d(c, c, 1)) if down else None

        def forward(self, x):
            y = self.conv3(self.conv2(self.conv1(x)))
            return y + (self.downsample(x) if self.downsample is not None else x)

    net = nn.Sequential(nn.Conv2d(3, 4, 7), Bottleneck(4, True), Bottleneck(4, False))
    plan = {n: k for n, _, k in regularized_layers(net)}
    # main_orth50.py: conv2 with the conv loss; conv1, conv3, downsample with the kernel loss
    assert plan == {"1.conv1": "kernel", "1.conv2": "conv", "1.conv3": "kernel",
                    "1.downsample.0": "kernel", "2.conv1": "kernel", "2.conv2": "conv",
                    "2.conv3": "kernel"}
    assert {k for _, _, k in regularized_layers(net, kind="kernel")} == {"kernel"}
    with pytest.raises(ValueError, match="no residual blocks"):
        OrthogonalRegularizer(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3)))


def test_all_layer_set_includes_linear_and_transposed():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 4, 3), nn.ConvTranspose2d(4, 2, 4, 2),
                        nn.Flatten(), nn.LazyLinear(3) if False else nn.Linear(8, 3))
    plan = [(n, k) for n, _, k in regularized_layers(net, layers="all")]
    assert plan == [("1", "conv"), ("2", "conv"), ("4", "kernel")]
    reg = OrthogonalRegularizer(net, 1.0, layers="all", squared=True)
    losses = reg.layer_losses()
    torch.testing.assert_close(losses["2"], orth_conv_loss(net[2].weight, stride=2))
    torch.testing.assert_close(losses["4"], kernel_orth_loss(net[4].weight))
    assert [n for n, _, _ in regularized_layers(net, layers="all", skip_first=False)][0] == "0"


def test_default_is_the_official_unsquared_scale():
    torch.manual_seed(0)
    model = resnet((4, 8), (1, 1))
    reg = OrthogonalRegularizer(model)
    assert reg.weight == 0.1 and not reg.squared and reg.layer_set == "official"
    w1 = model.layer1[0].conv1.weight
    wd = model.layer2[0].downsample[0].weight
    w2 = model.layer2[0].conv1.weight
    # utils.deconv_orth_dist / orth_dist: torch.norm (unsquared) of the same residuals
    mat = wd.reshape(8, 4)
    expect = (torch.linalg.norm(F.conv2d(w1, w1, padding=2) - _eye_like(w1, 5))
              + torch.linalg.norm(F.conv2d(w2, w2, stride=2, padding=2) - _eye_like(w2, 3))
              + torch.linalg.norm(mat.T @ mat - torch.eye(4)))
    torch.testing.assert_close(reg(), 0.1 * expect)
    sq = OrthogonalRegularizer(model, 1.0, squared=True).layer_losses()
    un = OrthogonalRegularizer(model, 1.0).layer_losses()
    for k in sq:
        torch.testing.assert_close(sq[k], un[k] ** 2)


def _eye_like(w, size):
    t = torch.zeros(w.shape[0], w.shape[0], size, size)
    t[range(w.shape[0]), range(w.shape[0]), size // 2, size // 2] = 1
    return t


def test_unsquared_gradient_finite_at_zero():
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    delta = torch.zeros(4, 4, 3, 3, dtype=torch.float64)
    delta[:, :, 1, 1] = q
    delta.requires_grad_()
    orth_conv_loss(delta, squared=False).backward()
    assert torch.isfinite(delta.grad).all()


def test_regularizer_reduces_loss_and_checks_model():
    torch.manual_seed(0)
    model = resnet((4, 8), (1, 1))
    reg = OrthogonalRegularizer(model, 0.5, layers="all", squared=True)
    layers = reg.layer_losses()
    assert len(layers) == 6 and "conv1" not in layers and "fc" in layers
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


def test_layers_collected_at_call_time_and_wrappers_unwrapped():
    torch.manual_seed(0)
    model = resnet((4, 8), (1, 1))
    reg = OrthogonalRegularizer(model, 1.0)
    before = float(reg().detach())
    model.layer1[0].conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)  # swapped after
    assert float(reg().detach()) != before
    rpg(model, 100)  # generated after the regulariser was built
    reg().backward()
    assert banks(model)["all"].weight.grad.abs().sum() > 0
    dp = nn.DataParallel(model)
    assert OrthogonalRegularizer(dp, 1.0).model is model
    reg(dp)  # the wrapped model is accepted
    compiled = torch.compile(model)
    assert OrthogonalRegularizer(compiled, 1.0).model is model
    reg(compiled)


def test_user_module_and_plain_optim_loop():
    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return x + self.conv2(torch.relu(self.conv1(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(1, 6, 3, padding=1)
            self.blocks = nn.Sequential(Block(6), Block(6))
            self.up = nn.ConvTranspose2d(6, 6, 2, stride=2)
            self.head = nn.Linear(6, 3)

        def forward(self, x):
            h = self.up(self.blocks(torch.relu(self.stem(x))))
            return self.head(h.mean((2, 3)))

    torch.manual_seed(0)
    net = Net()
    reg = OrthogonalRegularizer(net, 0.1)
    assert [n for n, _, _ in reg.layers()] == ["blocks.0.conv1", "blocks.1.conv1"]
    every = OrthogonalRegularizer(net, 0.1, layers="all")
    assert [n for n, _, _ in every.layers()][-2:] == ["up", "head"]
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x, y = torch.randn(16, 1, 6, 6), torch.randint(0, 3, (16,))
    start = float(every().detach())
    for _ in range(30):
        loss = nn.functional.cross_entropy(net(x), y) + every()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(every().detach()) < start
    for k, v in net.named_parameters():
        assert not torch.equal(v, before[k]), f"{k} did not train"


def test_regularizer_on_rpg_generated_weights():
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 200)
    reg = OrthogonalRegularizer(net, 1.0, layers="all")
    assert len(reg.layers()) == 6
    reg().backward()
    assert banks(net)["all"].weight.grad.abs().sum() > 0


def test_rpg_and_ocnn_compose_in_training():
    """RPG + OCNN (a feature check, not a paper claim): the penalty on generated weights
    trains the bank and lowers the generated convs' orthogonality loss."""
    torch.manual_seed(0)
    net = rpg(resnet((4, 8), (1, 1)), 300, seed=0)
    reg = OrthogonalRegularizer(net, 1.0, layers="all", squared=True)
    start = float(reg().detach())
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(50):
        opt.zero_grad()
        reg().backward()
        opt.step()
    assert float(reg().detach()) < 0.5 * start


def test_grouped_conv_regularized_per_group():
    conv = nn.Conv2d(4, 4, 3, groups=2, bias=False)
    model = nn.Sequential(nn.Conv2d(1, 4, 1), conv)
    reg = OrthogonalRegularizer(model, 1.0, layers="all", squared=True)
    w = conv.weight
    torch.testing.assert_close(reg(), orth_conv_loss(w[:2]) + orth_conv_loss(w[2:]))


@pytest.mark.parametrize("d,s", [(2, 1), (2, 2), ((1, 2), 1)])
def test_dilated_loss_matches_expanded_kernel_operator(d, s):
    K = _kernel(3, 4, 3, seed=7)
    dense = dilate_kernel(K, d)
    x = torch.randn(1, 4, 11, 11, dtype=torch.float64)
    torch.testing.assert_close(F.conv2d(x, K, dilation=d), F.conv2d(x, dense))
    torch.testing.assert_close(orth_conv_loss(K, stride=s, dilation=d),
                               orth_conv_loss(dense, stride=s))
    pad = (d, d) if isinstance(d, int) else d  # (k - 1) / 2 · d for k = 3: a same-size grid
    A = conv_operator_matrix(K, 10, stride=s, padding=pad, padding_mode="circular",
                             dilation=d)
    torch.testing.assert_close(
        conv_singular_values(K, 10, stride=s, dilation=d),
        torch.linalg.svdvals(A)[:min(A.shape)])


def _circular_matrix(layer, h, w):
    """The operator of ``layer`` with circular padding, from its own forward on a basis."""
    twin = copy.deepcopy(layer)
    twin.padding_mode = "circular"
    c = layer.in_channels
    basis = torch.eye(c * h * w, dtype=torch.float64).reshape(-1, c, h, w)
    with torch.no_grad():
        out = twin.double()(basis) - (0 if twin.bias is None else twin.bias.view(1, -1, 1, 1))
    return out.reshape(c * h * w, -1).T


@pytest.mark.parametrize("cfg", [
    dict(in_channels=4, out_channels=6, kernel_size=3, padding=1, groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=4),   # depthwise
    dict(in_channels=4, out_channels=8, kernel_size=3, padding=1, groups=4, stride=2),
    dict(in_channels=3, out_channels=5, kernel_size=3, padding=1, stride=2),
    dict(in_channels=2, out_channels=3, kernel_size=(3, 1), padding=(1, 0), stride=(2, 1)),
    dict(in_channels=3, out_channels=4, kernel_size=3, padding=2, dilation=2),
])
@pytest.mark.parametrize("grid", [(6, 8), (7, 5)])
def test_layer_spectra_exact_against_explicit_operator(cfg, grid):
    torch.manual_seed(0)
    conv = nn.Conv2d(bias=False, **cfg)
    net = nn.Sequential(conv)
    spec = layer_spectra(net, grid)["0"]
    A = _circular_matrix(conv, *grid)
    ref = torch.linalg.svdvals(A)
    assert spec["singular_values"].numel() == ref.numel()
    torch.testing.assert_close(spec["singular_values"].double(), ref, atol=1e-5, rtol=1e-4)
    assert spec["grid"] == grid


def test_grouped_spectrum_counts_every_group():
    conv = nn.Conv2d(128, 256, 3, padding=1, groups=2, bias=False)
    sv = conv_singular_values(conv.weight, 4, groups=2)
    # the operator is (256·16) × (128·16): 2048 values = 2 groups × 16 frequencies × 64
    assert sv.numel() == 2 * 16 * 64
    with pytest.raises(ValueError, match="divisible"):
        conv_singular_values(conv.weight, 5, stride=2, groups=2)


def test_transposed_conv_is_the_adjoint_and_linear_spectrum():
    torch.manual_seed(0)
    up = nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1, bias=False).double()
    x = torch.eye(3 * 5 * 5, dtype=torch.float64).reshape(-1, 3, 5, 5)
    T = up(x).reshape(75, -1).T  # (2*10*10, 75)
    A = conv_operator_matrix(up.weight.detach(), 10, stride=2, padding=1)
    torch.testing.assert_close(T, A.T)
    lin = nn.Linear(5, 3).double()
    spec = layer_spectra(nn.Sequential(up, nn.Flatten(), nn.Linear(200, 5).double(), lin),
                         torch.zeros(1, 3, 5, 5, dtype=torch.float64))
    assert spec["0"]["grid"] == (10, 10)
    Ac = conv_operator_matrix(up.weight.detach(), 10, stride=2, padding=1,
                              padding_mode="circular")
    torch.testing.assert_close(spec["0"]["singular_values"],
                               torch.linalg.svdvals(Ac)[:spec["0"]["singular_values"].numel()])
    torch.testing.assert_close(spec["3"]["singular_values"], torch.linalg.svdvals(lin.weight))


def test_layer_spectra_and_redundancy():
    model = resnet((4, 8), (1, 1))
    spec = layer_spectra(model, 12)
    assert set(spec) == {"conv1", "layer1.0.conv1", "layer1.0.conv2", "layer2.0.conv1",
                         "layer2.0.conv2", "layer2.0.downsample.0", "fc"}
    # layer2.0.conv2 sees a 6x6 input: 36 frequencies x min(8, 8) singular values
    assert spec["layer2.0.conv2"]["singular_values"].numel() == 36 * 8
    assert spec["layer1.0.conv1"]["condition_number"] >= 1.0
    odd = layer_spectra(model, (13, 11))  # stride-2 layers on odd grids: explicit operator
    assert odd["layer2.0.conv1"]["grid"] == (13, 11)
    with pytest.raises(ValueError, match="max_explicit"):
        layer_spectra(model, 13, max_explicit=10)
    with pytest.raises(ValueError, match="input_size"):
        layer_spectra(model, 0)
    red = model_redundancy(model)
    assert all(0 <= v <= 1 for v in red.values())


def test_float64_regularizer_and_spectra():
    model = resnet((4, 8), (1, 1)).double()
    reg = OrthogonalRegularizer(model)
    assert reg().dtype == torch.float64
    spec = layer_spectra(model, 8)
    assert spec["layer1.0.conv1"]["singular_values"].dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda():
    model = resnet((4, 8), (1, 1)).cuda()
    reg = OrthogonalRegularizer(model)
    reg().backward()
    assert layer_spectra(model, 8)["layer1.0.conv1"]["singular_values"].is_cuda
