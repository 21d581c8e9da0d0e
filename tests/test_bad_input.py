"""Bad input: each gets a ValueError or TypeError naming the parameter, the rule and the value
received; nothing is half-built or half-written."""

import re
import warnings

import numpy as np
import pytest

import relunet as rn

NET = rn.Network([3, 4, 2], seed=0)
X = np.ones((5, 3))
Y = np.ones((5, 2))


def nan_at(shape, i, j, value=np.nan):
    A = np.ones(shape)
    A[i, j] = value
    return A


# --------------------------------------------------------------------------- data
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: NET.predict(np.ones((5, 4))), ValueError, r"X has 4 features but the network expects 3"),
        (lambda: NET.forward(np.ones((5, 1))), ValueError, r"X has 1 features but the network expects 3"),
        (lambda: NET.predict(np.ones(3)), ValueError, r"X must be 2-D .*\(got shape \(3,\)\)"),
        (lambda: NET.predict(np.ones((2, 3, 1))), ValueError, r"X must be 2-D .*\(got shape \(2, 3, 1\)\)"),
        (lambda: NET.loss(X, np.ones((5, 3))), ValueError, r"Y has 3 outputs but the network expects 2"),
        (lambda: NET.loss(X, np.ones((4, 2))), ValueError, r"Y has 4 rows but X has 5"),
        (lambda: NET.loss(X, np.ones(5)), ValueError, r"Y must be 2-D .*\(got shape \(5,\)\)"),
        (lambda: NET.backward(NET.forward(X), np.ones((5, 7))), ValueError, r"Y has 7 outputs but the network expects 2"),
        (lambda: NET.gradient(X, np.ones((6, 2))), ValueError, r"Y has 6 rows but X has 5"),
        (lambda: NET.loss(nan_at((5, 3), 2, 1), Y), ValueError, r"X must be finite \(got nan at row 2, column 1\)"),
        (lambda: NET.predict(nan_at((1, 3), 0, 2, np.inf)), ValueError, r"X must be finite \(got inf at row 0, column 2\)"),
        (lambda: NET.loss(X, nan_at((5, 2), 4, 0, -np.inf)), ValueError, r"Y must be finite \(got -inf at row 4, column 0\)"),
        (lambda: NET.gradient(X, nan_at((5, 2), 1, 1)), ValueError, r"Y must be finite \(got nan at row 1, column 1\)"),
        (lambda: NET.predict(np.ones((0, 3))), ValueError, r"X must have at least one row \(got shape \(0, 3\)\)"),
        (lambda: NET.loss(np.ones((0, 3)), np.ones((0, 2))), ValueError, r"X must have at least one row \(got shape \(0, 3\)\)"),
        (lambda: NET.backward(NET.forward(X), np.ones((0, 2))), ValueError, r"Y must have at least one row \(got shape \(0, 2\)\)"),
        (lambda: NET.predict([["a", "b", "c"]]), TypeError, r"X must hold real numbers \(got dtype <U1\)"),
        (lambda: NET.predict(np.ones((2, 3)) * 1j), TypeError, r"X must hold real numbers \(got dtype complex128\)"),
        (lambda: NET.predict([[1, 2, 3], [1, 2]]), ValueError, r"X must be a 2-D numeric array"),
        (lambda: NET.loss(X[:2], [[1, 2], [1]]), ValueError, r"Y must be a 2-D numeric array"),
        (lambda: NET.loss(X, Y, sample_weight=[1, 1, -1, 1, 1]), ValueError, r"sample_weight must be finite and >= 0 \(got -1.0 at row 2\)"),
        (lambda: NET.loss(X, Y, sample_weight=[1, 1, 1, np.nan, 1]), ValueError, r"sample_weight must be finite and >= 0 \(got nan at row 3\)"),
        (lambda: NET.gradient(X, Y, sample_weight=np.zeros(5)), ValueError, r"sample_weight must have a positive sum \(got 0.0\)"),
        (lambda: NET.loss(X, Y, sample_weight=[1, 1, 1, 1]), ValueError, r"sample_weight must have shape \(5,\).*\(got \(4,\)\)"),
        (lambda: NET.loss(X, Y, sample_weight=["a"] * 5), TypeError, r"sample_weight must hold real numbers \(got dtype <U1\)"),
    ],
)
def test_bad_data(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_values_beyond_float32_are_refused_with_the_value_given_and_no_warning():
    # 1e300 is finite in the caller's float64 but becomes inf when cast to float32 (max 3.4e38):
    # the error reports the value given, not the inf of the cast, and numpy's overflow warning
    # is not leaked.
    net32 = rn.Network([3, 2], seed=0, dtype=np.float32)
    big = np.ones((2, 3))
    big[1, 2] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X must fit in float32 \(got 1e\+300 at row 1, column 2"):
            net32.predict(big)
        with pytest.raises(ValueError, match=r"Y must fit in float32 \(got -1e\+39 at row 0, column 0"):
            net32.loss(np.ones((2, 3)), np.full((2, 2), -1e39))
        with pytest.raises(ValueError, match=r"sample_weight must sum to a finite float32 \(got a sum of 6e\+38\)"):
            net32.loss(np.ones((2, 3)), np.ones((2, 2)), sample_weight=[3e38, 3e38])


def test_empty_batch_in_gradient_check():
    with pytest.raises(ValueError, match=r"X must have at least one row \(got shape \(0, 3\)\)"):
        rn.check_gradients(NET, np.ones((0, 3)), np.ones((0, 2)))


# --------------------------------------------------------------------------- construction
@pytest.mark.parametrize(
    "sizes, exc, match",
    [
        ([3, 0, 1], ValueError, r"sizes\[1\] must be a positive int \(got 0\)"),
        ([3, -1, 1], ValueError, r"sizes\[1\] must be a positive int \(got -1\)"),
        ([0, 1], ValueError, r"sizes\[0\] must be a positive int \(got 0\)"),
        ([3, True, 1], TypeError, r"sizes\[1\] must be a positive int \(got True\)"),
        ([3, 4, False], TypeError, r"sizes\[2\] must be a positive int \(got False\)"),
        ([3, 2.0, 1], TypeError, r"sizes\[1\] must be a positive int \(got 2.0\)"),
        ([3.5, 1], TypeError, r"sizes\[0\] must be a positive int \(got 3.5\)"),
        ([3, "4", 1], TypeError, r"sizes\[1\] must be a positive int \(got '4'\)"),
        ([3, None], TypeError, r"sizes\[1\] must be a positive int \(got None\)"),
        (np.array([3.0, 1.0]), TypeError, r"sizes\[0\] must be a positive int \(got "),
        ([3], ValueError, r"sizes must list at least the input and output sizes .*\(got \[3\]\)"),
        ([], ValueError, r"sizes must list at least .*\(got \[\]\)"),
        (5, TypeError, r"sizes must be a sequence of positive ints .*\(got 5\)"),
        ("34", TypeError, r"sizes must be a sequence of positive ints .*\(got '34'\)"),
    ],
)
def test_bad_sizes(sizes, exc, match):
    with pytest.raises(exc, match=match):
        rn.Network(sizes)


def test_numpy_integer_sizes_are_fine():
    net = rn.Network(np.array([3, 4, 1]), seed=0)
    assert net.sizes == (3, 4, 1) and all(type(m) is int for m in net.sizes)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"activation": "relux"}, ValueError, r"unknown activation 'relux'; valid names are .*leaky_relu.*relu.*sigmoid.*softplus.*tanh"),
        ({"output_activation": "swish"}, ValueError, r"unknown activation 'swish'; valid names are .*identity"),
        ({"cost": "mse"}, ValueError, r"unknown cost 'mse'; valid names are binary_cross_entropy, cross_entropy, squared_error"),
        ({"init": "kaiming"}, ValueError, r"unknown init 'kaiming'; valid names are .*glorot.*he.*lecun.*normal.*orthogonal"),
        ({"activation": 3}, TypeError, r"activation must be a name or an Activation \(got int\)"),
        ({"cost": None}, TypeError, r"cost must be a name or a Cost \(got NoneType\)"),
        ({"init": 1.0}, TypeError, r"init must be a name or an Initializer \(got float\)"),
        ({"activation": ["relu"]}, ValueError, r"activation must be one activation or one per hidden layer \(2\), got 1"),
        ({"activation": "softmax"}, ValueError, r"activation must be elementwise; softmax is only an output_activation"),
        ({"cost": "cross_entropy", "output_activation": "relu"}, ValueError, r"output_activation must be 'softmax' \(got 'relu'\)"),
        ({"cost": "binary_cross_entropy"}, ValueError, r"output_activation must be 'sigmoid' \(got 'identity'\)"),
        ({"dtype": np.float16}, ValueError, r"dtype must be float32 or float64 \(got float16\)"),
        ({"dtype": int}, ValueError, r"dtype must be float32 or float64 \(got int64\)"),
        ({"dtype": "foo"}, TypeError, r"dtype must be float32 or float64 \(got 'foo'\)"),
        ({"bias": "yes"}, TypeError, r"bias must be True or False \(got 'yes'\)"),
        ({"bias": 1}, TypeError, r"bias must be True or False \(got 1\)"),
        ({"seed": -3}, ValueError, r"seed must be a non-negative int.*\(got -3\)"),
        ({"seed": 1.5}, TypeError, r"seed must be a non-negative int.*\(got 1.5\)"),
        ({"seed": True}, TypeError, r"seed must be a non-negative int.*\(got True\)"),
    ],
)
def test_bad_network_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        rn.Network([3, 4, 4, 2], **kwargs)


