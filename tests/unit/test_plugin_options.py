"""The plugin's options: flag, ini key and env var per setting, one precedence, errors that name the source."""

from __future__ import annotations

import pytest

from ordinal.pytest_plugin import OPTIONS, SettingError, read_settings

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_ordinal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner runs must not see the outer shell's ORDINAL_* or KUBECONFIG settings."""
    for opt in OPTIONS:
        monkeypatch.delenv(opt.env, raising=False)
    monkeypatch.delenv("KUBECONFIG", raising=False)


SHOW = """
def test_show(ordinal_settings):
    print("SETTING", ordinal_settings.timeout_scale, ordinal_settings.sources["timeout_scale"])
"""


def test_every_option_has_a_flag_an_ini_key_and_an_env_var() -> None:
    """Each option MUST derive --flag, ordinal_<name> and ORDINAL_<NAME> from one name."""
    names = {opt.name: (opt.flag, opt.ini, opt.env) for opt in OPTIONS}
    assert names["timeout_scale"] == ("--timeout-scale", "ordinal_timeout_scale", "ORDINAL_TIMEOUT_SCALE")
    assert set(names) == {
        "kubeconfig",
        "context",
        "storage_class",
        "image",
        "replicas",
        "namespace_prefix",
        "keep_namespace_on_failure",
        "timeout_scale",
        "dns",
        "cluster_domain",
        "run_as_user",
        "allow_disruptive",
        "node_stop_command",
        "node_start_command",
    }


@pytest.mark.parametrize(
    ("layers", "want", "source"),
    [
        pytest.param({}, 1.0, "default", id="default"),
        pytest.param({"ini": "2"}, 2.0, "ini file", id="ini"),
        pytest.param({"ini": "2", "env": "3"}, 3.0, "environment", id="env-beats-ini"),
        pytest.param({"ini": "2", "env": "3", "cli": "4"}, 4.0, "command line", id="cli-beats-env"),
        pytest.param({"ini": "2", "env": "3", "cli": "4", "marker": 5}, 5.0, "marker", id="marker-beats-cli"),
    ],
)
def test_precedence_is_marker_cli_env_ini_default(layers: dict[str, object], want: float, source: str) -> None:
    """Each layer MUST override the ones below it: marker → CLI → env → ini → default."""
    settings = read_settings(
        {"timeout_scale": layers.get("cli")},
        {"ORDINAL_TIMEOUT_SCALE": str(layers["env"])} if "env" in layers else {},
        {"ordinal_timeout_scale": str(layers.get("ini", ""))},
        {"timeout_scale": layers["marker"]} if "marker" in layers else None,
    )
    assert (settings.timeout_scale, settings.sources["timeout_scale"]) == (want, source)


@pytest.mark.parametrize(
    ("cli", "env", "ini", "message"),
    [
        pytest.param(
            {}, {}, {"ordinal_timeout_scale": "0"}, "invalid ordinal_timeout_scale '0' from ini file", id="ini"
        ),
        pytest.param({}, {"ORDINAL_REPLICAS": "one"}, {}, "invalid ORDINAL_REPLICAS 'one' from environment", id="env"),
        pytest.param({"dns": "udp"}, {}, {}, "invalid --dns 'udp' from command line", id="cli"),
        pytest.param(
            {"allow_disruptive": "maybe"}, {}, {}, "invalid --allow-disruptive 'maybe' from command line", id="tristate"
        ),
        pytest.param(
            {},
            {"ORDINAL_NODE_STOP_COMMAND": "ssh node sudo systemctl stop kubelet"},
            {},
            "invalid ORDINAL_NODE_STOP_COMMAND .* expected a command naming the node as {node}",
            id="node-command-without-node",
        ),
        pytest.param(
            {"node_start_command": "ssh '{node}"},
            {},
            {},
            "invalid --node-start-command .* expected a command as a shell would split it",
            id="node-command-unbalanced",
        ),
    ],
)
def test_bad_values_name_their_key_and_source(
    cli: dict[str, object], env: dict[str, str], ini: dict[str, str], message: str
) -> None:
    """A bad value MUST fail naming the key as spelled in its source, the value and the source."""
    with pytest.raises(SettingError, match=message.replace("'", ".")):
        read_settings(cli, env, ini)


