"""Each command-line option is defined once (rekog_compat/options.py): its REKOG_COMPAT_* variable sets its
default and is named in its help, and every command that takes the option takes that one definition."""

from __future__ import annotations

import argparse
import os

import pytest

from rekog_compat import options
from rekog_compat.cli import build_parser
from rekog_compat.config import ENV_PREFIX, ServerConfig, default_data_dir
from rekog_compat.engine import registry

REQUIRED = {"serve": [], "seed": ["--collection-id", "c", "--faces", "1"]}


@pytest.fixture(autouse=True)
def no_rekog_environment(monkeypatch):
    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(name)


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def defined(name: str) -> dict[str, argparse.Action]:
    """The subcommand's flags that come from an Option, by flag."""
    return {a.option_strings[0]: a for a in subcommand(name)._actions if hasattr(a, "option")}


def parse(command: str) -> argparse.Namespace:
    return build_parser().parse_args([command, *REQUIRED[command]])


def sample(option: options.Option) -> tuple[str, object]:
    """A value for the option's variable other than its default, and what it parses to."""
    if option.choices:
        text = next(c for c in option.choices if c != option.default)
    else:
        text = {int: "7", float: "2.5"}.get(option.type, "/some/value")
    return text, option.type(text) if option.type else text


def test_every_serve_flag_reads_an_environment_variable():
    actions = [a for a in subcommand("serve")._actions if a.option_strings != ["-h", "--help"]]
    assert actions and all(hasattr(a, "option") for a in actions)
    assert [a.option for a in actions] == list(options.SERVE_OPTIONS)


@pytest.mark.parametrize("command", ["serve", "seed"])
def test_each_option_names_its_variable_and_the_variable_sets_its_default(command, monkeypatch):
    actions = defined(command)
    assert actions
    for flag, action in actions.items():
        option: options.Option = action.option
        assert option.env_var in (action.help or ""), flag
        text, value = sample(option)
        monkeypatch.setenv(option.env_var, text)
        assert getattr(parse(command), action.dest) == value, flag
        monkeypatch.delenv(option.env_var)


def test_serve_and_seed_share_the_store_and_scope_definitions():
    serve, seed = defined("serve"), defined("seed")
    for option in options.STORE_OPTIONS:
        assert serve[option.flag].option is seed[option.flag].option is option
        assert serve[option.flag].default == seed[option.flag].default
    assert seed["--account"].option is serve["--default-account"].option is options.DEFAULT_ACCOUNT_OPTION
    assert seed["--region"].option is serve["--default-region"].option is options.DEFAULT_REGION_OPTION


def test_without_flags_or_variables_serve_configures_servers_default():
    assert options.server_config(parse("serve")) == ServerConfig(data_dir=default_data_dir())


def test_an_empty_variable_of_a_typed_option_leaves_its_default(monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "PORT", "")
    monkeypatch.setenv(ENV_PREFIX + "MAX_CONCURRENT", "")
    args = parse("serve")
    assert args.port == ServerConfig.port and args.max_concurrent is None


def test_flags_override_variables(monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "ANN_MIN_FACES", "5")
    assert build_parser().parse_args(["seed", *REQUIRED["seed"], "--ann-min-faces", "9"]).ann_min_faces == 9


@pytest.mark.parametrize("command", ["serve", "seed"])
def test_model_and_detector_choices_are_the_registrys_names(command):
    actions = defined(command)
    assert tuple(actions["--model"].choices or ()) == registry.names("embedder")
    assert tuple(actions["--detector"].choices or ()) == registry.names("detector")


def test_an_unknown_model_on_the_command_line_is_refused_naming_the_known_ones(capsys):
    with pytest.raises(SystemExit) as stop:
        build_parser().parse_args(["serve", "--model", "NoSuchNet"])
    assert stop.value.code == 2
    assert "NoSuchNet" in capsys.readouterr().err
