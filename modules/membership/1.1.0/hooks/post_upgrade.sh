#!/bin/sh
# membership post_upgrade: reports the upgrade. Needs no sqlite3 CLI and no network.
set -eu

tenant="${MODREG_TENANT:-}"
from="${MODREG_FROM_VERSION:-}"
to="${MODREG_VERSION:-unknown}"

echo "membership: upgraded tenant ${tenant:-?} from ${from:-an earlier version} to $to (job ${MODREG_JOB_ID:-?}, step ${MODREG_STEP:-?})"
echo "membership: member notes and phone numbers are now available"
exit 0
