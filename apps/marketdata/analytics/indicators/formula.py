"""Custom indicators: a small, safe expression language over bars.

Examples::

    ema(close, 20) - sma(close, 50)
    rsi(close, 14) > 70
    (high + low) / 2
    crossover(ema(close, 9), ema(close, 21))
    bbands(close, 20, 2, output="upper") - bbands(close, 20, 2, output="lower")
    atr(14) / close * 100

Users type these in the browser, they are saved and shared, and they run in the web and
alert workers, so the text is untrusted. It is parsed with ``ast.parse`` (which never
executes anything) and compiled into closures over numpy arrays under a strict whitelist;
nothing is ever passed to ``eval``/``exec``/``compile``.

Allowed:

* names: the bar fields ``open high low close volume hl2 hlc3 ohlc4``;
* number literals (finite, ``|x| <= 1e15``);
* ``+ - * /``, ``**`` with a literal exponent ``|e| <= 10``, unary ``-``/``+``;
* comparisons ``< <= > >= == !=`` and ``and or not`` (true = 1.0, false = 0.0; NaN in,
  NaN out, so warm-up bars never look like signals);
* calls to registered indicators by lower-case name (``ema``, ``rsi``, ``macd``,
  ``cdlengulfing``, ...): leading arguments are series for the indicator's sources
  (default: its usual field), then number literals for its parameters in
  ``signature()`` order; keywords are the parameter names and ``output="..."`` for
  multi-output indicators (default: the first output). Indicators that read fixed fields
  take only parameters: ``atr(14)``, ``stoch(14, 3, 3, output="slow_d")``;
* helpers: ``crossover(a, b)``, ``crossunder(a, b)``, ``cross(a, b)``, ``prev(x, n=1)``,
  ``abs(x)``, ``max(a, b, ...)``/``min(a, b, ...)`` (element-wise), ``iff(c, a, b)``,
  ``nz(x, v=0)``, ``highest(x, n)``/``lowest(x, n)`` (TA-Lib MAX/MIN).

Everything else (attributes, subscripts, lambdas, comprehensions, strings outside
``output=``, other names or keywords, f-strings, walrus, ...) is rejected with a
``FormulaError`` pointing at the offending token. Size is bounded before parsing (length,
bracket nesting) and after (AST depth, node count, indicator calls); evaluation is
bounded by bar count and a wall-clock deadline.
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import operator
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .engine import _Context
from .errors import FormulaError, InvalidIndicator
from .registry import FIELDS, MAX_PERIOD, IndicatorDef, get_registry
from .spec import resolve_params

MAX_LENGTH = 500
MAX_DEPTH = 20
MAX_NODES = 200
MAX_CALLS = 32
MAX_EXPONENT = 10
MAX_CONSTANT = 1e15
MAX_BARS = 200_000  # 10x the 20k-bar chart cap (DESIGN.md); bounds O(n * period) calls
TIME_LIMIT_SECONDS = 2.0

_BINOPS: dict[type, Callable] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_COMPARE: dict[type, Callable] = {
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}
_FORBIDDEN_HINTS = {
    ast.Attribute: "attribute access ('.') is not allowed",
    ast.Subscript: "subscripts ('[...]') are not allowed; use prev(x, n) for past values",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.IfExp: "'a if c else b' is not allowed; use iff(c, a, b)",
    ast.Starred: "'*' arguments are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.List: "lists are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
}
# Formula-only names for registry functions whose lower-case TA-Lib name is taken by an
# element-wise helper (``max(a, b)``) or reads badly.
_FUNCTION_ALIASES = {"highest": "MAX", "lowest": "MIN"}
_HELPERS = {
    "crossover",
    "crossunder",
    "cross",
    "prev",
    "abs",
    "max",
    "min",
    "iff",
    "nz",
}


class _Env:
    """Per-evaluation state: bars, memoised indicator calls, deadline."""

    __slots__ = ("ctx", "deadline", "memo", "n")

    def __init__(self, bars: Mapping[str, Any]) -> None:
        self.ctx = _Context(bars)
        self.n = self.ctx.n
        self.memo: dict[str, Any] = {}
        self.deadline = time.perf_counter() + TIME_LIMIT_SECONDS

    def series(self, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray) and value.shape == (self.n,):
            return np.ascontiguousarray(value, dtype=np.float64)
        return np.full(self.n, float(value))


class Formula:
    """A compiled formula. Immutable and cached per text; safe to share across threads."""

    __slots__ = ("_root", "functions", "text", "warmup_bars")

    def __init__(self, text: str, root: Callable, warmup: int, functions: frozenset[str]):
        self.text = text
        self._root = root
        #: Bars needed before the first value equals a full-history computation; the same
        #: contract as ``engine.warmup_bars`` (prev(x, n) adds n, crossover adds 1).
        self.warmup_bars = warmup
        #: Functions the formula calls (for display and per-tier limits).
        self.functions = functions

    def evaluate(self, bars: Mapping[str, Any]) -> np.ndarray:
        """Evaluate over ``bars`` (the engine's format); returns a float64 array as long
        as the bars, NaN where undefined (warm-up, division by zero, ...)."""
        env = _Env(bars)
        if env.n > MAX_BARS:
            raise FormulaError(f"too many bars for a formula (max {MAX_BARS})")
        with np.errstate(all="ignore"):
            out = env.series(self._root(env))
        out = np.array(out, dtype=np.float64, copy=True)
        out[~np.isfinite(out)] = np.nan
        return out

    def __repr__(self) -> str:
        return f"Formula({self.text!r})"


def compile_formula(text: str) -> Formula:
    """Parse, validate and compile a formula; raises ``FormulaError`` with a position."""
    if not isinstance(text, str):
        raise FormulaError("a formula must be a string", 0, line=1, col=1)
    return _compile_cached(text)


@functools.lru_cache(maxsize=1024)
def _compile_cached(text: str) -> Formula:
    _check_text(text)
    tree = _parse(text)
    _check_shape(tree, text)
    compiler = _Compiler(text)
    root, warmup = compiler.compile(tree.body)
    return Formula(text, root, warmup, frozenset(compiler.functions))


# --- pre-parse limits ------------------------------------------------------------------


def _check_text(text: str) -> None:
    if not text.strip():
        raise FormulaError("the formula is empty", 0, line=1, col=1)
    if len(text) > MAX_LENGTH:
        raise FormulaError(
            f"the formula is too long ({len(text)} characters, max {MAX_LENGTH})",
            MAX_LENGTH,
            **_line_col(text, MAX_LENGTH),
        )
    depth = 0
    for i, ch in enumerate(text):
        if not (ch.isascii() and (ch.isprintable() or ch in "\t\n\r")):
            raise FormulaError(f"character {ch!r} is not allowed", i, **_line_col(text, i))
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise FormulaError(
                    f"brackets are nested too deeply (max {MAX_DEPTH})", i, **_line_col(text, i)
                )
        elif ch in ")]}":
            depth -= 1


# A number glued to a name ("1e9close", "2if") makes Python's parser emit a SyntaxWarning
# (process-global warning state) before deciding; reject it up-front instead.
_NUMBER_THEN_NAME = re.compile(
    r"(?<![A-Za-z0-9_.])(?>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)[A-Za-z_]"
)


def _parse(text: str) -> ast.Expression:
    glued = _NUMBER_THEN_NAME.search(text)
    if glued:
        at = glued.end() - 1
        raise FormulaError(
            "a number must be separated from the name after it", at, **_line_col(text, at)
        )
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        line, col = exc.lineno or 1, exc.offset or 1
        offset = _offset(text, line, col - 1)
        raise FormulaError(f"syntax error: {exc.msg}", offset, line=line, col=col) from None
    except (ValueError, RecursionError, MemoryError, OverflowError):
        raise FormulaError("the formula could not be parsed", 0, line=1, col=1) from None


def _check_shape(tree: ast.Expression, text: str) -> None:
    """Depth and node-count limits, iteratively (no recursion on untrusted nesting)."""
    count, stack = 0, [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise _error(f"the formula is nested too deeply (max {MAX_DEPTH})", node, text)
        if count > MAX_NODES:
            raise _error(f"the formula is too large (max {MAX_NODES} elements)", node, text)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _line_col(text: str, offset: int) -> dict[str, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return {"line": line, "col": col}


def _offset(text: str, line: int, col0: int) -> int:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    line = min(max(line, 1), len(starts))
    return min(starts[line - 1] + max(col0, 0), len(text))


def _error(message: str, node: ast.AST, text: str) -> FormulaError:
    """FormulaError at an AST node. ``col_offset`` counts UTF-8 bytes; ``_check_text``
    admits ASCII only, so bytes and characters coincide."""
    line = getattr(node, "lineno", 1)
    col0 = getattr(node, "col_offset", 0)
    return FormulaError(message, _offset(text, line, col0), line=line, col=col0 + 1)


# --- compiler --------------------------------------------------------------------------


class _Compiler:
    """AST -> closure ``fn(env) -> ndarray | float`` plus its warm-up in bars."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.calls = 0
        self.functions: set[str] = set()

    def error(self, message: str, node: ast.AST) -> FormulaError:
        return _error(message, node, self.text)

    def compile(self, node: ast.AST) -> tuple[Callable, int]:
        hint = _FORBIDDEN_HINTS.get(type(node))
        if hint:
            raise self.error(hint, node)
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.error(f"'{type(node).__name__}' is not allowed in a formula", node)
        return method(node)

    # leaves

    def _Constant(self, node: ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error("only number literals are allowed here", node)
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number) or abs(number) > MAX_CONSTANT:
            raise self.error(f"number literals must be finite and at most {MAX_CONSTANT:g}", node)
        return (lambda env: number), 0

    def _Name(self, node: ast.Name):
        name = node.id
        if name.startswith("_"):
            raise self.error(f"name '{name}' is not allowed", node)
        field = name.lower()
        if field in FIELDS:
            return (lambda env: env.ctx.field(field)), 0
        if field in _HELPERS or field in _FUNCTION_ALIASES or _lookup(name):
            raise self.error(f"'{name}' is a function; call it, e.g. {field}(close, 14)", node)
        raise self.error(f"unknown name '{name}'; fields are {', '.join(FIELDS)}", node)

    # operators

    def _UnaryOp(self, node: ast.UnaryOp):
        inner, warm = self.compile(node.operand)
        if isinstance(node.op, ast.USub):
            return (lambda env: -inner(env)), warm
        if isinstance(node.op, ast.UAdd):
            return inner, warm
        if isinstance(node.op, ast.Not):
            return (lambda env: _logical(inner(env), None, "not")), warm
        raise self.error("operator '~' is not allowed", node)

    def _BinOp(self, node: ast.BinOp):
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise self.error(f"operator '{type(node.op).__name__}' is not allowed", node)
        if isinstance(node.op, ast.Pow):
            exponent = _literal(node.right)
            if exponent is None or abs(exponent) > MAX_EXPONENT:
                raise self.error(
                    f"the exponent of '**' must be a number literal between "
                    f"-{MAX_EXPONENT} and {MAX_EXPONENT}",
                    node.right,
                )
        left, wl = self.compile(node.left)
        right, wr = self.compile(node.right)
        return (lambda env: op(left(env), right(env))), max(wl, wr)

    def _Compare(self, node: ast.Compare):
        parts = [self.compile(node.left)]
        ops = []
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            fn = _COMPARE.get(type(op))
            if fn is None:
                raise self.error(f"comparison '{type(op).__name__}' is not allowed", node)
            ops.append(fn)
            parts.append(self.compile(comparator))
        fns = [p[0] for p in parts]
        warm = max(p[1] for p in parts)

        def run(env):
            values = [f(env) for f in fns]
            result = None
            for i, op in enumerate(ops):
                step = _compare(op, values[i], values[i + 1])
                result = step if result is None else _logical(result, step, "and")
            return result

        return run, warm

    def _BoolOp(self, node: ast.BoolOp):
        kind = "and" if isinstance(node.op, ast.And) else "or"
        parts = [self.compile(v) for v in node.values]

        def run(env):
            result = parts[0][0](env)
            for fn, _ in parts[1:]:
                result = _logical(result, fn(env), kind)
            return result

        return run, max(p[1] for p in parts)

    # calls

    def _Call(self, node: ast.Call):
        if isinstance(node.func, ast.Attribute):
            raise self.error(_FORBIDDEN_HINTS[ast.Attribute], node.func)
        if not isinstance(node.func, ast.Name):
            raise self.error("only calls to named functions are allowed, e.g. ema(close, 20)", node)
        name = node.func.id
        key = name.lower()
        if name.startswith("_"):
            raise self.error(f"function '{name}' is not allowed", node.func)
        if key in FIELDS:
            raise self.error(f"'{name}' is a price field, not a function", node.func)
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise self.error(f"too many function calls (max {MAX_CALLS})", node)
        self.functions.add(key)
        if key in _HELPERS:
            return self._helper(key, node)
        definition = _lookup(_FUNCTION_ALIASES.get(key, name))
        if definition is None:
            close = difflib.get_close_matches(key, _function_names(), n=5, cutoff=0.6)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise self.error(f"unknown function '{name}'{hint}", node.func)
        return self._indicator(definition, node)

    def _indicator(self, definition: IndicatorDef, node: ast.Call):
        slots = definition.sources
        series_nodes: list[ast.AST] = []
        numbers: list[float] = []
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                raise self.error('strings are only allowed as output="..."', arg)
            number = _literal(arg)
            if number is None:
                if numbers:
                    raise self.error("series arguments must come before the number parameters", arg)
                series_nodes.append(arg)
            elif (
                len(series_nodes) < len(slots)
                and not numbers
                and _needs_series(definition, len(series_nodes))
            ):
                raise self.error(
                    f"{definition.name.lower()}: argument {len(series_nodes) + 1} must be a "
                    f"series ({slots[len(series_nodes)].name})",
                    arg,
                )
            else:
                index = len(numbers)
                if index < len(definition.params):
                    try:
                        definition.params[index].coerce(number, definition.name)
                    except InvalidIndicator as exc:
                        raise self.error(exc.message, arg) from None
                numbers.append(number)
        if len(series_nodes) > len(slots):
            raise self.error(
                f"{definition.name.lower()} takes {len(slots)} series argument(s) "
                f"({', '.join(s.name for s in slots) or 'none'}) before its parameters",
                series_nodes[len(slots)],
            )
        params: dict[str, Any] = {}
        output = None
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error("'**' arguments are not allowed", kw)
            if kw.arg == "output":
                if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str)):
                    raise self.error('output must be a string, e.g. output="signal"', kw.value)
                output = kw.value.value.strip().lower()
                if output not in definition.outputs:
                    raise self.error(
                        f"{definition.name.lower()} has no output '{output}'; outputs: "
                        f"{', '.join(definition.outputs)}",
                        kw.value,
                    )
                continue
            pos = definition.param_position(kw.arg)
            value = _literal(kw.value)
            if pos is None:
                allowed = ", ".join(["output", *(p.name for p in definition.params)])
                raise self.error(
                    f"{definition.name.lower()} has no keyword '{kw.arg}'; allowed: {allowed}",
                    kw,
                )
            if value is None:
                raise self.error(f"'{kw.arg}' must be a number literal", kw.value)
            try:
                definition.params[pos].coerce(value, definition.name)
            except InvalidIndicator as exc:
                raise self.error(exc.message, kw.value) from None
            key = definition.params[pos].name
            if key in params:
                raise self.error(f"parameter '{key}' given twice", kw)
            params[key] = value
        if len(numbers) > len(definition.params):
            raise self.error(
                f"{definition.name.lower()} takes at most {len(definition.params)} number "
                f"parameter(s) ({definition.signature().lower()})",
                node,
            )
        merged: dict[str, Any] = {definition.params[i].name: v for i, v in enumerate(numbers)}
        for key, value in params.items():
            if key in merged:
                raise self.error(f"parameter '{key}' given twice", node)
            merged[key] = value
        try:
            values = tuple(resolve_params(definition, merged))
        except InvalidIndicator as exc:
            raise self.error(exc.message, node) from None
        for i, slot in enumerate(slots):
            if i >= len(series_nodes) and slot.default is None:
                raise self.error(
                    f"{definition.name.lower()} needs a series for its '{slot.name}' input", node
                )

        compiled = [self.compile(arg) for arg in series_nodes]
        arg_fns = [c[0] for c in compiled]
        warm = max((c[1] for c in compiled), default=0)
        warm += int(definition.lookback(values)) + int(definition.memory(values))
        index = definition.outputs.index(output) if output else 0
        call_params = tuple(definition.call_params(values))
        memo_key = ast.dump(node)
        func = definition.func
        slot_spec = [
            ("series", i) if not isinstance(s, str) else ("field", s)
            for i, s in enumerate(_slot_order(definition))
        ]
        default_fields = [s.default for s in slots]

        def run(env):
            hit = env.memo.get(memo_key)
            if hit is not None:
                return hit
            if time.perf_counter() > env.deadline:
                raise self.error(
                    f"the formula took longer than {TIME_LIMIT_SECONDS:g} s to evaluate", node
                )
            args = [env.series(fn(env)) for fn in arg_fns]
            inputs = []
            for kind, ref in slot_spec:
                if kind == "field":
                    inputs.append(env.ctx.field(ref))
                elif ref < len(args):
                    inputs.append(args[ref])
                else:
                    inputs.append(env.ctx.field(default_fields[ref]))
            try:
                outs = func(*inputs, *call_params)
            except Exception as exc:
                if definition.implementation != "talib":
                    raise
                raise self.error(f"{definition.name.lower()}: {exc}", node) from None
            if isinstance(outs, tuple):
                outs = outs[index]
            result = np.asarray(outs, dtype=np.float64)
            env.memo[memo_key] = result
            return result

        return run, warm

    def _helper(self, key: str, node: ast.Call):
        if node.keywords:
            raise self.error(f"{key}() takes no keyword arguments", node.keywords[0])
        args = node.args
        arity = {
            "crossover": (2, 2),
            "crossunder": (2, 2),
            "cross": (2, 2),
            "prev": (1, 2),
            "abs": (1, 1),
            "max": (2, 8),
            "min": (2, 8),
            "iff": (3, 3),
            "nz": (1, 2),
        }[key]
        if not arity[0] <= len(args) <= arity[1]:
            expected = arity[0] if arity[0] == arity[1] else f"{arity[0]} to {arity[1]}"
            raise self.error(f"{key}() takes {expected} arguments; got {len(args)}", node)
        if key == "prev":
            bars = _literal(args[1]) if len(args) == 2 else 1
            if bars is None or bars != int(bars) or not 0 <= bars <= MAX_PERIOD:
                raise self.error(
                    f"prev(x, n): n must be an integer literal from 0 to {MAX_PERIOD}",
                    args[1] if len(args) == 2 else node,
                )
            inner, warm = self.compile(args[0])
            lag = int(bars)
            return (lambda env: _shift(env.series(inner(env)), lag)), warm + lag
        if key == "nz":
            fill = _literal(args[1]) if len(args) == 2 else 0.0
            if fill is None:
                raise self.error("nz(x, v): v must be a number literal", args[1])
            inner, warm = self.compile(args[0])
            return (lambda env: np.nan_to_num(env.series(inner(env)), nan=fill)), warm
        compiled = [self.compile(a) for a in args]
        fns = [c[0] for c in compiled]
        warm = max(c[1] for c in compiled)
        if key in ("crossover", "crossunder", "cross"):
            a_fn, b_fn = fns
            return (lambda env: _cross(env.series(a_fn(env)), env.series(b_fn(env)), key)), warm + 1
        if key == "abs":
            (fn,) = fns
            return (lambda env: np.abs(fn(env))), warm
        if key in ("max", "min"):
            reduce = np.maximum if key == "max" else np.minimum

            def run(env):
                result = fns[0](env)
                for fn in fns[1:]:
                    result = reduce(result, fn(env))
                return result

            return run, warm
        cond, a_fn, b_fn = fns  # iff

        def iff(env):
            c = env.series(cond(env))
            out = np.where(c != 0, env.series(a_fn(env)), env.series(b_fn(env)))
            out[np.isnan(c)] = np.nan
            return out

        return iff, warm


