#!/usr/bin/env bash
# Starts the two-cluster harness of one flavour; stdin and stdout carry the line protocol of
# README.md, everything else goes to stderr. Build the flavour first with build.sh.
# usage: run.sh opensearch|elasticsearch <workdir>
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ne 2 ]]; then
    echo "FAILED usage: run.sh opensearch|elasticsearch <workdir>"
    exit 1
fi
case $1 in
    opensearch) main=esremote.engine.opensearch.OpenSearchHarness ;;
    elasticsearch) main=esremote.engine.elasticsearch.ElasticsearchHarness ;;
    *) echo "FAILED unknown flavour '$1' (opensearch, elasticsearch)"; exit 1 ;;
esac
module=$here/$1
if [[ ! -d $module/target/classes || ! -d $module/target/lib ]]; then
    echo "FAILED flavour $1 is not built: run $here/build.sh $1"
    exit 1
fi
java=${JAVA_HOME:+$JAVA_HOME/bin/}java

# Small heap for two idle nodes; C1 only, which starts faster; no hsperfdata file in /tmp, which
# a JVM killed with SIGKILL would leave behind; each engine's flag that stops Netty from fixing
# the processor count once per JVM; jvm.options defaults of the distributions.
exec "$java" \
    -Xms256m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -XX:-UsePerfData \
    -Dopensearch.set.netty.runtime.available.processors=false \
    -Des.set.netty.runtime.available.processors=false \
    -Dio.netty.noUnsafe=true -Dio.netty.noKeySetOptimization=true \
    -Dio.netty.recycler.maxCapacityPerThread=0 \
    -Dlog4j2.disable.jmx=true -Dlog4j.shutdownHookEnabled=false \
    -Djava.awt.headless=true -Djna.nosys=true -Dfile.encoding=UTF-8 \
    -cp "$module/target/classes:$module/target/lib/*" \
    "$main" "$2"
