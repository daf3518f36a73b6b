#!/bin/sh
# finance post_install / post_upgrade: reports what happened. Needs no sqlite3 CLI and no network.
set -eu

from="${MODREG_FROM_VERSION:-}"
if [ -n "$from" ]; then
    echo "finance: tenant ${MODREG_TENANT:-?} upgraded from $from to ${MODREG_VERSION:-?} (step ${MODREG_STEP:-?})"
else
    echo "finance: tenant ${MODREG_TENANT:-?} now has finance ${MODREG_VERSION:-?} (step ${MODREG_STEP:-?})"
fi
echo "finance: invoicing is ready, tax rates seeded in ${MODREG_TENANT_DB:-the tenant database}"
exit 0
