"""Forward-pass counts (not times): verdicts in ~4 passes per tensor, wrong entries by bisection,
per-entry work bounded by a budget in units of the floor, nothing measured twice."""

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


def test_verdict_costs_two_passes_per_linear_tensor_plus_one_forward_and_backward():
    check, calls = counting_affine()
    report = gc.check_at(check, {"N": 3, "D": 40, "M": 25}, mode="probe")
    assert report.ok
    tensors = 3
    # one forward for the analytic side (it also gives the unperturbed loss), then 2 per tensor: the loss
    # is linear in each of x, w and b, so the central difference at h agrees at once and no 2h is needed
    assert calls["forward"] == 2 * tensors + 1, calls
    assert all(p.method == "probe" and p.n_checked == int(np.prod(p.shape)) for p in report.params.values())


def test_a_curved_line_takes_the_second_step():
    """sum(exp(x)) curves the same way along every entry: the one-sided slopes at h differ by far more
    than the floors, so 2h is measured too (4 passes), as it must be to estimate the numeric error."""
    calls = {"loss": 0}

    @gc.returns_grad(shapes={"x": "N,D"})
    def exp_sum(x):
        calls["loss"] += 1
        e = np.exp(x)
        return float(e.sum()), e

    assert gc.check_at(exp_sum, {"N": 4, "D": 30}, mode="probe").ok
    assert calls["loss"] == 1 + 4, calls


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


def test_full_mode_compares_every_entry_whatever_the_budget():
    check, _ = counting_affine(bad=(5000,))
    report = gc.check_at(check, {"N": 1, "D": 100, "M": 60}, mode="full")
    w = report.params["w"]
    assert w.method == "entries" and w.n_checked == 6000 and w.n_wrong == 1


def test_large_parameters_in_auto_mode_use_bisection():
    check, _ = counting_affine(bad=(123,))
    report = gc.check_at(check, {"N": 2, "D": 100, "M": 60}, mode="auto")
    assert report.params["w"].method == "probe" and report.params["w"].n_wrong == 1
    assert report.params["w"].worst[0][0] == (2, 3)


@pytest.fixture
def engine_passes_only(monkeypatch):
    """Count the engine's passes alone: the report's contribution hint measures the entry it shows
    with 1 + 2 passes per entry tried (tests/test_contributions.py counts those)."""
    monkeypatch.setattr("gradcheck.checking.kept_contribution_hints", lambda *args, **kwargs: None)


def fixed_costs(monkeypatch, *, forward, backward, sweep_floors):
    """Pretend every forward pass costs ``forward`` seconds and the backward ``backward``."""
    from gradcheck.engine import budget

    monkeypatch.setattr(budget.CountingLoss, "pass_seconds", lambda self: forward)
    monkeypatch.setattr(budget.Budget, "floor", property(lambda self: forward + backward))
    monkeypatch.setattr(budget, "SWEEP_FLOORS", sweep_floors)
    monkeypatch.setattr(budget, "SMALL_PARAMS", 0)  # budgets in floors, not the small examples' pass counts


def test_agreeing_tensors_are_swept_only_within_the_budget(monkeypatch):
    dims = {"N": 2, "D": 5, "M": 8}  # b: 8 entries, x: 10, w: 40
    check, calls = counting_affine()
    searched, search_calls = counting_affine()
    gc.check_at(searched, dims, mode="probe")  # the search's own passes, with no final look
    # A floor of 2 passes; 50 floors = 100 passes: b (16 passes) and x (20) fit, w (80 more) does not.
    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=50)
    report = gc.check_at(check, dims, mode="auto")
    assert report.ok
    assert [report.params[n].method for n in ("b", "x", "w")] == ["entries", "entries", "probe"]
    # auto mode reruns the forward once: for nondeterminism, and its cache serves the second backward
    detectors = 1
    sweep = calls["forward"] - (search_calls["forward"] + detectors)
    assert sweep == 2 * (8 + 10) + 1, sweep  # + one forward: the loss is still the search's value there
    assert sweep <= 100 + 1