@pytest.mark.parametrize(
    "value, exc",
    [(0.3, ValueError), (2, ValueError), (-1, ValueError), (float("nan"), ValueError),
     ("1", TypeError), (True, TypeError), (False, TypeError), (None, TypeError)],
)
def test_bad_step_at_zero(value, exc):
    expected = rf"step_at_zero must be one of 1, 0 or 0.5 \(got {re.escape(repr(value))}\)"
    with pytest.raises(exc, match=expected):
        rn.ReLU(step_at_zero=value)
    with pytest.raises(exc, match=expected):
        rn.LeakyReLU(alpha=0.1, step_at_zero=value)
    with pytest.raises(exc, match=expected):
        rn.get_activation("relu", step_at_zero=value)


def test_good_step_at_zero_spellings():
    for value, expected in [(1, 1.0), (0, 0.0), (0.5, 0.5), (np.float64(0.5), 0.5), (np.int64(1), 1.0)]:
        assert rn.ReLU(step_at_zero=value).step_at_zero == expected


def test_bad_activation_parameters():
    with pytest.raises(ValueError, match=r"alpha must be a finite number >= 0 \(got -0.1\)"):
        rn.LeakyReLU(alpha=-0.1)
    with pytest.raises(TypeError, match=r"alpha must be a real number \(got '0.1'\)"):
        rn.LeakyReLU(alpha="0.1")
    with pytest.raises(TypeError, match=r"activation 'relu':.*alpha"):
        rn.get_activation("relu", alpha=0.2)


