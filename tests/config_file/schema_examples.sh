#!/bin/sh
# schema_examples.sh TEST_PROGRAM - runs test_config_file --schema-examples on the example
# files of the opentelemetry-configuration repository (examples/*.yaml and
# snippets/*.yaml), when OTEL_CONFIGURATION_REPO names a checkout or a bare git mirror of
# it. Without one, the test is skipped (exit 77): the files are upstream's, read in place,
# never copied into this project.
set -eu
prog=$1
repo=${OTEL_CONFIGURATION_REPO:-}
if [ -z "$repo" ] || [ ! -e "$repo" ]; then
    echo "OTEL_CONFIGURATION_REPO is not set to a checkout of opentelemetry-configuration: skipped"
    exit 77
fi
if [ -d "$repo/examples" ]; then
    exec "$prog" --schema-examples "$repo"
fi
# A bare repository (or a .git directory): take the two folders out of HEAD.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git --git-dir="$repo" archive HEAD examples snippets | tar -x -C "$tmp"
"$prog" --schema-examples "$tmp"
