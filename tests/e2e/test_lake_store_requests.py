"""What a lake commit asks of an S3 store does not grow with the table (issue 68, "where
the commit rate stops"). The server binds its view of a lake table again at every commit
it sees, its own and other nodes'; that bind opened every data file of the snapshot, a
HEAD (its size) and a GET (its footer) each: 2 requests per file per commit, on every
node, so a table of 10,000 files cost 20,000 requests a commit (measured before the fix:
54 requests a commit at 25 files, 205 with two nodes taking turns). Now the sizes come
from the log and the footers from DuckDB's Parquet metadata cache: a commit reads only
its new file's footer."""
import collections

import pytest

from lake_util import events, http_query, lake_stream, put_cmd, start_lake_server
from s3_proxy import S3Proxy


@pytest.fixture
def proxy(minio):
    proxy = S3Proxy(minio)
    yield proxy
    proxy.close()


def data_file_requests(proxy, since):
    """(method, count) of the requests for Parquet data files after history entry `since`."""
    return collections.Counter(method for _, method, path, _ in proxy.history[since:]
                               if path.split("?")[0].endswith(".parquet"))


def test_a_commits_store_requests_do_not_grow_with_the_tables_files(start_server, tmp_path,
                                                                   minio, proxy):
    streams = {"events": lake_stream(minio.url("events"), compaction_interval_s=0)}
    # Two servers on the table, as two nodes: each binds its view at the other's commits.
    servers = [start_lake_server(start_server, tmp_path, streams, s3=proxy.s3_config(),
                                 name=name) for name in ("a", "b")]
    clients = [server.client() for server in servers]
    files = 40
    for i in range(files):  # one data file each
        put_cmd(clients[i % 2], events(range(i * 10, i * 10 + 10)), {"stream": "events"})
    for server in servers:  # each has read the whole table once, every footer read
        counted = http_query(server, "SELECT count(*) AS n FROM events")
        assert counted.column("n").to_pylist() == [files * 10]
    since = len(proxy.history)
    commits = 6
    for i in range(files, files + commits):  # each server's commit binds its view
        put_cmd(clients[i % 2], events(range(i * 10, i * 10 + 10)), {"stream": "events"})
    asked = data_file_requests(proxy, since)
    per_commit = sum(asked.values()) / commits
    print(f"data file requests per commit at {files} files, 2 servers: {per_commit} "
          f"({dict(asked)})")
    # The new file's upload, its HEAD, and the footers of the files new to the server's
    # view (its own and the other's). Before: a HEAD and a GET of every file.
    assert per_commit <= 8, dict(asked)
    assert asked["HEAD"] <= 2 * commits, dict(asked)
    for server in servers:
        counted = http_query(server, "SELECT count(*) AS n, sum(id) AS s FROM events")
        total = (files + commits) * 10
        assert counted.to_pylist() == [{"n": total, "s": total * (total - 1) // 2}]