@functools.cache
def _function_names() -> tuple[str, ...]:
    reg = get_registry()
    names = {n.lower() for n in reg} | _HELPERS | set(_FUNCTION_ALIASES)
    return tuple(sorted(names))


def _lookup(name: str) -> IndicatorDef | None:
    try:
        return get_registry().resolve(name)
    except InvalidIndicator:
        return None


def _slot_order(definition: IndicatorDef) -> list:
    """Call-order slots with source slots replaced by their index among the sources."""
    out, i = [], 0
    for slot in definition.slots:
        if isinstance(slot, str):
            out.append(slot)
        else:
            out.append(i)
            i += 1
    return out


def _needs_series(definition: IndicatorDef, index: int) -> bool:
    """A literal where a required source (no default) is expected is an error."""
    return definition.sources[index].default is None


def _literal(node: ast.AST) -> float | None:
    """The value of a number literal (optionally negated), else None."""
    sign = 1.0
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        if isinstance(node.op, ast.USub):
            sign = -sign
        node = node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            return None
        try:
            value = float(node.value)
        except OverflowError:
            return None
        return sign * value if math.isfinite(value) and abs(value) <= MAX_CONSTANT else None
    return None


def _nan_mask(*values) -> Any:
    mask = False
    for v in values:
        mask = mask | np.isnan(v)
    return mask


def _compare(op: Callable, a, b):
    result = (
        op(a, b).astype(np.float64)
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray)
        else float(op(a, b))
    )
    return np.where(_nan_mask(a, b), np.nan, result)


def _logical(a, b, kind: str):
    if kind == "not":
        return np.where(np.isnan(a), np.nan, (np.asarray(a) == 0).astype(np.float64))
    ta, tb = np.asarray(a) != 0, np.asarray(b) != 0
    result = (ta & tb) if kind == "and" else (ta | tb)
    return np.where(_nan_mask(a, b), np.nan, result.astype(np.float64))


def _shift(x: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if lag == 0:
        out[:] = x
    elif lag < len(x):
        out[lag:] = x[:-lag]
    return out


def _cross(a: np.ndarray, b: np.ndarray, kind: str) -> np.ndarray:
    """1.0 on the bar where ``a`` crosses ``b``: over (from <= to >), under, or either."""
    pa, pb = _shift(a, 1), _shift(b, 1)
    up = (a > b) & (pa <= pb)
    down = (a < b) & (pa >= pb)
    hit = up if kind == "crossover" else down if kind == "crossunder" else up | down
    return np.where(_nan_mask(a, b, pa, pb), np.nan, hit.astype(np.float64))
