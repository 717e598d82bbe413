"""A small HTTP proxy in front of a real MinIO (lake_util.Minio) that makes it misbehave on
cue, as stores and networks do (issue 35): ignore `If-None-Match: *` (the proxy strips the
header and signs the request again, as a store that ignores it would see it), lose the
answer to a Delta commit after MinIO wrote it, then fail the reads that would tell (503),
or stop MinIO itself (SIGSTOP) right after the commit landed, or when a data file is read. Everything else passes
through unchanged (the client's SigV4 signature covers the Host header it sent, which
the proxy keeps)."""
import hashlib
import hmac
import http.client
import http.server
import re
import signal
import threading
import time

from lake_util import free_port

COMMIT_PATH = re.compile(r"/_delta_log/\d{20}\.json$")
DATA_PATH = re.compile(r"\.parquet(\?|$)")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect",
              "te", "trailer", "upgrade"}


def _hmac(key, text):
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def resign(method, path, headers, secret_key, drop):
    """Headers of a SigV4-signed request (no query string) signed again without the
    header `drop` (lower case)."""
    auth = headers["authorization"]
    credential = re.search(r"Credential=([^,]+)", auth).group(1)
    signed = [h for h in re.search(r"SignedHeaders=([^,]+)", auth).group(1).split(";")
              if h != drop]
    _, date, region, service, _ = credential.split("/")
    canonical = "\n".join([method, path, "",
                           "".join(f"{h}:{' '.join(headers[h].split())}\n" for h in signed),
                           ";".join(signed), headers["x-amz-content-sha256"]])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", headers["x-amz-date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret_key).encode(), date), region), service),
                "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {k: v for k, v in headers.items() if k != drop}
    out["authorization"] = (f"AWS4-HMAC-SHA256 Credential={credential}, "
                            f"SignedHeaders={';'.join(signed)}, Signature={signature}")
    return out