def test_unknown_marker_option_is_refused() -> None:
    with pytest.raises(SettingError, match="unknown option 'replica'"):
        read_settings({}, {}, {}, {"replica": 2}, "marker on t.py::test")


def test_values_are_parsed_to_their_types() -> None:
    settings = read_settings(
        {"keep_namespace_on_failure": "yes", "allow_disruptive": "no"},
        {"ORDINAL_REPLICAS": "4", "ORDINAL_DNS": "direct:10.96.0.10:53"},
        {"ordinal_storage_class": "fast-ssd"},
    )
    assert (settings.keep_namespace_on_failure, settings.allow_disruptive) == (True, False)
    assert (settings.replicas, settings.dns, settings.storage_class) == (4, "direct:10.96.0.10:53", "fast-ssd")
    assert read_settings({}, {}, {}).allow_disruptive is None  # auto: decided by the target
    node = read_settings({}, {}, {"ordinal_node_stop_command": "ssh {node} sudo systemctl stop kubelet containerd"})
    assert (node.node_stop_command, node.node_start_command) == (
        "ssh {node} sudo systemctl stop kubelet containerd",
        None,
    )


def test_ini_file_value_reaches_the_test(pytester: pytest.Pytester) -> None:
    """An ini key MUST set the option for the whole run."""
    pytester.makeini("[pytest]\nordinal_timeout_scale = 2.5\n")
    pytester.makepyfile(SHOW)
    result = pytester.runpytest("-s")
    result.stdout.fnmatch_lines(["*SETTING 2.5 ini file*"])
    result.assert_outcomes(passed=1)


def test_env_beats_ini_and_cli_beats_env(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nordinal_timeout_scale = 2.5\n")
    pytester.makepyfile(SHOW)
    monkeypatch.setenv("ORDINAL_TIMEOUT_SCALE", "3")
    pytester.runpytest("-s").stdout.fnmatch_lines(["*SETTING 3.0 environment*"])
    pytester.runpytest("-s", "--timeout-scale=4").stdout.fnmatch_lines(["*SETTING 4.0 command line*"])


def test_marker_beats_everything(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ordinal(timeout_scale=6)
        def test_show(ordinal_settings):
            print("SETTING", ordinal_settings.timeout_scale, ordinal_settings.sources["timeout_scale"])
        """
    )
    pytester.runpytest("-s", "--timeout-scale=4").stdout.fnmatch_lines(["*SETTING 6.0 marker on *test_show*"])


def test_invalid_ini_value_stops_the_run_naming_the_source(pytester: pytest.Pytester) -> None:
    """The documented example: ``invalid ordinal_timeout_scale '0' from ini file: expected a number > 0``."""
    pytester.makeini("[pytest]\nordinal_timeout_scale = 0\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*invalid ordinal_timeout_scale '0' from ini file: expected a number > 0*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_invalid_marker_value_fails_collection_naming_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.ordinal(replicas=1)
        def test_one():
            pass
        """
    )
    result = pytester.runpytest()
    result.stderr.fnmatch_lines(["*test_one*invalid ordinal(replicas=…) '1' from marker on*expected an integer >= 2*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_help_lists_the_group_with_ini_and_env_names(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "ordinal: StatefulSet conformance against a cluster:",
            "*--kubeconfig=PATH*",
            "*--allow-disruptive*",
        ]
    )
    text = result.stdout.str()
    for opt in OPTIONS:
        assert opt.flag in text and opt.env in text, opt.name
    assert "ordinal_timeout_scale" in text


def test_markers_are_registered_with_descriptions(pytester: pytest.Pytester) -> None:
    """``pytest --markers`` MUST describe every ordinal marker (so --strict-markers accepts them)."""
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.needs(*capabilities): skip unless the cluster has them*",
            '@pytest.mark.min_version("1.32"): skip on Kubernetes servers older than this*',
            "@pytest.mark.disruptive: drains or cordons nodes*",
            "@pytest.mark.chaos: *",
            "@pytest.mark.flaky_known(reason, issue): *",
        ]
    )


def test_strict_markers_accept_ordinal_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.promise("Identity", "Names")
        @pytest.mark.flaky_known(reason="slow CoreDNS", issue="#7")
        def test_marked():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(xpassed=1)  # flaky_known: visible, never silent
