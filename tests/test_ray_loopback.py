"""The Ray that `rtstyle batch` starts listens on loopback only, unless asked (issue 36, row 1)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from rtstyle.batch import plan_jobs, run_batch
from rtstyle.errors import UserError, redacted_address

# Run in a child process: Ray reads its switches when imported, and other tests import it.
LISTENING = textwrap.dedent(
    """
    import json, os
    from rtstyle.batch import _import_ray, _local_ray_environment, _ray_session

    def listening_sockets(pids):
        inodes = {}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as f:
                for row in list(f)[1:]:
                    fields = row.split()
                    if fields[3] == "0A":  # LISTEN
                        inodes[fields[9]] = fields[1]
        found = []
        for pid in pids:
            try:
                links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
            except OSError:
                continue
            found += [inodes[l[8:-1]] for l in links if l.startswith("socket:[") and l[8:-1] in inodes]
        return found

    def descendants(root):
        parents = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    pass
        found = {root}
        while True:
            more = {pid for pid, parent in parents.items() if parent in found} - found
            if not more:
                return found
            found |= more

    _local_ray_environment(listen_on_network=False)
    with _ray_session(_import_ray(), "local", 1):
        print(json.dumps(listening_sockets(descendants(os.getpid()))))
    """
)


def _is_loopback(hex_address: str) -> bool:
    """A /proc/net/tcp{,6} local address (little-endian hex IP:port) on 127.0.0.0/8 or ::1."""
    ip = hex_address.split(":")[0]
    if len(ip) == 8:
        return ip[-2:] == "7F"
    v4_mapped = ip[:24] == "0000000000000000FFFF0000"
    return (v4_mapped and ip[-2:] == "7F") or ip == "00000000000000000000000001000000"


def test_a_local_ray_listens_on_loopback_only_whatever_ray_address_says(tmp_path):
    env = {**os.environ, "RAY_ADDRESS": "192.0.2.1:6379", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
    run = subprocess.run([sys.executable, "-c", LISTENING], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    sockets = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(sockets) >= 3  # the GCS, the raylet and its object manager at least
    assert [s for s in sockets if not _is_loopback(s)] == []


def test_listening_on_the_network_is_only_for_a_local_ray(tmp_path):
    photo = tmp_path / "in.png"
    photo.write_bytes(b"")
    with pytest.raises(UserError, match="--listen-on-network is for the Ray that batch starts"):
        run_batch([photo], tmp_path / "out", "mosaic", address="auto", listen_on_network=True, progress=False)


def test_credentials_in_an_address_are_never_echoed():
    assert redacted_address("ray://alice:s3cret@head:10001") == "ray://***@head:10001"
    assert redacted_address("alice:s3cret@10.0.0.1:6379") == "***@10.0.0.1:6379"
    assert redacted_address("auto") == "auto"
    with pytest.raises(UserError) as refused:
        run_batch([__file__], "/nonexistent-out", "mosaic", address="alice:s3cret@127.0.0.1:1", progress=False)
    assert "nothing answers there" in str(refused.value) and "s3cret" not in str(refused.value)


def test_jobs_name_absolute_paths_for_workers_in_other_folders(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    [job] = plan_jobs(["in"], "out")
    assert job.input == tmp_path / "in" / "a.png" and job.output == tmp_path / "out" / "a.png"
