"""Wall time of a gradient check against the floor and the peers, side by side, in one run.

    python benchmarks/bench.py            # affine 1e3..1e6 and a 1M-parameter MLP, min of 3
    python benchmarks/bench.py --quick    # smaller sizes
    python benchmarks/bench.py --large    # also affine 1e7
    pip install -e ".[bench]"             # the peers: torch and jax

The floor is one forward and one backward of the NumPy code: no verdict can cost
less.  Every tool checks the same code at the same arrays, timed as the minimum of
``--repeat`` runs, and gives a verdict on its twin with one wrong gradient entry
(caught, MISSED, or FALSE ALARM when the correct code fails).  The tools:
``gc.check_at`` in modes probe and auto (the default), ``torch.autograd.gradcheck``
(``fast_mode`` and, where it fits, the slow whole-Jacobian mode),
``jax.test_util.check_grads`` (reverse mode, through ``pure_callback``) and the
per-entry loop people write (CS231n's ``eval_numerical_gradient_array``).
``--passes`` adds the older table of forward passes per mode (probe, auto, full,
the loop, torch): "lower" is 2 passes per tensor; runs that would need more than
MAX_RUN_PASSES passes are estimated from the measured time of one forward and
marked ``~``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

# One thread for every library, so that times compare (set before numpy, torch and jax load).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradcheck as gc  # noqa: E402
from gradcheck.declare.check import get_check  # noqa: E402
from reference_models import conv as conv_ref  # noqa: E402
from reference_models import rnn_layers  # noqa: E402

MAX_RUN_PASSES = 250_000

#: The clock every time here is read from: CPU time of this process by default (on a
#: shared machine, wall time counts the time other processes held the CPU), wall
#: time with --wall.  Every library runs on one thread either way.
clock = time.process_time


class Counted:
    """The user's forward, counting its calls and keeping the arguments of the last one.

    ``seconds`` adds up the time spent in the user's code (forward, and backward
    through :meth:`timed`): a tool's time minus it is the tool's own overhead.
    """

    def __init__(self, fn):
        self.fn, self.calls, self.last, self.seconds = fn, 0, None, 0.0

    def reset(self):
        self.calls, self.seconds = 0, 0.0

    def __call__(self, *args):
        self.calls += 1
        self.last = args
        t0 = clock()
        try:
            return self.fn(*args)
        finally:
            self.seconds += clock() - t0

    def timed(self, backward):
        def run(*args):
            t0 = clock()
            try:
                return backward(*args)
            finally:
                self.seconds += clock() - t0

        run.__signature__ = __import__("inspect").signature(backward)
        return run


def functional(name, forward, backward, spec, dims, size):
    counted = Counted(forward)
    wrapped = lambda *args: counted(*args)  # noqa: E731
    wrapped.__signature__ = __import__("inspect").signature(forward)
    check = gc.backward_of(wrapped, **spec)(counted.timed(backward))
    _open_ranges(check)
    check.torch_wrap = ("pair", counted.timed(backward))
    return name, check, dims, counted, size


def affine(P):
    D = M = int(round(math.sqrt(P)))

    def affine_forward(x, w, b):
        return x @ w + b, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    return functional(f"affine {D}x{D}", affine_forward, affine_backward,
                      {"shapes": {"x": "N,D", "w": "D,M", "b": "M"}}, {"N": 8, "D": D, "M": M}, D * M + 8 * D + M)


def conv():
    dims = {"N": 2, "C": 3, "F": 4, "H": 8, "W": 8, "HH": 3, "WW": 3, "S": 1, "P": 1}
    return functional("naive conv 8x8 3->4", conv_ref.conv_forward_naive, conv_ref.conv_backward_naive,
                      conv_ref.CONV, dims, 2 * 3 * 64 + 4 * 27 + 4)


def rnn():
    dims = {"N": 4, "T": 10, "D": 16, "H": 32}
    return functional("RNN T=10 H=32", rnn_layers.rnn_forward, rnn_layers.rnn_backward, rnn_layers.RNN, dims,
                      4 * 10 * 16 + 4 * 32 + 16 * 32 + 32 * 32 + 32)


def mlp(bad=None):
    """A 1000-1000-10 MLP with its loss and gradients in one function; ``bad=(entry, error)`` corrupts dW1."""

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
        if bad is not None:
            dW1.flat[bad[0]] += bad[1]
        return loss, dW1, dh.sum(axis=0), h.T @ ds, ds.sum(axis=0)

    counted = Counted(mlp_loss)
    wrapped = lambda *args: counted(*args)  # noqa: E731
    wrapped.__signature__ = __import__("inspect").signature(mlp_loss)
    check = gc.returns_grad(
        shapes={"W1": "D,H", "b1": "H", "W2": "H,C", "b2": "C"},
        args={"X": lambda d, rng: rng.standard_normal((d.N, d.D)), "y": gc.labels("N", classes="C")},
        ranges={"W1": (-0.05, 0.05), "W2": (-0.05, 0.05)},
        dims={"N": (1, 4), "C": (2, 10)},
    )(wrapped)
    _open_ranges(check)
    check.torch_wrap = ("loss", None)
    return "MLP 1000-1000-10", check, {"N": 16, "D": 1000, "H": 1000, "C": 10}, counted, 1000 * 1000 + 1000 + 10010


def _open_ranges(check):
    space = get_check(check).space
    space.ranged = {n: (1, 10**7) for n in space.ranged}


# ------------------------------------------------------------------ measuring


def tool(check, dims, counted, mode):
    counted.reset()
    t0 = clock()
    report = gc.check_at(check, dims, mode=mode)
    return counted.calls, clock() - t0, report.ok, counted.seconds


def problem_for(check, dims, counted):
    chk = get_check(check)
    problem = chk.build(chk.space.at(dims), 0, lambda strategy: None)
    problem.loss()
    problem.loss()  # now counted.last holds read-only views of the very arrays problem.params perturbs
    return problem


def reduce_to_scalar(result, upstream):
    first = result[0] if isinstance(result, tuple) else result
    first = np.asarray(first, dtype=np.float64)
    if first.ndim == 0:
        return float(first)
    if "g" not in upstream:
        upstream["g"] = np.random.default_rng(1).standard_normal(first.shape)
    return float(np.sum(first * upstream["g"]))


def forward_seconds(counted, repeat=10):
    args = counted.last
    counted.fn(*args)
    t0 = clock()
    for _ in range(repeat):
        counted.fn(*args)
    return (clock() - t0) / repeat


def baseline(problem, counted):
    """eval_numerical_gradient_array on every parameter: perturb in place, call the forward, 2 passes per entry."""
    args, upstream, h = counted.last, {}, 1e-5
    calls, t0 = 0, clock()
    for p in problem.params.values():
        grad = np.zeros_like(p)
        it = np.nditer(p, flags=["multi_index"], op_flags=["readwrite"])
        while not it.finished:
            ix = it.multi_index
            old = p[ix]
            p[ix] = old + h
            pos = reduce_to_scalar(counted.fn(*args), upstream)
            p[ix] = old - h
            neg = reduce_to_scalar(counted.fn(*args), upstream)
            p[ix] = old
            grad[ix] = (pos - neg) / (2 * h)
            calls += 2
            it.iternext()
    return calls, clock() - t0


def _print(rows) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))


def localization(sizes) -> list[tuple[str, ...]]:
    """Passes beyond the verdict to find k corrupted entries of w, against 2*log2(P) + 8 per entry."""
    rows = [("corrupted entries of w", "P", "k", "beyond verdict", "bound k(2log2P+8)", "found", "seconds")]
    for P in sizes:
        for k in (1, 3):
            D = int(round(math.sqrt(P)))
            bad = [int(i) for i in np.random.default_rng(k).choice(D * D, size=k, replace=False)]
            name, check, dims, counted, _ = affine_with_bad_entries(D, bad)
            counted.reset()
            t0 = clock()
            report = gc.check_at(check, dims, mode="probe")
            seconds = clock() - t0
            found = sorted(int(np.ravel_multi_index(i, (D, D))) for i, _, _ in report.params["w"].worst)
            _, correct, _, correct_counted, _ = affine_with_bad_entries(D, [])
            correct_counted.reset()
            gc.check_at(correct, dims, mode="probe")
            verdict = correct_counted.calls  # the same check on the correct code: its verdict's passes
            rows.append((name, str(D * D), str(k), str(counted.calls - verdict), f"{k * (2 * math.log2(D * D) + 8):.0f}",
                         "all" if found == sorted(bad) else f"{len(set(found) & set(bad))}/{k}", f"{seconds:.2f}"))
    return rows


def affine_with_bad_entries(D, bad):
    def affine_forward(x, w, b):
        return x @ w + b, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout
        dw.flat[bad] += 0.5
        return dout @ w.T, dw, dout.sum(axis=0)

    return functional(f"affine {D}x{D}", affine_forward, affine_backward,
                      {"shapes": {"x": "N,D", "w": "D,M", "b": "M"}}, {"N": 8, "D": D, "M": D}, D * D)


# ---------------------------------------------------------------------- torch

#: torch's slow mode builds whole Jacobians: run it only below this many passes.
MAX_TORCH_SLOW = 30_000


def torch_gradcheck(check, dims, counted, size, fast: bool):
    """torch.autograd.gradcheck on the same NumPy code, wrapped in an autograd.Function."""
    import torch

    torch.set_num_threads(1)

    chk = get_check(check)
    kind, backward = check.torch_wrap
    problem_for(check, dims, counted)  # leaves the example's arguments in counted.last
    args = list(counted.last)  # read-only views of the example's arrays, others as drawn
    names = list(chk.signature_names)
    wrt = [names.index(n) for n in chk.wrt]

    def call(arrays):
        full = list(args)
        for i, a in zip(wrt, arrays):
            full[i] = a
        return counted(*full)

    class NumpyFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *tensors):
            result = call([t.detach().numpy() for t in tensors])
            if kind == "pair":
                ctx.cache = result[-1]
                return torch.from_numpy(np.ascontiguousarray(result[0], dtype=np.float64))
            ctx.grads = result[1:]
            return torch.tensor(float(result[0]), dtype=torch.float64)

        @staticmethod
        def backward(ctx, grad_out):
            if kind == "pair":
                grads = backward(grad_out.numpy().copy(), ctx.cache)
            else:
                grads = [g * float(grad_out) for g in ctx.grads]
            return tuple(torch.from_numpy(np.ascontiguousarray(g, dtype=np.float64)) for g in grads)

    inputs = tuple(torch.tensor(np.array(args[i], dtype=np.float64), requires_grad=True) for i in wrt)
    counted.reset()
    t0 = clock()
    ok = torch.autograd.gradcheck(NumpyFunction.apply, inputs, eps=1e-6, atol=1e-5, rtol=1e-3,
                                  fast_mode=fast, raise_exception=False)
    return counted.calls, clock() - t0, ok, counted.seconds


def torch_cells(check, dims, counted, size, fwd):
    try:
        import torch  # noqa: F401
    except ImportError:
        return ("-", "-", "-", "-")
    f_n, f_t, ok_fast, _ = torch_gradcheck(check, dims, counted, size, fast=True)
    if not ok_fast:
        print("warning: torch fast_mode gradcheck did not pass", file=sys.stderr)
    if 2 * size <= MAX_TORCH_SLOW:
        s_n, s_t, ok_slow, _ = torch_gradcheck(check, dims, counted, size, fast=False)
        if not ok_slow:
            print("warning: torch gradcheck did not pass", file=sys.stderr)
        slow = (str(s_n), f"{s_t:.2f}")
    else:
        slow = (f"~{2 * size}", f"~{2 * size * fwd:.0f}+")
    return (slow[0], slow[1], str(f_n), f"{f_t:.2f}")


# ------------------------------------------------------------------ jax


def jax_check(check, dims, counted, eps=1e-4):
    """jax.test_util.check_grads (reverse mode, its default tolerances) on the same NumPy code.

    The NumPy functions enter jax through ``pure_callback`` inside a ``custom_vjp``;
    jax's numeric side is one central difference along one random direction.
    """
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    jax.config.update("jax_enable_x64", True)
    chk = get_check(check)
    kind, backward = check.torch_wrap
    problem_for(check, dims, counted)
    args = list(counted.last)
    names = list(chk.signature_names)
    wrt = [names.index(n) for n in chk.wrt]

    def call(arrays):
        full = list(args)
        for i, a in zip(wrt, arrays):
            full[i] = np.asarray(a)
        return counted(*full)

    shapes = [np.shape(args[i]) for i in wrt]
    if kind == "pair":
        out_shape = np.shape(call([args[i] for i in wrt])[0])
    counted.reset()

    def numpy_out(*arrays):
        result = call(arrays)
        if kind == "pair":
            return np.ascontiguousarray(result[0], dtype=np.float64)
        return np.float64(result[0])

    def numpy_grads(g, *arrays):
        result = call(arrays)
        if kind == "pair":
            grads = backward(np.array(g, dtype=np.float64), result[-1])
        else:
            grads = [np.asarray(x) * float(g) for x in result[1:1 + len(arrays)]]
        return tuple(np.ascontiguousarray(x, dtype=np.float64) for x in grads)

    out_spec = jax.ShapeDtypeStruct(out_shape if kind == "pair" else (), jnp.float64)
    grad_spec = tuple(jax.ShapeDtypeStruct(sh, jnp.float64) for sh in shapes)

    @jax.custom_vjp
    def f(*arrays):
        return jax.pure_callback(numpy_out, out_spec, *arrays)

    def f_fwd(*arrays):
        return f(*arrays), arrays

    def f_bwd(saved, g):
        return jax.pure_callback(numpy_grads, grad_spec, g, *saved)

    f.defvjp(f_fwd, f_bwd)
    inputs = tuple(jnp.asarray(np.array(args[i], dtype=np.float64)) for i in wrt)
    t0 = clock()
    try:
        check_grads(f, inputs, order=1, modes=["rev"], eps=eps)
        ok = True
    except AssertionError:
        ok = False
    return counted.calls, clock() - t0, ok, counted.seconds


# ------------------------------------------------------------------ the side-by-side table


def floor_seconds(check, dims, counted, repeat):
    """One forward and one backward of the user's code, bare: the least a verdict can cost."""
    kind, backward = check.torch_wrap
    problem_for(check, dims, counted)
    args = counted.last
    best = math.inf
    for _ in range(repeat):
        t0 = clock()
        result = counted.fn(*args)
        if kind == "pair":
            backward(np.ones_like(result[0]), result[-1])
        best = min(best, clock() - t0)
    return best


