"""Python values as the Parquet variant encoding (metadata, value), for tests: dicts,
lists, str, int (int64), float (double), bool and None as themselves, and ("kind", x)
pairs for the other primitives (i8, i16, i32, float, dec4/dec8/dec16 as (scale,
unscaled), date, ts, tsntz, time, tsns, tsntzns, uuid, bin, longstr)."""
import struct

PRIMITIVES = {"i8": (3, "<b"), "i16": (4, "<h"), "i32": (5, "<i"), "float": (14, "<f"),
              "date": (11, "<i"), "ts": (12, "<q"), "tsntz": (13, "<q"), "time": (17, "<q"),
              "tsns": (18, "<q"), "tsntzns": (19, "<q")}


def encode(obj):
    keys = sorted(set(_keys(obj)))
    ids = {k: i for i, k in enumerate(keys)}
    names = [k.encode() for k in keys]
    offsets = [0]
    for name in names:
        offsets.append(offsets[-1] + len(name))
    metadata = (bytes([0x01 | 0x10 | (3 << 6)]) + struct.pack("<I", len(keys)) +
                b"".join(struct.pack("<I", o) for o in offsets) + b"".join(names))
    return metadata, _value(obj, ids)


def _keys(obj):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield key
            yield from _keys(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _keys(value)


def _primitive(type_id, data=b""):
    return bytes([type_id << 2]) + data


def _nested(basic, header, count, ids, values):
    offsets = [0]
    for value in values:
        offsets.append(offsets[-1] + len(value))
    return (bytes([basic | (header << 2)]) + struct.pack("<I", count) + b"".join(ids) +
            b"".join(struct.pack("<I", o) for o in offsets) + b"".join(values))


def _value(obj, ids):
    if obj is None:
        return _primitive(0)
    if obj is True or obj is False:
        return _primitive(1 if obj else 2)
    if isinstance(obj, tuple):
        kind, payload = obj
        if kind in PRIMITIVES:
            type_id, layout = PRIMITIVES[kind]
            return _primitive(type_id, struct.pack(layout, payload))
        if kind in ("dec4", "dec8", "dec16"):
            scale, unscaled = payload
            size = {"dec4": 4, "dec8": 8, "dec16": 16}[kind]
            return _primitive({"dec4": 8, "dec8": 9, "dec16": 10}[kind],
                              bytes([scale]) + unscaled.to_bytes(size, "little", signed=True))
        if kind == "uuid":
            return _primitive(20, payload.bytes)
        if kind in ("bin", "longstr"):
            data = payload if kind == "bin" else payload.encode()
            return _primitive(15 if kind == "bin" else 16, struct.pack("<I", len(data)) + data)
        raise ValueError(kind)
    if isinstance(obj, int):
        return _primitive(6, struct.pack("<q", obj))
    if isinstance(obj, float):
        return _primitive(7, struct.pack("<d", obj))
    if isinstance(obj, str):
        data = obj.encode()
        if len(data) < 64:
            return bytes([(len(data) << 2) | 1]) + data
        return _primitive(16, struct.pack("<I", len(data)) + data)
    if isinstance(obj, list):
        values = [_value(v, ids) for v in obj]
        return _nested(3, 3 | (1 << 2), len(values), [], values)  # 4-byte offsets, large
    if isinstance(obj, dict):
        items = sorted(obj.items())
        values = [_value(v, ids) for _, v in items]
        field_ids = [struct.pack("<I", ids[k]) for k, _ in items]
        return _nested(2, 3 | (3 << 2) | (1 << 4), len(values), field_ids, values)
    raise TypeError(type(obj))
