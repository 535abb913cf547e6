"""Forward-pass counts (not times): verdicts in ~4 passes per tensor, wrong entries by bisection."""

import math

import numpy as np
import pytest

import gradcheck as gc


def counting_affine(bad=()):
    """An affine pair whose forward counts its calls; ``bad`` corrupts entries of dw."""
    calls = {"forward": 0}

    def affine_forward(x, w, b):
        calls["forward"] += 1
        return x @ w + b, (x, w)

    @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def affine_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout
        for i in bad:
            dw.flat[i] += 0.5
        return dout @ w.T, dw, dout.sum(axis=0)

    return affine_backward, calls


def test_verdict_costs_four_passes_per_tensor_plus_one_forward_and_backward():
    check, calls = counting_affine()
    report = gc.check_at(check, {"N": 3, "D": 40, "M": 25}, mode="probe")
    assert report.ok
    tensors = 3
    # one forward for the analytic side (it also gives the unperturbed loss), then 4 per tensor
    assert calls["forward"] <= 4 * tensors + 1, calls
    assert all(p.method == "probe" and p.n_checked == int(np.prod(p.shape)) for p in report.params.values())


@pytest.mark.parametrize("D, M", [(16, 16), (100, 100), (1000, 1000)])
def test_one_corrupted_entry_is_found_in_logarithmic_passes(D, M):
    P = D * M
    bad = (P // 3 + 5,)
    check, calls = counting_affine(bad)
    verdict_only, verdict_calls = counting_affine()
    gc.check_at(verdict_only, {"N": 2, "D": D, "M": M}, mode="probe")
    report = gc.check_at(check, {"N": 2, "D": D, "M": M}, mode="probe")
    w = report.params["w"]
    assert report.wrong_params() == ["w"]
    assert w.n_wrong == 1 and not w.n_wrong_estimated
    assert w.worst[0][0] == tuple(int(i) for i in np.unravel_index(bad[0], (D, M)))
    assert w.worst[0][1] - w.worst[0][2] == pytest.approx(0.5, rel=1e-4)
    beyond = calls["forward"] - verdict_calls["forward"]
    assert beyond <= 2 * math.log2(P) + 8, (beyond, P)


def test_k_corrupted_entries_cost_about_k_log_p():
    D = M = 100
    bad = (17, 4242, 9001)
    check, calls = counting_affine(bad)
    report = gc.check_at(check, {"N": 2, "D": D, "M": M}, mode="probe")
    w = report.params["w"]
    assert sorted(np.ravel_multi_index(i, (D, M)) for i, _, _ in w.worst) == sorted(bad)
    assert calls["forward"] <= 13 + len(bad) * (2 * math.log2(D * M) + 8)


def test_full_mode_compares_every_entry_beyond_the_auto_cap():
    check, _ = counting_affine(bad=(5000,))
    report = gc.check_at(check, {"N": 1, "D": 100, "M": 60}, mode="full")
    w = report.params["w"]
    assert w.method == "entries" and w.n_checked == 6000 and w.n_wrong == 1


def test_large_parameters_in_auto_mode_use_bisection_and_small_ones_every_entry():
    check, _ = counting_affine(bad=(123,))
    report = gc.check_at(check, {"N": 2, "D": 100, "M": 60}, mode="auto")
    assert report.params["w"].method == "probe" and report.params["w"].n_wrong == 1
    assert report.params["b"].method == "entries" and report.params["b"].n_checked == 60


def test_bisection_never_blames_kinks():
    def relu_forward(x):
        return np.maximum(x, 0), x

    @gc.backward_of(relu_forward, shapes={"x": "N,D"})
    def relu_backward(dout, x):
        return dout * (x > 0)

    # Half the entries exactly 0: the probe crosses thousands of kinks.
    for seed in range(3):
        report = gc.check_at(relu_backward, {"N": 100, "D": 100}, seed=seed, mode="probe", nasty=True)
        assert report.ok, report


def test_mode_is_validated():
    check, _ = counting_affine()
    with pytest.raises(gc.SpecError, match="mode"):
        gc.check(check, mode="fast")
