"""Indicator spec grammar: ``RSI_14``, ``MACD_12_26_9``, JSON dicts, and sources.

String form (names and fields are case-insensitive, whitespace around ``( , ) :`` is
ignored)::

    spec    := call [ ":" source ]          EMA_9:RSI_14  ==  EMA_9(RSI_14)
    source  := FIELD | spec
    call    := NAME { "_" NUMBER } [ "(" source { "," source } ")" ] [ "." OUTPUT ]
    NAME    := WORD { "_" WORD }            HT_DCPERIOD, LINEARREG_SLOPE (WORD starts
                                            with a letter; the first numeric part ends it)
    NUMBER  := -?digits[.digits][e[+-]digits]
    FIELD   := open | high | low | close | volume | hl2 | hlc3 | ohlc4

* Numbers are the parameters in the order of ``IndicatorDef.signature()``; omitted
  trailing ones take their defaults (``BBANDS_20`` is ``BBANDS_20_2``). MA-type params
  come last (``STOCH_14_3_3`` = fastk 14, slowk 3, slowd 3).
* Parentheses give the series inputs in order (one for most indicators; two for CORREL,
  BETA, ADD, ...). ``:`` is sugar for a single source and chains to the right:
  ``EMA_9:RSI_14:hl2 == EMA_9(RSI_14(hl2))``.
* ``.output`` picks one output of a multi-output indicator: as a source
  ``EMA_9(MACD_12_26_9.signal)`` (the first output is used when omitted); at top level
  ``MACD_12_26_9.signal`` returns only that output.

JSON form: ``{"name": "MACD", "params": {"fast": 12, "slow": 26, "signal": 9}}`` with
optional ``"source"`` (a field name, a spec string or another JSON spec), ``"inputs"``
(list, or dict by input name, for multi-input indicators) and ``"output"``. ``params``
may be a dict (names and aliases, e.g. ``length``/``period``/``timeperiod``) or a list.

Both forms map to one canonical id: upper-case name, every parameter except trailing
MA-types at their default, sources only when not the default, sub-spec outputs only when
not the first: ``{"name": "ema", "params": {"length": 9}, "source": "RSI_14"}`` and
``ema_9:rsi`` both give ``EMA_9(RSI_14)``. The id is what caches, subscriptions and
WebSocket messages are keyed by.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidIndicator
from .registry import FIELDS, IndicatorDef, SourceSlot, format_number, get_registry

MAX_SPEC_LENGTH = 500
MAX_SOURCE_DEPTH = 8


@dataclass(frozen=True, slots=True, eq=False)
class IndicatorSpec:
    """A validated indicator request. Compare and hash by canonical ``id``."""

    name: str
    params: tuple
    sources: tuple  # one per SourceSlot: a field name or an IndicatorSpec
    output: str | None
    id: str
    base_id: str  # ``id`` without the ``.output`` selector: what the engine computes
    definition: IndicatorDef = field(repr=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IndicatorSpec) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __str__(self) -> str:
        return self.id

    @property
    def param_dict(self) -> dict[str, float]:
        return {p.name: v for p, v in zip(self.definition.params, self.params, strict=True)}

    @property
    def outputs(self) -> tuple[str, ...]:
        return (self.output,) if self.output else self.definition.outputs

    @property
    def overlay(self) -> bool:
        """Drawn over price only if the indicator is price-scaled *and* so is its input:
        ``EMA_9(RSI_14)`` and ``SMA_20(volume)`` belong in their own pane."""
        if not self.definition.overlay:
            return False
        for src in self.sources:
            if isinstance(src, IndicatorSpec):
                if not src.overlay:
                    return False
            elif src == "volume":
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        """Canonical JSON form; ``parse_spec(spec.to_dict()).id == spec.id``."""
        out: dict[str, Any] = {"name": self.name, "params": self.param_dict}
        slots = self.definition.sources
        custom = [
            (slot, src)
            for slot, src in zip(slots, self.sources, strict=True)
            if src != slot.default
        ]
        if custom:
            out["inputs"] = {
                slot.name: (src.to_dict() if isinstance(src, IndicatorSpec) else src)
                for slot, src in zip(slots, self.sources, strict=True)
            }
        if self.output:
            out["output"] = self.output
        return out


def parse_spec(value: str | Mapping | IndicatorSpec) -> IndicatorSpec:
    """Parse and validate a spec string or JSON dict; raises ``InvalidIndicator``."""
    if isinstance(value, IndicatorSpec):
        return value
    if isinstance(value, str):
        return _parse_string(value)
    if isinstance(value, Mapping):
        return _from_dict(value, 0)
    raise InvalidIndicator(
        f"An indicator must be a string like 'RSI_14' or an object like "
        f'{{"name": "RSI", "params": {{"period": 14}}}}; got {type(value).__name__}'
    )


def split_spec_list(text: str) -> list[str]:
    """Split ``"RSI_14,CORREL_30(close,volume)"`` on top-level commas only.

    For the ``indicators=`` query parameter: a plain ``split(",")`` would cut specs with
    several inputs apart.
    """
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


# --- string form -----------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SPACE = re.compile(r"\s*")


@functools.lru_cache(maxsize=4096)
def _parse_string(text: str) -> IndicatorSpec:
    if len(text) > MAX_SPEC_LENGTH:
        raise InvalidIndicator(f"Indicator spec is too long (max {MAX_SPEC_LENGTH} characters)")
    parser = _Parser(text)
    spec = parser.spec(0)
    parser.skip_space()
    if parser.pos != len(text):
        parser.fail("unexpected text")
    if isinstance(spec, str):
        raise InvalidIndicator(
            f"'{text.strip()}' is a price field, not an indicator; use it as a source, "
            f"e.g. SMA_20({spec})"
        )
    return spec


class _Parser:
    """Recursive-descent parser over the string grammar in the module docstring."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str):
        snippet = self.text[self.pos : self.pos + 12] or "end of text"
        raise InvalidIndicator(
            f"Invalid indicator spec '{self.text.strip()}': {what} at position {self.pos} "
            f"('{snippet}'); expected NAME_p1_p2, e.g. RSI_14, MACD_12_26_9, EMA_9(RSI_14)"
        )

    def resolve(self, name_parts: list[str]) -> IndicatorDef:
        """Registry lookup; ``RSI_abc`` reports a bad parameter of RSI, not an unknown
        indicator ``RSI_ABC``."""
        registry = get_registry()
        try:
            return registry.resolve("_".join(name_parts))
        except InvalidIndicator:
            for cut in range(len(name_parts) - 1, 0, -1):
                try:
                    known = registry.resolve("_".join(name_parts[:cut]))
                except InvalidIndicator:
                    continue
                raise InvalidIndicator(
                    f"{known.name} parameters must be numbers ({known.signature()}); "
                    f"got '{'_'.join(name_parts[cut:])}'"
                ) from None
            raise

    def skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def spec(self, depth: int) -> IndicatorSpec | str:
        if depth > MAX_SOURCE_DEPTH:
            raise InvalidIndicator(f"Sources are nested too deeply (max {MAX_SOURCE_DEPTH})")
        self.skip_space()
        word = _WORD.match(self.text, self.pos)
        if not word:
            self.fail("expected an indicator name or a field")
        self.pos = word.end()
        if word.group().lower() in FIELDS and self.peek() not in ("_", "(", "."):
            return word.group().lower()
        name_parts, params = [word.group()], []
        while self.peek() == "_":
            self.pos += 1
            number = _NUMBER.match(self.text, self.pos)
            next_word = _WORD.match(self.text, self.pos)
            if number and not (next_word and next_word.end() > number.end()):
                params.append(_number(number.group()))
                self.pos = number.end()
            elif next_word and not params:
                name_parts.append(next_word.group())
                self.pos = next_word.end()
            else:
                self.fail("expected a number after '_'")
        definition = self.resolve(name_parts)
        sources: list[IndicatorSpec | str] = []
        self.skip_space()
        if self.peek() == "(":
            self.pos += 1
            while True:
                sources.append(self.spec(depth + 1))
                self.skip_space()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                if self.peek() == ")":
                    self.pos += 1
                    break
                self.fail("expected ',' or ')'")
        output = None
        self.skip_space()
        if self.peek() == "." and _WORD.match(self.text, self.pos + 1):
            out_word = _WORD.match(self.text, self.pos + 1)
            output = out_word.group()
            self.pos = out_word.end()
            self.skip_space()
        if self.peek() == ":":
            if sources:
                self.fail("use either NAME(source) or NAME:source, not both")
            self.pos += 1
            sources.append(self.spec(depth + 1))
        return build_spec(definition, params, sources, output, sub=depth > 0)


