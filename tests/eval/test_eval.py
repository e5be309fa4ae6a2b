import numpy as np
import pytest
import torch
from torch import nn

from reprlab.eval import (
    accuracy,
    auroc,
    embedding_norm_score,
    fgsm,
    fpr_at_tpr,
    frechet_distance,
    max_softmax_score,
    ood_metrics,
    pgd,
    predict_logits,
    psnr,
    robust_accuracy,
)


def _linear_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 3))


def test_accuracy_known_answer():
    model = nn.Identity()
    x = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 0, 0]])
    y = torch.tensor([0, 1, 0, 0])
    assert accuracy(model, (x, y), batch_size=3) == pytest.approx(0.75)
    logits, labels = predict_logits(model, (x, y), batch_size=3)
    assert torch.equal(logits, x) and torch.equal(labels, y)


def test_fgsm_is_sign_step_of_linear_model():
    model = _linear_model()
    x = torch.rand(5, 1, 4, 4)
    y = torch.tensor([0, 1, 2, 0, 1])
    adv = fgsm(model, x, y, eps=0.1, clip_min=-10, clip_max=10)
    x_ = x.clone().requires_grad_()
    nn.functional.cross_entropy(model(x_), y).backward()
    assert torch.allclose(adv, x + 0.1 * x_.grad.sign())


def test_pgd_stays_in_ball_and_range_and_hurts_more_than_fgsm():
    model = _linear_model()
    x = torch.rand(64, 1, 4, 4)
    y = model(x).argmax(-1)  # start fully correct
    g = torch.Generator().manual_seed(0)
    adv = pgd(model, x, y, eps=0.2, steps=20, generator=g)
    assert (adv - x).abs().max() <= 0.2 + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    clean = robust_accuracy(model, (x, y), attack="pgd", eps=0.0)
    acc_fgsm = robust_accuracy(model, (x, y), attack="fgsm", eps=0.2)
    acc_pgd = robust_accuracy(model, (x, y), attack="pgd", eps=0.2, steps=20)
    assert clean == 1.0 and acc_pgd <= acc_fgsm < 1.0
    with pytest.raises(ValueError, match="attack"):
        robust_accuracy(model, (x, y), attack="cw", eps=0.1)
    with pytest.raises(ValueError, match="eps"):
        fgsm(model, x, y, eps=-1)


def test_auroc_and_fpr95_known_answers():
    s_in = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert auroc(s_in, torch.tensor([0.1, 0.2])) == 1.0
    assert auroc(torch.tensor([0.1, 0.2]), torch.tensor([0.9, 0.8])) == 0.0
    rng = np.random.default_rng(0)
    same = rng.normal(size=4000)
    assert abs(auroc(same[:2000], same[2000:]) - 0.5) < 0.03
    # in ~ U(0,1): the 95%-TPR threshold is 0.05; out ~ U(0,1) passes 95% of the time
    u = rng.uniform(size=200000)
    assert fpr_at_tpr(u[:100000], u[100000:]) == pytest.approx(0.95, abs=0.01)
    assert set(ood_metrics(s_in, torch.tensor([0.1]))) == {"auroc", "fpr95"}
    with pytest.raises(ValueError, match="NaN"):
        auroc(torch.tensor([float("nan")]), torch.tensor([0.0]))


def test_max_softmax_score():
    logits = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    s = max_softmax_score(logits)
    assert s[0] == pytest.approx(0.5) and s[1] > 0.99


def test_frechet_distance_gaussians():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(20000, 3, generator=g)
    b = torch.randn(20000, 3, generator=g) * 2 + 1
    # closed form: ‖μ‖² + tr(I + 4I − 2·2I) = 3 + 3
    assert frechet_distance(a, b) == pytest.approx(6.0, rel=0.05)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="equal D"):
        frechet_distance(a, b[:, :2])


def test_psnr_known_value():
    target = torch.zeros(2, 1, 4, 4)
    assert psnr(target + 0.1, target) == pytest.approx(20.0, abs=1e-4)
    with pytest.raises(ValueError, match="shapes"):
        psnr(target, target[:1])


