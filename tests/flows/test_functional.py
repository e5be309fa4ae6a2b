"""Known answers and invariances of reprlab.flows.functional."""

import math

import pytest
import torch

from reprlab.flows import functional as RF


@pytest.mark.parametrize("size,kernel,levels", [(4, 4, 1), (8, 4, 2), (32, 4, 4), (16, 2, 4)])
def test_num_levels(size, kernel, levels):
    assert RF.num_levels(size, kernel_size=kernel) == levels


@pytest.mark.parametrize("size,kernel", [(28, 4), (12, 4), (2, 4), (16, 3), (16, 1)])
def test_bad_sizes_raise(size, kernel):
    ok, reason = RF.check_image_size(size, kernel)
    assert not ok and reason
    with pytest.raises(ValueError, match="power of two|smaller"):
        RF.num_levels(size, kernel_size=kernel)


@pytest.mark.parametrize("size", [8, 16, 32])
def test_blocks_tile_each_level_subgrid(size):
    k = 4
    for level in range(RF.num_levels(size, kernel_size=k)):
        for offset in (0, k * 2 ** level // 2):
            rows, cols = RF.block_indices(size, kernel_size=k, level=level, offset=offset)
            hits = torch.zeros(size, size, dtype=torch.long)
            hits.index_put_((rows.flatten(), cols.flatten()), torch.ones(rows.numel(),
                            dtype=torch.long), accumulate=True)
            sub = torch.zeros(size, size, dtype=torch.long)
            sub[:: 2 ** level, :: 2 ** level] = 1
            # every pixel of the 2^level subgrid is in exactly one block, no other pixel is
            assert torch.equal(hits, sub)


def test_level_map_counts():
    size, k = 32, 4
    lm = RF.level_map(size, kernel_size=k)
    n = RF.num_levels(size, kernel_size=k)
    counts = torch.bincount(lm.flatten(), minlength=n).tolist()
    assert counts == [(size // 2 ** h) ** 2 - (size // 2 ** (h + 1)) ** 2
                      for h in range(n - 1)] + [k * k]


def test_gather_scatter_roundtrip():
    x = torch.randn(3, 2, 16, 16)
    for rows, cols in RF.rg_layout(16, kernel_size=4):
        blocks = RF.gather_blocks(x, rows, cols)
        assert blocks.shape[1:] == (2, 4, 4)
        assert torch.equal(RF.scatter_blocks(x, blocks, rows, cols), x)
        assert torch.equal(RF.scatter_blocks(torch.zeros_like(x), blocks, rows, cols) != 0,
                           RF.scatter_blocks(torch.zeros_like(x), torch.ones_like(blocks),
                                             rows, cols) != 0)


def test_affine_coupling_inverse_and_logdet():
    torch.manual_seed(0)
    w = torch.randn(8, 8, dtype=torch.float64) * 0.3
    s_net = lambda v: torch.tanh(v @ w)  # noqa: E731
    t_net = lambda v: v @ w.T  # noqa: E731
    mask = (torch.arange(8) % 2).double()
    x = torch.randn(5, 8, dtype=torch.float64)
    y, ld = RF.affine_coupling(x, s_net, t_net, mask=mask)
    xr, ild = RF.affine_coupling(y, s_net, t_net, mask=mask, inverse=True)
    assert torch.allclose(xr, x, atol=1e-12)
    assert torch.allclose(ld, -ild)
    jac = torch.autograd.functional.jacobian(
        lambda v: RF.affine_coupling(v[None], s_net, t_net, mask=mask)[0][0], x[0])
    assert torch.allclose(ld[0], torch.linalg.slogdet(jac)[1])


def test_logit_preprocess_logdet_and_inverse():
    x = torch.rand(2, 1, 4, 4, dtype=torch.float64)
    x = torch.round(x * 255) / 255
    y, ld = RF.logit_preprocess(x, dequantize=False)
    u = (x * 255 + 0.5) / 256

    def fwd(v):
        p = 0.5 + 0.9 * (v - 0.5)
        return torch.log(p) - torch.log1p(-p)

    # elementwise map: log|dy/du| summed per image, against central differences
    h = 1e-6
    fd = (fwd(u + h) - fwd(u - h)) / (2 * h)
    assert torch.allclose(ld, fd.log().flatten(1).sum(1), rtol=1e-6)
    assert torch.allclose(RF.logit_postprocess(y), u, atol=1e-12)
    g = torch.Generator().manual_seed(0)
    yq, _ = RF.logit_preprocess(x, generator=g)
    assert ((RF.logit_postprocess(yq) * 256 - x * 255) >= -1e-9).all()
    with pytest.raises(ValueError, match="constraint"):
        RF.logit_preprocess(x, constraint=1.5)


def test_priors_match_torch_distributions():
    z = torch.randn(4, 1, 3, 3, dtype=torch.float64)
    for t in (0.5, 1.0):
        lap = torch.distributions.Laplace(0.0, t / math.sqrt(2)).log_prob(z).flatten(1).sum(1)
        assert torch.allclose(RF.prior_log_prob(z, prior="laplace", temperature=t), lap)
        nrm = torch.distributions.Normal(0.0, t).log_prob(z).flatten(1).sum(1)
        assert torch.allclose(RF.prior_log_prob(z, prior="gaussian", temperature=t), nrm)
    with pytest.raises(ValueError, match="prior"):
        RF.prior_log_prob(z, prior="cauchy")
    with pytest.raises(ValueError, match="temperature"):
        RF.prior_sample((2,), temperature=0.0)


@pytest.mark.parametrize("prior,kurt", [("laplace", 3.0), ("gaussian", 0.0)])
def test_prior_sample_moments(prior, kurt):
    g = torch.Generator().manual_seed(0)
    s = RF.prior_sample((200_000,), prior=prior, temperature=0.7, generator=g,
                        dtype=torch.float64)
    assert abs(float(s.std()) - 0.7) < 0.01
    assert abs(float(RF.excess_kurtosis(s)) - kurt) < 0.25


def test_bits_per_dim_known_answer():
    # a uniform density on [0, 1]^D assigns each 8-bit cell 256^-D: exactly 8 bits/dim
    assert torch.allclose(RF.bits_per_dim(torch.tensor([-3.0]), torch.tensor([3.0]),
                                          num_dims=10), torch.tensor([8.0]))


def test_structural_receptive_field_of_level0_latent():
    size, k = 16, 4
    layout = RF.rg_layout(size, kernel_size=k)
    lm = RF.level_map(size, kernel_size=k)
    for i, j in [(1, 1), (5, 6), (15, 15), (3, 0)]:
        assert lm[i, j] == 0
        seed = torch.zeros(size, size, dtype=torch.bool)
        seed[i, j] = True
        rf = RF.structural_receptive_field(layout, size, seed)
        # the union of the level-0 disentangler blocks meeting its decimator block
        allowed = torch.zeros_like(seed)
        dec_r, dec_c = layout[1]
        b = ((dec_r == i) & (dec_c == j)).any(1)
        dec = torch.zeros_like(seed)
        dec[dec_r[b], dec_c[b]] = True
        dis_r, dis_c = layout[0]
        meet = dec[dis_r, dis_c].any(1)
        allowed[dis_r[meet], dis_c[meet]] = True
        assert rf[~allowed].sum() == 0 and rf.sum() == allowed.sum() == 64


def test_touched_latents_grow_like_log():
    counts = []
    for size in (16, 32, 64, 128):
        layout = RF.rg_layout(size, kernel_size=4)
        mask = torch.zeros(size, size, dtype=torch.bool)
        mask[5, 6] = True
        counts.append(int(RF.touched_latents(layout, size, mask).sum()))
    inc = [b - a for a, b in zip(counts[:-1], counts[1:])]
    assert all(c > 0 for c in inc)
    assert max(inc) <= 2 * min(inc)  # roughly constant per doubling, not x4
    assert counts[-1] < 0.05 * 128 ** 2


def test_sparsity_measures():
    one_hot = torch.zeros(1, 100)
    one_hot[0, 3] = 2.0
    assert torch.allclose(RF.hoyer_sparsity(one_hot), torch.ones(1))
    assert torch.allclose(RF.hoyer_sparsity(torch.ones(1, 100)), torch.zeros(1), atol=1e-6)


def test_weight_norm_linear_zero_is_zero():
    out = RF.weight_norm_linear(torch.randn(3, 4), torch.zeros(2, 4), torch.zeros(2), None)
    assert torch.equal(out, torch.zeros(3, 2))
