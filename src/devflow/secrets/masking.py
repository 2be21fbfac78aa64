"""Masking of secret values in text that leaves DevFlow: logs, job output, error messages.

A `Masker` knows the values to hide and the forms each takes on its way into a log (`forms`):
itself, base64 (standard and URL-safe, with and without padding), the part of its base64 that is
the same wherever it sits inside a longer base64 stream (three byte alignments, as GitHub Actions
does for `base64(user:password)`), URL-encoded and JSON-escaped. Every occurrence of any form is
replaced by `***`; where occurrences overlap (one secret inside or across another) the whole
stretch they cover is one `***`, so no part of a secret is left showing.

Values shorter than `MIN_LENGTH` characters are not masked: hiding every "a" or "1" would make
logs unreadable and would tell a reader which characters a short secret holds. A secret that
short is not a secret; the refusal is logged at debug level (without the value).

`MaskingStream` masks a log arriving in chunks, holding back the last `longest form - 1`
characters so a secret split across chunks is still caught; its output equals `mask` of the
whole text.
"""

from __future__ import annotations

import base64
import codecs
import json
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

log = logging.getLogger(__name__)

MIN_LENGTH = 4
"""Values shorter than this many characters are ignored."""

MASK = "***"

_Node = dict[str, "_Node"]
"""A trie of forms: one child per next character, `""` marking the end of a form."""


def _stable_base64(data: bytes, offset: int) -> str:
    """Return the base64 characters of `data` that do not depend on its neighbours when it starts
    `offset` bytes into a 3-byte group of a longer stream."""
    encoded = base64.b64encode(bytes(offset) + data + bytes(3)).decode("ascii")
    first_bit, end_bit = 8 * offset, 8 * (offset + len(data))
    # Character i carries bits [6i, 6i + 6) of the stream; keep those wholly inside `data`.
    first = -(-first_bit // 6)
    end = end_bit // 6
    return encoded[first:end]


def forms(value: str) -> set[str]:
    """Return `value` and the encoded forms of it that `Masker` also hides."""
    data = value.encode("utf-8", "surrogatepass")
    standard = base64.b64encode(data).decode("ascii")
    urlsafe = base64.urlsafe_b64encode(data).decode("ascii")
    found = {
        value,
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
    }
    for offset in range(3):
        inner = _stable_base64(data, offset)
        found.update((inner, inner.replace("+", "-").replace("/", "_")))
    return {form for form in found if len(form) >= MIN_LENGTH}


def _trie_pattern(words: Iterable[str]) -> str:
    """Return a regular expression matching any of `words`, the longest at a given position.

    Alternatives are factored by common prefixes, so the engine tries one branch per character
    instead of every word (hundreds of values with ten forms each, over megabytes of text), and
    a longer word is tried before the shorter one it extends.
    """
    trie: _Node = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # end of a word
    return _node_pattern(trie)


def _node_pattern(node: _Node) -> str:
    # Iterative over single-child chains so that long values do not recurse per character.
    prefix: list[str] = []
    while len(node) == 1 and "" not in node:
        ((char, child),) = node.items()
        prefix.append(re.escape(char))
        node = child
    ends = "" in node
    branches = [
        re.escape(char) + _node_pattern(child) for char, child in sorted(node.items()) if char
    ]
    head = "".join(prefix)
    if not branches:
        return head
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        body = f"(?:{body})?" if len(branches) == 1 else body + "?"
    return head + body


class _Compiled:
    """An immutable snapshot of the masker: the pattern and its longest form."""

    __slots__ = ("ahead", "longest", "pattern")

    def __init__(self, form_set: set[str]) -> None:
        self.longest = max(map(len, form_set), default=0)
        source = _trie_pattern(form_set)
        self.pattern = re.compile(source)
        # The longest occurrence starting at each position, overlapping ones included.
        self.ahead = re.compile(f"(?=({source}))")

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Return the stretches of `text` covered by overlapping occurrences, in order."""
        if not self.longest:
            return []
        spans: list[tuple[int, int]] = []
        search, match = self.pattern.search, self.pattern.match
        pos = 0
        while found := search(text, pos):
            start, end = found.span()
            # An occurrence starting inside this one may reach further: extend over it.
            inner = start + 1
            while inner < end:
                longer = match(text, inner)
                if longer is not None and longer.end() > end:
                    end = longer.end()
                inner += 1
            spans.append((start, end))
            pos = end
        return spans


def _replace(text: str, spans: list[tuple[int, int]], end: int) -> str:
    parts: list[str] = []
    pos = 0
    for start, stop in spans:
        parts += (text[pos:start], MASK)
        pos = stop
    parts.append(text[pos:end])
    return "".join(parts)


class Masker:
    """The set of secret values to hide; `add` may be called from any thread."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._compiled: _Compiled | None = _Compiled(set())
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Hide `value` and its encoded forms from now on; values under `MIN_LENGTH` are ignored."""
        if len(value) < MIN_LENGTH:
            log.debug("a value of %d characters is too short to mask", len(value))
            return
        new = forms(value)
        with self._lock:
            if not new <= self._forms:
                self._forms |= new
                self._compiled = None  # compiled again on next use, so many adds cost one compile

    def _current(self) -> _Compiled:
        compiled = self._compiled
        if compiled is None:
            with self._lock:
                compiled = self._compiled
                if compiled is None:
                    compiled = self._compiled = _Compiled(set(self._forms))
        return compiled

    @property
    def longest(self) -> int:
        """Return the length of the longest form, 0 when nothing is masked."""
        return self._current().longest

    def mask(self, text: str) -> str:
        """Return `text` with every occurrence of a secret, in any form, replaced by `***`."""
        if not text:
            return text
        spans = self._current().spans(text)
        return _replace(text, spans, len(text)) if spans else text

    def stream(self) -> MaskingStream:
        """Return a stream that masks a log fed to it in chunks."""
        return MaskingStream(self)


class MaskingStream:
    """Masks text arriving in chunks, holding back what could be the start of a secret.

    `feed` takes `str` or UTF-8 `bytes` (a character split across chunks is decoded whole;
    invalid bytes become U+FFFD) and returns what can be let out; `flush` returns the rest at the
    end. A `str` chunk after `bytes` ending mid-character ends that character as U+FFFD.
    """

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, chunk: str | bytes) -> str:
        """Add `chunk` and return the masked text that no later chunk can change."""
        if isinstance(chunk, bytes):
            self._pending += self._decoder.decode(chunk)
        else:
            self._pending += self._decoder.decode(b"", final=True) + chunk
            self._decoder.reset()
        compiled = self._masker._current()  # noqa: SLF001 - one snapshot for spans and hold-back
        text = self._pending
        # A secret still incomplete starts within the last `longest - 1` characters.
        cut = max(0, len(text) - max(compiled.longest - 1, 0))
        spans = compiled.spans(text)
        done = []
        for start, end in spans:
            if end <= cut:
                done.append((start, end))
            elif start < cut:
                cut = start  # never split a masked stretch: keep it whole for next time
                break
            else:
                break
        self._pending = text[cut:]
        return _replace(text, done, cut)

    def flush(self) -> str:
        """Return the masked rest of the stream."""
        self._pending += self._decoder.decode(b"", final=True)
        self._decoder.reset()
        text, self._pending = self._pending, ""
        return self._masker.mask(text)


__all__ = ["MASK", "MIN_LENGTH", "Masker", "MaskingStream", "forms"]
