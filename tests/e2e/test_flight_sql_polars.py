"""Polars through an ADBC Flight SQL connection, as its documentation shows for Flight SQL
(read_database_uri maps grpc:// to a driver package that does not exist)."""
import adbc_driver_flightsql.dbapi as flight_sql
import polars as pl


def test_polars_reads_and_writes_through_adbc(server):
    frame = pl.DataFrame({"id": [1, 2, 3], "city": ["Oslo", "Lima", "Pune"],
                          "temp": [3.5, 18.25, 31.0]})
    with flight_sql.connect(server.uri, autocommit=True) as conn:
        assert frame.write_database("weather", connection=conn, engine="adbc") == 3
        assert frame.write_database("weather", connection=conn, engine="adbc",
                                    if_table_exists="append") == 3
        read = pl.read_database("SELECT * FROM weather ORDER BY id, city", connection=conn)
        assert read.shape == (6, 3)
        assert read.schema["temp"] == pl.Float64
        assert read["city"].to_list()[:2] == ["Oslo", "Oslo"]
        frame.write_database("weather", connection=conn, engine="adbc",
                             if_table_exists="replace")
        counted = pl.read_database("SELECT count(*) AS n FROM weather", connection=conn)
        assert counted["n"][0] == 3
