"""A mount's replication links in its metrics: each link's id, local
stream, peer, state, messages and seconds behind, what its peer
acknowledged and its last error, in the JSON line of /.streamfs/metrics
("replicas") and as streamfs_replica_* series of /.streamfs/metrics.prom,
bounded by metrics_top.  Two or three mounts on loopback, linked as
tests/test_replica.py links them.

Every wait is a bounded poll for the figures the test expects: no pass or
fail depends on how long anything took."""
import os
import subprocess

import pytest

from test_metrics import PROMTOOL, lines, prom_text, prom_value
from test_replica import (CONVERGE, agree, append_lines, ctl, link, pki,
                          replica, source, target)
from util import wait_for

assert pki                      # a fixture, used by name


def newest_link(m, lid):
    """The link lid in m's newest metrics line, or None."""
    ls = lines(m.mnt)
    for r in ls[-1]["replicas"] if ls else []:
        if r["id"] == lid:
            return r
    return None


def wait_link(m, lid, pred):
    """The first of m's newest figures of link lid that pred accepts
    (None when none did within CONVERGE seconds)."""
    def ok():
        r = newest_link(m, lid)
        return r if r and pred(r) else None
    return wait_for(ok, timeout=CONVERGE, interval=0.2)


def labels(m, lid, peer):
    return {"link": str(lid), "stream": "/plant", "peer": target(peer)}


def promtool_check(m):
    with open(os.path.join(m.mnt, ".streamfs", "metrics.prom"), "rb") as f:
        r = subprocess.run([PROMTOOL, "check", "metrics"], stdin=f,
                           capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not r.stdout.strip(), \
        "promtool: %s%s" % (r.stdout, r.stderr)


def test_link_catches_up_in_the_metrics_line(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 20, "x")
    lid = link(a, b)
    append_lines(t, 20, "y")
    assert agree(a, b)
    r = wait_link(a, lid, lambda r: r["state"] == "up" and
                  r["msgs_behind"] == 0 and r["sent_msgs"] == 40)
    assert r, "link %d never up and caught up: %r" % (lid,
                                                      newest_link(a, lid))
    assert r["stream"] == "/plant"
    assert r["ino"] == os.stat(os.path.join(a.mnt, "plant")).st_ino
    assert r["peer"] == target(b)
    assert r["secs_behind"] == 0
    assert r["sent_bytes"] == sum(len(b"x %d\n" % i) + len(b"y %d\n" % i)
                                  for i in range(20))
    assert r["last_error"] == "" and r["last_error_ns"] == 0
    assert lines(a.mnt)[-1]["replicas_total"] == 1
    assert lines(a.mnt)[-1]["replicas_left_out"] == 0
    # More appends: what the peer acknowledged grows with them.
    append_lines(t, 5, "z")
    assert wait_link(a, lid, lambda r: r["sent_msgs"] == 45 and
                     r["msgs_behind"] == 0)
    # The receiving side has no link of its own.
    assert lines(b.mnt)[-1]["replicas"] == []


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian package "
                    "prometheus) is not installed; tools/setup.sh installs it")
