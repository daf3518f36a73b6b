#!/bin/sh
# finance pre_install / pre_upgrade: checks prerequisites. Needs no sqlite3 CLI and no network.
set -eu

tenant="${MODREG_TENANT:-}"
if [ -z "$tenant" ]; then
    echo "finance: MODREG_TENANT is empty, refusing to continue" >&2
    exit 1
fi

from="${MODREG_FROM_VERSION:-}"
if [ -n "$from" ]; then
    echo "finance: checked prerequisites for tenant $tenant (upgrade $from -> ${MODREG_VERSION:-?}, job ${MODREG_JOB_ID:-?})"
else
    echo "finance: checked prerequisites for tenant $tenant (install ${MODREG_VERSION:-?}, job ${MODREG_JOB_ID:-?})"
fi
exit 0
