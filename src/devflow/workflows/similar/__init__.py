"""Similar tasks: duplicate flags for new tasks and hybrid search over tasks and comments.

Vectors come from the process's embedder (`devflow.knowledge.EMBEDDER`), the knowledge hub's.

- `flag_duplicates` (in the creating transaction; `task_vector` beforehand keeps a remote
  model's round trip out of it), `DuplicateFlag`
- `refresh_task` (after an update: embeds only a changed text), `embed_comment` (after a
  comment's flush), `embed_missing` (the backfill: new model, failed embedder, old tasks)
- `search_tasks`, `TaskHit`
- `jobs.register(blueprint)`: the periodic `workflows:embed_tasks` backfill
"""

from devflow.workflows.similar.duplicates import DuplicateFlag, closest_open_task, flag_duplicates
from devflow.workflows.similar.search import MAX_QUERY_CHARS, TaskHit, clean_query, search_tasks
from devflow.workflows.similar.vectors import (
    TaskVector,
    embed_comment,
    embed_missing,
    refresh_task,
    task_text,
    task_vector,
)

__all__ = [
    "MAX_QUERY_CHARS",
    "DuplicateFlag",
    "TaskHit",
    "TaskVector",
    "clean_query",
    "closest_open_task",
    "embed_comment",
    "embed_missing",
    "flag_duplicates",
    "refresh_task",
    "search_tasks",
    "task_text",
    "task_vector",
]
