#!/bin/sh
# finance rollback: called when a job that already ran a finance hook is rolled back.
set -eu

echo "finance: job ${MODREG_JOB_ID:-?} for tenant ${MODREG_TENANT:-?} rolled back (version ${MODREG_VERSION:-?}, step ${MODREG_STEP:-?})"
echo "finance: nothing external to undo, the tenant database is restored by modreg"
exit 0
