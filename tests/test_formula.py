"""User-typed surfaces: only arithmetic gets through, and it gets right values and gradients."""

import ast
import builtins
import math

import pytest
import torch

from optviz.surfaces import (
    FORMULA_FUNCTIONS,
    MAX_FORMULA_DEPTH,
    MAX_FORMULA_LENGTH,
    MAX_FORMULA_NODES,
    SURFACES,
    parse_surface,
)


def balanced_sum(leaves: int, leaf: str) -> str:
    """A shallow formula with many nodes, a+a+(a+a)+…: hits the node cap, not the depth cap."""
    if leaves == 1:
        return leaf
    half = leaves // 2
    right = balanced_sum(leaves - half, leaf)
    return f"{balanced_sum(half, leaf)}+{right if leaves - half == 1 else f'({right})'}"


NODE_ATTACK = balanced_sum(72, "-x")  # 293 characters, 215 nodes, 9 levels deep

# (text, a word the message must contain). One row per attack; adding an attack adds a row.
ATTACKS = [
    ("__import__('os').system('ls')", "attribute access"),
    ("().__class__.__bases__[0].__subclasses__()", "attribute access"),
    ("x.__class__", "attribute access"),
    ("lambda: 1", "lambda"),
    ("[x for x in y]", "comprehension"),
    ("'a'", "strings"),
    ("b'a'", "bytes"),
    ("x if y else 1", "conditional"),
    ("x < y", "comparison"),
    ("x and y", "'and'"),
    ('f"{x}"', "strings"),
    ("x[0]", "indexing"),
    ("exec('1')", "'exec'"),
    ("eval('1')", "'eval'"),
    ("open('f')", "'open'"),
    ("globals()", "'globals'"),
    ("sin(x, y)", "exactly one argument"),
    ("sin()", "exactly one argument"),
    ("sin(x=1)", "keyword"),
    ("sin(*x)", "unpacking"),
    ("sin(x)(y)", "named function"),
    ("sin + x", "'sin' is a function"),
    ("z + 1", "'z'"),
    ("X + y", "'X'"),
    ("__builtins__", "'__builtins__'"),
    ("1j", "complex"),
    ("True", "True"),
    ("None", "None"),
    ("(x, y)", "commas"),
    ("(x := 1)", "assignment"),
    ("x // y", "'//'"),
    ("x % y", "'%'"),
    ("~x", "'~'"),
    ("x; y", "column"),
    ("import os", "column"),
    ("x +", "column"),
    ("x" * 100_000, "too long"),
    ("(" * 5000 + "x" + ")" * 5000, "too long"),
    ("-" * 10_000 + "x", "too long"),
    ("sin(" * 40 + "x" + ")" * 40, "nested too deeply"),
    ("-" * 100 + "x", "nested too deeply"),
    ("9**" * 99 + "9", "nested too deeply"),
    ("9**9**9**9", "must use x or y"),
    ("pi * e", "must use x or y"),
    ("x * 9**9**9**9", "not finite"),
    ("sqrt(-1 - x^2)", "not finite"),
    (NODE_ATTACK, "too complex"),
    ("", "empty"),
    (" \t\n ", "empty"),
]


@pytest.mark.timeout(5)
@pytest.mark.parametrize(("text", "reason"), ATTACKS, ids=lambda v: repr(v)[:40])
def test_formula_outside_the_allowlist_is_rejected_with_a_reason(text, reason):
    with pytest.raises(ValueError) as caught:
        parse_surface(text)
    assert reason in str(caught.value)


def expression_nodes_and_depth(text: str) -> tuple[int, int]:
    # ast.parse only builds a tree; these are our own test strings.
    tree = ast.parse(text, mode="eval")

    def depth(node: ast.AST) -> int:
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        return 1 + max((depth(c) for c in children), default=0)

    return sum(isinstance(n, ast.expr) for n in ast.walk(tree)), depth(tree.body)


def test_attack_table_exercises_the_caps_it_claims_to():
    # Each cap row tests its cap only if it gets past the checks that run before it.
    nodes, depth = expression_nodes_and_depth(NODE_ATTACK)
    assert len(NODE_ATTACK) <= MAX_FORMULA_LENGTH
    assert nodes > MAX_FORMULA_NODES and depth <= MAX_FORMULA_DEPTH
    for deep in ["sin(" * 40 + "x" + ")" * 40, "-" * 100 + "x", "9**" * 99 + "9"]:
        nodes, depth = expression_nodes_and_depth(deep)
        assert len(deep) <= MAX_FORMULA_LENGTH and nodes <= MAX_FORMULA_NODES
        assert depth > MAX_FORMULA_DEPTH


@pytest.mark.parametrize("text", [None, 42, 1.5, b"x**2", ["x"]])
def test_formula_that_is_not_text_is_rejected(text):
    with pytest.raises(ValueError, match="text"):
        parse_surface(text)