def test_no_budget_no_sweep(monkeypatch):
    dims = {"N": 2, "D": 5, "M": 8}
    check, calls = counting_affine()
    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=0)
    report = gc.check_at(check, dims, mode="auto")
    assert report.ok and all(p.method == "probe" for p in report.params.values())
    # analytic side, one forward for the detectors (no second one for the second backward), 2 passes per tensor
    assert calls["forward"] == 1 + 1 + 2 * 3


def test_a_tensor_confirmed_by_the_search_is_not_swept_again(engine_passes_only):
    """The entries of a wrong tensor are compared once, in the search: the final look reuses them."""
    M = 7
    perturbed = np.zeros(M, dtype=int)
    b_drawn: list = []

    def affine_forward(x, w, b):
        moved = b != b_drawn[0] if b_drawn else np.zeros(M, dtype=bool)
        if moved.sum() == 1:  # a per-entry line: exactly one entry of b moved
            perturbed[np.flatnonzero(moved)[0]] += 1
        return x @ w + b, (x, w)

    @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def affine_backward(dout, cache):
        x, w = cache
        db = dout.sum(axis=0)
        db[3] *= 2.0
        return dout @ w.T, x.T @ dout, db

    from gradcheck.declare.check import get_check

    chk = get_check(affine_backward)
    replay = chk.build(chk.space.at({"N": 2, "D": 3, "M": M}), 0, lambda s: None)
    b_drawn.append(replay.params["b"].copy())
    report = gc.check_at(affine_backward, {"N": 2, "D": 3, "M": M})
    b = report.params["b"]
    assert b.method == "entries" and b.n_wrong == 1 and b.worst[0][0] == (3,)
    # 2 passes (±h) per entry, 2 more (±2h) where analytic and numeric disagree: once each, not twice
    assert perturbed[3] == 4 and np.all(np.delete(perturbed, 3) == 2), perturbed


def mlp_with_one_wrong_entry(error, flat_index=1234):
    def mlp_loss(W1, b1, W2, b2, X, y):
        h = np.maximum(0, X @ W1 + b1)
        s = h @ W2 + b2
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        n = X.shape[0]
        loss = -np.log(p[np.arange(n), y]).mean()
        ds = p.copy()
        ds[np.arange(n), y] -= 1
        ds /= n
        dh = ds @ W2.T * (h > 0)
        dW1 = X.T @ dh
        dW1.flat[flat_index] += error
        return loss, dW1, dh.sum(axis=0), h.T @ ds, ds.sum(axis=0)

    return gc.returns_grad(
        shapes={"W1": "D,H", "b1": "H", "W2": "H,C", "b2": "C"},
        args={"X": lambda d, rng: rng.standard_normal((d.N, d.D)), "y": gc.labels("N", classes="C")},
        ranges={"W1": (-0.05, 0.05), "W2": (-0.05, 0.05)},
        dims={"N": (1, 16), "C": (2, 10), "D": (1, 200), "H": (1, 200)},
    )(mlp_loss)


def test_a_located_wrong_entry_is_never_lost(monkeypatch):
    """The search bisects to the wrong entry of W1; the report must name it.

    At this seed a second probe in a new direction crosses a ReLU kink, and its
    tolerance exceeds the error: a final look that probed again passed W1.
    """
    from gradcheck.engine import budget

    monkeypatch.setattr(budget, "JOINT_FLOORS", math.inf)  # tensor by tensor, however busy the machine
    report = gc.check_at(mlp_with_one_wrong_entry(2e-4), {"N": 8, "D": 100, "H": 100, "C": 10}, seed=72)
    assert not report.ok
    assert report.wrong_params() == ["W1"]
    w1 = report.params["W1"]
    assert w1.n_wrong == 1 and w1.worst[0][0] == (12, 34)
    assert w1.worst[0][1] - w1.worst[0][2] == pytest.approx(2e-4, rel=1e-3)


