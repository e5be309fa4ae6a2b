"""The reproduce runner: the claims a method emits, checkpoints keyed on settings, jobs."""

from dataclasses import dataclass

import pytest
import torch

from reprlab.claims import ClaimSpec, Criterion, Measured
from reprlab.registry import get_method, register_method
from reprlab.report import load_method_json
from reprlab.reproduce import ReproduceContext, run_method, run_reproduce


@dataclass(frozen=True)
class ToyConfig:
    n: int = 3
    emit_extra: bool = False


TOY_CLAIM = ClaimSpec("mean of seeded draws near zero", paper_value=0.0, paper_dataset="N(0,1)",
                      dataset="torch.randn",
                      criteria=(Criterion("abs_mean", "|mean|", reproduced=1.0, partial=2.0,
                                          higher_is_better=False),),
                      baseline="none", control="none", min_seeds=3)
TOY_SKIP = ClaimSpec("a claim on unreachable data", 1.0, "ImageNet", "—",
                     not_run="ImageNet is not reachable offline")
CALLS: list[int] = []


@register_method("toy-runner", summary="toy", paper="none", claims=(TOY_CLAIM, TOY_SKIP),
                 configs={"tiny": ToyConfig(1), "quick": ToyConfig(3), "full": ToyConfig(5),
                          "bad": ToyConfig(1, emit_extra=True)},
                 seconds={"tiny": 1, "quick": 1})
def _toy(ctx: ReproduceContext, cfg: ToyConfig):
    report = ctx.new_report()

    def draw(seed: int) -> float:
        CALLS.append(seed)
        return float(torch.randn(cfg.n, generator=torch.Generator().manual_seed(seed)).mean())

    values = [ctx.store.cached(f"draw-{s}", lambda s=s: draw(s)) for s in ctx.seeds(3)]
    report.add(TOY_CLAIM.judge(Measured.from_seeds([abs(v) for v in values])))
    if not cfg.emit_extra:
        report.add(TOY_SKIP.skip())
    report.results["values"] = values
    report.summary = "toy"
    return report


def test_run_method_checks_the_emitted_claims(tmp_path):
    rep = run_method("toy-runner", config="tiny", out=tmp_path)
    assert [c.verdict for c in rep.claims][1] == "not run"
    with pytest.raises(RuntimeError, match="missing .*unreachable data"):
        run_method("toy-runner", config="bad", out=tmp_path)
    with pytest.raises(KeyError, match="no config 'huge'"):
        run_method("toy-runner", config="huge", out=tmp_path)


def test_resume_is_keyed_on_seed_and_fresh_discards(tmp_path, capsys):
    CALLS.clear()
    run_method("toy-runner", config="quick", out=tmp_path, seed=0)
    assert CALLS == [0, 1, 2]
    run_method("toy-runner", config="quick", out=tmp_path, seed=0)
    assert CALLS == [0, 1, 2]  # resumed from the store
    run_method("toy-runner", config="quick", out=tmp_path, seed=1)
    assert CALLS[3:] == [1, 2, 3]  # another seed: never the seed-0 results
    assert "seed: 0 → 1" in capsys.readouterr().err
    run_method("toy-runner", config="quick", out=tmp_path, seed=1, fresh=True)
    assert CALLS[6:] == [1, 2, 3]


def test_corrupt_checkpoint_stops_with_the_file_named(tmp_path):
    from reprlab.checkpoint import CheckpointError

    run_method("toy-runner", config="quick", out=tmp_path)
    path = tmp_path / "toy-runner" / "work" / "quick" / "draw-0.pt"
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match=r"draw-0\.pt is corrupt.*--fresh"):
        run_method("toy-runner", config="quick", out=tmp_path)
    run_method("toy-runner", config="quick", out=tmp_path, fresh=True)


def test_run_reproduce_writes_the_contract_and_reports_progress(tmp_path, capsys):
    reports = run_reproduce(["toy-runner"], config="quick", out=tmp_path)
    data = load_method_json(tmp_path / "toy-runner.json")
    claim = data["claims"][0]
    assert set(claim) >= {"name", "paper", "measured", "criterion", "verdict", "note"}
    assert set(claim["measured"]) >= {"value", "dataset", "spread", "seeds"}
    assert claim["measured"]["seeds"] == 3 and claim["criterion"]["reproduced"].startswith("|")
    assert data["results"]["values"] == pytest.approx(reports[0].results["values"])
    assert "values" not in data["config"] and data["config_name"] == "quick"
    err = capsys.readouterr().err
    assert "toy-runner (quick) started" in err and "toy-runner done in" in err
    run_reproduce(["toy-runner"], config="quick", out=tmp_path / "q", quiet=True)
    assert capsys.readouterr().err == ""
    with pytest.raises(ValueError, match="jobs"):
        run_reproduce(["toy-runner"], out=tmp_path, jobs=0)


def test_registration_is_validated():
    with pytest.raises(ValueError, match="configs lack"):
        register_method("x", summary="", paper="", claims=(TOY_CLAIM,),
                        configs={"tiny": 1})
    with pytest.raises(TypeError, match="ClaimSpec"):
        register_method("x", summary="", paper="", claims=("a string claim",),
                        configs={"tiny": 1, "quick": 1, "full": 1})
    assert get_method("toy-runner").claim_names == (TOY_CLAIM.name, TOY_SKIP.name)


def test_jobs_runs_methods_in_worker_processes(tmp_path, capsys):
    """--jobs 2: two real tiny configs in spawned workers, each with its own thread budget."""
    reports = run_reproduce(["lie", "rpg"], config="tiny", out=tmp_path, jobs=2)
    assert [r.method for r in reports] == ["lie", "rpg"]  # the order named, not finished
    for rep in reports:
        assert [c.name for c in rep.claims] == list(get_method(rep.method).claim_names)
        assert load_method_json(tmp_path / f"{rep.method}.json")["config_name"] == "tiny"
    assert "2 at a time" in capsys.readouterr().err
    assert (tmp_path / "report.html").is_file()
