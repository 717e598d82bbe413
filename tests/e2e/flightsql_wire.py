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


def statement_query_in(sql: str, transaction_id: bytes) -> bytes:
    return any_message("CommandStatementQuery", _field(1, sql.encode()) + _field(2, transaction_id))


def sql_info(*ids: int) -> bytes:
    from rawflight import _varint
    return any_message("CommandGetSqlInfo", _field(1, b"".join(_varint(i) for i in ids)))


def begin_transaction() -> bytes:
    return any_message("ActionBeginTransactionRequest")


def unpack_any_field1(body: bytes) -> bytes:
    """The first (length-delimited) field of the message packed in an Any."""
    def read(buf, pos):
        length, shift = 0, 0
        while True:
            byte = buf[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return length, pos
    fields = {}
    pos = 0
    while pos < len(body):
        tag, pos = read(body, pos)
        length, pos = read(body, pos)
        fields[tag >> 3] = body[pos:pos + length]
        pos += length
    inner = fields[2]
    tag, pos = read(inner, 0)
    length, pos = read(inner, pos)
    return inner[pos:pos + length]


def create_prepared_statement(sql: str, transaction_id: bytes = b"") -> bytes:
    body = _field(1, sql.encode()) + (_field(2, transaction_id) if transaction_id else b"")
    return any_message("ActionCreatePreparedStatementRequest", body)