def best_of(repeat, run):
    """The fastest of ``repeat`` runs of ``run() -> (calls, seconds, ok, user_seconds)``; the verdict of the first.

    Returns (calls, seconds, ok, harness seconds: the run's time outside the user's code).
    """
    results = [run() for _ in range(repeat)]
    best = min(results, key=lambda r: r[1])
    return results[0][0], best[1], results[0][2], best[1] - best[3]


def verdict(ok_correct, ok_bad):
    if not ok_correct:
        return "FALSE ALARM"
    return "caught" if not ok_bad else "MISSED"


def peers(correct, bad, repeat, size, floor):
    """Each tool on the correct code (timed) and on its twin with one wrong entry (its verdict)."""
    tools = {
        "gc probe": lambda c: tool(*c, "probe"),
        "gc auto": lambda c: tool(*c, "auto"),
    }
    try:
        import torch  # noqa: F401

        tools["torch fast"] = lambda c: torch_gradcheck(*c, size, fast=True)
        if 2 * size <= MAX_TORCH_SLOW:
            tools["torch slow"] = lambda c: torch_gradcheck(*c, size, fast=False)
    except ImportError:
        pass
    try:
        import jax  # noqa: F401

        tools["jax"] = lambda c: jax_check(*c)
    except ImportError:
        pass
    cells = {}
    for label, run in tools.items():
        calls, seconds, ok, harness = best_of(repeat, lambda run=run: run(correct))
        ok_bad = run(bad)[2]
        cells[label] = (calls, seconds, f"{harness * 1e3:.2f}", verdict(ok, ok_bad))
    if 2 * size <= MAX_RUN_PASSES:
        problem = problem_for(*correct)
        calls, seconds = baseline(problem, correct[2])
        cells["cs231n loop"] = (calls, seconds, "-", "(no verdict)")
    else:
        calls = 2 * size
        cells["cs231n loop"] = (calls, calls * forward_seconds(correct[2]), "-", "~ estimated")
    return cells


