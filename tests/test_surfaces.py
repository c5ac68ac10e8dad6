"""The built-in test surfaces: right minima, right gradients, right shapes, plottable grids."""

import math

import numpy as np
import pytest
import torch

from optviz.surfaces import MAX_NOISE, SURFACES, Surface, parse_surface

# Independent oracle: global minima and minimum values as published (Jamil & Yang 2013,
# "A literature survey of benchmark functions for global optimization problems", and the
# virtual library of simulation experiments at sfu.ca/~ssurjano), to the digits given there.
LITERATURE: dict[str, tuple[list[tuple[float, float]], float]] = {
    "rosenbrock": ([(1.0, 1.0)], 0.0),
    "ravine": ([(0.0, 0.0)], 0.0),
    "booth": ([(1.0, 3.0)], 0.0),
    "plateau": ([(0.0, 0.0)], 0.0),
    "noisy_quadratic": ([(0.0, 0.0)], 0.0),
    "beale": ([(3.0, 0.5)], 0.0),
    "himmelblau": (
        [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)],
        0.0,
    ),
    "six_hump_camel": ([(0.0898, -0.7126), (-0.0898, 0.7126)], -1.0316),
    "styblinski_tang": ([(-2.903534, -2.903534)], 2 * -39.16617),
    "rastrigin": ([(0.0, 0.0)], 0.0),
    "ackley": ([(0.0, 0.0)], 0.0),
}
WITH_MINIMA = [key for key, surface in SURFACES.items() if surface.minima]


def f64(points) -> torch.Tensor:
    return torch.tensor(points, dtype=torch.float64)


def random_points(surface: Surface, n: int, seed: int = 0) -> torch.Tensor:
    """Uniform points inside the surface's plot window, float64, shape (n, 2)."""
    x_min, x_max, y_min, y_max = surface.bounds
    u = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    low = f64([x_min, y_min])
    return low + u * (f64([x_max, y_max]) - low)


def hessian(surface: Surface, point: tuple[float, float]) -> torch.Tensor:
    return torch.autograd.functional.hessian(surface.f, f64(point))  # (2, 2)


def test_registry_has_the_surfaces_the_app_promises():
    required = {"rosenbrock", "saddle", "noisy_quadratic", "beale", "himmelblau", "rastrigin"}
    required |= {"ackley", "booth", "six_hump_camel", "styblinski_tang"}
    assert required <= set(SURFACES)
    assert next(iter(SURFACES)) == "rosenbrock"  # the first entry is the UI default


@pytest.mark.parametrize("key", SURFACES)
def test_each_surface_describes_itself(key):
    surface = SURFACES[key]
    assert surface.key == key == key.lower()
    assert surface.label and surface.latex.startswith("f(x, y) =")
    assert surface.teaches.endswith(".") and len(surface.teaches) > 40


def test_literature_table_covers_every_surface_with_minima():
    assert set(LITERATURE) == set(WITH_MINIMA)


@pytest.mark.parametrize("key", WITH_MINIMA)
def test_minima_and_minimum_value_match_the_literature(key):
    surface = SURFACES[key]
    known_minima, known_value = LITERATURE[key]
    assert len(surface.minima) == len(known_minima)
    for point in known_minima:
        assert min(math.dist(point, m) for m in surface.minima) < 1e-4
    assert surface.f_min == pytest.approx(known_value, abs=1e-4)
    values = surface.f(f64(surface.minima))  # (M,)
    torch.testing.assert_close(values, torch.full_like(values, surface.f_min), rtol=0, atol=1e-12)


@pytest.mark.parametrize("key", WITH_MINIMA)
def test_minima_are_stationary_points_inside_the_window(key):
    surface = SURFACES[key]
    x_min, x_max, y_min, y_max = surface.bounds
    for x, y in surface.minima:
        assert x_min < x < x_max and y_min < y < y_max
    _, grad = surface.value_and_grad(f64(surface.minima))  # (M, 2)
    torch.testing.assert_close(grad, torch.zeros_like(grad), rtol=0, atol=1e-6)


@pytest.mark.parametrize("key", WITH_MINIMA)
def test_nothing_on_a_dense_grid_lies_below_the_global_minimum(key):
    surface = SURFACES[key]
    _, _, Z = surface.grid(801)
    assert Z.min() >= surface.f_min - 1e-9 * (1.0 + abs(surface.f_min))


