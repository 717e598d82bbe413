"""The Maven artifacts Spark needs to read and write Delta tables on S3 (the slow lake
tests), matching the installed pyspark and delta-spark. Run as a script, it fetches them
into the Ivy cache once (bin/test --slow starts it beside the compile, so that the first
Spark session of the tests does not wait for Maven Central)."""
import glob
import importlib.metadata
import os
import re
import shutil
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
