"""Workflows: tasks on a project's board, their dependencies, and claiming work.

Other domains and the surfaces use only these names. Every function takes the session and the
caller's `Principal` and checks the caller's role in the project itself; none commits.

- `create_task`, `get_task`, `list_tasks`, `update_task` (optimistic: carries a `version`),
  `add_comment`, `list_comments`, `history`
- `show_board`, `create_column`, `update_column`, `delete_column`
- `claim_next` (exactly one claimant per task, with a lease), `release_expired`
- `DOMAIN`: the manifest (routes, jobs, commands, tools, settings, models)

Workflow definitions and runs come next in this domain (issue 16).
"""

from devflow.core.domain import Domain, lazy
from devflow.workflows.board import create_column, delete_column, update_column
from devflow.workflows.claims import claim_next, release_expired
from devflow.workflows.reads import get_task, history, list_comments, list_tasks, show_board
from devflow.workflows.schemas import (
    BoardRead,
    ChangeRead,
    ColumnCreate,
    ColumnRead,
    ColumnUpdate,
    CommentRead,
    TaskCreate,
    TaskDetail,
    TaskFilter,
    TaskRead,
    TaskUpdate,
)
from devflow.workflows.service import add_comment, create_task, update_task
from devflow.workflows.settings import WorkflowsSettings

DOMAIN = Domain(
    name="workflows",
    settings=WorkflowsSettings,
    routers=lazy("devflow.workflows.api:ROUTERS"),
    jobs=lazy("devflow.workflows.jobs:blueprint"),
    cli=lazy("devflow.workflows.cli:register"),
    tools=lazy("devflow.workflows.tools:TOOLS"),
    models=lazy("devflow.workflows.models"),
)

__all__ = [
    "DOMAIN",
    "BoardRead",
    "ChangeRead",
    "ColumnCreate",
    "ColumnRead",
    "ColumnUpdate",
    "CommentRead",
    "TaskCreate",
    "TaskDetail",
    "TaskFilter",
    "TaskRead",
    "TaskUpdate",
    "WorkflowsSettings",
    "add_comment",
    "claim_next",
    "create_column",
    "create_task",
    "delete_column",
    "get_task",
    "history",
    "list_comments",
    "list_tasks",
    "release_expired",
    "show_board",
    "update_column",
    "update_task",
]
