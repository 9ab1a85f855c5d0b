"""Claim owner names and whether their process is gone (pure, with real processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from trialwatch.jobs import claimants

HOST = socket.gethostname()


def test_an_owner_name_is_host_pid_start() -> None:
    host, pid, start = claimants.parse_owner(claimants.owner_name()) or ("", 0, 0)
    assert (host, pid) == (HOST, os.getpid())
    assert abs(start - time.time()) < 5


@pytest.mark.parametrize("owner", ["", "web", "host:12:x", "host:-1:5", ":1:2", "a:b:c:d"])
def test_other_names_are_not_owner_names(owner: str) -> None:
    assert claimants.parse_owner(owner) is None
    assert not claimants.is_gone(owner)


def test_a_process_that_exited_is_gone() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    assert claimants.is_gone(f"{HOST}:{process.pid}:{int(time.time())}")


def test_this_process_and_its_parent_are_alive() -> None:
    now = int(time.time())
    assert not claimants.is_gone(f"{HOST}:{os.getpid()}:{now}")
    assert not claimants.is_gone(f"{HOST}:{os.getppid()}:{now}")


def test_an_earlier_process_with_this_pid_is_gone() -> None:
    """The pid was reused (a restarted container's pid 1): the claim predates this process."""
    assert claimants.is_gone(f"{HOST}:{os.getpid()}:{int(time.time()) - 86400}")


def test_another_hosts_owner_is_never_judged_here() -> None:
    assert not claimants.is_gone(f"elsewhere.example:{os.getpid()}:1")
