"""Structure-aware chunking of Markdown.

A document is cut at its headings first (each chunk keeps its heading path, as plain text); a
section longer than the target size is cut between paragraphs, and a paragraph longer than the
target between sentences. A fenced code block is kept whole unless it alone is longer than the
hard limit (twice the target), in which case it is cut between lines and each piece is fenced
again with its language. Consecutive chunks of one section share `overlap` characters of prose so
a sentence cut at a border is found from both sides.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from devflow.knowledge.plaintext import heading_text

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Indented too: a code block in a list item or a Sphinx definition (`:   ` and four spaces).
_FENCE = re.compile(r"^([ \t]*)(`{3,}|~{3,})\s*([\w+#.-]*)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")


@dataclass
class Block:
    """A paragraph, list, table or code block under a heading path."""

    text: str
    headings: tuple[str, ...]
    start: int
    end: int
    code_language: str | None = None
    is_code: bool = False


@dataclass
class ChunkPiece:
    """A chunk before it is stored."""

    position: int
    text: str
    heading_path: list[str]
    start: int
    end: int
    content_hash: str = ""

    def __post_init__(self) -> None:
        self.content_hash = hashlib.sha256(self.text.encode()).hexdigest()


@dataclass
class CodeBlock:
    """A fenced code block with the prose just before it."""

    language: str | None
    code: str
    context: str
    heading_path: list[str] = field(default_factory=list)


def parse_blocks(markdown: str) -> list[Block]:  # noqa: PLR0915 - one pass, one state machine
    """Split Markdown into blocks (headings update the path and are not blocks themselves)."""
    blocks: list[Block] = []
    path: list[tuple[int, str]] = []
    lines = markdown.splitlines(keepends=True)
    offset = 0
    i = 0
    para: list[str] = []
    para_start = 0

    def flush_paragraph(end: int) -> None:
        text = "".join(para).strip()
        if text:
            blocks.append(Block(text, tuple(h for _, h in path), para_start, end))
        para.clear()

    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        heading = _HEADING.match(line.rstrip("\n"))
        if fence:
            flush_paragraph(offset)
            marker = fence[2]
            start = offset
            body: list[str] = [line]
            offset += len(line)
            i += 1
            while i < len(lines):
                body.append(lines[i])
                offset += len(lines[i])
                i += 1
                if lines[i - 1].strip().startswith(marker[0] * len(marker)) and len(body) > 1:
                    break
            indent = len(fence[1])  # a block of its own: moved to the margin, as code stays
            body = [_outdent(b, indent) for b in body]
            blocks.append(
                Block(
                    "".join(body).rstrip("\n"),
                    tuple(h for _, h in path),
                    start,
                    offset,
                    code_language=fence[3].lower() or None,
                    is_code=True,
                )
            )
            para_start = offset
            continue
        if heading:
            flush_paragraph(offset)
            level = len(heading[1])
            path = [(lvl, h) for lvl, h in path if lvl < level]
            # Stored as plain text: a Sphinx heading is a link to its own anchor in Markdown.
            path.append((level, heading_text(heading[2]) or heading[2].strip()))
            offset += len(line)
            i += 1
            para_start = offset
            continue
        if not line.strip():
            flush_paragraph(offset)
            offset += len(line)
            i += 1
            para_start = offset
            continue
        if not para:
            para_start = offset
        para.append(line)
        offset += len(line)
        i += 1
    flush_paragraph(offset)
    return blocks


def chunk_markdown(markdown: str, *, size: int = 1200, overlap: int = 150) -> list[ChunkPiece]:
    """Cut Markdown into chunks that follow its structure (see the module docstring)."""
    hard = size * 2
    pieces: list[ChunkPiece] = []
    current: list[Block] = []

    def emit(blocks: list[Block], prefix: str = "") -> None:
        if not blocks:
            return
        body = "\n\n".join(b.text for b in blocks)
        text = f"{prefix}{body}" if prefix else body
        pieces.append(
            ChunkPiece(
                position=len(pieces),
                text=text,
                heading_path=list(blocks[0].headings),
                start=blocks[0].start,
                end=blocks[-1].end,
            )
        )

    carry = ""
    for block in _split_long(parse_blocks(markdown), size, hard):
        same_section = bool(current) and current[0].headings == block.headings
        length = sum(len(b.text) + 2 for b in current)
        if current and (not same_section or length + len(block.text) > size):
            emit(current, carry)
            last = current[-1]
            carry = _tail(last.text, overlap) if same_section and not last.is_code else ""
            if carry and not block.is_code:
                carry += " "
            else:
                carry = ""
            current = []
        current.append(block)
    emit(current, carry)
    return pieces


def code_blocks(markdown: str, *, min_chars: int) -> list[CodeBlock]:
    """Return the fenced code blocks of at least `min_chars`, each with the prose before it."""
    found: list[CodeBlock] = []
    blocks = parse_blocks(markdown)
    for i, block in enumerate(blocks):
        if not block.is_code:
            continue
        code = _unfence(block.text)
        if len(code) < min_chars:
            continue
        before = [b.text for b in blocks[max(0, i - 2) : i] if not b.is_code]
        context = "\n\n".join(before)[-800:]
        found.append(CodeBlock(block.code_language, code, context, list(block.headings)))
    return found


def _outdent(line: str, width: int) -> str:
    """Return `line` without up to `width` leading spaces or tabs."""
    kept = line.lstrip(" \t")
    return line[min(width, len(line) - len(kept)) :]


def _unfence(text: str) -> str:
    lines = text.splitlines()
    if lines and _FENCE.match(lines[0]):
        lines = lines[1:]
    if lines and lines[-1].strip().startswith(("```", "~~~")):
        lines = lines[:-1]
    return "\n".join(lines)


def _split_long(blocks: list[Block], size: int, hard: int) -> list[Block]:
    out: list[Block] = []
    for block in blocks:
        if block.is_code and len(block.text) > hard:
            out.extend(_split_code(block, size))
        elif not block.is_code and len(block.text) > size:
            out.extend(_split_prose(block, size))
        else:
            out.append(block)
    return out


def _split_code(block: Block, size: int) -> list[Block]:
    lines = _unfence(block.text).splitlines()
    fence = "````" if "```" in block.text[3:-3] else "```"
    head = f"{fence}{block.code_language or ''}\n"
    parts: list[Block] = []
    piece: list[str] = []
    length = 0
    for line in lines:
        if piece and length + len(line) + 1 > size:
            parts.append(_sub(block, head + "\n".join(piece) + f"\n{fence}", is_code=True))
            piece, length = [], 0
        piece.append(line[: size * 2])
        length += len(line) + 1
    if piece:
        parts.append(_sub(block, head + "\n".join(piece) + f"\n{fence}", is_code=True))
    return parts


def _split_prose(block: Block, size: int) -> list[Block]:
    sentences = _SENTENCE_END.split(block.text)
    parts: list[Block] = []
    piece = ""
    for whole in sentences:
        sentence = whole
        while len(sentence) > size:  # one huge "sentence": cut at a space
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            if piece:
                parts.append(_sub(block, piece))
                piece = ""
            parts.append(_sub(block, sentence[:cut]))
            sentence = sentence[cut:].lstrip()
        if piece and len(piece) + len(sentence) + 1 > size:
            parts.append(_sub(block, piece))
            piece = ""
        piece = f"{piece} {sentence}" if piece else sentence
    if piece:
        parts.append(_sub(block, piece))
    return parts


def _sub(block: Block, text: str, *, is_code: bool = False) -> Block:
    return Block(text, block.headings, block.start, block.end, block.code_language, is_code)


def _tail(text: str, overlap: int) -> str:
    if overlap <= 0 or len(text) <= overlap:
        return "" if overlap <= 0 else text
    tail = text[-overlap:]
    sentence = _SENTENCE_END.search(tail)
    if sentence:
        return tail[sentence.end() :]
    space = tail.find(" ")
    return tail[space + 1 :] if space >= 0 else tail


__all__ = ["Block", "ChunkPiece", "CodeBlock", "chunk_markdown", "code_blocks", "parse_blocks"]
