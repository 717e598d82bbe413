"""The Maven artifacts Spark needs to read and write Delta tables on S3 (the slow lake
tests), matching the installed pyspark and delta-spark. Run as a script, it fetches them
into the Ivy cache once (bin/test --slow starts it beside the compile, so that the first
Spark session of the tests does not wait for Maven Central)."""
import glob
import importlib.metadata
import os
import re
import shutil
import signal
import sys

IVY_CACHE = os.environ.get("ARROWPORT_IVY_CACHE", "/var/cache/arrowport/ivy")


def spark_packages():
    """Maven coordinates matching the installed pyspark and delta-spark."""
    import pyspark
    delta = importlib.metadata.version("delta-spark")
    jars = glob.glob(os.path.join(os.path.dirname(pyspark.__file__), "jars",
                                  "hadoop-client-api-*.jar"))
    assert jars, "pyspark ships no hadoop-client-api jar: cannot pick hadoop-aws"
    hadoop = re.search(r"hadoop-client-api-(.+)\.jar$", jars[0]).group(1)
    return [f"io.delta:delta-spark_2.13:{delta}", f"io.delta:delta-storage:{delta}",
            f"org.apache.hadoop:hadoop-aws:{hadoop}"]


def delta_spark_session(store, app_name="arrowport-lake-tests"):
    """A local Spark session (two cores) reading and writing Delta tables on `store` (a
    lake_util.Minio) over s3a, path style, with the jars above from the Ivy cache."""
    from pyspark.sql import SparkSession
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.makedirs(IVY_CACHE, exist_ok=True)
    s3a = {"endpoint": store.endpoint, "endpoint.region": store.region,
           "access.key": store.access_key, "secret.key": store.secret_key,
           "path.style.access": "true", "connection.ssl.enabled": "false",
           "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
           "impl": "org.apache.hadoop.fs.s3a.S3AFileSystem", "attempts.maximum": "3",
           "retry.limit": "3"}
    builder = (SparkSession.builder.master("local[2]").appName(app_name)
               .config("spark.jars.ivy", IVY_CACHE)
               .config("spark.jars.packages", ",".join(spark_packages()))
               .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
               .config("spark.sql.catalog.spark_catalog",
                       "org.apache.spark.sql.delta.catalog.DeltaCatalog")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               # Delta's log replay in 2 tasks, not 50 (each a task on two cores)
               .config("spark.databricks.delta.snapshotPartitions", "2")
               .config("spark.driver.memory", "1g")
               .config("spark.sql.session.timeZone", "UTC"))
    for key, value in s3a.items():
        builder = builder.config(f"spark.hadoop.fs.s3a.{key}", value)
    # SparkContext takes over SIGINT; pyarrow re-raises a Flight CANCELLED as SIGINT, so a
    # later test in this worker would get Spark's handler (failing once Spark stopped).
    sigint = signal.getsignal(signal.SIGINT)
    try:
        return builder.getOrCreate()
    finally:
        signal.signal(signal.SIGINT, sigint)


def delta_spark_fixture(store, app_name="arrowport-lake-tests"):
    """The body of a module's `spark` fixture (`yield from` it): the test fails clearly
    without a Java runtime; Spark's own logging quiet but for errors; stopped after."""
    import pytest
    if shutil.which("java") is None:
        pytest.fail("Spark needs a Java runtime (17 or later): no `java` on PATH", pytrace=False)
    session = delta_spark_session(store, app_name)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def main():
    if shutil.which("java") is None:
        print("spark_jars: no java on PATH; the slow lake tests will say so", file=sys.stderr)
        return 0
    from pyspark.sql import SparkSession
    os.makedirs(IVY_CACHE, exist_ok=True)
    session = (SparkSession.builder.master("local[1]").appName("arrowport-jar-fetch")
               .config("spark.jars.ivy", IVY_CACHE)
               .config("spark.jars.packages", ",".join(spark_packages()))
               .config("spark.ui.enabled", "false")
               .config("spark.driver.memory", "512m")
               .getOrCreate())
    session.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
