"""YAML to plain data, keeping where each value and key stands in the file.

PyYAML's composer gives the node tree with marks (line and column of every node); the values
are built from it here rather than by PyYAML's constructor, so that a duplicate key is refused
(PyYAML keeps the last one silently), a value that JSON cannot hold (a date, a set, binary) is
kept as the text that was written, and an alias that expands too far (a "billion laughs") is
refused. `Marks` then turns a path such as `("phases", 1, "next", 0)` into a line and column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

Path = tuple[str | int, ...]

MAX_NODES = 20_000
"""Values one definition may hold once aliases are expanded."""

_PLAIN = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, where it is."""

    line: int
    column: int
    path: Path
    message: str


class YamlRefused(Exception):
    """The text is not YAML this loader accepts; `problem` says where and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Marks:
    """Line and column (both from 1) of every value, and of every mapping key, by path."""

    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def at(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Where `path` is (its key's place with `key`), else where its nearest parent is.

        A block mapping or list starts on the line after its key: the key's place names it.
        """
        here = tuple(path)
        if key and here in self.keys:
            return self.keys[here]
        while here:
            if here in self.values:
                value, named = self.values[here], self.keys.get(here)
                return named if named and named[0] < value[0] else value
            here = here[:-1]
        return self.values.get((), (1, 1))


def field_name(path: Sequence[str | int]) -> str:
    """`("phases", 1, "next", 0)` -> `phases[1].next[0]`; the document itself is ``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load(text: str) -> tuple[Any, Marks]:
    """Parse one YAML document into plain data (dicts, lists, str, int, float, bool, None).

    Raises:
        YamlRefused: a syntax error, several documents, a duplicate or non-scalar key, a value
            that is not a finite number, or aliases that expand past `MAX_NODES`.
    """
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise YamlRefused(Problem(*where, (), f"not valid YAML: {message}")) from None
    except yaml.YAMLError as exc:
        raise YamlRefused(Problem(1, 1, (), f"not valid YAML: {exc}")) from None
    except RecursionError:
        raise YamlRefused(Problem(1, 1, (), "the YAML is nested too deeply")) from None
    marks = Marks()
    if node is None:
        return None, marks
    builder = _Builder(marks)
    try:
        return builder.build(node, ()), marks
    except RecursionError:
        raise YamlRefused(Problem(1, 1, (), "the YAML is nested too deeply")) from None


def _where(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    def __init__(self, marks: Marks) -> None:
        self.marks = marks
        self.count = 0
        self.scalars = SafeConstructor()

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlRefused(
                Problem(*_where(node), path, f"more than {MAX_NODES} values (aliases included)")
            )
        self.marks.values.setdefault(path, _where(node))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        built: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlRefused(Problem(*_where(key_node), path, "a key must be plain text"))
            key = str(key_node.value)
            if key in built:
                first = self.marks.keys[(*path, key)][0]
                raise YamlRefused(
                    Problem(
                        *_where(key_node),
                        (*path, key),
                        f"duplicate key {key!r} (first at line {first})",
                    )
                )
            self.marks.keys[(*path, key)] = _where(key_node)
            built[key] = self.build(value_node, (*path, key))
        return built

    def _scalar(self, node: yaml.Node, path: Path) -> Any:
        try:
            value = self.scalars.construct_object(node)
        except yaml.YAMLError:
            value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            raise YamlRefused(Problem(*_where(node), path, "a number must be finite"))
        # A date, a set or binary data: keep what was written, as text.
        return value if isinstance(value, _PLAIN) else str(node.value)


__all__ = ["MAX_NODES", "Marks", "Path", "Problem", "YamlRefused", "field_name", "load"]
