"""Identity's tools for agents: where the agent stands (`project_info`) and how a job is doing
(`job_status`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from devflow.core import render
from devflow.core.tools import Call, Contribution, ProjectArg, ToolDef
from devflow.identity.service import (
    default_project_name,
    get_visible_job,
    require_project,
    role_in,
)


async def project_info(call: Call, project: ProjectArg = None) -> str:
    """Who you are and the project you act in."""
    name = project or await default_project_name(call.session, principal=call.principal)
    found = await require_project(call.session, principal=call.principal, name=name)
    role = role_in(call.principal, found.id)
    scopes = ", ".join(sorted(call.principal.scopes))
    return render.fields(
        [
            ("project", found.name),
            ("description", render.one_line(found.description, 300)),
            ("you", f"{call.principal.username} (role {role.value if role else '-'})"),
            ("token scopes", scopes),
            ("token limited to this project", "yes" if call.principal.project_id else ""),
        ]
    )


async def job_status(call: Call, job_id: Annotated[int, Field(description="Job id.", ge=1)]) -> str:
    """Status and progress of a background job (e.g. an ingestion)."""
    job = await get_visible_job(call.session, principal=call.principal, job_id=job_id)
    eta = job.eta_seconds if job.status in {"todo", "doing"} else None
    progress = render.pace(job.done, job.total, job.unit, job.rate, eta) if job.done else ""
    return render.fields(
        [
            ("job", f"{job.id} {job.task}"),
            ("status", job.status),
            ("phase", job.phase or ""),
            ("progress", progress),
            ("message", render.one_line(job.message)),
            ("error", render.one_line(job.error or "", 500)),
            ("attempts", job.attempts),
            ("updated", render.when(job.updated_at)),
        ]
    )


TOOLS = Contribution(
    tools=[
        ToolDef("project_info", "Your identity, role and default project.", project_info),
        ToolDef("job_status", "Status and progress of a background job.", job_status),
    ]
)
"""Identity's tools for agents."""
