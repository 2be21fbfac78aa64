"""The cheap request path keeps the answers: authentication in a unit of work of its own, read
sessions without a transaction, and the project listing read through the driver."""

from fastapi import FastAPI
from sqlalchemy import select

from devflow.core.auth import Scope
from devflow.identity import service
from devflow.identity.models import ApiToken
from devflow.identity.schemas import UserCreate
from devflow.registry import REGISTRY_PUBLISH
from devflow.web.middleware import HotRoutes


async def new_user(sessions, username: str) -> tuple[str, str]:
    """Create a user with a token that has never been used; return its id and secret."""
    async with sessions.begin() as session:
        user = await service.create_user(
            session, principal=None, data=UserCreate(username=username)
        )
        token, secret = await service.issue_token(
            session, user=user, name="fresh", scopes=[Scope.READ, Scope.WRITE]
        )
    return str(token.id), secret


def as_(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


class TestProjectListing:
    async def test_a_member_sees_only_their_projects_each_as_the_project_itself_reads(
        self, api, sessions
    ):
        for name in ("web", "ops", "docs"):
            assert (await api.post("/api/v1/projects", json={"name": name})).status_code == 201
        _, bob = await new_user(sessions, "bob")
        for name in ("web", "docs"):
            added = await api.put(
                f"/api/v1/projects/{name}/members", json={"username": "bob", "role": "read"}
            )
            assert added.status_code == 204

        listing = await api.get("/api/v1/projects", headers=as_(bob))

        assert listing.status_code == 200
        assert listing.headers["content-type"] == "application/json"
        page = listing.json()
        assert page["total"] == 2
        assert [p["name"] for p in page["items"]] == ["docs", "web"]
        for item in page["items"]:
            shown = (await api.get(f"/api/v1/projects/{item['name']}")).json()
            assert item == {k: shown[k] for k in ("id", "name", "description", "created_at")}

    async def test_an_admin_sees_every_project_and_a_stranger_none(self, api, sessions):
        assert (await api.post("/api/v1/projects", json={"name": "web"})).status_code == 201
        _, carol = await new_user(sessions, "carol")
        everything = (await api.get("/api/v1/projects")).json()
        assert [p["name"] for p in everything["items"]] == ["default", "web"]
        assert (await api.get("/api/v1/projects", headers=as_(carol))).json() == {
            "items": [],
            "total": 0,
        }


class TestAuthentication:
    async def test_a_tokens_use_is_recorded_even_when_the_request_then_fails(self, api, sessions):
        token_id, secret = await new_user(sessions, "dave")
        missing = await api.get("/api/v1/projects/nowhere", headers=as_(secret))
        assert missing.status_code == 404
        async with sessions() as session:
            used = await session.scalar(
                select(ApiToken.last_used_at).where(ApiToken.id == token_id)
            )
        assert used is not None

    async def test_a_project_created_is_listed_by_the_next_request_with_the_same_token(
        self, api, sessions
    ):
        # The token's principal is cached by the process; the new membership applies at once.
        _, erin = await new_user(sessions, "erin")
        assert (await api.get("/api/v1/projects", headers=as_(erin))).json()["total"] == 0
        created = await api.post("/api/v1/projects", json={"name": "mine"}, headers=as_(erin))
        assert created.status_code == 201
        listing = (await api.get("/api/v1/projects", headers=as_(erin))).json()
        assert [p["name"] for p in listing["items"]] == ["mine"]
        me = (await api.get("/api/v1/me", headers=as_(erin))).json()
        assert me["username"] == "erin"


def hot_routes_of(app: FastAPI) -> HotRoutes:
    """Return the app's HotRoutes middleware."""
    if app.middleware_stack is None:  # as Starlette does on the first request
        app.middleware_stack = app.build_middleware_stack()
    layer = app.middleware_stack
    while not isinstance(layer, HotRoutes):
        layer = layer.app  # type: ignore[union-attr]
    return layer


class TestHotRead:
    """`GET /api/v1/projects` is answered before FastAPI's router (`core.http.hot_read`): the
    same answers as the documented FastAPI route, which stays in the OpenAPI document."""

    async def test_the_hot_route_and_the_documented_route_give_the_same_answer(
        self, app, api, monkeypatch
    ):
        assert (await api.post("/api/v1/projects", json={"name": "web"})).status_code == 201
        hot = await api.get("/api/v1/projects")
        monkeypatch.setattr(hot_routes_of(app), "routes", ())  # FastAPI's route answers
        documented = await api.get("/api/v1/projects")

        assert hot.status_code == documented.status_code == 200
        assert hot.headers["content-type"] == documented.headers["content-type"]
        assert hot.content == documented.content
        assert [p["name"] for p in hot.json()["items"]] == ["default", "web"]

    async def test_it_is_served_by_the_plain_route(self, app, api, monkeypatch):
        (route,) = (r for r in hot_routes_of(app).routes if r.path == "/api/v1/projects")
        served = []

        async def counted(scope, receive, send):
            served.append(scope["path"])
            await plain(scope, receive, send)

        plain = route.app
        monkeypatch.setattr(route, "app", counted)
        assert (await api.get("/api/v1/projects")).status_code == 200
        assert served == ["/api/v1/projects"]

    async def test_errors_keep_the_api_shape(self, api, sessions):
        anonymous = await api.get("/api/v1/projects", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="devflow"'
        assert anonymous.json()["error"]["code"] == "unauthenticated"
        async with sessions.begin() as session:
            user = await service.create_user(
                session, principal=None, data=UserCreate(username="frank")
            )
            _, secret = await service.issue_token(
                session, user=user, name="publish-only", scopes=[REGISTRY_PUBLISH]
            )
        refused = await api.get("/api/v1/projects", headers=as_(secret))
        assert refused.status_code == 403
        assert refused.json()["error"]["details"] == {"required_scope": "read"}

    async def test_the_openapi_document_still_describes_it(self, api):
        operation = (await api.get("/openapi.json")).json()["paths"]["/api/v1/projects"]["get"]
        assert operation["operationId"] == "list_projects_api_v1_projects_get"
        assert operation["summary"] == "List Projects"
        assert operation["description"] == "List the projects you can see."
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Page_ProjectRead_"}
