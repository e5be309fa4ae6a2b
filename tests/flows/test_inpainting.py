"""Local inpainting (same steps as the whole flow, O(#reached blocks)), the input contract,
the distribution interface and a user's own module + torch.optim loop."""

import math

import pytest
import torch
from torch import nn

from reprlab.flows import RGFlow
from reprlab.flows import analysis as A
from reprlab.flows import functional as RF
from reprlab.flows.inpainting import (
    check_mask,
    inpaint,
    local_log_prob,
    local_plan,
    scaling_benchmark,
)


def _flow(size=16, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    flow = RGFlow(size, 1, n_layers=1, hidden=16, n_resblocks=1, n_mlp=1, dtype=dtype)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def _images(n=3, size=16, dtype=torch.float64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.round(torch.rand(n, 1, size, size, generator=g, dtype=dtype) * 255) / 255


def _mask(size=16, r=slice(5, 9), c=slice(6, 10)):
    m = torch.zeros(size, size, dtype=torch.bool)
    m[r, c] = True
    return m


def test_local_objective_equals_whole_flow_up_to_a_constant_with_equal_gradients():
    flow, x, mask = _flow(), _images(), _mask()
    y, _ = RF.logit_preprocess(x, dequantize=False)
    plan = local_plan(flow, y, mask)
    diffs, grads = [], []
    for shift in (0.0, 0.4, -0.7):
        free = (y[:, :, mask] + shift).requires_grad_(True)
        loc = local_log_prob(flow, plan, free)
        yy = y.clone()
        yy[:, :, mask] = free
        whole = flow.log_prob(yy) + RF.logit_log_det(yy)
        g1, = torch.autograd.grad(loc.sum(), free)
        g2, = torch.autograd.grad(whole.sum(), free)
        grads.append((g1 - g2).abs().max())
        diffs.append(whole.detach() - loc.detach())
    assert max(grads) < 1e-10
    assert torch.allclose(diffs[0], diffs[1], atol=1e-9)  # a constant of the plan
    assert torch.allclose(diffs[0], diffs[2], atol=1e-9)


def test_local_and_whole_paths_take_the_same_steps_two_channels_at_the_border():
    torch.manual_seed(0)
    flow = RGFlow(16, 2, n_layers=1, hidden=16, n_resblocks=1, n_mlp=1, dtype=torch.float64)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.rand(2, 2, 16, 16, dtype=torch.float64)
    mask = _mask(16, slice(0, 3), slice(14, 16))  # blocks wrap around (periodic boundary)
    a, _ = inpaint(flow, x, mask, steps=6)
    b, _ = inpaint(flow, x, mask, steps=6, local=False)
    assert torch.allclose(a, b, atol=1e-9)


def test_local_and_whole_paths_take_the_same_steps():
    flow, x, mask = _flow(), _images(), _mask()
    a, ca = inpaint(flow, x, mask, steps=15, local=True)
    b, cb = inpaint(flow, x, mask, steps=15, local=False)
    assert torch.allclose(a, b, atol=1e-9) and torch.allclose(ca, cb, atol=1e-9)
    u = (x * 255 + 0.5) / 256
    assert torch.allclose(a[:, :, ~mask], u[:, :, ~mask], atol=1e-12)  # known pixels kept
    assert (a - u)[:, :, mask].abs().max() > 1e-3  # the hole moved
    touched = RF.touched_latents(flow.layout, 16, mask)
    assert ca[0][~touched].max() == 0 and ca[0][touched].max() > 0


def test_local_plan_reaches_few_blocks_and_grows_like_log_l():
    counts = []
    for size in (16, 32, 64, 128):
        flow = RGFlow(size, 1, n_layers=1, hidden=4, n_resblocks=1, n_mlp=1)
        c = size // 2 - 2
        plan = local_plan(flow, torch.zeros(1, 1, size, size), _mask(size, slice(c, c + 4),
                                                                    slice(c, c + 4)))
        total = sum(int(r.shape[0]) for r, _ in flow.layout)
        counts.append((plan.n_blocks, total))
    # per doubling of L: a constant number of extra blocks (log L), against 4x for all
    steps = [b[0] - a[0] for a, b in zip(counts[:-1], counts[1:])]
    assert len(set(steps)) == 1 and steps[0] > 0
    assert counts[-1][0] < 0.05 * counts[-1][1]


def test_inpaint_restores_mode_and_leaves_model_gradients_alone():
    flow, x, mask = _flow(dtype=torch.float32), _images(dtype=torch.float32), _mask()
    flow.train()
    inpaint(flow, x, mask, steps=2)
    assert flow.training
    assert all(p.grad is None for p in flow.parameters())


def test_mask_contract():
    flow, x = _flow(), _images()
    with pytest.raises(ValueError, match="all True"):
        inpaint(flow, x, torch.ones(16, 16, dtype=torch.bool))
    with pytest.raises(ValueError, match="all False"):
        inpaint(flow, x, torch.zeros(16, 16, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool"):
        check_mask(torch.zeros(16, 16), 16)
    with pytest.raises(ValueError, match=r"\(16, 16\)"):
        check_mask(torch.zeros(8, 8, dtype=torch.bool), 16)
    with pytest.raises(TypeError, match="local=False"):
        inpaint(nn.Identity(), x, _mask())


@pytest.mark.parametrize("bad,match", [
    (lambda x: x * 255, r"\[0, 255\].*divide by 255"),
    (lambda x: 2 * x - 1, r"\[-1, 1\].*\(x \+ 1\) / 2"),
    (lambda x: x * 1.05, r"found values in \[0, 1.05\]"),
    (lambda x: x.masked_fill(x > 0.5, float("nan")), "NaN"),
])
def test_images_outside_unit_range_are_rejected(bad, match):
    flow = _flow(dtype=torch.float32)
    x = _images(dtype=torch.float32)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 0.0, 1.0
    with pytest.raises(ValueError, match=match):
        flow.bits_per_dim(bad(x))
    with pytest.raises(ValueError, match=match):
        A.evaluate_bpd(flow, bad(x))
    with pytest.raises(ValueError, match=match):
        inpaint(flow, bad(x), _mask())


def test_evaluate_bpd_restores_training_mode():
    flow = _flow(dtype=torch.float32)
    flow.train()
    A.evaluate_bpd(flow, _images(dtype=torch.float32))
    assert flow.training
    flow.eval()
    A.evaluate_bpd(flow, _images(dtype=torch.float32))
    assert not flow.training


def test_pad_to_size_rule():
    x = torch.rand(2, 1, 28, 28)
    p = RF.pad_to_size(x)
    assert p.shape == (2, 1, 32, 32) and torch.equal(p[:, :, 2:30, 2:30], x)
    assert p[:, :, :2].abs().sum() == 0 and p[:, :, 30:].abs().sum() == 0
    q = RF.pad_to_size(torch.rand(1, 1, 5, 7), kernel_size=4)
    assert q.shape == (1, 1, 8, 8)  # top/left floor, bottom/right ceil
    assert q[0, 0, :1].abs().sum() == 0 and q[0, 0, 6:].abs().sum() == 0  # 5 -> 1 + 5 + 2
    assert q[0, 0, :, 7].abs().sum() == 0 and q[0, 0, 1:6, 0].abs().sum() > 0  # 7 -> 0 + 7 + 1
    assert RF.next_power_of_two(17) == 32 and RF.next_power_of_two(16) == 16
    with pytest.raises(ValueError, match="pad_to_size"):
        RGFlow(32, 1)(torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match="larger"):
        RF.pad_to_size(torch.zeros(1, 1, 40, 40), 32)


def test_distribution_interface_matches_bits_per_dim_and_samples():
    flow = _flow(8, dtype=torch.float64)
    d = flow.distribution()
    x = _images(4, 8)
    u = (255 * x + 0.5) / 256
    lp = d.log_prob(u)
    bpd = flow.bits_per_dim(x, dequantize=False)
    assert torch.allclose((-lp / 64 + math.log(256)) / math.log(2), bpd, atol=1e-9)
    s, slp = d.rsample_and_log_prob((2, 3))
    assert s.shape == (2, 3, 1, 8, 8) and slp.shape == (2, 3)
    assert torch.allclose(d.log_prob(s), slp, atol=1e-8)
    assert d.sample((5,)).shape == (5, 1, 8, 8) and d.event_shape == (1, 8, 8)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(u + 2)
    with pytest.raises(ValueError, match="temperature"):
        flow.distribution(temperature=float("nan"))


def test_user_module_and_plain_optim_loop():
    class Denoiser(nn.Module):  # a user's own model built around the flow
        def __init__(self):
            super().__init__()
            self.flow = RGFlow(8, 1, n_layers=1, hidden=16, n_resblocks=1, n_mlp=1)

        def forward(self, x):
            return self.flow.bits_per_dim(x).mean()

    torch.manual_seed(0)
    model = Denoiser()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = _images(32, 8, dtype=torch.float32)
    losses = []
    for _ in range(15):
        loss = model(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1
    out, _ = inpaint(model.flow, x[:2], _mask(8, slice(2, 4), slice(2, 4)), steps=3)
    assert out.shape == (2, 1, 8, 8) and torch.isfinite(out).all()


def test_scaling_benchmark_rows():
    rows = scaling_benchmark((8, 16), hidden=4, steps=1)
    assert [r["size"] for r in rows] == [8, 16]
    assert all(r["local_step"] > 0 and r["whole_step"] > 0 for r in rows)
    assert rows[1]["local_blocks"] < rows[1]["whole_blocks"]