def test_function_error_lists_what_is_available():
    with pytest.raises(ValueError, match=r"use one of: abs, .*sin") as caught:
        parse_surface("foo(x)")
    assert "'foo'" in str(caught.value)


def test_syntax_error_points_at_the_column_the_user_typed():
    # After "^" became "**" internally, the column must still count the user's characters.
    with pytest.raises(ValueError, match="column 7"):
        parse_surface("x^2 + * y")


def test_parsing_never_calls_eval_or_exec(monkeypatch, tmp_path):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec was called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    target = tmp_path / "written"
    with pytest.raises(ValueError):
        parse_surface(f"open({str(target)!r}, 'w')")
    assert not target.exists()
    parse_surface("x^2 + 3*sin(y)")  # the happy path does not need them either


def random_points(n: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points inside the default window (-3, 3)², float64, as x (n,) and y (n,)."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, dtype=torch.float64, generator=g) * 6.0 - 3.0  # (n, 2)
    return xy[:, 0], xy[:, 1]


# (text, f(x, y), ∂f/∂x, ∂f/∂y), written out by hand.
FORMULAS = [
    ("x**2 + y**2", lambda x, y: x**2 + y**2, lambda x, y: 2 * x, lambda x, y: 2 * y),
    (
        "x^2 + 3*sin(y)",
        lambda x, y: x**2 + 3 * torch.sin(y),
        lambda x, y: 2 * x,
        lambda x, y: 3 * torch.cos(y),
    ),
    (
        "exp(-x**2)*cos(pi*y)",
        lambda x, y: torch.exp(-(x**2)) * torch.cos(math.pi * y),
        lambda x, y: -2 * x * torch.exp(-(x**2)) * torch.cos(math.pi * y),
        lambda x, y: -math.pi * torch.exp(-(x**2)) * torch.sin(math.pi * y),
    ),
    (
        "sqrt(x**2 + y**2 + 1)",
        lambda x, y: torch.sqrt(x**2 + y**2 + 1),
        lambda x, y: x / torch.sqrt(x**2 + y**2 + 1),
        lambda x, y: y / torch.sqrt(x**2 + y**2 + 1),
    ),
    ("-x", lambda x, y: -x, lambda x, y: -torch.ones_like(x), lambda x, y: torch.zeros_like(x)),
    (
        "2 ** -x",
        lambda x, y: 2.0**-x,
        lambda x, y: -math.log(2.0) * 2.0**-x,
        lambda x, y: torch.zeros_like(x),
    ),
    (
        "log(1 + x**2)",
        lambda x, y: torch.log(1 + x**2),
        lambda x, y: 2 * x / (1 + x**2),
        lambda x, y: torch.zeros_like(x),
    ),
    ("x^2 + 1", lambda x, y: x**2 + 1, lambda x, y: 2 * x, lambda x, y: torch.zeros_like(x)),
    ("-x^2 + y", lambda x, y: -(x**2) + y, lambda x, y: -2 * x, lambda x, y: torch.ones_like(x)),
    ("x / y * 2", lambda x, y: x / y * 2, lambda x, y: 2 / y, lambda x, y: -2 * x / y**2),
    ("2^3^y", lambda x, y: 2.0 ** (3.0**y), lambda x, y: torch.zeros_like(x), None),
    ("x^2 − y", lambda x, y: x**2 - y, lambda x, y: 2 * x, lambda x, y: -torch.ones_like(x)),
    (
        "f(x, y) = x*y",
        lambda x, y: x * y,
        lambda x, y: y,
        lambda x, y: x,
    ),
]


@pytest.mark.parametrize(("text", "f", "dfdx", "dfdy"), FORMULAS, ids=[row[0] for row in FORMULAS])
def test_formula_gives_the_right_values_and_autograd_gradients(text, f, dfdx, dfdy):
    surface = parse_surface(text)
    x, y = random_points()
    value, grad = surface.value_and_grad(torch.stack([x, y], dim=-1))  # (n,), (n, 2)
    torch.testing.assert_close(value, f(x, y))
    torch.testing.assert_close(grad[:, 0], dfdx(x, y))
    if dfdy is not None:
        torch.testing.assert_close(grad[:, 1], dfdy(x, y))


def test_typed_rosenbrock_is_the_built_in_rosenbrock():
    built_in = SURFACES["rosenbrock"]
    typed = parse_surface("(1 - x)^2 + 100*(y - x^2)^2", bounds=built_in.bounds)
    points = torch.rand(4, 25, 2, dtype=torch.float64) * 4.0 - 2.0  # (4, 25, 2)
    for want, got in zip(
        built_in.value_and_grad(points), typed.value_and_grad(points), strict=True
    ):
        torch.testing.assert_close(got, want)


# Oracle for every allowed function; a function added without a row here fails the next test.
MATH_ORACLE = {
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "arcsin": math.asin,
    "asin": math.asin,
    "arccos": math.acos,
    "acos": math.acos,
    "arctan": math.atan,
    "atan": math.atan,
    "sinh": math.sinh,
    "cosh": math.cosh,
    "tanh": math.tanh,
    "exp": math.exp,
    "log": math.log,
    "ln": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sqrt": math.sqrt,
    "abs": abs,
    "sigmoid": lambda v: 1.0 / (1.0 + math.exp(-v)),
    "softplus": lambda v: math.log1p(math.exp(v)),
    "relu": lambda v: max(v, 0.0),
}


def test_every_allowed_function_has_an_oracle():
    assert set(MATH_ORACLE) == set(FORMULA_FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FORMULA_FUNCTIONS))
