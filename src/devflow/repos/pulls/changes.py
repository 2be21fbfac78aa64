"""What a pull request changes: the files with their counts and the patch (each cut at a limit,
saying so), and its commits."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.auth import Principal
from devflow.repos.pulls.schemas import CommitRead, DiffFile, DiffRead
from devflow.repos.pulls.service import git_of, show_pull
from devflow.repos.storage import Storage

MAX_DIFF_FILES = 1000
MAX_PATCH_BYTES = 2 * 1024 * 1024
MAX_COMMITS = 250


# -- diff and commits -----------------------------------------------------------------------------

_STATUS = {"A": "added", "M": "modified", "D": "deleted", "T": "type_changed"}


async def diff(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    number: int,
    storage: Storage,
    max_files: int = MAX_DIFF_FILES,
    max_patch_bytes: int = MAX_PATCH_BYTES,
) -> DiffRead:
    """Return what a pull request changes since its head left the base: the files with their
    line counts, and the patch, each cut at its limit (and saying so)."""
    repo, pr = await show_pull(
        session, principal=principal, project=project, name=name, number=number, storage=storage
    )
    git = git_of(storage, repo)
    base = await git.merge_base(pr.base_sha, pr.head_sha)
    since = base or pr.base_sha  # unrelated histories: the two tips
    numstat = (await git.must("diff", "--numstat", "-z", "--no-renames", since, pr.head_sha)).split(
        "\0"
    )
    names = (
        await git.must("diff", "--name-status", "-z", "--no-renames", since, pr.head_sha)
    ).split("\0")
    status = dict(zip(names[1::2], names[0::2], strict=False))
    files = []
    for entry in numstat:
        parts = entry.split("\t", 2)
        if len(parts) != 3 or not parts[2]:  # noqa: PLR2004 - added, deleted, path
            continue
        added, deleted, path = parts
        files.append(
            DiffFile(
                path=path,
                status=_STATUS.get(status.get(path, "")[:1], "other"),
                additions=int(added) if added.isdigit() else None,
                deletions=int(deleted) if deleted.isdigit() else None,
            )
        )
    patch, cut = await git.limited(
        "diff", "--no-renames", "--no-color", "--no-ext-diff", since, pr.head_sha,
        max_bytes=max_patch_bytes,
    )  # fmt: skip
    return DiffRead(
        base_sha=pr.base_sha,
        head_sha=pr.head_sha,
        merge_base=base,
        files=files[:max_files],
        total_files=len(files),
        additions=sum(f.additions or 0 for f in files),
        deletions=sum(f.deletions or 0 for f in files),
        files_truncated=len(files) > max_files,
        patch=patch,
        patch_truncated=cut,
    )


async def commits(
    session: AsyncSession,
    *,
    principal: Principal | None,
    project: str,
    name: str,
    number: int,
    storage: Storage,
) -> list[CommitRead]:
    """Return the pull request's commits (in the head, not in the base), oldest first; at most
    `MAX_COMMITS`, the newest ones."""
    repo, pr = await show_pull(
        session, principal=principal, project=project, name=name, number=number, storage=storage
    )
    out = await git_of(storage, repo).must(
        "log", f"--max-count={MAX_COMMITS}", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e",
        pr.head_sha, f"^{pr.base_sha}",
    )  # fmt: skip
    found = []
    for record in out.split("\x1e"):
        fields = record.strip("\n").split("\x1f")
        if len(fields) == 5:  # noqa: PLR2004 - the five fields asked for
            sha, author, email, at, title = fields
            found.append(CommitRead(sha=sha, author_name=author, author_email=email,
                                    authored_at=at, title=title))  # fmt: skip
    return found[::-1]


__all__ = ["MAX_COMMITS", "MAX_DIFF_FILES", "MAX_PATCH_BYTES", "commits", "diff"]
