"""Secret references: `op://vault/item[/section]/field`.

Names may contain spaces but no `/` (1Password's own rule: name such a thing by its id), no
control or invisible format characters, and no `.`/`..` parts (they would walk paths once put
in a URL). Query forms (`?attribute=otp`, `?ssh-format=`) are not supported.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from devflow.core.errors import Invalid

SCHEME = "op://"
MAX_REFERENCE_LENGTH = 512
EXPECTED_FORM = "op://vault/item/field or op://vault/item/section/field"
_PARTS_WITHOUT_SECTION = 3
_PARTS_WITH_SECTION = 4
# Control characters (Cc), invisible format characters such as bidi overrides and zero-width
# joiners (Cf), surrogates (Cs), and line/paragraph separators (Zl, Zp).
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


@dataclass(frozen=True)
class Reference:
    """One parsed `op://` reference; `str()` gives its text back."""

    vault: str
    item: str
    section: str | None
    field: str

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and check `text`.

        Raises:
            Invalid: `text` is not of the form `op://vault/item[/section]/field`.
        """
        return parse_reference(text)

    def __str__(self) -> str:
        parts = [self.vault, self.item, *([self.section] if self.section else []), self.field]
        return SCHEME + "/".join(parts)


def parse_reference(text: str) -> Reference:
    """Parse and check an `op://vault/item[/section]/field` reference.

    Raises:
        Invalid: the text is not such a reference; the message names the expected form.
    """
    _check_text(text)
    shown = _shown(text)
    parts = text[len(SCHEME) :].split("/")
    if len(parts) not in {_PARTS_WITHOUT_SECTION, _PARTS_WITH_SECTION}:
        raise Invalid(
            f"{shown} has {len(parts)} parts after op://; expected {EXPECTED_FORM} "
            "(a name holding '/' must be given by its id)"
        )
    for part in parts:
        if not part.strip():
            raise Invalid(f"{shown} has an empty part; expected {EXPECTED_FORM}")
        if part in {".", ".."}:
            raise Invalid(f"{shown} has a '{part}' part; expected {EXPECTED_FORM}")
    if len(parts) == _PARTS_WITH_SECTION:
        vault, item, section, field = parts
        return Reference(vault=vault, item=item, section=section, field=field)
    vault, item, field = parts
    return Reference(vault=vault, item=item, section=None, field=field)


def _check_text(text: str) -> None:
    if not isinstance(text, str):  # a value from JSON or YAML may be anything
        raise Invalid(f"a 1Password reference is text of the form {EXPECTED_FORM}")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise Invalid(
            f"a 1Password reference is at most {MAX_REFERENCE_LENGTH} characters "
            f"({len(text)} given); expected {EXPECTED_FORM}"
        )
    if not text.startswith(SCHEME):
        # Not quoted: text that is not a reference may be a secret pasted in its place.
        raise Invalid(f"the text is not a 1Password reference; expected {EXPECTED_FORM}")
    shown = _shown(text)
    if any(unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        raise Invalid(
            f"the 1Password reference {shown} holds a control or invisible character; "
            f"expected {EXPECTED_FORM}"
        )
    if "?" in text:
        raise Invalid(
            f"{shown}: query parameters such as ?attribute= are not supported; "
            f"expected {EXPECTED_FORM}"
        )


def _shown(text: str) -> str:
    """`text` quoted for a message: escaped (no control character reaches a log) and cut."""
    limit = 80
    cut = text if len(text) <= limit else text[:limit] + "…"
    return repr(cut)  # repr escapes every character that is not printable