def test_the_final_look_at_a_bisected_tensor_costs_no_pass(monkeypatch, engine_passes_only):
    """What the search measured at the reported example is reused, not measured again."""
    check, calls = counting_affine(bad=(4321,))
    searched, search_calls = counting_affine(bad=(4321,))
    dims = {"N": 2, "D": 100, "M": 100}
    gc.check_at(searched, dims, mode="probe")
    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=0)  # 32 floors: 64 passes, not w's 20000
    report = gc.check_at(check, dims, mode="auto")
    assert report.params["w"].method == "probe" and report.params["w"].n_wrong == 1
    detectors = 1
    assert calls["forward"] - search_calls["forward"] - detectors == 0, calls


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


def test_full_mode_does_not_measure_located_entries_again(engine_passes_only):
    D = M = 70  # w: 4900 entries, too many to confirm entry by entry: bisection locates the wrong one
    bad = 1000
    alone = {"count": 0}
    w_drawn: list = []

    def affine_forward(x, w, b):
        if w_drawn:
            moved = np.flatnonzero(w != w_drawn[0])
            alone["count"] += moved.size == 1 and moved[0] == bad
        return x @ w + b, (x, w)

    @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def affine_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout
        dw.flat[bad] += 0.5
        return dout @ w.T, dw, dout.sum(axis=0)

    from gradcheck.declare.check import get_check

    chk = get_check(affine_backward)
    w_drawn.append(chk.build(chk.space.at({"N": 2, "D": D, "M": M}), 0, lambda s: None).params["w"].copy())
    gc.check_at(affine_backward, {"N": 2, "D": D, "M": M}, mode="probe")  # bisection only
    by_bisection, alone["count"] = alone["count"], 0
    report = gc.check_at(affine_backward, {"N": 2, "D": D, "M": M}, mode="full")
    w = report.params["w"]
    assert w.method == "entries" and w.n_checked == D * M and w.n_wrong == 1
    assert w.worst[0][0] == np.unravel_index(bad, (D, M))
    # the full sweep moved every other entry, but not this one again
    assert by_bisection >= 4 and alone["count"] == by_bisection, (by_bisection, alone)


def test_costly_tensor_probes_are_replaced_by_one_joint_probe(monkeypatch):
    from gradcheck.engine import budget

    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=0)
    monkeypatch.setattr(budget, "JOINT_FLOORS", 0.0)
    check, calls = counting_affine()
    report = gc.check_at(check, {"N": 3, "D": 40, "M": 25})
    assert report.ok and all(p.method == "probe" for p in report.params.values())
    # analytic side, the detectors' forward, then 4 passes for the three tensors together (x and w
    # moved together curve the loss: the step 2h is needed)
    assert calls["forward"] == 1 + 1 + 4, calls


def test_a_joint_probe_that_disagrees_hands_over_to_the_tensors(monkeypatch):
    from gradcheck.engine import budget

    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=0)
    monkeypatch.setattr(budget, "JOINT_FLOORS", 0.0)
    D, M = 40, 25
    check, calls = counting_affine(bad=(321,))
    report = gc.check_at(check, {"N": 3, "D": D, "M": M})
    assert report.wrong_params() == ["w"]
    assert report.params["w"].worst[0][0] == np.unravel_index(321, (D, M))
    bisection = 2 * math.log2(D * M) + 8
    assert calls["forward"] <= 1 + 1 + 4 + 4 * 3 + bisection, calls


def test_small_examples_spend_passes_not_time(monkeypatch):
    """Below the size where times can be trusted, a busy machine changes nothing a seed reports."""
    from gradcheck.engine import budget

    dims = {"N": 2, "D": 5, "M": 8}  # 58 entries: every tensor swept within the small examples' passes
    quick = gc.check_at(counting_affine()[0], dims).to_dict()
    monkeypatch.setattr(budget.CountingLoss, "pass_seconds", lambda self: 10.0)  # as if every pass took 10 s
    slow = gc.check_at(counting_affine()[0], dims).to_dict()
    assert slow == quick
    assert all(p["method"] == "entries" for p in slow["params"].values())


