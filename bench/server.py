"""gunicorn as the Procfile runs it, on a database and a free port of 127.0.0.1, for the benches:
started, SIGKILLed (master and workers at once) and started again."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn with the repository's gunicorn.conf.py on a database; it can be SIGKILLed and started again."""

    def __init__(self, db_path, *, workers, threads, log_path, app="fieldapp:create_app()", env=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        self.env = {**os.environ, "FIELDAPP_DATABASE": db_path, "FIELDAPP_SECRET_KEY": "crash bench",
                    "HOST": "127.0.0.1", "PORT": str(self.port), "WEB_CONCURRENCY": str(workers),
                    "GUNICORN_THREADS": str(threads), **(env or {})}
        self.log = open(log_path, "ab")
        self.process = None

    def pids(self):
        """The master's and the workers' process ids."""
        import psutil  # installed with locust (make bench)

        master = psutil.Process(self.process.pid)
        return [master.pid] + [child.pid for child in master.children(recursive=True)]

    def command(self):
        """The command line that serves the app."""
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--no-control-socket", self.app]

    def start(self, timeout=30):
        """Start the command in its own process group and wait until it answers."""
        self.process = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=self.log, stderr=self.log,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/api/session", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {timeout} s (see {self.log.name})")

    def kill(self):
        """SIGKILL the master and every worker at once: a crash, not a shutdown."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        """Stop gracefully."""
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        self.log.close()
