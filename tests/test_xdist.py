"""pytest-xdist: per-worker hosts without clashes, and no container left when a worker crashes."""

from __future__ import annotations

import pytest
from helpers import orphans


@pytest.mark.docker  # plays on real hosts in a subprocess
def test_two_workers_get_their_own_hosts_and_a_crashed_worker_leaves_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.asyncplay(hosts=2)
        def test_a(asyncplay_hosts):
            assert len({h.port for h in asyncplay_hosts}) == 2
            print("PORTS", [h.port for h in asyncplay_hosts], os.environ["PYTEST_XDIST_WORKER"])

        @pytest.mark.asyncplay(hosts=2)
        def test_b(asyncplay_hosts):
            assert len({h.port for h in asyncplay_hosts}) == 2

        @pytest.mark.asyncplay(hosts=1, fresh=True)
        def test_crash(asyncplay_hosts):
            os._exit(3)  # the worker dies with its containers still running
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-p", "xdist")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*worker*crashed while running*test_crash*"])
    assert orphans() == []
