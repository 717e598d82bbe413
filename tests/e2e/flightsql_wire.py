"""Flight SQL messages encoded by hand (a packed protobuf Any around a Flight SQL command),
for driving the server with pyarrow.flight where no Flight SQL client would send such
bytes: unknown command types, malformed protobuf, forged handles."""
from rawflight import _field

PREFIX = "type.googleapis.com/arrow.flight.protocol.sql."


def any_message(type_name: str, value: bytes = b"") -> bytes:
    return _field(1, (PREFIX + type_name).encode()) + _field(2, value)


def statement_query(sql: str) -> bytes:
    return any_message("CommandStatementQuery", _field(1, sql.encode()))


def prepared_statement_query(handle: bytes) -> bytes:
    return any_message("CommandPreparedStatementQuery", _field(1, handle))


def close_prepared_statement(handle: bytes) -> bytes:
    return any_message("ActionClosePreparedStatementRequest", _field(1, handle))


def cancel_flight_info_request(info_bytes: bytes) -> bytes:
    """CancelFlightInfoRequest {FlightInfo info = 1}."""
    return _field(1, info_bytes)