def test_link_series_in_the_prometheus_text(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    lid = link(a, b)
    append_lines(t, 30, "p")
    assert agree(a, b)
    assert wait_link(a, lid, lambda r: r["sent_msgs"] == 30 and
                     r["msgs_behind"] == 0 and r["state"] == "up")
    text = prom_text(a.mnt)
    lb = labels(a, lid, b)
    assert prom_value(text, "streamfs_replica_msgs_behind", **lb) == 0
    assert prom_value(text, "streamfs_replica_behind_seconds", **lb) == 0
    assert prom_value(text, "streamfs_replica_sent_messages_total",
                      **lb) == 30
    assert prom_value(text, "streamfs_replica_sent_bytes_total", **lb) == \
        sum(len(b"p %d\n" % i) for i in range(30))
    assert prom_value(text, "streamfs_replica_last_error_time_seconds",
                      **lb) == 0
    assert prom_value(text, "streamfs_replica_state", state="up",
                      **lb) == 1
    for s in ("connecting", "paused", "error"):
        assert prom_value(text, "streamfs_replica_state", state=s,
                          **lb) == 0
    assert prom_value(text, "streamfs_replica_links") == 1
    assert prom_value(text, "streamfs_replica_links_left_out") == 0
    assert "# TYPE streamfs_replica_sent_messages_total counter" in text
    promtool_check(a)
    # A mount without links still says how many it has.
    assert prom_value(prom_text(b.mnt), "streamfs_replica_links") == 0
    promtool_check(b)


def test_paused_link_counts_what_it_holds_back(mount_factory, pki):
    a = replica(mount_factory, pki)
    b = replica(mount_factory, pki)
    t = os.path.join(a.mnt, "plant", "t")
    append_lines(t, 10, "x")
    lid = link(a, b)
    assert agree(a, b)
    assert wait_link(a, lid, lambda r: r["sent_msgs"] == 10)
    ctl("replica", "pause", os.path.join(a.mnt, "plant"), lid)
    assert wait_link(a, lid, lambda r: r["state"] == "paused")
    append_lines(t, 7, "y")
    r = wait_link(a, lid, lambda r: r["msgs_behind"] == 7 and
                  r["secs_behind"] > 0)
    assert r, "paused link never 7 behind: %r" % newest_link(a, lid)
    assert r["state"] == "paused" and r["sent_msgs"] == 10
    # metrics.prom has the newest figures: those of that line or later.
    text = prom_text(a.mnt)
    lb = labels(a, lid, b)
    assert prom_value(text, "streamfs_replica_msgs_behind", **lb) == 7
    assert prom_value(text, "streamfs_replica_state", state="paused",
                      **lb) == 1
    assert prom_value(text, "streamfs_replica_state", state="up",
                      **lb) == 0
    ctl("replica", "resume", os.path.join(a.mnt, "plant"), lid)
    assert agree(a, b)
    assert wait_link(a, lid, lambda r: r["state"] == "up" and
                     r["msgs_behind"] == 0 and r["sent_msgs"] == 17)


def test_links_beyond_metrics_top_are_left_out(mount_factory, pki):
    a = replica(mount_factory, pki, extra=["metrics_top=1"])
    b = replica(mount_factory, pki)
    c = replica(mount_factory, pki)
    first = link(a, b)
    second = link(a, c)
    assert first < second

    def both_counted():
        ls = lines(a.mnt)
        return ls and ls[-1]["replicas_total"] == 2 and ls[-1]
    line = wait_for(both_counted, timeout=CONVERGE, interval=0.2)
    assert line, "never two links: %r" % lines(a.mnt)[-1]
    assert line["replicas_left_out"] == 1
    assert [r["id"] for r in line["replicas"]] == [first]
    assert line["replicas"][0]["peer"] == target(b)
    text = prom_text(a.mnt)
    assert prom_value(text, "streamfs_replica_links") == 2
    assert prom_value(text, "streamfs_replica_links_left_out") == 1
    assert prom_value(text, "streamfs_replica_msgs_behind",
                      link=str(second)) is None


def test_failing_link_says_when_it_last_failed(mount_factory, pki):
    a = replica(mount_factory, pki)
    nobody = source(mount_factory, pki)     # its port: nothing listens
    append_lines(os.path.join(a.mnt, "plant", "t"), 3, "x")
    lid = link(a, nobody)
    # As far as the link knows, its peer lacks all three messages.
    r = wait_link(a, lid, lambda r: r["last_error_ns"] > 0 and
                  r["msgs_behind"] == 3 and r["secs_behind"] > 0)
    assert r, "link %d never failed: %r" % (lid, newest_link(a, lid))
    assert r["state"] in ("connecting", "error") and r["sent_msgs"] == 0
    append_lines(os.path.join(a.mnt, "plant", "u"), 2, "y")
    assert wait_link(a, lid, lambda r: r["msgs_behind"] == 5), \
        newest_link(a, lid)
    assert r["last_error"] != ""
    assert r["peer"] == target(nobody)
    text = prom_text(a.mnt)
    lb = labels(a, lid, nobody)
    assert prom_value(text, "streamfs_replica_last_error_time_seconds",
                      **lb) > 0
    # one state at a time (which one may have moved on since the line)
    assert sum(prom_value(text, "streamfs_replica_state", state=s, **lb)
               for s in ("connecting", "up", "paused", "error")) == 1
    if PROMTOOL:
        promtool_check(a)
