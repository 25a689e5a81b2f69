"""Projects (one GitHub repository each) and the agents work is handed to."""

import re
from typing import Any

from livebase import mutation, query

from ._common import audit, refuse, require_user

REPO = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
MAX_NAME = 100


def _name(name: str, what: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise refuse("InvalidArgument", f"a {what} name is 1 to {MAX_NAME} characters")
    return name


@mutation
def create(ctx, name: str, repo: str) -> str:
    """A project for the GitHub repository ``repo`` ("owner/name"; one project per repo)."""
    user = require_user(ctx, "create a project")
    name = _name(name, "project")
    repo = repo.strip().lower()
    if not REPO.match(repo):
        raise refuse("InvalidRepo", f"a repository is 'owner/name', not {repo!r}", repo=repo)
    taken = ctx.db.query("projects").with_index("by_repo", lambda q: q.eq("repo", repo)).first()
    if taken is not None:
        raise refuse("RepoTaken", f"{repo} already belongs to project {taken['name']!r}")
    project = {"name": name, "repo": repo, "createdBy": user, "createdAt": ctx.now}
    project_id = ctx.db.insert("projects", project)
    audit(ctx, user, "project.create", "projects", project_id, None, {"name": name, "repo": repo})
    return project_id


@mutation
def add_agent(ctx, name: str) -> str:
    """Register an AI agent (by a unique name) that tasks can be assigned to."""
    user = require_user(ctx, "register an agent")
    name = _name(name, "agent")
    if ctx.db.query("agents").with_index("by_name", lambda q: q.eq("name", name)).first():
        raise refuse("AgentExists", f"there is already an agent named {name!r}")
    agent_id = ctx.db.insert("agents", {"name": name, "createdBy": user, "createdAt": ctx.now})
    audit(ctx, user, "agent.create", "agents", agent_id, None, {"name": name})
    return agent_id


@query
def agents(ctx) -> list[dict[str, Any]]:
    """Every agent, by name."""
    require_user(ctx, "see agents")
    return ctx.db.query("agents").with_index("by_name").collect()


@query
def list(ctx) -> list[dict[str, Any]]:
    """Every project, by repository."""
    require_user(ctx, "see projects")
    return ctx.db.query("projects").with_index("by_repo").collect()
