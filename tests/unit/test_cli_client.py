"""The CLI's API client: how long it waits, what a timeout or a refused token says, and where a
token came from. The server is an `httpx.MockTransport`; nothing waits."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from devflow.core.auth import generate_token, looks_like_token, token_problem
from devflow.core.cli.client import ApiClient
from devflow.core.credentials import Credentials, write_credentials
from devflow.core.errors import Invalid, Unauthenticated, Unavailable

URL = "http://devflow.test"


class Recorder:
    """A server that answers `{}` and remembers the read timeout of each request."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.timeouts.append(request.extensions["timeout"]["read"])
        return httpx.Response(200, json={})


def api(handler: Any, **options: Any) -> ApiClient:
    return ApiClient(URL, generate_token(), transport=httpx.MockTransport(handler), **options)


def raising(exc: type[httpx.TransportError]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc("no answer", request=request)

    return handler


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("DEVFLOW_URL", "DEVFLOW_TOKEN", "DEVFLOW_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


class TestTimeoutsFitTheOperation:
    def test_a_read_a_change_and_an_upload_wait_30_120_and_600_seconds(self):
        server = Recorder()
        client = api(server)
        client.get("/api/v1/jobs")
        client.post("/api/v1/knowledge/search", json={"query": "x"})
        client.request("DELETE", "/api/v1/tokens/x")
        client.post("/api/v1/knowledge/sources/1/files", files={"f": ("a.md", b"# a")})
        assert server.timeouts == [30, 120, 120, 600]

    def test_a_long_operation_asks_for_more_time_per_call(self):
        server = Recorder()
        api(server).post("/api/v1/llm/ping", json={}, timeout=300)
        assert server.timeouts == [300]

    def test_the_users_timeout_replaces_every_default_and_0_waits_without_limit(self):
        server = Recorder()
        api(server, timeout=7).get("/api/v1/jobs")
        api(server, timeout=7).post("/api/v1/llm/ping", json={}, timeout=300)
        api(server, timeout=0).post("/api/v1/knowledge/sources", json={})
        assert server.timeouts == [7, 7, None]

    def test_devflow_timeout_sets_it_and_the_option_wins_over_it(self, home, monkeypatch):
        monkeypatch.setenv("DEVFLOW_TIMEOUT", "90")
        token = generate_token()
        from_env = ApiClient.from_options(url=None, token=token, home=home)
        from_option = ApiClient.from_options(url=None, token=token, home=home, timeout=5)
        assert (from_env.timeout, from_option.timeout) == (90, 5)

    @pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan"])
    def test_a_devflow_timeout_that_is_not_seconds_is_refused(self, home, monkeypatch, value):
        monkeypatch.setenv("DEVFLOW_TIMEOUT", value)
        with pytest.raises(Invalid, match=r"DEVFLOW_TIMEOUT must be a number of seconds"):
            ApiClient.from_options(url=None, token=generate_token(), home=home)


class TestATimeoutSaysWhatHappened:
    def test_a_change_may_still_finish_on_the_server(self):
        client = api(raising(httpx.ReadTimeout))
        with pytest.raises(Unavailable) as caught:
            client.post("/api/v1/knowledge/sources", json={"location": "https://x.test"})
        message = caught.value.message
        assert "did not answer POST /api/v1/knowledge/sources within 120 s" in message
        assert "may still finish the request" in message
        assert "`devflow jobs list`" in message
        assert "DEVFLOW_TIMEOUT=SECONDS" in message
        assert "cannot reach" not in message
        assert caught.value.details["timeout"] == 120

    def test_a_read_says_nothing_was_changed(self):
        with pytest.raises(Unavailable) as caught:
            api(raising(httpx.ReadTimeout), timeout=3).get("/api/v1/jobs")
        assert "did not answer GET /api/v1/jobs within 3 s" in caught.value.message
        assert "Nothing was changed" in caught.value.message

    def test_the_option_is_suggested_only_where_the_command_has_one(self):
        with pytest.raises(Unavailable) as without:
            api(raising(httpx.ReadTimeout)).get("/x")
        with pytest.raises(Unavailable) as with_option:
            api(raising(httpx.ReadTimeout), timeout_option=True).get("/x")
        assert "--timeout" not in without.value.message
        assert "--timeout SECONDS or DEVFLOW_TIMEOUT=SECONDS" in with_option.value.message

    def test_a_silent_answer_stream_times_out_with_the_same_explanation(self):
        client = api(raising(httpx.ReadTimeout))
        with pytest.raises(Unavailable, match=r"did not answer POST /answer within 300 s"):
            list(client.stream_events("/answer", {"question": "why"}))

    def test_a_server_that_is_not_there_is_still_called_unreachable(self):
        with pytest.raises(Unavailable, match=r"cannot reach DevFlow .*is `devflow up` running"):
            api(raising(httpx.ConnectError)).get("/x")

    def test_a_connection_cut_before_the_answer_may_still_have_done_the_work(self):
        with pytest.raises(Unavailable) as caught:
            api(raising(httpx.RemoteProtocolError)).post("/api/v1/projects", json={})
        assert "closed the connection before answering POST /api/v1/projects" in (
            caught.value.message
        )
        assert "may still finish" in caught.value.message


class TestTokens:
    @pytest.mark.parametrize(
        ("value", "problem"),
        [
            ("", "it is empty"),
            ("dfl_wrong", "it is 9 characters long; DevFlow tokens are 47"),
            ("dfl_" + "a" * 200, "it is 204 characters long"),
            ("ghp_" + "a" * 40, "DevFlow tokens start with 'dfl_', this one with 'ghp_'"),
            ("Bearer dfl_" + "a" * 43, "give the token alone"),
            (" dfl_" + "a" * 43 + "\n", "spaces or a line break around it"),
            ("dfl_abc def ghi jkl mno pq", "only letters, digits, - and _"),
        ],
    )
    def test_a_malformed_token_is_told_what_is_wrong_with_it(self, value, problem):
        assert problem in (token_problem(value) or "")
        assert not looks_like_token(value)
        assert "a" * 10 not in (token_problem(value) or "")  # the secret is not repeated

    def test_a_real_token_has_no_problem(self):
        token = generate_token()
        assert token_problem(token) is None
        assert looks_like_token(token)

    def test_a_mistyped_token_option_is_refused_before_any_request(self, home):
        with pytest.raises(Unauthenticated) as caught:
            ApiClient.from_options(url=URL, token="dfl_wrong", home=home)
        message = caught.value.message
        assert message.startswith("the token from --token is not a DevFlow token: it is 9")
        assert "`devflow token create NAME`" in message
        assert "start with" not in message

    def test_the_message_names_where_the_token_came_from(self, home, monkeypatch):
        monkeypatch.setenv("DEVFLOW_TOKEN", "dfl_short")
        with pytest.raises(Unauthenticated, match="the token from DEVFLOW_TOKEN is not"):
            ApiClient.from_options(url=URL, token=None, home=home)
        monkeypatch.delenv("DEVFLOW_TOKEN")
        write_credentials(home / "credentials", Credentials(url=URL, token="dfl_short"))
        with pytest.raises(Unauthenticated, match=f"the token from {home / 'credentials'} is"):
            ApiClient.from_options(url=URL, token=None, home=home)

    def test_a_token_the_server_refuses_says_which_one_and_what_to_do(self, home):
        def refuse(request: httpx.Request) -> httpx.Response:
            body = {"error": {"code": "unauthenticated", "message": "unknown token"}}
            return httpx.Response(401, content=json.dumps(body))

        client = api(refuse, token_source="the token from DEVFLOW_TOKEN")
        with pytest.raises(Unauthenticated) as caught:
            client.get("/api/v1/me")
        assert caught.value.message.startswith(
            f"unknown token (the token from DEVFLOW_TOKEN, at {URL}). Pass a valid token"
        )
        assert "`devflow token create NAME`" in caught.value.message

    def test_the_advice_to_create_a_token_is_given_once(self, home):
        said = (  # the server's own words for a well-formed token it does not know
            "unknown token: no DevFlow token has this value (a typo, another instance's token, "
            "or one deleted); create one with `devflow token create NAME`"
        )

        def refuse(request: httpx.Request) -> httpx.Response:
            body = {"error": {"code": "unauthenticated", "message": said}}
            return httpx.Response(401, content=json.dumps(body))

        client = api(refuse, token_source="the token from --token")
        with pytest.raises(Unauthenticated) as caught:
            client.get("/api/v1/me")
        message = caught.value.message
        assert message.count("devflow token create") == 1, message
        assert message.startswith(
            "unknown token: no DevFlow token has this value (a typo, another instance's token, "
            f"or one deleted) (the token from --token, at {URL}). Pass a valid token"
        )


def test_the_root_timeout_option_applies_to_every_command(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from devflow.cli.main import app

    monkeypatch.delenv("DEVFLOW_TIMEOUT", raising=False)
    result = CliRunner().invoke(app, ["--timeout", "7", "version"])
    assert result.exit_code == 0, result.output
    assert os.environ["DEVFLOW_TIMEOUT"] == "7.0"
    client = ApiClient.from_options(url=None, token=generate_token(), home=tmp_path)
    assert client.timeout == 7
