import os
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


def test_scale_out_settings(tmp_path):
    settings = load_settings(
        {
            "RETAILNOVA_HOME": str(tmp_path),
            "RETAILNOVA_TARGET": "thrift",
            "RETAILNOVA_METASTORE_URL": "postgresql://hive:s3cret@db:5432/metastore",
            "RETAILNOVA_SPARK_CONF": "spark.cores.max=2 spark.x='-Da=1 -Db=2'",
            "RETAILNOVA_LAKE_URL": "s3a://retailnova-lake/prod/",
        }
    )
    assert settings.metastore_url.database == "metastore"
    assert "s3cret" not in repr(settings)
    assert settings.dbt_threads == 4
    assert settings.spark_conf_extra == (("spark.cores.max", "2"), ("spark.x", "-Da=1 -Db=2"))
    assert settings.lake_uri == "s3a://retailnova-lake/prod" and settings.lake_on_s3
    local = load_settings({"RETAILNOVA_HOME": str(tmp_path)})
    assert local.dbt_threads == 1 and local.metastore_url is None
    assert local.extract_threads == 1
    assert local.lake_uri == (tmp_path / "lake").as_uri() and not local.lake_on_s3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RETAILNOVA_METASTORE_URL", "sqlite:///metastore.db"),
        ("RETAILNOVA_DBT_THREADS", "0"),
        ("RETAILNOVA_EXTRACT_THREADS", "0"),
        ("RETAILNOVA_EXTRACT_THREADS", "two"),
        ("RETAILNOVA_SPARK_CONF", "spark.ok=1 fs.s3a.secret.key=hunter2"),
        ("RETAILNOVA_LAKE_URL", "s3://bucket/lake"),
    ],
)
def test_bad_scale_out_values_name_the_variable(tmp_path, name, value):
    with pytest.raises(SettingsError, match=name) as raised:
        load_settings({"RETAILNOVA_HOME": str(tmp_path), name: value})
    assert "hunter2" not in str(raised.value)


def test_prod_does_not_count_a_generated_dev_pepper_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    dev = load_settings({"RETAILNOVA_HOME": str(tmp_path / "home")})
    assert dev.resolve_pepper()  # the development pepper file now exists
    prod = load_settings({"RETAILNOVA_HOME": str(tmp_path / "home"), "RETAILNOVA_ENV": "prod"})
    with pytest.raises(SettingsError, match="generated for development does not count"):
        prod.resolve_pepper()
    pepper = "f" * 64
    prod = load_settings(
        {
            "RETAILNOVA_HOME": str(tmp_path / "home"),
            "RETAILNOVA_ENV": "prod",
            "RETAILNOVA_PII_PEPPER": pepper,
        }
    )
    assert prod.resolve_pepper() == pepper


@pytest.mark.parametrize("command", [["run"], ["dbt", "build"], ["pii", "rotate"]])
def test_prod_commands_refuse_to_start_without_a_pepper(tmp_path, monkeypatch, command):
    from click.testing import CliRunner

    from extract.cli import main

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    load_settings({"RETAILNOVA_HOME": str(tmp_path / "dev")}).resolve_pepper()  # a dev file
    env = {k: None for k in os.environ if k.startswith("RETAILNOVA_")}
    env.update(RETAILNOVA_HOME=str(tmp_path / "home"), RETAILNOVA_ENV="prod")

    result = CliRunner().invoke(main, command, env=env)

    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert "RETAILNOVA_PII_PEPPER is not set" in result.output
    assert not (tmp_path / "home" / "lake").exists()  # refused before anything started