def side_by_side(cases, repeat):
    rows = [("case", "params", "floor ms", "tool", "calls", "seconds", "x floor", "harness ms", "one wrong entry")]
    for name, size, correct, bad in cases:
        floor = floor_seconds(*correct, repeat=20)
        for label, (calls, seconds, harness, said) in peers(correct, bad, repeat, size, floor).items():
            rows.append((name, str(size), f"{floor * 1e3:.2f}", label, str(calls), f"{seconds:.4f}",
                         f"{seconds / floor:.1f}x", harness, said))
        print(f"  done: {name}", file=sys.stderr)
    return rows


def affine_pair(P, error=4e-3):
    correct = affine(P)
    D = int(round(math.sqrt(P)))
    bad_entry = D * D // 3 + 5
    name, check, dims, counted, size = correct

    def affine_forward(x, w, b):
        return x @ w + b, (x, w)

    def affine_backward(dout, cache):
        x, w = cache
        dw = x.T @ dout
        dw.flat[bad_entry] += error
        return dout @ w.T, dw, dout.sum(axis=0)

    bad = functional(name, affine_forward, affine_backward, {"shapes": {"x": "N,D", "w": "D,M", "b": "M"}},
                     {"N": 8, "D": D, "M": D}, size)
    return name, size, (check, dims, counted), (bad[1], bad[2], bad[3])


