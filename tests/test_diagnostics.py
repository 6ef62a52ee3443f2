"""scratch.diagnostics: bias/variance (F25), ensembles (F28), vanishing/exploding with depth (F29);
and the F31 benchmark script run at a tiny size (its output, never its timings)."""
import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import bench_vectorization
from scratch import diagnostics as dg


# ---------------------------------------------------------------- F25
@pytest.mark.parametrize("train, dev, base, label", [
    (0.01, 0.11, 0.0, "high variance"),
    (0.15, 0.16, 0.0, "high bias"),
    (0.15, 0.30, 0.0, "high bias and high variance"),
    (0.005, 0.01, 0.0, "ok"),
    (0.15, 0.16, 0.15, "ok"),                 # a blurry-image task: human error 15 %
])
def test_diagnose_course_examples(train, dev, base, label):
    d = dg.diagnose(train, dev, base_error=base)
    assert d.label == label
    assert d.avoidable_bias == pytest.approx(train - base)
    assert d.variance == pytest.approx(dev - train)
    assert d.high_bias == ("bias" in label) and d.high_variance == ("variance" in label)
    assert bool(d.advice) == (label != "ok")


def test_diagnose_advice_and_errors():
    assert any("regularization" in a for a in dg.diagnose(0.01, 0.11).advice)
    assert any("bigger network" in a for a in dg.diagnose(0.15, 0.16).advice)
    assert dg.diagnose(0.04, 0.05, tol=0.03).label == "high bias"
    with pytest.raises(ValueError, match="dev_error"):
        dg.diagnose(0.01, 11.0)                  # percent instead of a fraction
    with pytest.raises(ValueError, match="tol"):
        dg.diagnose(0.01, 0.02, tol=-1)


# ---------------------------------------------------------------- F28
def test_ensemble_averages_probabilities():
    p1, p2, p3 = np.array([[0.9, 0.2, 0.6]]), np.array([[0.7, 0.4, 0.3]]), np.array([[0.2, 0.0, 0.3]])
    np.testing.assert_allclose(dg.ensemble_predict_proba([p1, p2, p3]), [[0.6, 0.2, 0.4]])
    np.testing.assert_array_equal(dg.ensemble_predict([p1, p2, p3]), [[1, 0, 0]])
    np.testing.assert_array_equal(dg.ensemble_predict([p1]), (p1 > 0.5).astype(int))


@pytest.mark.parametrize("probs, match", [([], "at least one"), ([np.ones((1, 3)), np.ones((1, 4))], r"probabilities\[1\]"),
                                          ([np.array([[1.5]])], r"\[0, 1\]"), ([np.ones(3)], "2-D")])
def test_ensemble_rejects(probs, match):
    with pytest.raises(ValueError, match=match):
        dg.ensemble_predict_proba(probs)


# ---------------------------------------------------------------- F29
@settings(max_examples=25, deadline=None)
@given(w=st.floats(0.3, 1.7), L=st.integers(1, 60), n=st.integers(1, 4), m=st.integers(1, 3))
def test_deep_linear_is_w_to_the_L(w, L, n, m):
    x = np.random.default_rng(L).standard_normal((n, m))
    y_hat, caches = dg.deep_linear_forward(x, w, L)
    assert len(caches) == L
    np.testing.assert_allclose(y_hat, w ** L * x, rtol=1e-12, atol=0)
    grads = dg.deep_linear_gradients(x, w, L)
    np.testing.assert_allclose(grads["dA0"], np.full((n, m), w ** L), rtol=1e-12)
    np.testing.assert_allclose(grads["dW1"], w ** (L - 1) * np.ones((n, m)) @ x.T / m, rtol=1e-12, atol=1e-300)


def test_w_1_5_explodes_and_w_0_5_vanishes_at_depth_50():
    rows = {(r["w"], r["L"]): r for r in dg.vanishing_exploding_demo(w_values=(0.5, 1.0, 1.5), depths=(1, 50))}
    x_max = 2.0                                                # default x = [[1], [2]]
    assert rows[1.5, 50]["y_hat_max"] == pytest.approx(1.5 ** 50 * x_max, rel=1e-12)   # ≈ 1.3e9
    assert rows[1.5, 50]["y_hat_max"] > 1e9 and rows[1.5, 50]["grad_x_max"] > 1e8
    assert rows[0.5, 50]["y_hat_max"] == pytest.approx(0.5 ** 50 * x_max, rel=1e-12)   # ≈ 1.8e-15
    assert rows[0.5, 50]["y_hat_max"] < 1e-14 and rows[0.5, 50]["grad_x_max"] < 1e-14
    assert rows[1.0, 50]["y_hat_max"] == rows[1.0, 1]["y_hat_max"] == x_max
    for r in rows.values():
        assert r["y_hat_max"] == pytest.approx(r["expected_max"], rel=1e-12)


def test_scaled_inits_keep_activation_variance_bounded():
    var = dg.init_scale_demo(depth=50, width=64, m=200, rng=0)
    assert var["random(1.0)+identity"][-1] > 1e50            # ×64 per layer
    assert var["random(1.0)+relu"][-1] > 1e40                # ×32 per layer
    assert var["random(0.01)+relu"][-1] < 1e-50              # ×0.0032 per layer
    for tamed in ("xavier+identity", "he+relu"):
        assert 0.05 < var[tamed][-1] < 20, tamed
    assert var["xavier+tanh"][-1] > 1e-3                     # shrinks slowly, not exponentially


# ---------------------------------------------------------------- F31 (output only, no timing assertion)
def test_bench_vectorization_reports_agreement_and_ratio():
    out = io.StringIO()
    result = bench_vectorization.run(n_x=3, m=7, repeats=2, out=out)
    text = out.getvalue()
    assert result["agree"] and result["max_abs_diff"] < 1e-12
    assert "agreement: yes" in text and "ratio loop / vectorized" in text


def test_bench_vectorization_main(capsys):
    assert bench_vectorization.main(["--n-x", "2", "--m", "5", "--repeats", "1"]) == 0
    assert "ratio" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench_vectorization.main(["--m", "0"])