def test_embedding_norm_score_matches_hyperbolic_distance_ranking():
    from reprlab.hyperbolic.functional import origin_distance

    g = torch.Generator().manual_seed(0)
    z_in = torch.randn(200, 4, generator=g) * 0.2 + 0.3
    z_out = torch.randn(200, 4, generator=g) * 0.1
    # into the unit ball, norms' order kept (x ↦ tanh(‖x‖)·x/‖x‖, Exp₀ at c = 1)
    z_in, z_out = (z * torch.tanh(z.norm(dim=1, keepdim=True)) / z.norm(dim=1, keepdim=True)
                   for z in (z_in, z_out))
    norm = auroc(embedding_norm_score(z_in), embedding_norm_score(z_out))
    dist = auroc(origin_distance(z_in, c=1.0), origin_distance(z_out, c=1.0))
    assert norm == pytest.approx(dist) and norm > 0.9
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        embedding_norm_score(torch.zeros(3))


def test_metrics_raise_on_nan_empty_and_out_of_range():
    from reprlab.eval import (
        accuracy_from_logits,
        auroc,
        fpr_at_tpr,
        frechet_distance,
        psnr,
        robust_accuracy,
    )

    nan = float("nan")
    logits = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert accuracy_from_logits(logits, torch.tensor([0, 1])) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        accuracy_from_logits(torch.tensor([[nan, 0.0]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="empty"):
        accuracy_from_logits(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must lie in 0\.\.1, found 0\.\.2"):
        accuracy_from_logits(logits, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="NaN"):
        auroc(torch.tensor([1.0, nan]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="non-empty"):
        auroc(torch.tensor([1.0]), torch.tensor([]))
    with pytest.raises(ValueError, match="NaN"):
        fpr_at_tpr(torch.tensor([1.0, nan]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="tpr"):
        fpr_at_tpr(torch.tensor([1.0]), torch.tensor([0.0]), tpr=nan)
    img = torch.rand(2, 1, 4, 4)
    assert psnr(img, img.clamp(0.1, 0.9)) > 0
    with pytest.raises(ValueError, match=r"estimate must lie in \[0, 1\], found values in"):
        psnr(img * 255, img)
    with pytest.raises(ValueError, match="NaN"):
        psnr(img.masked_fill(img > 0.5, nan), img)
    with pytest.raises(ValueError, match="data_range"):
        psnr(img, img, data_range=0.0)
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(torch.tensor([[nan, 0.0], [1.0, 1.0]]), torch.ones(3, 2))
    with pytest.raises(ValueError, match=">= 2 rows"):
        frechet_distance(torch.ones(1, 2), torch.ones(3, 2))
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    y = torch.tensor([0, 1])
    for kwargs, name in [({"eps": nan}, "eps"), ({"eps": -0.1}, "eps"),
                         ({"eps": 0.1, "steps": 0}, "steps"),
                         ({"eps": 0.1, "step_size": -1.0}, "step_size")]:
        with pytest.raises(ValueError, match=name):
            robust_accuracy(model, (img, y), **kwargs)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        robust_accuracy(model, (img * 255, y), eps=0.1)
    with pytest.raises(ValueError, match="empty"):
        robust_accuracy(model, (img[:0], y[:0]), eps=0.1)


def test_margin_pgd_is_at_least_as_strong_and_checks_its_loss():
    from reprlab.eval import pgd

    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.rand(64, 1, 4, 4, generator=g)
    y = model(x).argmax(-1)  # every input classified right before the attack
    adv = pgd(model, x, y, eps=0.3, steps=20, loss="margin", generator=g)
    assert (adv - x).abs().max() <= 0.3 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert (model(adv).argmax(-1) == y).float().mean() < 1.0
    with pytest.raises(ValueError, match="loss must be one of"):
        pgd(model, x, y, eps=0.1, loss="hinge")