def mlp_pair(error=4e-3, bad_entry=123456):
    name, check, dims, counted, size = mlp()
    _, bad_check, _, bad_counted, _ = mlp(bad=(bad_entry, error))
    return name, size, (check, dims, counted), (bad_check, dims, bad_counted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, no 1M MLP")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the minimum is shown")
    parser.add_argument("--large", action="store_true", help="also affine 1e7 (80 MB per copy of w)")
    parser.add_argument("--sizes", type=float, nargs="+", help="affine sizes to run instead (e.g. 1e7)")
    parser.add_argument("--no-mlp", action="store_true", help="leave out the 1M-parameter MLP")
    parser.add_argument("--passes", action="store_true", help="also the older passes table (probe/auto/full/loop)")
    parser.add_argument("--wall", action="store_true", help="wall-clock times instead of this process's CPU time")
    args = parser.parse_args()
    global clock
    clock = time.perf_counter if args.wall else time.process_time
    sizes = [10**3, 10**4] if args.quick else [10**3, 10**4, 10**5, 10**6] + ([10**7] if args.large else [])
    if args.sizes:
        sizes = [int(P) for P in args.sizes]
    cases = [affine_pair(P) for P in sizes] + ([] if args.quick or args.no_mlp else [mlp_pair()])
    _print(side_by_side(cases, args.repeat))
    print(f"\nclock: {'wall time' if args.wall else 'CPU time of this process'}, one thread for every library.")
    print("floor: one forward + one backward of the NumPy code, bare (min of 20); seconds: min of "
          f"{args.repeat} runs; x floor: seconds / floor.\none wrong entry: the same code with 4e-3 added to "
          "one entry of w (W1 for the MLP): caught, MISSED, or FALSE ALARM (the correct code failed).\n"
          "cs231n loop: eval_numerical_gradient_array over every entry (~: estimated from one forward).\n"
          "harness ms: the tool's time outside the user's forward and backward (same run as seconds).")
    if args.passes:
        print()
        passes_table(args.quick)
    print()
    _print(localization(sizes[:4]))
    return 0