def discrete_local_minima(xs: np.ndarray, ys: np.ndarray, Z: np.ndarray) -> torch.Tensor:
    """Interior grid points no higher than their 8 neighbours, as (N, 2) points."""
    n_rows, n_cols = Z.shape
    centre = Z[1:-1, 1:-1]
    is_min = np.ones_like(centre, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                is_min &= centre <= Z[1 + di : n_rows - 1 + di, 1 + dj : n_cols - 1 + dj]
    rows, cols = np.nonzero(is_min)
    return f64(np.stack([xs[cols + 1], ys[rows + 1]], axis=-1))


def zoom_in(surface: Surface, points: torch.Tensor, spacing: float) -> torch.Tensor:
    """Derivative-free polish (works on Ackley's cone): best of an 11×11 patch, shrink, repeat."""
    steps = torch.arange(-5, 6, dtype=torch.float64)
    offsets = torch.stack(torch.meshgrid(steps, steps, indexing="xy"), dim=-1).reshape(-1, 2)
    for _ in range(10):
        patch = points[:, None, :] + spacing * offsets  # (N, 121, 2)
        best = surface.f(patch).argmin(dim=1)  # (N,)
        points = patch[torch.arange(len(points)), best]  # (N, 2)
        spacing /= 5.0
    return points


@pytest.mark.parametrize("key", WITH_MINIMA)
def test_every_global_minimum_in_the_window_is_listed(key):
    # Polish every local minimum of a fine grid; those that reach the global value must be
    # listed minima, and every listed minimum must be reached. A forgotten Himmelblau or camel
    # minimum, or a wrong coordinate, fails here.
    surface = SURFACES[key]
    xs, ys, Z = surface.grid(401)
    spacing = max(xs[1] - xs[0], ys[1] - ys[0])
    points = zoom_in(surface, discrete_local_minima(xs, ys, Z), spacing)  # (N, 2)
    at_global = points[surface.f(points) <= surface.f_min + 1e-6 * (1.0 + abs(surface.f_min))]
    distances = torch.cdist(at_global, f64(surface.minima))  # (N_global, M)
    assert len(at_global) > 0
    assert distances.min(dim=1).values.max() < 1e-2, "a global minimum is missing from .minima"
    assert distances.min(dim=0).values.max() < 1e-2, "a listed minimum is not a global minimum"


@pytest.mark.parametrize("key", SURFACES)
def test_autograd_gradient_matches_central_differences(key):
    surface = SURFACES[key]
    points = random_points(surface, 32)  # (32, 2)
    _, grad = surface.value_and_grad(points)  # (32, 2)
    h = 1e-6
    for axis in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[axis] = h
        numeric = (surface.f(points + step) - surface.f(points - step)) / (2 * h)  # (32,)
        torch.testing.assert_close(grad[:, axis], numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 1, 5), (0,)])
