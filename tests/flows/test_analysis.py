"""Training, checkpoint/resume, inpainting locality and scale mixing on tiny data."""

import torch

from reprlab.data import ImageDataset
from reprlab.flows import analysis as A
from reprlab.flows import functional as RF
from reprlab.flows.modules import RGFlow


def _data(n=64, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    base = torch.zeros(n, 1, size, size)
    base[:, :, 2:6, 3:5] = 1.0  # a bar, plus 8-bit noise
    x = (base * 0.8 + 0.2 * torch.rand(n, 1, size, size, generator=g))
    x = torch.round(x * 255) / 255
    return ImageDataset(x, torch.zeros(n, dtype=torch.long), "bars")


def _flow(seed=0, size=8):
    torch.manual_seed(seed)
    return RGFlow(size, 1, n_layers=1, hidden=16, n_resblocks=1, n_mlp=1)


def test_pad_and_resize():
    ds = ImageDataset(torch.rand(3, 1, 28, 28), torch.zeros(3, dtype=torch.long), "m")
    out = A.pad_and_resize(ds, 16)
    assert out.images.shape == (3, 1, 16, 16)
    assert torch.allclose(out.images * 255, torch.round(out.images * 255))
    assert A.pad_and_resize(ds, 32).images[:, :, :2].abs().sum() == 0


def test_training_lowers_bpd():
    data = _data()
    flow = _flow()
    before = A.evaluate_bpd(flow, data.images)
    hist = A.train_flow(flow, data, epochs=4, batch_size=8, lr=1e-2, progress=False)
    after = A.evaluate_bpd(flow, data.images)
    assert hist["bpd"][-1] < hist["bpd"][0]
    assert after < before - 0.2


def test_checkpoint_resume_equals_uninterrupted(tmp_path):
    data = _data(32)
    straight = _flow()
    A.train_flow(straight, data, epochs=2, batch_size=16, progress=False)
    first = _flow()
    A.train_flow(first, data, epochs=1, batch_size=16, checkpoint_dir=tmp_path, resume=True,
                 progress=False)
    assert (tmp_path / "last.pt").exists()
    resumed = _flow(seed=123)  # different init: everything must come from the checkpoint
    hist = A.train_flow(resumed, data, epochs=2, batch_size=16, checkpoint_dir=tmp_path,
                        resume=True, progress=False)
    assert len(hist) == 2
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


def test_inpaint_moves_only_touched_latents_and_keeps_known_pixels():
    flow = _flow(size=16)
    A.train_flow(flow, _data(16, size=16), epochs=1, batch_size=16, progress=False)
    imgs = _data(4, size=16, seed=1).images
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[1:3, 1:3] = True
    out, change = A.inpaint(flow, imgs, mask, steps=5)
    u = (imgs * 255 + 0.5) / 256
    assert torch.allclose(out[:, :, ~mask], u[:, :, ~mask], atol=1e-5)
    touched = RF.touched_latents(flow.layout, 16, mask)
    assert 0 < touched.sum() < 256
    assert change[0][~touched].max() == 0
    assert change[0][touched].max() > 0


def test_mix_scales_extremes():
    flow = _flow()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.05 * torch.randn_like(p))
    a, b = _data(2, seed=2).images, _data(2, seed=3).images
    ua, ub = (a * 255 + 0.5) / 256, (b * 255 + 0.5) / 256
    assert torch.allclose(A.mix_scales(flow, a, b, 0), ua, atol=1e-5)
    assert torch.allclose(A.mix_scales(flow, a, b, flow.n_levels), ub, atol=1e-5)
    mid = A.mix_scales(flow, a, b, 1)
    assert not torch.allclose(mid, ua, atol=1e-3) and not torch.allclose(mid, ub, atol=1e-3)


def test_receptive_field_sizes_and_touched_counts():
    flow = _flow()
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(0.2 * torch.randn_like(p))
    z = torch.randn(1, 8, 8)
    rf0, _ = A.receptive_fields(flow, z, 0, n=3)
    rf1, _ = A.receptive_fields(flow, z, 1, n=3)
    s0, e0 = A.receptive_field_sizes(rf0)
    s1, _ = A.receptive_field_sizes(rf1)
    assert (s0 <= 8).all() and (e0 <= s0).all() and (s1 >= s0.mean()).all()
    rows = A.touched_latent_counts([8, 16, 32], n_positions=2)
    assert [r["total"] for r in rows] == [64, 256, 1024]
    assert rows[0]["touched"] < rows[1]["touched"] < rows[2]["touched"]
    a, b, r2 = A.log_fit(rows)
    assert b > 0 and 0 <= r2 <= 1


def test_latent_sparsity_keys():
    flow = _flow()
    s = A.latent_sparsity(flow, _data(8).images)
    assert set(s) >= {"hoyer", "kurtosis", "frac_small"}
    assert len(s["std_by_level"]) == flow.n_levels