def test_one_far_off_entry_diluted_below_the_practical_floor_is_still_found():
    """Along a probe, one wrong entry among 10^4 differs by less than the practical floor
    relative to the whole directional derivative; the floor is for entries, so it is bisected."""
    D = M = 100

    def affine_forward(x, w, b):
        return x @ w + b, (x, w)

    @gc.backward_of(affine_forward, shapes={"x": "N,D", "w": "D,M", "b": "M"})
    def affine_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout
        dw.flat[4321] += 4e-3
        return dout @ w.T, dw, dout.sum(axis=0)

    for mode in ("probe", "auto"):
        report = gc.check_at(affine_backward, {"N": 8, "D": D, "M": M}, mode=mode)
        assert report.wrong_params() == ["w"], (mode, report)
        assert report.params["w"].worst[0][0] == np.unravel_index(4321, (D, M))


@pytest.mark.parametrize("mode", ["probe", "auto"])
def test_one_wrong_entry_at_a_millionth_of_the_probe_is_found(mode):
    """One entry of a 4x10^5-entry w off by 2e-4 (well above the practical floor at that entry): along
    a probe that is below 1e-6 of the gradient's scale, which a floor of 1e-6 x that scale passed."""
    calls = {"forward": 0}

    def scale_forward(x, w):
        calls["forward"] += 1
        return x * w, (x, w)

    @gc.backward_of(scale_forward, shapes={"x": "N,D", "w": "N,D"})
    def scale_backward(dout, cache):
        x, w = cache
        dw = dout * x
        dw.flat[123457] += 2e-4
        return dout * w, dw

    dims = {"N": 500, "D": 800}
    report = gc.check_at(scale_backward, dims, mode=mode)
    assert report.wrong_params() == ["w"], report
    assert report.params["w"].worst[0][0] == np.unravel_index(123457, (500, 800))
    assert calls["forward"] <= 1 + 1 + 2 + 4 + 2 * math.log2(500 * 800) + 8, calls


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_joint_probe_through_a_relu_network_is_not_taken_again(monkeypatch, seed):
    """Every unit moves when every parameter does: at its first step the joint probe must not cross
    the ReLU kinks of a network this size (a retry costs 4 more passes, each a full forward + backward)."""
    from gradcheck.engine import budget

    fixed_costs(monkeypatch, forward=1e-3, backward=1e-3, sweep_floors=0)
    monkeypatch.setattr(budget, "JOINT_FLOORS", 0.0)
    calls = {"n": 0}
    check = mlp_with_one_wrong_entry(0.0)
    user = check.__gradcheck__.fn

    def counted(*args):
        calls["n"] += 1
        return user(*args)

    check.__gradcheck__.fn = counted
    report = gc.check_at(check, {"N": 16, "D": 200, "H": 200, "C": 10}, seed=seed)
    assert report.ok and all(p.method == "probe" for p in report.params.values())
    # the first call (loss and gradients), the determinism check's call (its gradients serve the
    # accumulation check), then the joint probe: at most 4 passes
    assert calls["n"] <= 1 + 1 + 4, calls


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (-0.05, 0.05), (0.1, 3.0)])
@pytest.mark.parametrize("size", [None, (), 7, (3, 4), 10**5])
def test_drawn_values_are_numpys_uniform_bit_for_bit(low, high, size):
    """Values are scaled in place for speed: a seed must still give exactly the examples it gave."""
    from gradcheck.declare.dims import draw_values

    fast = draw_values(np.random.default_rng(5), low, high, size)
    assert fast.tobytes() == np.asarray(np.random.default_rng(5).uniform(low, high, size=size)).tobytes()
    assert fast.shape == np.shape(np.random.default_rng(5).uniform(low, high, size=size))
