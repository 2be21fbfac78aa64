"""DevFlow events turned into GitHub's webhook events: the mapping table and the payloads.

`TRANSLATORS` maps a DevFlow event type (`repo.pushed`, `task.created` …) to a function that
returns the GitHub events it becomes (`push`, `create`, `issues` …), each with its payload
shaped like GitHub's so that existing receivers work. A new event type plugs in with one
`@translates("<type>")` function; an event type with none is not delivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from devflow.core.config import Settings
from devflow.core.errors import DevflowError
from devflow.core.events import Event
from devflow.identity import Project, User
from devflow.repos.models import GitRepository
from devflow.repos.storage import ZERO, Storage

MAX_COMMITS = 100
"""Commits listed in a push payload (the newest ones; GitHub lists up to 2048)."""


@dataclass(frozen=True)
class Outgoing:
    """One GitHub event to send: its name, action, payload, and the repository it is about
    (None: the project's; only project-wide hooks get it)."""

    event: str
    payload: dict[str, Any]
    repository_id: uuid.UUID | None = None
    action: str | None = None


@dataclass(frozen=True)
class Context:
    """What translators read: the session and the settings (base URL, where git lives)."""

    session: AsyncSession
    settings: Settings

    @property
    def base_url(self) -> str:
        """Return the server's external URL without a trailing slash."""
        return self.settings.base_url.rstrip("/")


Translator = Callable[[Context, Event], Awaitable[list[Outgoing]]]
TRANSLATORS: dict[str, Translator] = {}


def translates(event_type: str) -> Callable[[Translator], Translator]:
    """Register a translator of `event_type` in `TRANSLATORS`."""

    def register(function: Translator) -> Translator:
        TRANSLATORS[event_type] = function
        return function

    return register


def repository_payload(repo: GitRepository, project: Project, base_url: str) -> dict[str, Any]:
    """Return GitHub's `repository` object for a repository."""
    html = f"{base_url}/{project.name}/{repo.name}"
    return {
        "id": str(repo.id),
        "name": repo.name,
        "full_name": f"{project.name}/{repo.name}",
        "private": repo.visibility != "public",
        "visibility": repo.visibility,
        "owner": {"login": project.name, "type": "Organization"},
        "html_url": html,
        "description": repo.description,
        "clone_url": f"{html}.git",
        "default_branch": repo.default_branch,
        "master_branch": repo.default_branch,
        "archived": repo.archived,
        "created_at": repo.created_at.isoformat(),
        "pushed_at": repo.last_pushed_at.isoformat() if repo.last_pushed_at else None,
        "size": repo.size_bytes // 1024,
    }


def project_payload(project: Project, base_url: str) -> dict[str, Any]:
    """Return GitHub's `organization` object for a project."""
    return {
        "login": project.name,
        "id": str(project.id),
        "url": f"{base_url}/api/v1/projects/{project.name}",
        "description": project.description,
    }


def user_payload(user: User | None) -> dict[str, Any]:
    """Return GitHub's `sender` object for a user (a deleted one: `ghost`, as GitHub does)."""
    if user is None:
        return {"login": "ghost", "id": None, "type": "User"}
    return {"login": user.username, "id": str(user.id), "type": "User"}


async def _actor(ctx: Context, event: Event) -> User | None:
    return await ctx.session.get(User, event.actor_id) if event.actor_id else None


# -- push, create, delete -------------------------------------------------------------------------


_FIELDS = ("id", "tree_id", "author_name", "author_email", "timestamp", "committer_name",
           "committer_email", "message")  # fmt: skip
_FORMAT = "%x1e%H%x1f%T%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%B%x1f"


async def _commits(
    storage: Storage, repo_id: uuid.UUID, ref: str, old: str, new: str
) -> list[dict[str, Any]]:
    """Return the commits a ref update brought, oldest first, with their changed files."""
    cwd = storage.path(repo_id)
    spec = [new, f"^{old}"] if old != ZERO else [new, "--not", *_others(ref)]
    listed = await storage.run("rev-list", f"--max-count={MAX_COMMITS}", *spec, cwd=cwd)
    shas = listed.split()[::-1]
    if not shas:
        return []
    out = await storage.run(
        "-c", "core.quotePath=false", "log", "--no-walk=unsorted", "--no-renames",
        "--name-status", f"--format={_FORMAT}", *shas, cwd=cwd,
    )  # fmt: skip
    commits = []
    for record in out.split("\x1e")[1:]:
        *fields, files = record.split("\x1f")
        commit: dict[str, Any] = dict(zip(_FIELDS, fields, strict=True))
        changed: dict[str, list[str]] = {"A": [], "D": [], "M": []}
        for line in files.strip().splitlines():
            status, _, path = line.partition("\t")
            changed.setdefault(status[:1], []).append(path)
        commits.append((commit, changed))
    return [
        {
            "id": c["id"],
            "tree_id": c["tree_id"],
            "distinct": True,
            "message": c["message"].rstrip("\n"),
            "timestamp": c["timestamp"],
            "author": {"name": c["author_name"], "email": c["author_email"]},
            "committer": {"name": c["committer_name"], "email": c["committer_email"]},
            "added": changed["A"],
            "removed": changed["D"],
            "modified": changed["M"],
        }
        for c, changed in commits
    ]


def _others(ref: str) -> list[str]:
    """Return rev-list options naming every branch and tag but `ref`: a new ref brought what
    none of them had. (`--all` would count HEAD, which may be the new branch itself.)"""
    kind = _ref_kind(ref)
    branch = ["--exclude=" + kind[1]] if kind and kind[0] == "branch" else []
    tag = ["--exclude=" + kind[1]] if kind and kind[0] == "tag" else []
    return [*branch, "--branches", *tag, "--tags"]


async def _forced(storage: Storage, repo_id: uuid.UUID, old: str, new: str) -> bool:
    """Return whether `old` is not an ancestor of `new` (Gitea's test of a force push)."""
    left = await storage.run("rev-list", "--max-count=1", old, f"^{new}", cwd=storage.path(repo_id))
    return bool(left.strip())


def _ref_kind(ref: str) -> tuple[str, str] | None:
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            return kind, ref.removeprefix(prefix)
    return None


@translates("repo.pushed")
async def pushed(ctx: Context, event: Event) -> list[Outgoing]:
    """A push: one `push` per ref moved, with `create` or `delete` for a new or gone branch
    or tag (as GitHub sends them)."""
    repo = await ctx.session.get(GitRepository, uuid.UUID(event.payload["repository_id"]))
    if repo is None:
        return []
    project = await ctx.session.get_one(Project, repo.project_id)
    user = await _actor(ctx, event)
    repository = repository_payload(repo, project, ctx.base_url)
    sender = user_payload(user)
    pusher = {"name": sender["login"], "email": (user.email if user else None) or ""}
    storage = Storage.of(ctx.settings)
    found: list[Outgoing] = []
    for update in event.payload.get("refs", []):
        ref, old, new = update["ref"], update["old"], update["new"]
        created, deleted = old == ZERO, new == ZERO
        try:
            commits = [] if deleted else await _commits(storage, repo.id, ref, old, new)
            forced = not created and not deleted and await _forced(storage, repo.id, old, new)
        except DevflowError:  # a ref gone since (a later push): what is left to say is the refs
            commits, forced = [], False
        for commit in commits:
            commit["url"] = f"{repository['html_url']}/commit/{commit['id']}"
        push = {
            "ref": ref,
            "before": old,
            "after": new,
            "created": created,
            "deleted": deleted,
            "forced": forced,
            "base_ref": None,
            "compare": f"{repository['html_url']}/compare/{old[:12]}...{new[:12]}",
            "commits": commits,
            "head_commit": commits[-1] if commits else None,
            "repository": repository,
            "organization": project_payload(project, ctx.base_url),
            "pusher": pusher,
            "sender": sender,
        }
        found.append(Outgoing("push", push, repo.id))
        kind = _ref_kind(ref)
        if kind is not None and (created or deleted):
            ref_type, short = kind
            body: dict[str, Any] = {"ref": short, "ref_type": ref_type, "pusher_type": "user"}
            if created:
                body.update(master_branch=repo.default_branch, description=repo.description)
            body.update(repository=repository, sender=sender)
            found.append(Outgoing("create" if created else "delete", body, repo.id))
    return found


# -- commit statuses ------------------------------------------------------------------------------


@translates("repo.status")
async def status_reported(ctx: Context, event: Event) -> list[Outgoing]:
    """A commit status reported (CI, an outside system): `status`, with the branches whose tip
    is that commit."""
    repo = await ctx.session.get(GitRepository, uuid.UUID(event.payload["repository_id"]))
    if repo is None:
        return []
    project = await ctx.session.get_one(Project, repo.project_id)
    repository = repository_payload(repo, project, ctx.base_url)
    sha = event.payload["sha"]
    storage = Storage.of(ctx.settings)
    try:
        tips = await storage.run(
            "for-each-ref", f"--points-at={sha}", "--format=%(refname:short)", "refs/heads",
            cwd=storage.path(repo.id),
        )  # fmt: skip
    except DevflowError:
        tips = ""
    payload = {
        "id": event.id,
        "sha": sha,
        "name": repository["full_name"],
        "target_url": event.payload.get("target_url"),
        "context": event.payload.get("context"),
        "description": event.payload.get("description"),
        "state": event.payload.get("state"),
        "commit": {"sha": sha, "html_url": f"{repository['html_url']}/commit/{sha}"},
        "branches": [{"name": name, "commit": {"sha": sha}} for name in tips.split()],
        "created_at": event.created_at.isoformat(),
        "updated_at": event.created_at.isoformat(),
        "repository": repository,
        "organization": project_payload(project, ctx.base_url),
        "sender": user_payload(await _actor(ctx, event)),
    }
    return [Outgoing("status", payload, repo.id)]


# -- pull requests and reviews -------------------------------------------------------------------

# DevFlow's `pull_request.<what>` events and GitHub's action for each (a merge is GitHub's
# `closed` with `merged: true`).
PULL_ACTIONS = {
    "opened": "opened",
    "edited": "edited",
    "synchronize": "synchronize",
    "closed": "closed",
    "reopened": "reopened",
    "merged": "closed",
}


async def _pull(ctx: Context, event: Event) -> tuple[dict[str, Any], GitRepository] | None:
    """Return GitHub's `pull_request` object as the event saw it, and the repository."""
    from devflow.repos.pulls.models import PullRequest

    repo = await ctx.session.get(GitRepository, uuid.UUID(event.payload["repository_id"]))
    if repo is None:
        return None
    pr = await ctx.session.scalar(
        select(PullRequest).where(
            PullRequest.repository_id == repo.id,
            PullRequest.number == event.payload["number"],
        )
    )
    if pr is None:
        return None
    project = await ctx.session.get_one(Project, repo.project_id)
    repository = repository_payload(repo, project, ctx.base_url)
    head_repo = None  # GitHub's `head.repo` is null once the fork the head was in is deleted
    if pr.head_repository_id is not None:
        head_repo = await ctx.session.get(GitRepository, pr.head_repository_id)
    head_repository = repository_payload(head_repo, project, ctx.base_url) if head_repo else None
    author = await ctx.session.get(User, pr.author_id) if pr.author_id else None
    html = f"{repository['html_url']}/pulls/{pr.number}"
    sha = event.payload.get("head_sha", pr.head_sha)
    merged = event.type == "pull_request.merged" or pr.merged_at is not None
    pull = {
        "id": str(pr.id),
        "number": pr.number,
        "state": "open" if event.payload.get("state", pr.state) == "open" else "closed",
        "title": event.payload.get("title", pr.title),
        "body": pr.body,
        "draft": event.payload.get("draft", pr.draft),
        "user": user_payload(author),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "head": {
            "label": f"{project.name}:{pr.head_branch}",
            "ref": event.payload.get("head", pr.head_branch),
            "sha": sha,
            "repo": head_repository,
        },
        "base": {
            "label": f"{project.name}:{pr.base_branch}",
            "ref": event.payload.get("base", pr.base_branch),
            "sha": event.payload.get("base_sha", pr.base_sha),
            "repo": repository,
        },
        "merged": merged,
        "merged_at": pr.merged_at.isoformat() if pr.merged_at else None,
        "merge_commit_sha": event.payload.get("merge_commit_sha", pr.merge_commit_sha),
        "mergeable": pr.mergeable,
        "created_at": pr.created_at.isoformat(),
        "updated_at": pr.updated_at.isoformat(),
        "closed_at": pr.closed_at.isoformat() if pr.closed_at else None,
    }
    return pull, repo


async def _pull_event(ctx: Context, event: Event) -> list[Outgoing]:
    found = await _pull(ctx, event)
    if found is None:
        return []
    pull, repo = found
    action = PULL_ACTIONS[event.type.removeprefix("pull_request.")]
    payload: dict[str, Any] = {"action": action, "number": pull["number"], "pull_request": pull}
    if action == "edited":
        payload["changes"] = {name: {} for name in event.payload.get("changes", [])}
    payload.update(
        repository=pull["base"]["repo"],
        sender=user_payload(await _actor(ctx, event)),
    )
    return [Outgoing("pull_request", payload, repo.id, action)]


for _kind in PULL_ACTIONS:
    translates(f"pull_request.{_kind}")(_pull_event)


@translates("pull_request.reviewed")
async def pull_reviewed(ctx: Context, event: Event) -> list[Outgoing]:
    """A review submitted: `pull_request_review` with action `submitted`."""
    found = await _pull(ctx, event)
    if found is None:
        return []
    pull, repo = found
    sender = user_payload(await _actor(ctx, event))
    review = {
        "state": event.payload.get("review"),
        "user": sender,
        "commit_id": pull["head"]["sha"],
        "html_url": pull["html_url"],
        "submitted_at": event.created_at.isoformat(),
    }
    payload = {
        "action": "submitted",
        "review": review,
        "pull_request": pull,
        "repository": pull["base"]["repo"],
        "sender": sender,
    }
    return [Outgoing("pull_request_review", payload, repo.id, "submitted")]


# -- tasks as issues ------------------------------------------------------------------------------

_TASK = text(
    "SELECT number, title, body, state, labels, created_at, updated_at, closed_at FROM task "
    "WHERE project_id = :project AND number = :number"
)


async def _issue(ctx: Context, event: Event, action: str) -> list[Outgoing]:
    if event.project_id is None or "number" not in event.payload:
        return []
    row = (
        await ctx.session.execute(
            _TASK, {"project": event.project_id, "number": event.payload["number"]}
        )
    ).one_or_none()
    if row is None:
        return []
    project = await ctx.session.get_one(Project, event.project_id)
    user = await _actor(ctx, event)
    html = f"{ctx.base_url}/projects/{project.name}/tasks/{row.number}"
    issue = {
        "number": row.number,
        "title": row.title,
        "body": row.body,
        "state": "closed" if row.closed_at else "open",
        "devflow_state": row.state,
        "labels": [{"name": label} for label in row.labels or []],
        "html_url": html,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "closed_at": row.closed_at.isoformat() if row.closed_at else None,
    }
    payload: dict[str, Any] = {
        "action": action,
        "issue": issue,
        "organization": project_payload(project, ctx.base_url),
        "sender": user_payload(user),
    }
    if action == "edited" and event.payload.get("fields"):
        payload["changes"] = {name: {} for name in event.payload["fields"]}
    return [Outgoing("issues", payload, None, action)]


@translates("task.created")
async def task_created(ctx: Context, event: Event) -> list[Outgoing]:
    """A new task: `issues` with action `opened`."""
    return await _issue(ctx, event, "opened")


@translates("task.updated")
async def task_updated(ctx: Context, event: Event) -> list[Outgoing]:
    """A changed task: `issues` with action `edited`."""
    return await _issue(ctx, event, "edited")


__all__ = [
    "TRANSLATORS",
    "Context",
    "Outgoing",
    "Translator",
    "project_payload",
    "repository_payload",
    "translates",
    "user_payload",
]