def test_each_allowed_function_computes_what_its_name_says(name):
    surface = parse_surface(f"{name}(0.1 + x^2/10) - y")  # argument in [0.1, 1): every domain
    x, y = random_points(20, seed=3)
    values = surface.f(torch.stack([x, y], dim=-1))
    expected = [
        MATH_ORACLE[name](0.1 + a**2 / 10) - b for a, b in zip(x.tolist(), y.tolist(), strict=True)
    ]
    torch.testing.assert_close(values, torch.tensor(expected, dtype=torch.float64))


def test_huge_power_becomes_infinity_instead_of_hanging():
    # 9**9**9 has 370 million digits as an integer; as floats it is inf at once, so 1/inf = 0.
    surface = parse_surface("x + 1/9**9**9")
    x, y = random_points()
    torch.testing.assert_close(surface.f(torch.stack([x, y], dim=-1)), x)
    with pytest.raises(ValueError, match="not finite anywhere"):
        parse_surface("x + 9**9**9")


def test_formula_finite_only_in_part_of_the_window_is_accepted_and_plots():
    surface = parse_surface("log(x) + y")
    _, _, Z = surface.grid(41)
    assert torch.isfinite(torch.from_numpy(Z)).all()
    value, grad = surface.value_and_grad(torch.tensor(surface.start, dtype=torch.float64))
    assert torch.isfinite(value) and torch.isfinite(grad).all()  # start where the path can move
    assert surface.start[0] > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
@pytest.mark.parametrize("text", ["x", "y", "x*y + 1", "sin(x)"])
def test_formula_keeps_shape_and_dtype_even_when_it_ignores_a_variable(text, shape, dtype):
    surface = parse_surface(text)
    points = torch.zeros(*shape, 2, dtype=dtype)
    values = surface.f(points)
    assert values.shape == shape and values.dtype == dtype


def test_formula_result_does_not_alias_the_input_points():
    points = torch.tensor([[1.0, 2.0]])
    values = parse_surface("x").f(points)
    points.add_(10.0)  # an optimizer updating θ in place must not change recorded values
    assert values.tolist() == [1.0]


def test_custom_surface_fields():
    surface = parse_surface("  x ^ 2 +\n 3*sin(y) ", bounds=(-1.0, 3.0, 0.0, 2.0))
    assert surface.key == "custom"
    assert surface.label == "x ^ 2 + 3*sin(y)"
    assert surface.bounds == (-1.0, 3.0, 0.0, 2.0)
    assert surface.minima == () and surface.f_min is None
    assert surface.noise == 0.0 and surface.log_scale is False
    assert surface.teaches == "Your own surface."
    assert surface.start == (-0.4, 1.7)  # 70% of the way from the centre to the top-left corner


@pytest.mark.parametrize(
    ("text", "latex"),
    [
        ("x^2 + 3*sin(y)", r"x^{2} + 3 \cdot \sin\left(y\right)"),
        ("(1 - x)^2", r"\left(1 - x\right)^{2}"),
        ("sqrt(x)/2", r"\frac{\sqrt{x}}{2}"),
        ("-(x + y)", r"-\left(x + y\right)"),
        ("x - (y - 1)", r"x - \left(y - 1\right)"),
        ("abs(x)*pi", r"\left|x\right| \cdot \pi"),
        ("2 ** -x", r"2^{-x}"),
        ("1.5e-8*x", r"1.5 \times 10^{-8} \cdot x"),
    ],
)
def test_formula_is_rendered_as_latex(text, latex):
    assert parse_surface(text).latex == f"f(x, y) = {latex}"


@pytest.mark.parametrize(
    "bounds",
    [
        (1.0, -1.0, -1.0, 1.0),
        (-1.0, 1.0, 2.0, 2.0),
        (-1.0, math.inf, -1.0, 1.0),
        (math.nan, 1.0, -1.0, 1.0),
        (-1.0, 1.0, -1.0),
        ("a", 1.0, -1.0, 1.0),
    ],
)
def test_invalid_bounds_are_rejected(bounds):
    with pytest.raises(ValueError, match="bounds"):
        parse_surface("x + y", bounds=bounds)
