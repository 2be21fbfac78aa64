"""Workflow definitions offline: the published schema, YAML errors with lines, the built-ins."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devflow.cli.main import app as cli_app
from devflow.core.errors import Invalid
from devflow.workflows.definitions.builtins import builtins
from devflow.workflows.definitions.loader import REGENERATE, parse, published_schema, schema_text

GOOD = """\
name: release
description: Ship a release.
parameters:
  - name: version
    required: true
phases:
  - id: build
    name: Build
    next: [check]
  - id: check
    name: Check
    validation:
      kind: command
      command: make test
    approval:
      timeout_minutes: 60
"""


def _errors(source: str | bytes, **options: object) -> list[dict[str, object]]:
    with pytest.raises(Invalid) as caught:
        parse(source, file="w.yml", **options)  # type: ignore[arg-type]
    errors: list[dict[str, object]] = caught.value.details["errors"]
    assert caught.value.message.startswith(f"w.yml:{errors[0]['line']}:{errors[0]['column']}:")
    return errors


class TestPublishedSchema:
    def test_the_checked_in_schema_is_the_one_generated_from_the_spec(self):
        folder = resources.files("devflow.workflows.definitions")
        checked_in = folder.joinpath("workflow.schema.json").read_text(encoding="utf-8")
        assert checked_in == schema_text(), (
            f"workflow.schema.json is out of date with WorkflowSpec; regenerate it: {REGENERATE}"
        )

    def test_it_is_a_2020_12_schema_with_an_id(self):
        schema = published_schema()
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith("workflow.json")
        assert {"name", "phases"} <= set(schema["required"])

    def test_the_cli_prints_it_offline(self):
        result = CliRunner().invoke(cli_app, ["workflow", "schema"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == published_schema()


class TestParsing:
    def test_a_good_definition_parses_into_the_spec(self):
        spec = parse(GOOD)
        assert spec.first.id == "build"
        assert spec.phase("check").validation.command == "make test"  # type: ignore[union-attr]
        assert spec.phase("check").approval.timeout_minutes == 60  # type: ignore[union-attr]

    def test_an_unknown_field_names_its_line_and_column(self):
        source = GOOD.replace("      timeout_minutes: 60", "      timeout_minute: 60")
        [only] = _errors(source)
        assert (only["line"], only["column"]) == (16, 7)
        assert only["field"] == "phases[1].approval.timeout_minute"
        assert "unknown field 'timeout_minute'" in str(only["message"])

    def test_a_wrong_type_inside_an_optional_field_says_what_is_wrong(self):
        [only] = _errors(GOOD.replace("timeout_minutes: 60", "timeout_minutes: soon"))
        assert only["field"] == "phases[1].approval.timeout_minutes"
        assert only["line"] == 16
        assert "soon" in str(only["message"])

    def test_a_bad_id_names_the_field(self):
        [only] = _errors(GOOD.replace("id: build", "id: Build"))
        assert (only["line"], only["field"]) == (7, "phases[0].id")

    def test_next_naming_no_phase_points_at_the_link(self):
        [only] = _errors(GOOD.replace("next: [check]", "next: [chek]"))
        assert (only["line"], only["column"], only["field"]) == (9, 12, "phases[0].next[0]")
        assert "'chek'" in str(only["message"])
        assert "build, check" in str(only["message"])

    def test_a_phase_id_used_twice_points_at_the_second(self):
        [only] = _errors(GOOD.replace("id: check", "id: build").replace("[check]", "[]"))
        assert (only["line"], only["field"]) == (10, "phases[1].id")
        assert "first at line 7" in str(only["message"])

    def test_a_missing_field_is_required(self):
        [only] = _errors("name: x\n")
        assert "'phases' is required" in str(only["message"])

    def test_the_spec_s_own_checks_are_mapped_to_lines(self):
        source = GOOD.replace("      command: make test\n", "")
        [only] = _errors(source)
        assert only["field"] == "phases[1].validation"
        assert only["line"] == 12

    def test_a_schema_error_and_a_bad_link_are_reported_together(self):
        source = GOOD.replace("next: [check]", "next: [nope]").replace("60", "soon")
        errors = _errors(source)
        assert [e["field"] for e in errors] == [
            "phases[0].next[0]",
            "phases[1].approval.timeout_minutes",
        ]

    def test_several_problems_are_all_listed_in_file_order(self):
        source = GOOD.replace("id: build", "id: B").replace("name: Check", "name: [1]")
        errors = _errors(source)
        assert [e["line"] for e in errors] == sorted(e["line"] for e in errors)  # type: ignore[type-var]
        assert len(errors) == 2


class TestRefusedText:
    @pytest.mark.parametrize(
        ("source", "line", "words"),
        [
            ("name: x\nphases: [\n", 3, "not valid YAML"),
            ("name: x\nname: y\n", 2, "duplicate key 'name' (first at line 1)"),
            ("- a\n- b\n", 1, "not a list"),
            ("", 1, "not empty"),
            ("just text", 1, "not plain text"),
            ("name: x\n---\nname: y\n", 2, "single document"),
            ("name: x\ndescription: a\x00b\n", 2, "NUL"),
            ("[" * 50_000, 1, "nested too deeply"),
            ("? [a, b]\n: c\n", 1, "a key must be plain text"),
            ("name: x\nparameters: [{name: p, default: .inf}]\n", 2, "finite"),
        ],
    )
    def test_is_refused_with_its_line(self, source, line, words):
        [only] = _errors(source)
        assert only["line"] == line
        assert words in str(only["message"])
        assert only["file"] == "w.yml"

    def test_a_file_over_the_limit_is_refused_before_parsing(self):
        [only] = _errors("name: x\n" + "#" * 2000, max_bytes=1024)
        assert "over the limit of 1024" in str(only["message"])

    def test_bytes_that_are_not_utf8_are_refused(self):
        [only] = _errors(b"name: x\ndescription: \xff\n")
        assert (only["line"], only["message"]) == (2, "not UTF-8 text")

    def test_an_alias_bomb_is_refused(self):
        lines = ["a: &a [" + ", ".join(["x"] * 10) + "]"]
        for name, prev in zip("bcdef", "abcde", strict=True):
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
        [only] = _errors("\n".join(lines) + "\n")
        assert "more than" in str(only["message"])

    def test_a_date_is_kept_as_the_text_written(self):
        spec = parse(GOOD.replace("Ship a release.", "2026-12-04"))
        assert spec.description == "2026-12-04"


class TestDocs:
    def test_the_example_in_docs_workflows_md_validates(self):
        docs = (Path(__file__).parents[2] / "docs" / "workflows.md").read_text(encoding="utf-8")
        section = docs.split("## Workflow definitions", 1)[1]
        example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
        assert example is not None
        spec = parse(example.group(1), file="docs/workflows.md")
        assert [p.id for p in spec.phases] == ["changelog", "bump", "sign-off"]


class TestBuiltins:
    def test_there_are_three_useful_ones(self):
        assert set(builtins()) == {"prd-to-code", "bug-fix", "docs-update"}

    @pytest.mark.parametrize("name", ["prd-to-code", "bug-fix", "docs-update"])
    def test_each_validates_and_is_complete(self, name):
        source, spec = builtins()[name]
        assert parse(source) == spec
        assert spec.parameters
        assert any(p.required for p in spec.parameters)
        assert 3 <= len(spec.phases) <= 5
        assert all(p.instructions and p.done_definition for p in spec.phases)
        assert any(p.approval is not None for p in spec.phases)
        assert any(p.validation.kind != "none" for p in spec.phases)
        assert all(p.next for p in spec.phases[:-1])


class TestValidateCommand:
    def test_a_valid_file_prints_ok_and_exits_0(self, tmp_path):
        good = tmp_path / "good.yml"
        good.write_text(GOOD)
        result = CliRunner().invoke(cli_app, ["workflow", "validate", str(good)])
        assert result.exit_code == 0, result.output
        assert "ok" in result.output

    def test_invalid_files_print_file_line_column_field_and_exit_1(self, tmp_path):
        bad = tmp_path / "bad.yml"
        bad.write_text(GOOD.replace("next: [check]", "next: [nope]"))
        result = CliRunner().invoke(cli_app, ["workflow", "validate", str(bad)])
        assert result.exit_code == 1
        assert f"{bad}:9:12: phases[0].next[0]: no phase 'nope'" in result.output

    def test_json_lists_each_file(self, tmp_path):
        good, bad = tmp_path / "a.yml", tmp_path / "b.yml"
        good.write_text(GOOD)
        bad.write_text("name: x\n")
        result = CliRunner().invoke(
            cli_app, ["workflow", "validate", "--json", str(good), str(bad)]
        )
        assert result.exit_code == 1
        found = json.loads(result.output)
        assert [r["valid"] for r in found] == [True, False]
        assert found[1]["errors"][0]["file"] == str(bad)
