"""Settings are parsed from the environment in one place, with errors that name the variable."""

from pathlib import Path

import pytest

from core.settings import Settings, SettingsError, load_settings


def test_defaults_follow_the_contract() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert (settings.host, settings.port, settings.workers) == ("127.0.0.1", 8080, 1)
    assert settings.openai_base_url == "https://api.openai.com/v1"
    assert settings.anthropic_base_url == "https://api.anthropic.com"
    assert settings.gemini_base_url == "https://generativelanguage.googleapis.com"
    assert settings.data_dir == Path(".data")
    assert settings.admin_url == "http://127.0.0.1:8080/admin/"
    assert settings.environment == "development"


def test_values_are_read_and_trimmed() -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u:p@db:5432/kaixu",
            "HOST": "0.0.0.0",
            "PORT": "9000",
            "WORKERS": "4",
            "OPENAI_API_KEY": " sk-test ",
            "OPENAI_BASE_URL": "http://127.0.0.1:9001/v1/",
            "PUBLIC_URL": "https://gw.example.com/",
            "ADMIN_PASSWORD": "pw",
        }
    )
    assert settings.database_url == "postgresql://u:p@db:5432/kaixu"
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 9000, 4)
    assert settings.openai_api_key == "sk-test"
    assert settings.openai_base_url == "http://127.0.0.1:9001/v1"
    assert settings.admin_url == "https://gw.example.com/admin/"


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def test_empty_values_count_as_unset() -> None:
    settings = load_settings({"ADMIN_PASSWORD": "", "DATABASE_URL": "  ", "PORT": ""})
    assert settings.admin_password is None
    assert settings.database_url is None
    assert settings.port == 8080


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"PORT": "http"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"WORKERS": "0"}, "WORKERS"),
        ({"DATABASE_URL": "mysql://localhost/x"}, "DATABASE_URL"),
        ({"OPENAI_BASE_URL": "api.openai.com"}, "OPENAI_BASE_URL"),
        ({"STRIPE_API_BASE": "ftp://x"}, "STRIPE_API_BASE"),
        ({"DEMO_PROVIDER": "maybe"}, "DEMO_PROVIDER"),
        ({"KAIXU_ENV": "staging"}, "KAIXU_ENV"),
        ({"HOST": "bad host"}, "HOST"),
        ({"UPSTREAM_READ_TIMEOUT_S": "soon"}, "UPSTREAM_READ_TIMEOUT_S"),
        ({"DEFAULT_MAX_TOKENS": "5000", "MAX_TOKENS_LIMIT": "4000"}, "DEFAULT_MAX_TOKENS"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ],
)
def test_malformed_values_are_refused_by_name(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)


def test_production_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings({"KAIXU_ENV": "production"})
    for name in ("DATABASE_URL", "ADMIN_PASSWORD", "KAIXU_SECRET"):
        assert name in str(caught.value)


def test_production_refuses_weak_secrets() -> None:
    env = {
        "KAIXU_ENV": "production",
        "DATABASE_URL": "postgresql://db/kaixu",
        "ADMIN_PASSWORD": "short",
        "KAIXU_SECRET": "s" * 40,
    }
    with pytest.raises(SettingsError, match="ADMIN_PASSWORD"):
        load_settings(env)
    env["ADMIN_PASSWORD"] = "a-long-enough-password"
    assert load_settings(env).is_production


def test_demo_provider_is_on_only_without_real_keys_unless_asked() -> None:
    assert load_settings({}).demo_enabled
    assert not load_settings({"OPENAI_API_KEY": "sk"}).demo_enabled
    assert load_settings({"OPENAI_API_KEY": "sk", "DEMO_PROVIDER": "true"}).demo_enabled
    assert not load_settings({"DEMO_PROVIDER": "off"}).demo_enabled


def test_default_instance_matches_parsed_defaults() -> None:
    assert load_settings({}) == Settings()


def test_reliability_settings_have_the_contracts_defaults_and_parse_proxies() -> None:
    settings = load_settings({})
    assert (settings.body_read_timeout_s, settings.shutdown_grace_s) == (30.0, 30.0)
    assert settings.trusted_proxies == ()
    parsed = load_settings({"TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1"})
    assert [str(n) for n in parsed.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
    with pytest.raises(SettingsError, match="TRUSTED_PROXIES"):
        load_settings({"TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"})


def test_database_urls_for_pgbouncer_and_a_replica() -> None:
    plain = load_settings({"DATABASE_URL": "postgresql://db/kaixu"})
    assert plain.direct_database_url == "postgresql://db/kaixu" and not plain.behind_pgbouncer
    pooled = load_settings({
        "DATABASE_URL": "postgresql://bouncer:6432/kaixu",
        "DATABASE_DIRECT_URL": "postgresql://db:5432/kaixu",
        "DATABASE_READ_URL": "postgresql://replica:5432/kaixu",
    })  # fmt: skip
    assert pooled.behind_pgbouncer and pooled.direct_database_url == "postgresql://db:5432/kaixu"
    assert pooled.database_read_url == "postgresql://replica:5432/kaixu"
    with pytest.raises(SettingsError, match="DATABASE_DIRECT_URL"):
        load_settings({"DATABASE_DIRECT_URL": "postgresql://db/kaixu"})
    with pytest.raises(SettingsError, match="DATABASE_READ_URL"):
        load_settings({"DATABASE_URL": "postgresql://db/kaixu", "DATABASE_READ_URL": "mysql://x"})
    assert load_settings({"UPSTREAM_MAX_ATTEMPTS": "5"}).upstream_max_attempts == 5
    assert load_settings({}).upstream_max_attempts == 3
    with pytest.raises(SettingsError, match="UPSTREAM_MAX_ATTEMPTS"):
        load_settings({"UPSTREAM_MAX_ATTEMPTS": "0"})
    rotated = load_settings({"KAIXU_SECRET_PREVIOUS": " old-one , older "})
    assert rotated.secret_previous == ("old-one", "older")
