import json

import pytest
from pydantic import SecretStr

from devflow.core.config import SET_AT_START, describe_settings, mask_url
from devflow.core.errors import Invalid
from devflow.settings import load_settings


class TestLoadSettings:
    def test_nested_values_come_from_the_environment(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_SERVER__PORT", "8080")
        monkeypatch.setenv("DEVFLOW_LOG__FORMAT", "json")
        settings = load_settings()
        assert settings.server.port == 8080
        assert settings.log.format == "json"

    def test_an_invalid_value_names_the_variable_and_the_reason(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_SERVER__PORT", "99999")
        with pytest.raises(Invalid) as caught:
            load_settings()
        assert "DEVFLOW_SERVER__PORT" in caught.value.message
        assert "less than or equal to 65535" in caught.value.message

    def test_a_database_url_must_be_postgresql(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_DATABASE_URL", "mysql://u:p@h/db")
        with pytest.raises(Invalid, match=r"DEVFLOW_DATABASE_URL: .*postgresql://"):
            load_settings()

    def test_dotenv_is_read_from_the_working_directory(self, tmp_path, monkeypatch):
        monkeypatch.chdir(tmp_path)
        (tmp_path / ".env").write_text("DEVFLOW_SERVER__PORT=4242\n")
        settings = load_settings()
        assert settings.server.port == 4242
        rows = {r.key: r for r in describe_settings(settings)}
        assert rows["server.port"].source == ".env"
        assert rows["server.host"].source == "default"

    def test_base_url_prefers_external_url(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_SERVER__EXTERNAL_URL", "https://devflow.example.com/")
        assert load_settings().base_url == "https://devflow.example.com"

    def test_bind_all_address_is_shown_as_loopback(self):
        settings = load_settings(server={"host": "0.0.0.0", "port": 9000})
        assert settings.base_url == "http://127.0.0.1:9000"


class TestSecretsAreMasked:
    def test_config_show_masks_the_database_password(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_DATABASE_URL", "postgresql://app:s3cret@db:5432/devflow")
        rows = {r.key: r for r in describe_settings(load_settings())}
        assert rows["database_url"].value == "postgresql://app:***@db:5432/devflow"
        assert rows["database_url"].source == "environment"
        assert all("s3cret" not in str(r.value) for r in rows.values())

    def test_a_provider_key_set_through_the_environment_is_masked(self, monkeypatch):
        monkeypatch.setenv("DEVFLOW_LLM__PROVIDERS__AOSENTRY__BASE_URL", "https://llm.example/v1")
        monkeypatch.setenv("DEVFLOW_LLM__PROVIDERS__AOSENTRY__API_KEY", "sk-live-s3cret")
        monkeypatch.setenv(
            "DEVFLOW_LLM__PROVIDERS__AOSENTRY__HEADERS",
            '{"Authorization": "Bearer hdr-s3cret", "X-Api-Key": "k-s3cret", "X-Team": "blue"}',
        )
        rows = {r.key: r for r in describe_settings(load_settings())}
        providers = rows["llm.providers"]
        assert (providers.source, providers.secret) == ("environment", True)
        aosentry = providers.value["aosentry"]
        assert aosentry["api_key"] == "***"
        assert aosentry["headers"] == {"Authorization": "***", "X-Api-Key": "***", "X-Team": "blue"}
        assert aosentry["base_url"] == "https://llm.example/v1"
        assert all("s3cret" not in repr(r.value) for r in rows.values())
        assert not rows["llm.aliases"].secret

    def test_every_value_is_plain_data(self):
        rows = describe_settings(load_settings())
        assert json.loads(json.dumps([r.value for r in rows])) == [r.value for r in rows]

    def test_a_value_given_by_the_starting_command_says_so(self):
        settings = load_settings(database_url="postgresql://app:pw@db/devflow")
        settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"port": 4000})}
        )
        rows = {r.key: r for r in describe_settings(settings)}
        assert (rows["server.port"].source, rows["server.port"].value) == (SET_AT_START, 4000)
        assert rows["server.host"].source == "default"
        assert rows["database_url"].source == SET_AT_START
        assert rows["database_url"].value == "postgresql://app:***@db/devflow"
        assert rows["database_url"].secret

    def test_a_secret_inside_a_section_given_as_json_is_masked(self, monkeypatch):
        monkeypatch.setenv(
            "DEVFLOW_BLOBS", '{"backend": "s3", "s3_bucket": "b", "s3_secret_access_key": "zz9"}'
        )
        rows = {r.key: r for r in describe_settings(load_settings())}
        assert rows["blobs.s3_secret_access_key"].value == "***"
        assert rows["blobs.s3_secret_access_key"].source == "environment"
        assert isinstance(load_settings().blobs.s3_secret_access_key, SecretStr)

    def test_mask_url_leaves_passwordless_urls_alone(self):
        assert mask_url("postgresql://db/devflow") == "postgresql://db/devflow"
