from reprlab.ortho.reproduce import OrthoConfig, reproduce
from reprlab.report import load_method_json, write_method_json
from reprlab.reproduce import ReproduceContext

TINY = OrthoConfig(n_train=200, n_test=100, epochs=1, batch_size=50, widths=(4, 8),
                   blocks=(1, 1), stem_stride=2, pgd_eps=(0.1,), pgd_steps=2, n_attack=50,
                   rpg_fraction=0.1)


def test_reproduce_smoke(tmp_path):
    ctx = ReproduceContext(method="ortho", quick=True, out=tmp_path, progress=False)
    report = reproduce(ctx, config=TINY)
    assert len(report.claims) == 8
    runs = {r["run"]: r for r in report.tables["runs"]}
    assert set(runs) == {"init", "plain", "ocnn", "kernel-orth", "rpg", "rpg+ocnn"}
    # the regulariser makes the trained convs more orthogonal than plain training does
    assert runs["ocnn"]["orth_loss"] < runs["plain"]["orth_loss"]
    assert runs["rpg"]["params"] < runs["plain"]["params"]
    data = load_method_json(write_method_json(report, tmp_path))
    assert data["figures"]
