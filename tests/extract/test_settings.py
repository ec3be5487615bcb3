from pathlib import Path

import pytest

from extract.settings import SettingsError, load_settings


def test_defaults_live_under_the_home(tmp_path):
    settings = load_settings({"RETAILNOVA_HOME": str(tmp_path)})
    assert settings.lake == tmp_path / "lake"
    assert settings.source_url.get_backend_name() == "sqlite"
    assert settings.source_url.database == str(tmp_path / "source.db")
    assert settings.metadata_url.database == str(tmp_path / "metadata.db")
    assert settings.target == "local"
    assert settings.env == "dev"
    assert settings.extract_lag_seconds == 300


def test_dotenv_is_read_but_the_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("RETAILNOVA_TARGET=thrift\nRETAILNOVA_ENV=prod\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RETAILNOVA_ENV", "dev")
    monkeypatch.delenv("RETAILNOVA_TARGET", raising=False)
    settings = load_settings()
    assert settings.target == "thrift"
    assert settings.env == "dev"


def test_prod_refuses_without_a_pepper(tmp_path):
    settings = load_settings({"RETAILNOVA_HOME": str(tmp_path), "RETAILNOVA_ENV": "prod"})
    with pytest.raises(SettingsError, match="RETAILNOVA_PII_PEPPER"):
        settings.resolve_pepper()


def test_dev_generates_a_pepper_once_outside_the_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    settings = load_settings({"RETAILNOVA_HOME": str(tmp_path / "home")})
    first = settings.resolve_pepper()
    assert len(first) == 64
    assert settings.resolve_pepper() == first
    assert (Path(tmp_path) / "user" / ".config" / "retailnova" / "pii_pepper").exists()
    assert not any((tmp_path / "home").rglob("*pepper*"))


def test_secrets_stay_out_of_repr_and_errors(tmp_path):
    settings = load_settings(
        {
            "RETAILNOVA_HOME": str(tmp_path),
            "RETAILNOVA_PII_PEPPER": "pepper-value-123",
            "RETAILNOVA_SOURCE_URL": "postgresql://u:hunter2@h/db",
        }
    )
    assert "pepper-value-123" not in repr(settings)
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETAILNOVA_ENV", "staging"),
        ("RETAILNOVA_EXTRACT_LAG_SECONDS", "soon"),
        ("RETAILNOVA_EXTRACT_LAG_SECONDS", "-1"),
        ("RETAILNOVA_SPARK_DRIVER_MEMORY", "lots"),
    ],
)
def test_bad_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name):
        load_settings({"RETAILNOVA_HOME": str(tmp_path), name: value})