def passes_table(quick):
    sizes = [10**3, 10**4] if quick else [10**3, 10**4, 10**5, 10**6]
    cases = [affine(P) for P in sizes] + [conv(), rnn()] + ([] if quick else [mlp()])
    try:
        import torch

        torch_note = (f"torch {torch.__version__}: torch.autograd.gradcheck (slow: whole Jacobians; fast_mode=True) "
                      f"on the same NumPy code in an autograd.Function")
    except ImportError:
        torch_note = "torch not installed: its columns are '-' (pip install -e .[bench] to compare)"

    head = ("case", "params", "lower", "probe", "auto", "full", "loop", "torch", "torch fast", "loop/probe",
            "probe/lower", "t probe", "t auto", "t full", "t loop", "t torch", "t fast", "full vs fwd")
    rows = [head]
    for name, check, dims, counted, size in cases:
        tensors = len(get_check(check).wrt)
        p_n, p_t, ok_p, _ = tool(check, dims, counted, "probe")
        a_n, a_t, ok_a, _ = tool(check, dims, counted, "auto")
        problem = problem_for(check, dims, counted)
        fwd = forward_seconds(counted)
        if 2 * size <= MAX_RUN_PASSES:
            f_n, f_t, ok_f, _ = tool(check, dims, counted, "full")
            problem = problem_for(check, dims, counted)
            l_n, l_t = baseline(problem, counted)
            full = (str(f_n), f"{f_t:.2f}", f"{100 * (f_t / (f_n * fwd) - 1):+.0f}%")
            loop = (str(l_n), f"{l_t:.2f}")
        else:
            f_n, l_n = 2 * size, 2 * size
            full = (f"~{f_n}", f"~{f_n * fwd:.0f}", "-")
            loop = (f"~{l_n}", f"~{l_n * fwd:.0f}")
        lower = 2 * tensors
        t_slow, t_slow_t, t_fast, t_fast_t = torch_cells(check, dims, counted, size, fwd)
        rows.append((name, str(size), str(lower), str(p_n), str(a_n), full[0], loop[0], t_slow, t_fast,
                     f"{l_n / p_n:.0f}x", f"{p_n / lower:.1f}x", f"{p_t:.2f}", f"{a_t:.2f}", full[1], loop[1],
                     t_slow_t, t_fast_t, full[2]))
        if not (ok_p and ok_a):
            print(f"warning: {name} did not pass", file=sys.stderr)
    _print(rows)
    print("\npasses: forward passes of the user's code at one example; t: seconds (noisy, shared machine);"
          "\nfull vs fwd: full-mode time over (its passes x one bare forward) - 1, the harness overhead;"
          f"\n~: estimated from one forward's time, not run.\n{torch_note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
