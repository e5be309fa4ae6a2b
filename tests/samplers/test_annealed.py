"""Annealed Langevin: dtype/device follow the chains, explicit generators, bad input fails early."""

import math

import pytest
import torch

from reprlab.samplers.annealed import (
    annealed_langevin,
    annealed_langevin_algorithm,
    build_kernel,
    check_generator,
    init,
)


def energy(x):
    return 0.5 * x.pow(2).flatten(1).sum(1)


def logdensity(x):
    return -energy(x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_start_and_seed_determines_run(dtype):
    x0 = torch.randn(64, 3, dtype=dtype, generator=torch.Generator().manual_seed(0))
    kw = {"step_sizes": [0.05] * 30, "temperatures": torch.linspace(3, 1, 30)}
    a = annealed_langevin(energy, x0, generator=torch.Generator().manual_seed(1), **kw)
    b = annealed_langevin(energy, x0, generator=torch.Generator().manual_seed(1), **kw)
    assert a.samples.dtype == dtype and not a.samples.requires_grad
    assert torch.equal(a.samples, b.samples)


def test_float64_reaches_tempered_gaussian():
    x0 = torch.zeros(4000, 2, dtype=torch.float64)
    out = annealed_langevin(energy, x0, step_sizes=[0.02] * 300, temperatures=[2.0] * 300,
                            generator=torch.Generator().manual_seed(0))
    # ULA on N(0, T) with step ε has stationary variance T / (1 − ε/2)
    assert abs(float(out.samples.var()) - 2.0 / (1 - 0.01)) < 0.15


def test_nan_start_and_nan_logdensity_fail_at_first_step():
    x0 = torch.zeros(4, 2)
    x0[1, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        init(x0)
    with pytest.raises(ValueError, match="x_init"):
        annealed_langevin(energy, x0, step_sizes=[0.1], temperatures=[1.0],
                          generator=torch.Generator())
    kernel = build_kernel()
    state = init(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="NaN/Inf"):
        kernel(torch.Generator(), state, lambda x: x.sum(1) * math.nan, 0.1, 1.0)


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan])
def test_bad_step_sizes(bad):
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="step_size"):
        annealed_langevin(energy, x0, step_sizes=[0.1, bad], temperatures=[1.0, 1.0])
    with pytest.raises(ValueError, match="step_size"):
        build_kernel()(torch.Generator(), init(x0), logdensity, bad, 1.0)


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_bad_temperatures(bad):
    x0 = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="temperature"):
        annealed_langevin(energy, x0, step_sizes=[0.1, 0.1], temperatures=[1.0, bad])
    with pytest.raises(ValueError, match="temperature"):
        annealed_langevin_algorithm(logdensity, step_sizes=[0.1], temperatures=[bad])
    with pytest.raises(ValueError, match="temperature"):
        build_kernel()(torch.Generator(), init(x0), logdensity, 0.1, bad)


def test_generator_on_another_device_is_refused():
    with pytest.raises(ValueError, match="device"):
        check_generator(torch.Generator(), torch.empty(0, device="meta"))
    with pytest.raises(ValueError, match="torch.Generator"):
        check_generator(0, torch.empty(0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_chains():
    x0 = torch.randn(16, 3, device="cuda")
    g = torch.Generator(device="cuda").manual_seed(0)
    out = annealed_langevin(energy, x0, step_sizes=[0.05] * 10, temperatures=[1.0] * 10,
                            generator=g)
    assert out.samples.device.type == "cuda"
    with pytest.raises(ValueError, match="device"):
        annealed_langevin(energy, x0, step_sizes=[0.05], temperatures=[1.0],
                          generator=torch.Generator())


def test_mask_must_be_binary():
    with pytest.raises(ValueError, match="mask"):
        annealed_langevin(energy, torch.zeros(4, 2), step_sizes=[0.1], temperatures=[1.0],
                          mask=torch.tensor([0.5, 1.0]))
