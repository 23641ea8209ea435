#!/usr/bin/env bash
# JMH benchmarks of the matrix kernels (fathom-tensor/src/test/java/.../bench). Not a test.
# Extra arguments go to JMH, e.g.: bench/kernels.sh -p type=Q4_K -p tokens=1
set -euo pipefail
cd "$(dirname "$0")/.."
jdk="$(./fathom jdk)"
export JAVA_HOME="$jdk" MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
mvn -q -B -pl fathom-tensor -am install -DskipTests >&2
mvn -q -B -pl fathom-tensor test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/jmh.classpath -Dmdep.includeScope=test >&2
cp="fathom-tensor/target/test-classes:fathom-tensor/target/classes:$(cat fathom-tensor/target/jmh.classpath)"
exec "$jdk/bin/java" --add-modules=jdk.incubator.vector -cp "$cp" org.openjdk.jmh.Main KernelBenchmark "$@"
