"""Workflows: tasks on a project's board, their dependencies, and claiming work.

Other domains and the surfaces use only these names. Every function takes the session and the
caller's `Principal` and checks the caller's role in the project itself; none commits.

- `create_task`, `get_task`, `list_tasks`, `update_task` (optimistic: carries a `version`),
  `add_comment`, `list_comments`, `history`
- `show_board`, `create_column`, `update_column`, `delete_column`
- `claim_next` (exactly one claimant per task, with a lease), `release_expired`
- `search_tasks` (words and meaning over tasks and comments)
- `apply_definition`, `list_definitions`, `get_definition`, `validate_definition`
- `start_run`, `list_runs`, `get_run`, `pause_run`, `resume_run`, `cancel_run`,
  `submit_result`, `decide` (an approval)
- `DOMAIN`: the manifest (routes, jobs, commands, tools, settings, models)
"""

from devflow.core.domain import Domain, lazy
from devflow.core.services import Provider
from devflow.core.task_links import TASK_CLOSER
from devflow.workflows.board import create_column, delete_column, update_column
from devflow.workflows.claims import claim_next, release_expired
from devflow.workflows.definitions.service import (
    apply_definition,
    get_definition,
    list_definitions,
    validate_definition,
)
from devflow.workflows.links import make_closer
from devflow.workflows.reads import get_task, history, list_comments, list_tasks, show_board
from devflow.workflows.runs.service import (
    cancel_run,
    decide,
    get_run,
    list_runs,
    pause_run,
    resume_run,
    start_run,
    submit_result,
)
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
from devflow.workflows.similar import search_tasks

DOMAIN = Domain(
    name="workflows",
    settings=WorkflowsSettings,
    provides=(Provider(TASK_CLOSER, make_closer),),
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
    "apply_definition",
    "cancel_run",
    "claim_next",
    "create_column",
    "create_task",
    "decide",
    "delete_column",
    "get_definition",
    "get_run",
    "get_task",
    "history",
    "list_comments",
    "list_definitions",
    "list_runs",
    "list_tasks",
    "pause_run",
    "release_expired",
    "resume_run",
    "search_tasks",
    "show_board",
    "start_run",
    "submit_result",
    "update_column",
    "update_task",
    "validate_definition",
]