class S3Proxy:
    """proxy = S3Proxy(minio); server config s3 = proxy.s3_config(); proxy.close()."""

    def __init__(self, minio):
        self.minio = minio
        self.port = free_port()
        self.strip_conditions = False  # a store that ignores If-None-Match: *
        # "fail_reads": the next commit PUT is written by MinIO, its answer lost (the
        # connection closed), and every GET (object or listing) then fails with 503 until
        # heal(); "stop_minio": the same, but MinIO is stopped (SIGSTOP) instead.
        self.lose_next_commit = None
        self.reads_fail = False
        self.lost_commits = []  # paths whose answer was lost
        self.conditional_puts = 0
        # The next GET of a data file (Parquet) stops MinIO (SIGSTOP) before it is passed on,
        # then sets data_read_stopped: the read, and every request after it, hang until heal().
        # A number N instead of True: the Nth such GET from now.
        self.stop_on_data_read = False
        self.data_read_stopped = threading.Event()
        self.stopped_at = None  # the path of that GET
        self.received = 0  # requests that reached the proxy
        # (seconds since the proxy started, method, path, what happened): shown when a test
        # fails on a fault's outcome.
        self.history = []
        self._started = time.monotonic()
        self.waiting = 0   # requests forwarded to MinIO and not answered yet
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        # False while a commit whose answer is to be lost is in flight: it goes to MinIO
        # alone (the requests already there answered first, the others wait), so that no
        # request sees the commit between its landing and the fault (a retried PUT from a
        # server whose first attempt timed out met the commit landed and answered OK; a view
        # poll already at MinIO read it back: the outcome the test set out to lose).
        self._fault_settled = True
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()
                           if k.lower() not in HOP_BY_HOP}
                path = self.path
                fault = None
                with proxy._lock:
                    proxy.received += 1
                    proxy._arrived.notify_all()
                    if self.command == "PUT" and "if-none-match" in headers:
                        proxy.conditional_puts += 1
                        if proxy.strip_conditions:
                            headers = resign("PUT", path, headers, proxy.minio.secret_key,
                                             "if-none-match")
                        if COMMIT_PATH.search(path) and proxy.lose_next_commit:
                            fault, proxy.lose_next_commit = proxy.lose_next_commit, None
                            proxy._fault_settled = False
                    reads_fail = proxy.reads_fail and self.command in ("GET", "HEAD")
                    stop = False
                    if (proxy.stop_on_data_read and self.command == "GET" and
                            DATA_PATH.search(path) is not None):
                        proxy.stop_on_data_read -= 1  # True: this read; N: the Nth
                        stop = proxy.stop_on_data_read == 0
                try:
                    with proxy._arrived:
                        if fault is None and not proxy._fault_settled:
                            if not proxy._arrived.wait_for(lambda: proxy._fault_settled, 120):
                                proxy._note_locked(self.command, path,
                                                   "held 120 s: the fault never settled")
                            # the fault may have made reads fail meanwhile
                            reads_fail = proxy.reads_fail and self.command in ("GET", "HEAD")
                        elif fault is not None:
                            if not proxy._arrived.wait_for(lambda: proxy.waiting == 0, 120):
                                proxy._note_locked(self.command, path,
                                                   "sent beside others after 120 s")
                        if not reads_fail:
                            proxy.waiting += 1  # counted before the lock is let go
                            proxy._arrived.notify_all()
                    if stop:
                        proxy.stopped_at = path
                        proxy.minio.pause()
                        proxy.data_read_stopped.set()
                    if reads_fail:
                        proxy._note(self.command, path, "503 (reads fail)")
                        self._reply(503, b"<Error><Code>SlowDown</Code>"
                                         b"<Message>scripted</Message></Error>")
                        return
                    upstream = http.client.HTTPConnection("127.0.0.1", proxy.minio.port,
                                                          timeout=120)
                    try:
                        upstream.request(self.command, path, body=body, headers=headers)
                        response = upstream.getresponse()
                        data = response.read()
                    finally:
                        upstream.close()
                        with proxy._lock:
                            proxy.waiting -= 1
                            proxy._arrived.notify_all()
                    if fault is not None:
                        # Written; the answer never reaches the client.
                        with proxy._lock:
                            proxy.lost_commits.append(path)
                            if fault == "fail_reads":
                                proxy.reads_fail = True
                        if fault == "stop_minio":
                            proxy.minio.pause()
                        proxy._note(self.command, path, f"{response.status}, answer lost ({fault})")
                        self.close_connection = True
                        return
                finally:
                    if fault is not None:  # whatever happened, the others go on
                        with proxy._lock:
                            proxy._fault_settled = True
                            proxy._arrived.notify_all()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() in HOP_BY_HOP:
                        continue
                    # A HEAD's Content-Length is the object's size: passed on as it is.
                    if name.lower() != "content-length" or self.command == "HEAD":
                        self.send_header(name, value)
                proxy._note(self.command, path, response.status)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _reply(self, status, body):
                self.send_response_only(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _note(self, method, path, what):
        with self._lock:
            self._note_locked(method, path, what)

    def _note_locked(self, method, path, what):
        self.history.append((round(time.monotonic() - self._started, 3), method, path, what))

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def s3_config(self, **overrides):
        return self.minio.s3_config(endpoint=self.endpoint, **overrides)

    def wait_for_waiting_request(self, timeout=60):
        """Waits until a request forwarded to MinIO has no answer yet (with MinIO stopped:
        the server is stuck in a store request); fails the test after `timeout` s."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.waiting >= 1, timeout):
                raise AssertionError(f"no store request waited on MinIO within {timeout}s")

    def heal(self):
        """Reads pass again; a stopped MinIO goes on (SIGCONT)."""
        with self._lock:
            self.reads_fail = False
            self.lose_next_commit = None
            self.stop_on_data_read = False
            self._fault_settled = True
            self._arrived.notify_all()
        if self.minio.proc is not None:
            self.minio.proc.send_signal(signal.SIGCONT)

    def close(self):
        self.heal()
        self.server.shutdown()
        self.server.server_close()
