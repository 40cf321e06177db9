"""Acceptance tests: real pytest runs (pytester) of a playbook repo's test files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import orphans
from test_readme import readme_example

EXAMPLES = Path(__file__).resolve().parent.parent / "example_playbooks"

README_EXAMPLE = readme_example()  # the README's ten-line example, as written there


@pytest.fixture
def repo(pytester: pytest.Pytester) -> pytest.Pytester:
    """A playbook repo with the example playbooks beside its tests."""
    for playbook in EXAMPLES.glob("*.yml"):
        shutil.copy(playbook, pytester.path / playbook.name)
    return pytester


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_readme_example_passes_and_leaves_no_container(repo: pytest.Pytester) -> None:
    repo.makepyfile(test_repo=README_EXAMPLE)
    result = repo.runpytest_subprocess("-p", "no:cacheprovider", "-s", "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    # the inner session is over: none of its containers (labelled with its pid) may be left
    assert orphans() == []


def test_marker_is_registered_with_its_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.asyncplay(hosts=1, groups=None, image=None, inventory=None, *"])


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("hosts=0", "*hosts=0 starts no host*"),
        ("host=2", "*unexpected keyword argument 'host'*"),
        ("hosts='two'", "*hosts='two' must be a count*"),
        ("hosts=['a', 'a']", "*names a host twice*"),
        ("groups={'web': ['nope']}", "*unknown host(s)*nope*"),
        ("inventory='missing.ini'", "*inventory='missing.ini' does not exist*"),
    ],
)
def test_bad_marker_arguments_are_usage_errors_naming_the_argument(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.asyncplay({marker})
        def test_it(asyncplay_hosts):
            pass

        def test_unrelated_still_runs():
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*UsageError*@pytest.mark.asyncplay*", message])
    result.assert_outcomes(passed=1, errors=1)


def test_docker_missing_is_an_error_with_a_hint_not_a_verdict(
    repo: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{repo.path}/no-docker.sock")
    repo.makepyfile(test_repo=README_EXAMPLE)
    result = repo.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist",
                                       "--asyncplay-reap-audit", "fire_and_forget_unreaped.yml", "test_repo.py")
    result.assert_outcomes(errors=2)  # an error, never a pass or a "swallowed" verdict
    result.stdout.fnmatch_lines(["*DockerUnavailableError: cannot reach the Docker engine*",
                                 "*Hint: start it*DOCKER_HOST*"])
