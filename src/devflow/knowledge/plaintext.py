"""Plain text from Markdown: titles, headings, snippets and passages read as text, not markup.

Extraction stores pages as Markdown, and Sphinx or MkDocs headings come out as links
(``[`json`](#module-json "json: Encode and decode the JSON format.") — JSON encoder and decoder``)
that cost an agent tokens and a reader patience. Titles and headings are stored as plain text
(`heading_text`, at extraction and chunking) and cleaned again when read, for rows stored before
(decision 0011). Snippets keep code spans as code and bold the query's words only outside code
and URLs (`snippet`); a passage keeps absolute links and drops the rest (`passage_text`).

Code is held apart while the rest is cleaned, so nothing inside a code span or block is taken
for a link or emphasis.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable

# Written around each word the full-text search matched (`ts_headline`'s StartSel/StopSel):
# private-use characters, which no text of ours holds, turned into `**` or dropped here.
MARK_START = "\ue000"
MARK_END = "\ue001"
_MARKS = re.compile(f"[{MARK_START}{MARK_END}]")
_HELD = re.compile("\ue002(\\d+)\ue003")
_HELD_BLOCK = re.compile("\ue004(\\d+)\ue005")

# Indented too: a code block inside a list item or a Sphinx definition (`:   ` and 4 spaces).
_FENCED = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[`~]*[ \t]*$|\Z)", re.MULTILINE | re.DOTALL
)
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
# A link or image target: no spaces, balanced parentheses one deep, an optional title.
_TARGET = r"\(\s*<?((?:[^()\s<>]|\([^()\s]*\))*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
_IMAGE = re.compile(r"!\[([^\[\]]*)\]" + _TARGET)
_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]" + _TARGET)
_REFERENCE = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])+)\]\[[^\[\]]*\]")
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^<>\s]+)>")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`]+")
# Emphasis as CommonMark flanks it: `*args`, `**kwargs` and `HLA-B*27` are not emphasis.
_STRONG = re.compile(r"(?<![\w*\\])\*\*(?=[^\s*])((?:(?!\*\*).)+?)(?<=[^\s*])\*\*(?![\w*])")
_EMPHASIS = re.compile(r"(?<![\w*\\])\*(?=[^\s*])([^*]+?)(?<=[^\s*])\*(?![\w*])")
# A Sphinx signature's `*` and `**kw` in emphasis, as extraction writes them: `***`, `***kw*`.
_STARRED = re.compile(r"(?<![\w*\\])\*(\*{1,2}(?:[A-Za-z_]\w*)?)\*(?![\w*])")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_INLINE_TAG = re.compile(
    r"</?(?:a|b|i|em|strong|code|span|sup|sub|kbd|small|mark|abbr)(?:\s[^<>]*)?/?>", re.IGNORECASE
)
_ANCHOR_MARK = re.compile(r"\s*¶+\s*$")
_SPACE = re.compile(r"\s+")


def heading_text(markdown: str) -> str:
    """Return a title or heading written in Markdown as plain text, on one line.

    Links and images become their text, code spans their code, emphasis its words; escapes and
    the `¶` that documentation generators append go. Plain text comes back unchanged.
    """
    held: list[str] = []
    text = _CODE_SPAN.sub(lambda m: _hold(held, m[2].strip()), markdown)
    text = _inline(text, keep_url=lambda _: False)
    text = _HELD.sub(lambda m: held[int(m[1])], text)
    text = _ANCHOR_MARK.sub("", _SPACE.sub(" ", text).strip())
    return text.strip()


def passage_text(markdown: str) -> str:
    """Return a passage's Markdown without link targets that mean nothing outside its page.

    Links to other sites keep their address (a reader may follow them); anchors and relative
    links become their text; images their description. Code is left as it is.
    """
    held: list[str] = []
    text = _FENCED.sub(lambda m: _hold(held, m[0]), markdown)
    text = _CODE_SPAN.sub(lambda m: _hold(held, m[0]), text)
    text = _inline(text, keep_url=_absolute, strip_emphasis=False)
    return _HELD.sub(lambda m: held[int(m[1])], text)


def snippet(marked: str, *, words: int = 30, fragments: int = 2, max_chars: int = 480) -> str:
    """Return a one-line snippet of a passage with the matched words in `**bold**`.

    `marked` is the passage's Markdown with `MARK_START`/`MARK_END` around the words the search
    matched (or none: the snippet is then the passage's start). Marks inside code spans, code
    blocks and URLs are dropped, so `**` never lands inside code; link syntax becomes its text.
    Up to `fragments` windows of `words` words around the marks are kept, joined by ` … `.
    """
    blocks: list[str] = []
    held: list[str] = []
    text = marked
    if "`" in text or "~~~" in text:  # (each pattern is tried only where it can match: speed)
        text = _FENCED.sub(lambda m: f"\n\ue004{_keep(blocks, _unmark(m[2]))}\ue005\n", text)
        text = _CODE_SPAN.sub(lambda m: _hold(held, " ".join(_unmark(m[0]).split())), text)
    if "://" in text:
        text = _URL.sub(lambda m: _unmark(m[0]), text)
    text = _inline(text, keep_url=lambda _: False)
    # A code block's words are words of the snippet (unmarked); a code span stays one token.
    if blocks:
        text = _HELD_BLOCK.sub(lambda m: blocks[int(m[1])], text)
    tokens = text.split()
    if held:
        tokens = [_HELD.sub(lambda m: held[int(m[1])], t) if "\ue002" in t else t for t in tokens]
    chosen = _windows(tokens, words, fragments)
    shown = " … ".join(" ".join(tokens[start:end]) for start, end in chosen)
    if chosen and chosen[0][0] > 0:
        shown = "… " + shown
    if chosen and chosen[-1][1] < len(tokens):
        shown += " …"
    return _bold(_clip(shown, max_chars))


def clean_title(title: str, *, first_heading: str | None = None, site: str | None = None) -> str:
    """Return a page title without the site's name that documentation generators append.

    Three cases, in order (decision 0011): the title is the page's first heading followed by a
    separator and more ("json — JSON encoder and decoder — Python 3.11.2 documentation" under
    the heading "json — JSON encoder and decoder"); the title ends in a separator and the site's
    declared name (`og:site_name`); the title ends in Sphinx's default "— <project>
    documentation". Anything else is kept: a title that is only the site's name stays.
    """
    plain = heading_text(title)
    heading = heading_text(first_heading) if first_heading else ""
    if heading and len(plain) > len(heading) and plain.casefold().startswith(heading.casefold()):
        rest = plain[len(heading) :]
        if _SEPARATOR_START.match(rest):
            return plain[: len(heading)].strip()
    if site:
        name = heading_text(site)
        match = _SEPARATED_TAIL.match(plain)
        if name and match and match[2].strip().casefold() == name.casefold():
            return match[1].strip()
    match = _SPHINX_TAIL.match(plain)
    if match:
        return match[1].strip()
    return plain


def where(title: str, heading_path: list[str]) -> str:
    """Return `title > heading > …` for display, giving a heading that repeats the one before it
    once (a Markdown page's `# Title` is usually its title too: not "Widget > Widget")."""
    parts = [title] if title else []
    for heading in heading_path:
        if heading and (not parts or parts[-1].casefold() != heading.casefold()):
            parts.append(heading)
    return " > ".join(parts)


_SEPARATORS = r"(?:\u2014|\u2013|-|\||·|::|»|•)"  # em and en dashes, hyphen, bars, bullets
_SEPARATOR_START = re.compile(rf"\s*{_SEPARATORS}\s+\S")
_SEPARATED_TAIL = re.compile(rf"^(.*\S)\s+{_SEPARATORS}\s+(.+)$")
_SPHINX_TAIL = re.compile(
    rf"^(.*\S)\s+{_SEPARATORS}\s+[^\u2014\u2013|]*\bdocumentation$", re.IGNORECASE
)


def _absolute(target: str) -> bool:
    return target.startswith(("http://", "https://"))


def _keep(held: list[str], text: str) -> int:
    held.append(text)
    return len(held) - 1


def _hold(held: list[str], text: str) -> str:
    return f"\ue002{_keep(held, text)}\ue003"


def _inline(text: str, *, keep_url: Callable[[str], bool], strip_emphasis: bool = True) -> str:
    def link(match: re.Match[str]) -> str:
        label, target = match[1], _unmark(match[2])
        return f"[{label}]({target})" if keep_url(target) else label

    if "[" in text:
        text = _IMAGE.sub(lambda m: m[1], text)
        text = _LINK.sub(link, text)
        text = _REFERENCE.sub(lambda m: m[1], text)
    if "<" in text:
        text = _AUTOLINK.sub(lambda m: m[1], text)
        text = _INLINE_TAG.sub("", text)
    if strip_emphasis and "*" in text:
        text = _STARRED.sub(lambda m: m[1], text)
        text = _STRONG.sub(lambda m: m[1], text)
        text = _EMPHASIS.sub(lambda m: m[1], text)
    if strip_emphasis and "\\" in text:
        text = _ESCAPE.sub(lambda m: m[1], text)
    return text


def _unmark(text: str) -> str:
    return _MARKS.sub("", text)


def _windows(tokens: list[str], words: int, fragments: int) -> list[tuple[int, int]]:
    """Choose up to `fragments` windows of `words` tokens holding the most marked tokens."""
    marked = [i for i, t in enumerate(tokens) if MARK_START in t]
    if not marked:
        return [(0, min(len(tokens), words * fragments))] if tokens else []
    lead = min(5, words // 4)
    chosen: list[tuple[int, int]] = []
    left = list(marked)
    while left and len(chosen) < fragments:
        best = max(
            (max(0, i - lead) for i in left),
            key=lambda s: (bisect_left(left, s + words) - bisect_left(left, s), -s),
        )
        window = (best, min(len(tokens), best + words))
        chosen.append(window)
        left = [i for i in left if not window[0] <= i < window[1]]
    chosen.sort()
    merged: list[tuple[int, int]] = []
    for start, end in chosen:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _clip(text: str, max_chars: int) -> str:
    if len(_unmark(text)) <= max_chars:
        return text
    cut = text[:max_chars]
    space = cut.rfind(" ")
    cut = cut[:space] if space > max_chars // 2 else cut
    return cut.rstrip() + " …"


def _bold(text: str) -> str:
    """Turn marks into `**`; a mark whose partner was clipped away is dropped."""
    text = re.sub(f"{MARK_START}([^{MARK_START}{MARK_END}]+){MARK_END}", r"**\1**", text)
    return _unmark(text)


__all__ = [
    "MARK_END",
    "MARK_START",
    "clean_title",
    "heading_text",
    "passage_text",
    "snippet",
    "where",
]
