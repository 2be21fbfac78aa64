"""Read a workflow definition's YAML into a `WorkflowSpec`, with errors that say where.

Three passes, each naming the file, line, column and field of what it refuses:
1. the text itself: size, NUL characters, YAML syntax, duplicate keys (`yamlmarks`);
2. the published JSON Schema (`workflow.schema.json`, generated from `WorkflowSpec`), whose
   error paths are looked up in the node marks;
3. what a schema cannot say: phase ids used twice, `next` naming no phase, a parameter name
   used twice, and `WorkflowSpec`'s own validators (a `choice` without `choices` …).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError as SchemaError
from jsonschema.exceptions import best_match
from pydantic import ValidationError

from devflow.core.errors import Invalid
from devflow.workflows.definitions.spec import WorkflowSpec, schema
from devflow.workflows.definitions.yamlmarks import (
    Marks,
    Path,
    Problem,
    YamlRefused,
    field_name,
    load,
)

SCHEMA_FILE = "workflow.schema.json"
SCHEMA_URL = "/api/v1/workflows/schema"
"""Where a running DevFlow serves the schema (`devflow workflow schema` prints it)."""
REGENERATE = "devflow workflow schema > src/devflow/workflows/definitions/workflow.schema.json"
"""The command that rewrites the checked-in schema after `WorkflowSpec` changes."""
DEFAULT_MAX_BYTES = 256 * 1024
MAX_ERRORS = 50


def schema_text() -> str:
    """The JSON Schema generated from `WorkflowSpec`, as the checked-in file holds it."""
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"


@functools.cache
def published_schema() -> dict[str, Any]:
    """The checked-in schema (a unit test keeps it equal to `schema_text()`)."""
    text = resources.files(__package__).joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(published_schema())


def error(file: str, line: int, column: int, path: Path, message: str) -> dict[str, Any]:
    """One entry of `details.errors`."""
    return {
        "file": file,
        "line": line,
        "column": column,
        "field": field_name(path),
        "message": message,
    }


def refuse(errors: list[dict[str, Any]]) -> Invalid:
    """The `Invalid` for these errors: its message names the first, its details list all."""
    first = errors[0]
    where = f"{first['file']}:{first['line']}:{first['column']}"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    field = f"{first['field']}: " if first["field"] else ""
    return Invalid(f"{where}: {field}{first['message']}{more}", details={"errors": errors})


def parse(
    source: str | bytes, *, file: str = "<definition>", max_bytes: int = DEFAULT_MAX_BYTES
) -> WorkflowSpec:
    """Parse and check a definition's YAML.

    Args:
        source: the YAML text (bytes are decoded as UTF-8).
        file: the name errors give (a path, `.devflow/workflows/x.yml`, `<upload>`).
        max_bytes: the largest source accepted (`workflows.definition_max_bytes`).

    Raises:
        Invalid: with `details.errors`, a list of `{file, line, column, field, message}`.
    """
    text = _text(source, file, max_bytes)
    try:
        data, marks = load(text)
    except YamlRefused as exc:
        problem = exc.problem
        where = (problem.line, problem.column)
        raise refuse([error(file, *where, problem.path, problem.message)]) from None
    if not isinstance(data, dict):
        what = "empty" if data is None else _kind(data)
        message = f"a workflow definition is a mapping (name, phases, …), not {what}"
        raise refuse([error(file, *marks.at(()), (), message)])
    problems = _schema_problems(data, marks) + _reference_problems(data, marks)
    if not problems:
        try:
            return WorkflowSpec.model_validate(data)
        except ValidationError as exc:
            problems = _model_problems(exc, marks)
    problems.sort(key=lambda p: (p.line, p.column))
    raise refuse([error(file, p.line, p.column, p.path, p.message) for p in problems])


def _text(source: str | bytes, file: str, max_bytes: int) -> str:
    raw = source.encode() if isinstance(source, str) else source
    size = len(raw)
    if size > max_bytes:
        message = f"{size} bytes is over the limit of {max_bytes} (workflows.definition_max_bytes)"
        raise refuse([error(file, 1, 1, (), message)])
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise refuse([error(file, line, 1, (), "not UTF-8 text")]) from None
    source = source.removeprefix("\ufeff")
    if "\x00" in source:
        before = source[: source.index("\x00")]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise refuse([error(file, line, column, (), "a NUL character; remove it")])
    return source


def _kind(value: object) -> str:
    kinds = {list: "a list", str: "plain text", bool: "a boolean", int: "a number"}
    return kinds.get(type(value), "a number")


def _schema_problems(data: dict[str, Any], marks: Marks) -> list[Problem]:
    found: list[Problem] = []
    for top in _validator().iter_errors(data):
        leaf = _leaf(top)
        found.append(_problem(leaf, marks))
        if len(found) >= MAX_ERRORS:
            break
    return found


def _leaf(found: SchemaError) -> SchemaError:
    """The error inside `anyOf` (an optional field) that says what is wrong."""
    while found.context:
        typed = [e for e in found.context if e.validator != "type"]
        found = best_match(typed or found.context)
    return found


def _problem(found: SchemaError, marks: Marks) -> Problem:
    path: Path = tuple(found.absolute_path)
    message = found.message
    rule: dict[str, Any] = found.schema if isinstance(found.schema, dict) else {}
    if found.validator == "additionalProperties" and isinstance(found.instance, dict):
        known = set(rule.get("properties", {}))
        extra = sorted((k for k in found.instance if k not in known), key=str)
        if extra:
            path = (*path, extra[0])
            message = f"unknown field {extra[0]!r}; known fields: {', '.join(sorted(known))}"
            return Problem(*marks.at(path, key=True), path, message)
    elif found.validator == "required":
        message = message.replace("is a required property", "is required")
    elif found.validator == "pattern" and "description" in rule:
        message = f"{found.instance!r} is not allowed: {rule['description']}"
    return Problem(*marks.at(path), path, message)


def _reference_problems(data: dict[str, Any], marks: Marks) -> list[Problem]:
    """Duplicate phase ids and parameter names, and `next` naming no phase (found also where
    the schema refused something else, so one pass shows both)."""
    found: list[Problem] = []
    phases = _mappings(data.get("phases"))
    found += _duplicates(phases, "phases", "id", "phase id", marks)
    found += _duplicates(
        _mappings(data.get("parameters")), "parameters", "name", "parameter", marks
    )
    ids = list(dict.fromkeys(p["id"] for _, p in phases if isinstance(p.get("id"), str)))
    for i, phase in phases:
        targets = phase.get("next")
        for j, target in enumerate(targets if isinstance(targets, list) else []):
            if isinstance(target, str) and target not in ids:
                path: Path = ("phases", i, "next", j)
                message = f"no phase {target!r}; the phases are {', '.join(ids)}"
                found.append(Problem(*marks.at(path), path, message))
    return found


def _mappings(items: object) -> list[tuple[int, dict[str, Any]]]:
    listed = items if isinstance(items, list) else []
    return [(i, item) for i, item in enumerate(listed) if isinstance(item, dict)]


def _duplicates(
    items: Iterable[tuple[int, dict[str, Any]]], where: str, key: str, what: str, marks: Marks
) -> list[Problem]:
    found: list[Problem] = []
    first: dict[str, int] = {}
    for i, item in items:
        value = item.get(key)
        if not isinstance(value, str):
            continue
        if value in first:
            path: Path = (where, i, key)
            line = marks.at((where, first[value], key))[0]
            message = f"{what} {value!r} is used twice (first at line {line})"
            found.append(Problem(*marks.at(path), path, message))
        first.setdefault(value, i)
    return found


def _model_problems(exc: ValidationError, marks: Marks) -> list[Problem]:
    found = []
    for item in exc.errors(include_url=False):
        path = tuple(p for p in item["loc"] if isinstance(p, str | int))
        message = str(item["msg"]).removeprefix("Value error, ")
        found.append(Problem(*marks.at(path), path, message))
    return found


__all__ = [
    "DEFAULT_MAX_BYTES",
    "REGENERATE",
    "SCHEMA_URL",
    "error",
    "parse",
    "published_schema",
    "refuse",
    "schema_text",
]
