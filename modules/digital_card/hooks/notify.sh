#!/bin/sh
# digital_card post_install: reports the install. Needs no sqlite3 CLI and no network.
set -eu

echo "digital_card: installed ${MODREG_VERSION:-?} for tenant ${MODREG_TENANT:-?} (job ${MODREG_JOB_ID:-?}, step ${MODREG_STEP:-?})"
echo "digital_card: cards are revoked automatically when a member lapses, is suspended or resigns"
exit 0
