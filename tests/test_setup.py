"""Issue 2, point 1: the README's two commands and CI agree.

Running the commands themselves is what CI does (.ci/run); here we check that
the pieces fit: the README opens with the two commands, .ci/run runs exactly
the second one, and the scripts are valid bash.
"""
import re
import subprocess

from util import REPO


def readme_commands():
    text = (REPO / "README.md").read_text()
    block = re.search(r"```\n(.*?)```", text, re.S)
    assert block, "README.md has no command block"
    assert text.index("```") < text.index("## "), \
        "the commands must come before the first section"
    cmds = [l.split("#")[0].strip() for l in block.group(1).splitlines()]
    return [c for c in cmds if c]


def test_readme_opens_with_mount_and_test_commands():
    assert readme_commands() == ["tools/setup.sh mount",
                                 "tools/setup.sh test"]


def test_ci_runs_exactly_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    steps = [l.strip() for l in ci.splitlines()
             if l.strip() and not l.lstrip().startswith("#")]
    steps = [s for s in steps if not s.startswith("cd ")]
    assert steps == ["exec " + readme_commands()[1]], steps


def test_scripts_are_valid_bash():
    for script in ("tools/setup.sh", ".ci/run"):
        path = REPO / script
        assert path.stat().st_mode & 0o111, "%s is not executable" % script
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr


def test_setup_rejects_unknown_command():
    r = subprocess.run([str(REPO / "tools" / "setup.sh"), "frobnicate"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert "usage" in r.stderr
