"""What the browsing API answers: refs, tree entries, files, commits, diffs, blame, README."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class Branch(BaseModel):
    """A branch and the commit it points at."""

    name: str
    commit: str = Field(description="The commit id it points at.")
    date: datetime | None = Field(description="The committer date of that commit.")
    subject: str = Field(description="That commit's first line.")
    default: bool = Field(description="Whether it is the repository's default branch.")


class Tag(BaseModel):
    """A tag, annotated or lightweight, and the commit it names."""

    name: str
    commit: str | None = Field(description="The commit it names (None: it tags no commit).")
    sha: str = Field(description="The tag object's id (the commit's for a lightweight tag).")
    annotated: bool
    date: datetime | None = Field(description="The tagger date, or the commit's date.")
    message: str = Field(description="An annotated tag's first line, else the commit's.")


class TreeEntry(BaseModel):
    """One entry of a folder at a commit."""

    name: str
    path: str = Field(description="From the repository's root.")
    type: Literal["blob", "tree", "commit"] = Field(
        description="blob: a file (or a symlink, mode 120000); tree: a folder; commit: a submodule."
    )
    mode: str = Field(description="100644, 100755 (executable), 120000 (symlink), 040000 …")
    size: int | None = Field(description="A file's bytes; None for folders and submodules.")
    sha: str = Field(description="The object's id.")


class Tree(BaseModel):
    """A folder at a commit."""

    ref: str
    commit: str
    path: str = Field(description="The folder, from the root ('' for the root).")
    entries: list[TreeEntry] = Field(description="Folders first, then files, each by name.")


class FileView(BaseModel):
    """A file at a commit: its text when it is text and not too large."""

    ref: str
    commit: str
    path: str
    name: str
    sha: str
    mode: str
    size: int
    binary: bool = Field(description="It holds a NUL byte or is not UTF-8: no text is shown.")
    too_large: bool = Field(description="Larger than the server shows as text: no text.")
    language: str | None = Field(
        description="A highlighting language guessed from the name (highlight.js's names)."
    )
    text: str | None = Field(description="The content, when it is text and not too large.")
    raw_url: str = Field(description="Where to download it as it is (any size).")


class Person(BaseModel):
    """An author or a committer."""

    name: str
    email: str
    date: datetime


class Commit(BaseModel):
    """A commit, without its diff."""

    sha: str
    parents: list[str]
    author: Person
    committer: Person
    subject: str
    message: str = Field(description="The whole message.")


class CommitPage(BaseModel):
    """A page of a history, newest first."""

    ref: str
    commit: str = Field(description="The commit the history starts from.")
    path: str | None
    items: list[Commit]
    total: int


class DiffFile(BaseModel):
    """One file a diff changes."""

    path: str = Field(description="Its path after the change (before it, for a deletion).")
    old_path: str | None = Field(description="Its path before a rename or copy.")
    status: Literal["added", "deleted", "modified", "renamed", "copied", "type_changed"]
    old_mode: str | None
    new_mode: str | None
    old_sha: str | None
    new_sha: str | None
    additions: int
    deletions: int
    binary: bool
    patch: str | None = Field(
        description="The unified diff of the file (None: binary, too large or truncated)."
    )
    too_large: bool = Field(description="Its patch is over the per-file limit.")
    truncated: bool = Field(description="Its patch is past the diff's total limit.")


class DiffStats(BaseModel):
    """What a diff changes in all (every file, listed or not)."""

    files: int
    additions: int
    deletions: int


class Diff(BaseModel):
    """The changes between two trees."""

    files: list[DiffFile]
    stats: DiffStats
    truncated: bool = Field(
        description="Files past the limit on files are not listed, or patches past the limit "
        "on bytes are left out."
    )


class CommitDetail(Commit):
    """A commit with its diff against its first parent (the whole tree for a root commit)."""

    diff: Diff


class Comparison(BaseModel):
    """What `head` has that `base` has not (GitHub's three dots)."""

    base: str
    head: str
    base_commit: str
    head_commit: str
    merge_base: str | None = Field(description="None: the histories are unrelated.")
    ahead: int = Field(description="Commits on head and not on base.")
    behind: int = Field(description="Commits on base and not on head.")
    commits: list[Commit] = Field(description="Head's commits not on base, newest first.")
    total_commits: int
    diff: Diff = Field(description="From the merge base (or base) to head.")


class BlameCommit(BaseModel):
    """A commit named by a blame."""

    sha: str
    author: str
    email: str
    date: datetime
    summary: str


class BlameRange(BaseModel):
    """Consecutive lines last changed by one commit."""

    commit: str
    start: int = Field(description="The first line, from 1.")
    count: int
    original_start: int = Field(description="Where the first line was in that commit.")
    original_path: str = Field(description="The file's path in that commit.")


class Blame(BaseModel):
    """Who last changed each line of a file."""

    ref: str
    commit: str
    path: str
    lines: list[str]
    ranges: list[BlameRange]
    commits: dict[str, BlameCommit]


class Readme(BaseModel):
    """The README at the root of a commit, as its source.

    DevFlow does not render it to HTML: the dashboard renders Markdown itself (react-markdown,
    no raw HTML), so no HTML of a pusher's making is ever served.
    """

    ref: str
    commit: str
    path: str
    format: Literal["markdown", "text"]
    size: int
    too_large: bool
    text: str | None = Field(description="None when too large or not text.")
