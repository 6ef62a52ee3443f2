"""TensorBoard itself serves the main job's runs, and its three cost curves agree.

Starts `python -m tensorboard.main --logdir <tmp> --host 127.0.0.1 --port <free>` as a subprocess,
reads each run's scalars over its HTTP API, and stops the server by its PID (bounded waits).
"""
import json
import math
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

pytest.importorskip("tensorboard")
pytest.importorskip("lightning")

from experiments.cli import main                        # noqa: E402
from experiments.config import IMPLS                   # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*LeafSpec.*")]
STEPS = 30
START_TIMEOUT_S = 90      # TensorBoard imports TensorFlow-free but still takes a few seconds on 2 cores
STOP_TIMEOUT_S = 10
# The event files hold 32-bit floats (Summary simple_value): equal float64 costs round to equal
# float32s, and float64 costs equal to 1e-12 can at worst straddle one float32 rounding step.
FLOAT32_RTOL = 2 ** -23


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(base, path, **query):
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read().decode())


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """The main job, every step logged, so all three implementations write the same training steps."""
    from torch_ref.lightning import restored_global_state
    path = tmp_path_factory.mktemp("tb")
    with restored_global_state():
        assert main(["--steps", str(STEPS), "--log-every", "1", "--logdir", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def server(logdir):
    """The base URL of a TensorBoard serving `logdir` on 127.0.0.1, once it lists the three runs."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                             "--host", "127.0.0.1", "--port", str(port), "--reload_interval", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base, deadline, runs = f"http://127.0.0.1:{port}", time.monotonic() + START_TIMEOUT_S, []
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"tensorboard exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                runs = get_json(base, "/data/runs")
                if {f"flower/{impl}" for impl in IMPLS} <= set(runs):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"tensorboard did not list the runs within {START_TIMEOUT_S} s; it listed {runs}")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
        proc.stderr.close()


def scalars(base, impl, tag):
    """[(step, value)] of one run's tag, as TensorBoard's scalars plugin serves it."""
    rows = get_json(base, "/data/plugin/scalars/scalars", run=f"flower/{impl}", tag=tag)
    return [(int(step), float(value)) for _wall_time, step, value in rows]


def test_tensorboard_serves_the_three_runs_with_the_same_tags(server):
    tags = get_json(server, "/data/plugin/scalars/tags")
    for impl in IMPLS:
        assert {"train/cost", "train/acc", "dev/cost", "dev/acc", "hp/dev_acc"} <= set(tags[f"flower/{impl}"])


def test_the_three_cost_curves_agree(server):
    curves = {impl: scalars(server, impl, "train/cost") for impl in IMPLS}
    for impl, curve in curves.items():
        assert [step for step, _ in curve] == list(range(STEPS)), impl
    for (_, a), (_, b), (_, c) in zip(*curves.values()):
        assert math.isclose(b, a, rel_tol=FLOAT32_RTOL) and math.isclose(c, a, rel_tol=FLOAT32_RTOL)
    first, last = curves["scratch"][0][1], curves["scratch"][-1][1]
    assert first == pytest.approx(math.log(2), rel=1e-3) and last < first        # θ_0 ≈ 0: J_0 ≈ ln 2


def test_the_hparams_tab_has_the_metrics(server):
    # the HPARAMS tab's own request: a POST of the experiment query to the hparams plugin
    request = urllib.request.Request(f"{server}/data/plugin/hparams/experiment", method="POST",
                                     data=json.dumps({"experimentName": ""}).encode(),
                                     headers={"Content-Type": "application/json", "X-TensorBoard-Feature-Flags": "{}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        experiment = json.loads(response.read().decode())
    metrics = {m["name"]["tag"] for m in experiment["metricInfos"]}
    assert {"hp/train_cost", "hp/train_acc", "hp/dev_acc"} <= metrics
    names = {h["name"] for h in experiment["hparamInfos"]}
    assert {"impl", "layer_dims", "learning_rate", "num_iterations", "init", "seed", "lambd"} <= names