@pytest.mark.parametrize("key", SURFACES)
def test_f_maps_points_to_values_for_any_leading_shape_and_dtype(key, shape, dtype):
    surface = SURFACES[key]
    n = math.prod(shape)
    points = random_points(surface, n, seed=1).reshape(*shape, 2)  # (*shape, 2)
    values = surface.f(points.to(dtype))
    assert values.shape == shape and values.dtype == dtype
    reference = surface.f(points)  # float64
    torch.testing.assert_close(values.double(), reference, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("key", SURFACES)
def test_value_and_grad_works_under_no_grad_and_leaves_the_input_alone(key):
    surface = SURFACES[key]
    points = random_points(surface, 6).reshape(2, 3, 2)
    before = points.clone()
    with torch.no_grad():
        value, grad = surface.value_and_grad(points)
    assert value.shape == (2, 3) and grad.shape == (2, 3, 2)
    assert not value.requires_grad and not grad.requires_grad and not points.requires_grad
    assert torch.equal(points, before)
    torch.testing.assert_close(value, surface.f(points))


def test_f_rejects_points_without_two_coordinates():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        SURFACES["rosenbrock"].f(torch.zeros(4, 3))


def test_grid_rows_follow_y_and_columns_follow_x():
    tilted = Surface(
        key="t", label="t", fn=lambda x, y: x + 10.0 * y, bounds=(0, 1, 5, 7), start=(0.5, 6)
    )
    xs, ys, Z = tilted.grid(5)
    np.testing.assert_allclose(xs, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(ys, [5.0, 5.5, 6.0, 6.5, 7.0])
    np.testing.assert_allclose(Z, xs[None, :] + 10.0 * ys[:, None])


@pytest.mark.parametrize("key", SURFACES)
def test_grid_is_the_same_function_sampled_over_the_window(key):
    surface = SURFACES[key]
    xs, ys, Z = surface.grid(60)
    assert xs.shape == (60,) and ys.shape == (60,) and Z.shape == (60, 60)
    assert Z.dtype == np.float64 and np.isfinite(Z).all()
    assert (xs[0], xs[-1], ys[0], ys[-1]) == surface.bounds
    rows, cols = np.array([0, 7, 31, 59]), np.array([59, 3, 44, 0])
    expected = surface.f(f64(np.stack([xs[cols], ys[rows]], axis=-1)))
    np.testing.assert_allclose(Z[rows, cols], expected.numpy(), rtol=1e-12)


def test_grid_replaces_nan_and_inf_by_finite_extremes():
    # On this odd grid log(x) is NaN left of x = 0 and -inf at it, and 1/y is +inf at y = 0.
    wild = Surface(
        key="wild",
        label="wild",
        fn=lambda x, y: torch.log(x) + 1.0 / y,
        bounds=(-1.0, 1.0, -1.0, 1.0),
        start=(0.5, 0.5),
    )
    xs, ys, Z = wild.grid(21)
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        raw = np.log(X) + 1.0 / Y
    finite = np.isfinite(raw)
    assert not finite.all() and np.isfinite(Z).all()
    np.testing.assert_array_equal(Z[finite], raw[finite])
    assert Z.max() == raw[finite].max() and Z.min() == raw[finite].min()
    assert Z[5, 0] == raw[finite].max()  # x = -1: log is NaN there


@pytest.mark.parametrize("n", [0, 1, 5000, 2.5, True, "200"])
def test_grid_rejects_sizes_outside_the_cap(n):
    with pytest.raises(ValueError, match="grid size"):
        SURFACES["booth"].grid(n)


@pytest.mark.parametrize("key", SURFACES)
def test_start_is_inside_the_window_and_not_already_at_a_minimum(key):
    surface = SURFACES[key]
    x_min, x_max, y_min, y_max = surface.bounds
    x, y = surface.start
    assert x_min < x < x_max and y_min < y < y_max
    diagonal = math.hypot(x_max - x_min, y_max - y_min)
    assert all(math.dist(surface.start, m) > 0.1 * diagonal for m in surface.minima)
    _, grad = surface.value_and_grad(f64(surface.start))
    assert torch.linalg.vector_norm(grad) > 0  # an optimizer started here moves


def test_only_the_noisy_quadratic_has_gradient_noise_by_default():
    noisy = {key for key, surface in SURFACES.items() if surface.noise > 0}
    assert noisy == {"noisy_quadratic"}
    assert 0.5 <= SURFACES["noisy_quadratic"].noise <= 2.0


def test_noisy_quadratic_is_ill_conditioned_and_deterministic():
    surface = SURFACES["noisy_quadratic"]
    eigenvalues = torch.linalg.eigvalsh(hessian(surface, (0.3, -0.2)))
    assert 10.0 <= eigenvalues.max() / eigenvalues.min() <= 20.0
    point = f64([0.3, -0.2])
    assert torch.equal(surface.f(point), surface.f(point))


def test_saddle_has_a_downhill_direction_at_its_stationary_point():
    saddle = SURFACES["saddle"]
    assert saddle.minima == () and saddle.f_min is None
    _, grad = saddle.value_and_grad(f64([0.0, 0.0]))
    assert torch.equal(grad, torch.zeros(2, dtype=torch.float64))
    eigenvalues = torch.linalg.eigvalsh(hessian(saddle, (0.0, 0.0)))
    assert eigenvalues.min() < 0 < eigenvalues.max()
    assert abs(saddle.start[1]) < 0.01  # starts almost on the ridge, so escape is the story


def test_with_noise_returns_a_noisy_copy_and_keeps_the_original():
    rosenbrock = SURFACES["rosenbrock"]
    noisy = rosenbrock.with_noise(0.5)
    assert noisy.noise == 0.5 and rosenbrock.noise == 0.0
    assert noisy.fn is rosenbrock.fn and noisy.bounds == rosenbrock.bounds
    assert rosenbrock.with_noise(MAX_NOISE).noise == MAX_NOISE
    assert rosenbrock.with_noise(0).noise == 0.0


@pytest.mark.parametrize(
    "sigma", [-0.1, MAX_NOISE + 1, math.nan, math.inf, -math.inf, "1", None, True]
)
def test_with_noise_rejects_invalid_sigma(sigma):
    with pytest.raises(ValueError, match="noise"):
        SURFACES["rosenbrock"].with_noise(sigma)


@pytest.mark.parametrize(
    ("bounds", "start"),
    [
        ((1.0, -1.0, -1.0, 1.0), (0.0, 0.0)),  # x_min > x_max
        ((-1.0, 1.0, 0.0, 0.0), (0.0, 0.0)),  # empty y range
        ((-1.0, math.inf, -1.0, 1.0), (0.0, 0.0)),
        ((-1.0, 1.0, -1.0), (0.0, 0.0)),
        ((-1.0, 1.0, -1.0, 1.0), (2.0, 0.0)),  # start outside the window
    ],
)
def test_surface_rejects_a_bad_window_or_start(bounds, start):
    with pytest.raises(ValueError):
        Surface(key="bad", label="bad", fn=lambda x, y: x * y, bounds=bounds, start=start)


def test_a_start_where_f_is_not_finite_moves_to_the_nearest_finite_point_off_the_rim():
    surface = parse_surface("x - log(x) + y**2")
    assert surface.nearest_finite_start((2.0, 0.5)) == (2.0, 0.5)  # finite: stays
    x, y = surface.nearest_finite_start((-1.0, 0.5))
    assert 0 < x <= 0.1 and abs(y - 0.5) <= 0.04  # the nearest grid point right of x = 0
    value, grad = surface.value_and_grad(torch.tensor([x, y], dtype=torch.float64))
    assert torch.isfinite(value) and grad.norm() < 1e6
