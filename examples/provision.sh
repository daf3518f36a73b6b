#!/bin/sh
# Brings tenants to a desired set of modules, idempotently: run it as often as you like.
#
#   examples/provision.sh desired.txt
#
# Each line of the file is `tenant: module module …` (blank lines and # comments are
# skipped). For each tenant: register it if needed, install what is missing (with what it
# needs), and uninstall modules it has that are not listed, unless something listed
# depends on them. It reads modreg's exit codes and --json output, so it needs nothing
# but a POSIX shell. Set MODREG to the modreg binary (default: modreg on the PATH).
set -u
modreg=${MODREG:-modreg}
desired=${1:?usage: provision.sh DESIRED_FILE}
failures=0

say() { printf '%s\n' "$*" >&2; }

# The modules a tenant has, from `status --json` (pretty-printed: one `"name"` a line;
# the first is the tenant's own).
installed() {
    "$modreg" status --tenant "$1" --json | sed -n 's/^ *"name": "\([a-z0-9_]*\)",*$/\1/p' | sed 1d
}

while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    case $line in *:*) ;; *) continue ;; esac
    tenant=$(printf '%s' "${line%%:*}" | tr -d ' ')
    modules=${line#*:}
    [ -n "$tenant" ] || continue

    "$modreg" -q tenant add "$tenant" || { say "$tenant: cannot register (exit $?)"; failures=$((failures + 1)); continue; }

    if [ -n "$(printf '%s' "$modules" | tr -d ' ')" ]; then
        # shellcheck disable=SC2086 # one argument per module
        report=$("$modreg" -q install $modules --tenant "$tenant" --json)
        code=$?
        case $code in
            0) done=$(printf '%s' "$report" | sed -n 's/^ *"completed": \([0-9]*\),*$/\1/p' | tail -n 1)
               say "$tenant: installed ${done:-0} module(s)" ;;
            5) say "$tenant: needs a subscription first: $(printf '%s' "$report" | sed -n 's/^ *"message": "\(.*\)",*$/\1/p')"; failures=$((failures + 1)) ;;
            6) say "$tenant: busy, another modreg is working on it; run again later"; failures=$((failures + 1)) ;;
            130|143) say "$tenant: interrupted, its install was rolled back; stopping"; exit "$code" ;;
            *) say "$tenant: install failed (exit $code), everything it did was rolled back"; failures=$((failures + 1)) ;;
        esac
    fi

    for module in $(installed "$tenant"); do
        case " $modules " in *" $module "*) continue ;; esac
        "$modreg" -q uninstall "$module" --tenant "$tenant"
        code=$?
        case $code in
            0) say "$tenant: uninstalled $module (its data is archived)" ;;
            4) ;; # something listed depends on it: keep it
            130|143) say "$tenant: interrupted, the uninstall of $module was rolled back; stopping"; exit "$code" ;;
            *) say "$tenant: cannot uninstall $module (exit $code)"; failures=$((failures + 1)) ;;
        esac
    done
done < "$desired"

[ "$failures" -eq 0 ]
