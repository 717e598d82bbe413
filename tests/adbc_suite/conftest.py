"""Fixtures for the ADBC project's own Flight SQL driver tests (the `tests/` folder of the
adbc-driver-flightsql sdist), pointing the servers they expect (Dremio, GizmoSQL, ADBC's
scripted Go test server) at Arrowport. Copied next to the downloaded tests by
tests/e2e/test_adbc_driver_suite.py, which starts the server and sets ARROWPORT_ADBC_URI.

Only what applies to a generic Flight SQL server runs; see that file for what is
deselected and why."""
import os

import adbc_driver_flightsql
import adbc_driver_flightsql.dbapi
import adbc_driver_manager
import pytest


@pytest.fixture(scope="session")
def arrowport_uri() -> str:
    return os.environ["ARROWPORT_ADBC_URI"]


@pytest.fixture(scope="session")
def dremio_uri(arrowport_uri) -> str:
    return arrowport_uri


@pytest.fixture(scope="session")
def dremio_user() -> str:
    pytest.skip("the suite's Dremio user/password tests need a server with basic auth")


@pytest.fixture(scope="session")
def dremio_pass() -> str:
    pytest.skip("the suite's Dremio user/password tests need a server with basic auth")


@pytest.fixture
def _adbc_connection(arrowport_uri):
    with adbc_driver_flightsql.connect(arrowport_uri) as db:
        with adbc_driver_manager.AdbcConnection(db) as conn:
            yield conn


@pytest.fixture
def _dbapi_connection(arrowport_uri):
    with adbc_driver_flightsql.dbapi.connect(arrowport_uri, autocommit=True) as conn:
        yield conn


@pytest.fixture
def dremio(_adbc_connection):
    return _adbc_connection


@pytest.fixture
def gizmosql(_adbc_connection):
    return _adbc_connection


@pytest.fixture
def dremio_dbapi(_dbapi_connection):
    return _dbapi_connection


@pytest.fixture
def gizmosql_dbapi(_dbapi_connection):
    return _dbapi_connection