def _number(text: str) -> int | float:
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)


# --- JSON form -------------------------------------------------------------------------

_JSON_KEYS = {"name", "params", "source", "inputs", "output", "id", "indicator_id"}


def _from_dict(data: Mapping, depth: int) -> IndicatorSpec:
    if depth > MAX_SOURCE_DEPTH:
        raise InvalidIndicator(f"Sources are nested too deeply (max {MAX_SOURCE_DEPTH})")
    unknown = set(data) - _JSON_KEYS
    if unknown:
        raise InvalidIndicator(
            f"Unknown key(s) {sorted(unknown)} in indicator object; allowed: "
            "name, params, source, inputs, output"
        )
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidIndicator('An indicator object needs a "name", e.g. {"name": "RSI"}')
    definition = get_registry().resolve(name)
    params = data.get("params")
    if params is None:
        params = []
    elif not isinstance(params, Mapping | list | tuple):
        raise InvalidIndicator(f"{definition.name} params must be an object or a list")
    if "source" in data and "inputs" in data:
        raise InvalidIndicator('Give either "source" or "inputs", not both')
    raw_inputs: Any = [data["source"]] if "source" in data else data.get("inputs") or []
    slots = definition.sources
    if isinstance(raw_inputs, Mapping):
        by_name = {s.name: i for i, s in enumerate(slots)}
        ordered: list[Any] = [None] * len(slots)
        for key, value in raw_inputs.items():
            if key not in by_name:
                raise InvalidIndicator(
                    f"{definition.name} has no input '{key}'; inputs: "
                    f"{', '.join(by_name) or 'none'}"
                )
            ordered[by_name[key]] = value
        raw_inputs = ordered
    elif not isinstance(raw_inputs, list | tuple):
        raw_inputs = [raw_inputs]
    sources = [None if s is None else _source_from_json(s, depth + 1) for s in raw_inputs]
    output = data.get("output")
    if output is not None and not isinstance(output, str):
        raise InvalidIndicator(f"{definition.name} output must be a string")
    return build_spec(definition, params, sources, output, sub=depth > 0)


