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


def _varint_field(number: int, value: int) -> bytes:
    from rawflight import _varint
    return _varint(number << 3) + _varint(value)


# CommandStatementIngest.TableDefinitionOptions (if_not_exist, if_exists) per ADBC mode.
_INGEST_MODES = {"create": (1, 1), "append": (2, 2), "replace": (1, 3), "create_append": (1, 2)}


def statement_ingest(table: str, transaction_id: bytes = None, temporary: bool = False,
                     mode: str = "create", schema: str = None) -> bytes:
    if_not_exist, if_exists = _INGEST_MODES[mode]
    body = _field(1, _varint_field(1, if_not_exist) + _varint_field(2, if_exists))
    body += _field(2, table.encode())
    if schema is not None:
        body += _field(3, schema.encode())
    if temporary:
        body += _varint_field(5, 1)
    if transaction_id:
        body += _field(6, transaction_id)
    return any_message("CommandStatementIngest", body)


def end_transaction(transaction_id: bytes, commit: bool) -> bytes:
    return any_message("ActionEndTransactionRequest",
                       _field(1, transaction_id) + _varint_field(2, 1 if commit else 2))


def update_result(ack) -> int:
    """record_count of the DoPutUpdateResult a Flight SQL DoPut answers with."""
    body = ack.to_pybytes()
    if not body:
        return 0  # proto3 leaves a zero count out
    assert body[0] == 0x08  # field 1, varint
    value, shift = 0, 0
    for byte in body[1:]:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return value


def statement_update_in(sql: str, transaction_id: bytes) -> bytes:
    return any_message("CommandStatementUpdate", _field(1, sql.encode()) + _field(2, transaction_id))


def prepared_statement_update(handle: bytes) -> bytes:
    return any_message("CommandPreparedStatementUpdate", _field(1, handle))
