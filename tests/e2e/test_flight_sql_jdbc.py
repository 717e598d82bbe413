"""The Apache Arrow Flight SQL JDBC driver (org.apache.arrow:flight-sql-jdbc-driver, what
DBeaver uses) against the real server: a small Java program, built with Maven."""
import shutil
import subprocess
from pathlib import Path

import pytest

# A JVM and the Flight SQL JDBC driver (Maven): about 15 s.
pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[1] / "jdbc"


@pytest.fixture(scope="module")
def jdbc_classpath(tmp_path_factory):
    if shutil.which("mvn") is None or shutil.which("java") is None:
        pytest.skip("Java and Maven are needed for the JDBC test")
    out = tmp_path_factory.mktemp("jdbc")
    cp_file = out / "classpath.txt"
    subprocess.run(["mvn", "-q", "-B", "-f", str(PROJECT / "pom.xml"), "compile",
                    "dependency:build-classpath", f"-Dmdep.outputFile={cp_file}"],
                   check=True, timeout=900)
    return f"{PROJECT / 'target' / 'classes'}:{cp_file.read_text().strip()}"


def test_jdbc_driver_queries_prepares_and_reads_metadata(server, jdbc_classpath):
    host, port = server.uri.removeprefix("grpc://").rsplit(":", 1)
    result = subprocess.run(
        ["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", jdbc_classpath,
         "arrowport.JdbcCheck", host, port, "e2e"],
        capture_output=True, text=True, timeout=300)
    assert "JDBC CHECK PASSED" in result.stdout, result.stdout + result.stderr


def test_jdbc_close_without_commit_frees_the_table_at_once(server, jdbc_classpath):
    """DBeaver's habit with auto-commit off: write, then close without committing (issue
    64: a change of the table's shape then waited for the abandoned transaction)."""
    host, port = server.uri.removeprefix("grpc://").rsplit(":", 1)
    result = subprocess.run(
        ["java", "--add-opens=java.base/java.nio=ALL-UNNAMED", "-cp", jdbc_classpath,
         "arrowport.JdbcAbandon", host, port],
        capture_output=True, text=True, timeout=300)
    assert "JDBC ABANDON PASSED" in result.stdout, result.stdout + result.stderr
