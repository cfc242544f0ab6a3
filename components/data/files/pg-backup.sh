#!/bin/sh
# PostgreSQL backup and restore for the in-cluster database (runs in the postgres image, POSIX sh).
#
#   pg-backup.sh backup               dump $PGDATABASE, verify the archive, prune old backups
#   pg-backup.sh restore FILE [DB]    check FILE's checksum, then restore it into DB ($PGDATABASE)
#   pg-backup.sh list                 list backups, newest first
#
# Connection from the libpq environment (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
# BACKUP_DIR (default /backups) holds the dumps; RETENTION_DAYS (default 7) is how long they stay.
set -eu

BACKUP_DIR="${BACKUP_DIR:-/backups}"
RETENTION_DAYS="${RETENTION_DAYS:-7}"
: "${PGDATABASE:?PGDATABASE must be set}"

log() { printf '%s pg-backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

backup() {
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    name="$PGDATABASE-$stamp.dump"
    partial="$BACKUP_DIR/.$name.partial"
    trap 'rm -f "$partial"' EXIT
    log "dumping $PGDATABASE to $BACKUP_DIR/$name"
    # Custom format: compressed, and restorable selectively with pg_restore.
    pg_dump --format=custom --compress=9 --no-owner --no-privileges --file="$partial" "$PGDATABASE"
    # Verify before it counts as a backup: the archive must be complete and its table of
    # contents readable, or the previous backups are kept untouched.
    entries=$(pg_restore --list "$partial" | grep -c -v '^;' || true)
    if [ ! -s "$partial" ] || [ "$entries" -eq 0 ]; then
        log "verification failed: archive is empty or unreadable"
        exit 1
    fi
    mv "$partial" "$BACKUP_DIR/$name"
    trap - EXIT
    (cd "$BACKUP_DIR" && sha256sum "$name" > "$name.sha256")
    log "verified $name ($entries archive entries)"
    # Prune only after a verified backup exists, and never the one just written.
    find "$BACKUP_DIR" -maxdepth 1 -type f -name "$PGDATABASE-*.dump*" -mmin +$((RETENTION_DAYS * 1440)) \
        ! -name "$name" ! -name "$name.sha256" -print -exec rm -f {} \; | while read -r old; do
        log "pruned $old"
    done
}

restore() {
    file="$1"
    target="${2:-$PGDATABASE}"
    [ -f "$file" ] || { log "no such backup: $file"; exit 1; }
    (cd "$(dirname "$file")" && sha256sum -c "$(basename "$file").sha256" >/dev/null) \
        || { log "checksum mismatch for $file; refusing to restore"; exit 1; }
    log "restoring $file into $target"
    pg_restore --clean --if-exists --no-owner --no-privileges --exit-on-error --single-transaction \
        --dbname="$target" "$file"
    log "restore complete"
}

case "${1:-backup}" in
    backup) backup ;;
    restore) [ $# -ge 2 ] || { echo "usage: $0 restore FILE [DATABASE]" >&2; exit 2; }; restore "$2" "${3:-}" ;;
    list) ls -1t "$BACKUP_DIR"/"$PGDATABASE"-*.dump 2>/dev/null || true ;;
    *) echo "usage: $0 backup | restore FILE [DATABASE] | list" >&2; exit 2 ;;
esac
