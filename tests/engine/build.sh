#!/usr/bin/env bash
# Builds the engine harness flavours with Maven and prints the classpath run.sh uses.
# usage: build.sh [opensearch] [elasticsearch] [extra mvn arguments, e.g. -o or -Dmaven.repo.local=DIR]
# With no flavour named, builds both. Needs Java 17 and Maven; the first build fetches the
# engine jars from Maven Central into the local Maven repository, later builds work offline.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
flavours=()
mvn_args=()
for arg in "$@"; do
    case $arg in
        opensearch | elasticsearch) flavours+=("$arg") ;;
        -*) mvn_args+=("$arg") ;;
        *) echo "build.sh: unknown flavour '$arg' (opensearch, elasticsearch)" >&2; exit 2 ;;
    esac
done
if [[ ${#flavours[@]} -eq 0 ]]; then
    flavours=(opensearch elasticsearch)
fi

modules=$(IFS=,; echo "${flavours[*]}")
# Maven's own output goes to stderr, so that stdout holds only the classpath lines below.
mvn -q -B -Dstyle.color=never -f "$here/pom.xml" -pl "$modules" -am ${mvn_args[@]+"${mvn_args[@]}"} package >&2

for flavour in "${flavours[@]}"; do
    echo "$flavour classpath: $here/$flavour/target/classes:$here/$flavour/target/lib/*"
done
