"""`python -m experiments ... --save PATH` and `--resume PATH`: a run stopped and continued from its
model file ends with the parameters and the logged curves of the run never stopped, bit for bit,
for each implementation; a file that cannot continue is refused in one line."""
import numpy as np
import pytest

from experiments.cli import EXIT_ERROR, EXIT_OK, main
from scratch.model_file import load_model


def _run(tmp_path, *args):
    return main(["--logdir", str(tmp_path / "logs"), "--log-every", "7", *args])


@pytest.mark.parametrize("impl", ["scratch", "torch", "lightning"])
def test_resumed_run_is_the_uninterrupted_run(tmp_path, capsys, impl):
    assert _run(tmp_path, "--impl", impl, "--steps", "60", "--save", str(tmp_path / "part.npz")) == EXIT_OK
    assert _run(tmp_path, "--resume", str(tmp_path / "part.npz"), "--steps", "150",
                "--save", str(tmp_path / "rest.npz")) == EXIT_OK
    out = capsys.readouterr().out
    assert "continued from" in out and f"({impl}'s run, at step 60)" in out
    assert _run(tmp_path, "--impl", impl, "--steps", "150", "--save", str(tmp_path / "full.npz")) == EXIT_OK
    rest, full = load_model(tmp_path / "rest.npz"), load_model(tmp_path / "full.npz")
    assert rest.impl == full.impl == impl and rest.state.step == 150
    worst = max(float(np.max(np.abs(rest.params[k] - full.params[k]))) for k in full.params)
    assert worst == 0.0
    assert [r["cost"] for r in rest.state.history] == [r["cost"] for r in full.state.history]
    assert [r["step"] for r in rest.state.history] == list(range(0, 150, 7))


def test_save_of_several_implementations_names_each_file(tmp_path, capsys):
    assert _run(tmp_path, "--impl", "scratch,torch", "--steps", "20", "--save", str(tmp_path / "m.npz")) == EXIT_OK
    for impl in ("scratch", "torch"):
        model = load_model(tmp_path / f"m-{impl}.npz")
        assert model.impl == impl and model.config["name"] == "flower" and model.state.step == 20
    assert "m-torch.npz" in capsys.readouterr().out


def test_resume_refuses_what_cannot_continue(tmp_path, capsys):
    assert _run(tmp_path, "--impl", "scratch", "--steps", "30", "--save", str(tmp_path / "m.npz")) == EXIT_OK
    capsys.readouterr()
    assert _run(tmp_path, "--resume", str(tmp_path / "m.npz"), "--steps", "30") == EXIT_ERROR
    assert "already trained 30 steps" in capsys.readouterr().err
    (tmp_path / "bad.npz").write_bytes(b"")
    assert _run(tmp_path, "--resume", str(tmp_path / "bad.npz"), "--steps", "60") == EXIT_ERROR
    err = capsys.readouterr().err
    assert "bad.npz: is empty" in err and len(err.strip().splitlines()) == 1
    assert _run(tmp_path, "--steps", "5", "--impl", "scratch", "--save", str(tmp_path / "nodir" / "m.npz")) == EXIT_ERROR
    assert "does not exist" in capsys.readouterr().err
