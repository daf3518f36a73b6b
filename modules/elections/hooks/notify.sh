#!/bin/sh
# elections post_install: reports the install. Needs no sqlite3 CLI and no network.
set -eu

echo "elections: installed ${MODREG_VERSION:-?} for tenant ${MODREG_TENANT:-?} (job ${MODREG_JOB_ID:-?}, step ${MODREG_STEP:-?})"
echo "elections: create an election, add candidates, then open it for voting"
exit 0
