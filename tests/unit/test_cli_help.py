"""Every command documents itself."""

import pytest

from gospublic.apps.cli import COMMANDS, main


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: gospublic {command}")
    assert len(out.splitlines()) > 3


def test_top_level_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command.name in out


def test_registry_actions_have_help(capsys):
    for action in ("import", "show"):
        with pytest.raises(SystemExit) as exited:
            main(["registry", action, "--help"])
        assert exited.value.code == 0
    assert "nothing is written" in capsys.readouterr().out