def _source_from_json(value: Any, depth: int) -> IndicatorSpec | str:
    if isinstance(value, str):
        key = value.strip().lower()
        if key in FIELDS:
            return key
        parser = _Parser(value)
        spec = parser.spec(depth)
        parser.skip_space()
        if parser.pos != len(value):
            parser.fail("unexpected text")
        return spec
    if isinstance(value, Mapping):
        return _from_dict(value, depth)
    raise InvalidIndicator(
        f"A source must be a field ({', '.join(FIELDS)}), a spec string or an object"
    )


# --- validation and canonical ids --------------------------------------------------------


def build_spec(
    definition: IndicatorDef,
    params: Sequence | Mapping,
    sources: Sequence,
    output: str | None,
    *,
    sub: bool = False,
) -> IndicatorSpec:
    """Validate params/sources against the definition and produce the canonical spec."""
    name = definition.name
    values = resolve_params(definition, params)

    slots = definition.sources
    if len(sources) > len(slots):
        if not slots:
            raise InvalidIndicator(
                f"{name} reads {', '.join(s for s in definition.slots if isinstance(s, str))} "
                "itself and takes no source"
            )
        raise InvalidIndicator(
            f"{name} takes {len(slots)} source{'s' if len(slots) != 1 else ''} "
            f"({', '.join(s.name for s in slots)}); got {len(sources)}"
        )
    resolved: list[IndicatorSpec | str] = []
    for i, slot in enumerate(slots):
        src = sources[i] if i < len(sources) else None
        if src is None:
            if slot.default is None:
                raise InvalidIndicator(
                    f"{name} needs a series for its '{slot.name}' input, e.g. "
                    f"{name}({', '.join(s.default or 'SMA_10' for s in slots)})"
                )
            src = slot.default
        resolved.append(_normalize_source(src))

    if output is not None:
        key = output.strip().lower()
        if key not in definition.outputs:
            raise InvalidIndicator(
                f"{name} has no output '{output}'; outputs: {', '.join(definition.outputs)}"
            )
        output = None if sub and key == definition.outputs[0] else key

    base_id = _canonical(definition, values, slots, resolved)
    full_id = f"{base_id}.{output}" if output else base_id
    return IndicatorSpec(name, tuple(values), tuple(resolved), output, full_id, base_id, definition)


def resolve_params(definition: IndicatorDef, params: Sequence | Mapping) -> list:
    """Positional list or name/alias mapping -> full, validated parameter list."""
    name = definition.name
    values = list(definition.defaults)
    if isinstance(params, Mapping):
        seen: dict[int, str] = {}
        for key, value in params.items():
            pos = definition.param_position(str(key))
            if pos is None:
                allowed = ", ".join(p.name for p in definition.params) or "none"
                raise InvalidIndicator(f"{name} has no parameter '{key}'; parameters: {allowed}")
            if pos in seen:
                raise InvalidIndicator(
                    f"{name} parameter '{definition.params[pos].name}' given twice "
                    f"('{seen[pos]}' and '{key}')"
                )
            seen[pos] = str(key)
            values[pos] = definition.params[pos].coerce(value, name)
        return values
    if len(params) > len(definition.params):
        count = len(definition.params)
        raise InvalidIndicator(
            f"{name} takes at most {count} parameter{'s' if count != 1 else ''} "
            f"({definition.signature()}); got {len(params)}"
        )
    for i, value in enumerate(params):
        values[i] = definition.params[i].coerce(value, name)
    return values


def _normalize_source(src: IndicatorSpec | str) -> IndicatorSpec | str:
    if isinstance(src, IndicatorSpec) and src.output == src.definition.outputs[0]:
        return build_spec(src.definition, src.params, src.sources, None, sub=True)
    return src


def _canonical(
    definition: IndicatorDef, values: list, slots: tuple[SourceSlot, ...], sources: list
) -> str:
    shown = len(values)
    while (
        shown
        and definition.params[shown - 1].advanced
        and (values[shown - 1] == definition.params[shown - 1].default)
    ):
        shown -= 1
    text = "_".join([definition.name, *(format_number(v) for v in values[:shown])])
    if any(src != slot.default for slot, src in zip(slots, sources, strict=True)):
        text += "(" + ",".join(s.id if isinstance(s, IndicatorSpec) else s for s in sources) + ")"
    return text
