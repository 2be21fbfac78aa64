"""`op://vault/item[/section]/field` references: what parses, and what is refused and how."""

from __future__ import annotations

import pytest

from devflow.core.errors import Invalid
from devflow.secrets.onepassword import MAX_REFERENCE_LENGTH, Reference, parse_reference


class TestParsing:
    def test_a_reference_without_section_has_three_parts(self):
        ref = parse_reference("op://Private/GitHub/token")
        assert ref == Reference(vault="Private", item="GitHub", section=None, field="token")

    def test_a_reference_with_a_section_has_four(self):
        ref = Reference.parse("op://Private/GitHub/api/token")
        assert (ref.vault, ref.item, ref.section, ref.field) == (
            "Private",
            "GitHub",
            "api",
            "token",
        )

    def test_names_may_hold_spaces_and_other_scripts(self):
        ref = parse_reference("op://Team Vault/Prod DB (main)/Conn Details/pass word é")
        assert ref.vault == "Team Vault"
        assert ref.item == "Prod DB (main)"
        assert ref.section == "Conn Details"
        assert ref.field == "pass word é"

    @pytest.mark.parametrize(
        "text", ["op://v/i/f", "op://Team Vault/item/section/field", "op://a b/c d/e f"]
    )
    def test_str_gives_the_text_back(self, text):
        assert str(parse_reference(text)) == text

    def test_a_reference_is_frozen_and_hashable(self):
        ref = parse_reference("op://v/i/f")
        with pytest.raises(AttributeError):
            ref.vault = "other"  # type: ignore[misc]
        assert {ref: 1}[parse_reference("op://v/i/f")] == 1

    def test_the_longest_accepted_reference_parses(self):
        text = "op://v/i/" + "f" * (MAX_REFERENCE_LENGTH - len("op://v/i/"))
        assert parse_reference(text).field.startswith("fff")


class TestRefusal:
    @pytest.mark.parametrize(
        "text",
        [
            "op://vault/item",  # too few parts
            "op://vault",
            "op://",
            "op://a/b/c/d/e",  # too many: a name with '/' must be given by id
            "op://vault//field",  # empty part
            "op:///item/field",
            "op://vault/item/",
            "op://vault/ /field",  # blank part
            "op://../item/field",  # path walking
            "op://vault/./field",
            "op://vault/item/..",
            "op://vault/item/field?attribute=otp",  # query forms are out of scope
            "op://vault/item/field?ssh-format=openssh",
            "OP://vault/item/field",
            "https://vault/item/field",
            "vault/item/field",
            "",
        ],
    )
    def test_malformed_references_are_refused_naming_the_expected_form(self, text):
        with pytest.raises(Invalid) as caught:
            parse_reference(text)
        assert "op://vault/item/field" in caught.value.message

    @pytest.mark.parametrize(
        "text",
        [
            "op://vault/item/field\n",  # a trailing newline from a file
            "op://vault/it\x00em/field",  # NUL
            "op://vault/item/fi\reld",
            "op://vault/item/fi\x1b[31meld",  # an escape sequence
            "op://vault/it\u202eem/field",  # a bidi override
            "op://vault/it\u200bem/field",  # a zero-width space
            "op://vault/item/fi\u2028eld",  # a line separator
        ],
    )
    def test_control_and_invisible_characters_are_refused_and_escaped_in_the_message(self, text):
        with pytest.raises(Invalid) as caught:
            parse_reference(text)
        message = caught.value.message
        assert "control or invisible" in message
        assert message.isprintable()

    def test_an_overlong_reference_is_refused_without_quoting_it(self):
        text = "op://vault/item/" + "x" * 1000
        with pytest.raises(Invalid) as caught:
            parse_reference(text)
        assert str(MAX_REFERENCE_LENGTH) in caught.value.message
        assert "xxxxxxxxxx" not in caught.value.message

    def test_text_that_is_not_a_reference_is_not_quoted_as_it_may_be_a_secret(self):
        with pytest.raises(Invalid) as caught:
            parse_reference("ghp_s3cr3tT0kenPastedByMistake")
        assert "s3cr3t" not in caught.value.message
        assert "op://vault/item/field" in caught.value.message

    def test_a_long_malformed_reference_is_quoted_cut_short(self):
        text = "op://" + "v" * 300 + "/item"
        with pytest.raises(Invalid) as caught:
            parse_reference(text)
        assert len(caught.value.message) < 250

    @pytest.mark.parametrize("value", [None, 42, b"op://v/i/f", ["op://v/i/f"]])
    def test_a_value_that_is_not_text_is_refused(self, value):
        with pytest.raises(Invalid):
            parse_reference(value)
