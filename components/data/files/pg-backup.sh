#!/bin/sh
# PostgreSQL backup and restore for the in-cluster database (runs in the postgres image, POSIX sh).
#
#   pg-backup.sh backup               prune expired backups, dump $PGDATABASE, verify the dump
#                                     by restoring it into a scratch database, then keep it
#   pg-backup.sh verify FILE          the same verification of an existing dump
#   pg-backup.sh restore FILE [DB]    check FILE's checksum, end the other sessions on DB, then
#                                     restore FILE into DB ($PGDATABASE) in one transaction
#   pg-backup.sh list                 list backups, newest first
#
# Connection from the libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
# BACKUP_DIR (default /backups) holds the dumps; RETENTION_DAYS (default 7) is how long they stay.
# VERIFY_DATABASE (default ${PGDATABASE}_verify) is the scratch database a dump is restored into
# before it counts as a backup: created and dropped by the script (PGUSER needs CREATEDB; the
# in-cluster server's user is its superuser), on the server's own volume (it needs free space for
# one more copy of the database while the backup runs).
set -eu

BACKUP_DIR="${BACKUP_DIR:-/backups}"
RETENTION_DAYS="${RETENTION_DAYS:-7}"
: "${PGDATABASE:?PGDATABASE must be set}"
VERIFY_DATABASE="${VERIFY_DATABASE:-${PGDATABASE}_verify}"
# An interrupted run's partial file is older than a run may last (the Job's activeDeadlineSeconds).
PARTIAL_MINUTES="${PARTIAL_MINUTES:-60}"

log() { printf '%s pg-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# The newest backup's name (names sort by their UTC timestamp); empty when there is none.
newest() {
    found=""
    for path in "$BACKUP_DIR"/"$PGDATABASE"-*.dump; do
        [ -f "$path" ] && found="${path##*/}"
    done
    printf '%s' "$found"
}

prune() {
    # Before the dump, so a volume full of expired backups never blocks the next one. The newest
    # backup stays whatever its age: after days of failures it may be the only one left.
    keep=$(newest)
    find "$BACKUP_DIR" -maxdepth 1 -type f -name "$PGDATABASE-*.dump*" \
        -mmin +$((RETENTION_DAYS * 1440)) ! -name "${keep:-none}" ! -name "${keep:-none}.sha256" \
        -print -exec rm -f {} \; | while read -r old; do log "pruned $old"; done
    find "$BACKUP_DIR" -maxdepth 1 -type f -name ".$PGDATABASE-*.partial" \
        -mmin +"$PARTIAL_MINUTES" -print -exec rm -f {} \; | while read -r old; do
        log "removed $old (left by an interrupted run)"
    done
}

drop_scratch() { dropdb --if-exists "$VERIFY_DATABASE" 2>/dev/null || true; }

verify() {
    file="$1"
    # 1. Every byte read back: writing the whole archive as SQL to nowhere decompresses every
    #    table's data (`pg_restore --list` reads only the table of contents).
    pg_restore --file=/dev/null "$file" || { log "verification failed: $file is unreadable"; return 1; }
    # 2. A real restore into a scratch database, in one transaction, stopping at the first error.
    drop_scratch
    createdb "$VERIFY_DATABASE"
    if ! pg_restore --no-owner --no-privileges --exit-on-error --single-transaction \
        --dbname="$VERIFY_DATABASE" "$file"; then
        drop_scratch
        log "verification failed: $file does not restore"
        return 1
    fi
    # 3. Every table of the archive is there.
    expected=$(pg_restore --list "$file" | awk '$4 == "TABLE" && $5 != "DATA"' | wc -l)
    restored=$(psql --dbname="$VERIFY_DATABASE" -Atc "SELECT count(*) FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')")
    drop_scratch
    if [ "$expected" -ne "$restored" ]; then
        log "verification failed: $file has $expected tables, $restored restored"
        return 1
    fi
    log "verified $file: restored into $VERIFY_DATABASE ($restored tables)"
}

backup() {
    prune
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    name="$PGDATABASE-$stamp.dump"
    partial="$BACKUP_DIR/.$name.partial"
    trap 'rm -f "$partial"; drop_scratch' EXIT
    log "dumping $PGDATABASE to $BACKUP_DIR/$name"
    # Custom format: compressed, and restorable selectively with pg_restore.
    pg_dump --format=custom --compress=9 --no-owner --no-privileges --file="$partial" "$PGDATABASE"
    # Only a dump that restores counts as a backup; otherwise the previous ones stay as they are.
    verify "$partial"
    mv "$partial" "$BACKUP_DIR/$name"
    trap - EXIT
    (cd "$BACKUP_DIR" && sha256sum "$name" > "$name.sha256")
    log "kept $name"
}

restore() {
    file="$1"
    target="${2:-$PGDATABASE}"
    [ -f "$file" ] || { log "no such backup: $file"; exit 1; }
    (cd "$(dirname "$file")" && sha256sum -c "$(basename "$file").sha256" >/dev/null) \
        || { log "checksum mismatch for $file; refusing to restore"; exit 1; }
    # An open transaction on the target (a client not yet scaled down) would hold the restore
    # back for as long as it stays open: end every other session on it first.
    ended=$(psql --dbname="$target" -Atc "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()")
    log "restoring $file into $target (ended $ended other sessions)"
    pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction \
        --dbname="$target" "$file"
    log "restore complete"
}

case "${1:-backup}" in
    backup) backup ;;
    verify) [ $# -ge 2 ] || { echo "usage: $0 verify FILE" >&2; exit 2; }; verify "$2" ;;
    restore) [ $# -ge 2 ] || { echo "usage: $0 restore FILE [DATABASE]" >&2; exit 2; }; restore "$2" "${3:-}" ;;
    list) ls -1t "$BACKUP_DIR"/"$PGDATABASE"-*.dump 2>/dev/null || true ;;
    *) echo "usage: $0 backup | verify FILE | restore FILE [DATABASE] | list" >&2; exit 2 ;;
esac
