import json
import os
import subprocess
import sys

import pytest

from reprlab.claims import ClaimSpec, Criterion
from reprlab.cli import main
from reprlab.registry import create, get_method, list_methods, register_method
from reprlab.report import MethodReport

SUM = ClaimSpec("one plus one is two", paper_value=2, paper_dataset="arithmetic",
                dataset="python", criteria=(Criterion("sum", "1 + 1", reproduced=2.0,
                                                      partial=1.0),))


@register_method("toy-cli-test", summary="a registry entry for the CLI tests", paper="none",
                 claims=(SUM,), configs={"tiny": {"n": 0}, "quick": {"n": 1}, "full": {"n": 2}})
def _toy(ctx, cfg) -> MethodReport:
    rep = ctx.new_report()
    rep.add(SUM.judge(1 + 1))
    return rep


def test_registry_lists_and_rejects():
    assert "toy-cli-test" in list_methods("toy*")
    assert "hyperbolic" in list_methods()
    assert create("toy-cli-test") is get_method("toy-cli-test")
    with pytest.raises(KeyError, match="known methods"):
        get_method("nope")


def test_reproduce_writes_json_and_report(tmp_path, capsys):
    assert main(["reproduce", "toy-cli-test", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "toy-cli-test.json").read_text())
    assert data["method"] == "toy-cli-test" and data["config"] == {"n": 1}
    assert data["config_name"] == "quick"
    assert data["claims"][0]["verdict"] == "reproduced" and data["seconds"] >= 0
    assert (tmp_path / "report.html").exists()
    assert "report:" in capsys.readouterr().out
    assert main(["report", str(tmp_path)]) == 0


def test_list_prints_methods_and_claims(capsys):
    assert main(["list", "toy*"]) == 0
    out = capsys.readouterr().out
    assert "toy-cli-test" in out and "one plus one is two" in out
    assert "reproduced: 1 + 1 ≥ 2" in out


def test_user_errors_exit_2(tmp_path, capsys):
    assert main(["reproduce", "no-such-method", "--out", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["reproduce", "toy-cli-test", "--out", str(blocker / "sub")]) == 2
    assert "cannot be created" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    with pytest.raises(SystemExit) as err:
        main(["reproduce", "--bogus-flag"])
    assert err.value.code == 2
    with pytest.raises(SystemExit):
        main(["reproduce", "--quick", "--config", "tiny"])  # one size at a time
    assert main(["reproduce", "toy-cli-test", "--config", "huge", "--out", str(tmp_path)]) == 2
    assert "no config 'huge'" in capsys.readouterr().err
    assert main(["reproduce", "toy-cli-test", "--jobs", "0", "--out", str(tmp_path)]) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_out_dir_exits_2(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["reproduce", "toy-cli-test", "--out", str(ro)]) == 2


def test_no_command_prints_help_and_exits_1():
    proc = subprocess.run([sys.executable, "-m", "reprlab"], capture_output=True, text=True)
    assert proc.returncode == 1 and "reproduce" in proc.stdout


def test_config_tiny_and_quiet(tmp_path, capsys):
    assert main(["reproduce", "toy-cli-test", "--config", "tiny", "--quiet", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert out.err == "" and "[    reproduced]" not in out.out
    assert json.loads((tmp_path / "toy-cli-test.json").read_text())["config_name"] == "tiny"


def test_report_fails_on_a_truncated_method_json(tmp_path, capsys):
    assert main(["reproduce", "toy-cli-test", "--quick", "--out", str(tmp_path)]) == 0
    path = tmp_path / "toy-cli-test.json"
    path.write_text(path.read_text()[:40])
    assert main(["report", str(tmp_path)]) == 2
    assert "toy-cli-test.json: not a readable method report" in capsys.readouterr().err
