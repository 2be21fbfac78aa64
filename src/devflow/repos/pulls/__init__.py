"""Pull requests of the git-hosting domain: open one from a branch into another, see its diff
and commits, review it, and merge it by merge commit, squash, rebase or fast-forward.

Routes are under /api/v1/projects/{project}/repos/{name}/pulls; commands are `devflow pr …`.
"""

from devflow.repos.pulls.merging import closing_references, merge_pull
from devflow.repos.pulls.schemas import MergeCreate, MergeMethod, PullCreate, PullRead
from devflow.repos.pulls.service import on_push, open_pull, show_pull

__all__ = [
    "MergeCreate",
    "MergeMethod",
    "PullCreate",
    "PullRead",
    "closing_references",
    "merge_pull",
    "on_push",
    "open_pull",
    "show_pull",
]
