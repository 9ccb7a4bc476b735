#!/bin/sh
# The container's entrypoint: settings from secret files, the store migrated, then huihua.
#
# Every HUIHUA_<NAME>_FILE names a file (a Docker or Podman secret, a mounted file) whose
# content becomes HUIHUA_<NAME>, so that a key needs not be in the environment of the
# container's definition. `serve` (the default command) needs a service key: the image
# listens on every address, and huihua is safe to expose only with auth on.
set -eu

for variable in $(env | sed -n 's/^\(HUIHUA_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
    file=$(printenv "${variable}_FILE")
    if [ ! -r "$file" ]; then
        echo "huihua: ${variable}_FILE names $file, which cannot be read" >&2
        exit 64
    fi
    value=$(cat "$file")
    export "$variable=$value"
    unset "${variable}_FILE"
done

if [ "${1:-serve}" = "serve" ]; then
    [ $# -eq 0 ] || shift
    if [ -z "${HUIHUA_SERVICE_KEY:-}" ]; then
        echo "huihua: no service key: set HUIHUA_SERVICE_KEY, or HUIHUA_SERVICE_KEY_FILE to a" \
            "file holding it (a secret). The image listens on every address, so auth is" \
            "required (docs/deploy.md)" >&2
        exit 64
    fi
    huihua migrate  # create or upgrade the schema (SQLite: the file on the volume)
    exec huihua serve "$@"
fi
exec huihua "$@"