# --------------------------------------------------------------------------- nothing half-builds
@pytest.mark.parametrize(
    "kwargs",
    [{"sizes": [3, 0, 1]}, {"cost": "cross_entropy"}, {"activation": "nope"}, {"init": "nope"}, {"dtype": "int8"}],
)
def test_a_refused_network_draws_nothing_from_the_generator(kwargs):
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    kwargs = {"sizes": [3, 4, 2], **kwargs}
    with pytest.raises((ValueError, TypeError)):
        rn.Network(kwargs.pop("sizes"), seed=rng, **kwargs)
    assert rng.bit_generator.state == state


def test_refused_data_leaves_buffers_and_parameters_alone():
    net = rn.Network([3, 4, 2], seed=0)
    params = [p.copy() for p in net.parameters()]
    trace = net.forward(X)
    grads = net.backward(trace, Y)
    saved_trace = [a.copy() for a in trace.r + trace.z[1:]]
    saved_grads = [a.copy() for a in grads.parameters() + grads.dC_dz[1:]]
    with pytest.raises(ValueError):
        net.forward(nan_at((5, 3), 0, 0), trace=trace)
    with pytest.raises(ValueError):
        net.backward(trace, nan_at((5, 2), 0, 0), grads=grads)
    with pytest.raises(ValueError):
        rn.check_gradients(net, X, Y, tolerance=-1)
    assert all(np.array_equal(a, b) for a, b in zip(saved_trace, trace.r + trace.z[1:]))
    assert all(np.array_equal(a, b) for a, b in zip(saved_grads, grads.parameters() + grads.dC_dz[1:]))
    assert all(np.array_equal(a, b) for a, b in zip(params, net.parameters()))


def test_no_assert_statements_guard_user_input():
    # validation must survive python -O: the library raises, it does not assert
    import pathlib

    src = pathlib.Path(rn.__file__).parent
    for name in ("network.py", "activations.py", "costs.py", "initializers.py", "gradcheck.py", "_validation.py"):
        text = (src / name).read_text()
        assert not re.search(r"^\s*assert\b", text, flags=re.M), name
