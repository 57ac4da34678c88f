#!/usr/bin/env bash
# Security: someone with write access to the database (here: the sqlite3
# CLI on the file) rewrites an audit entry and recomputes the SHA-256 chain
# after it. Without an audit key, `baton audit verify` cannot tell (exit 0);
# with `audit_key_file` (SPEC §7) every entry is an HMAC-SHA-256 under the
# key, and verify given the key names the rewritten entry (exit 1). Also: a
# process without the key refuses to append to a keyed log, and verify
# without the key does not call a keyed log intact (exit 2); with the key, a
# log whose head is not signed with it is not called intact either (exit 1),
# which catches a keyed log rewritten whole as plain SHA-256.
# Usage: audit_key_test.sh BATON
set -u
source "$(dirname "$0")/lib.sh"
baton=$1
command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 is not installed (scripts/install-deps.sh test installs it)"; exit 1; }
mkdir -p "$work/dags"

# Runs `baton standalone` on the SQLite file $1, makes three changes through
# the API, and stops it.
changes() {
  local file=$1 url port token server_pid
  start_standalone server "sqlite:$file" --logs logs || { bad "server did not start"; return 1; }
  "$baton" pools set etl 3 --server "$url" --token "$token" >/dev/null || bad "pools set etl 3"
  "$baton" variables set region eu --server "$url" --token "$token" >/dev/null || bad "variables set"
  "$baton" pools set etl 4 --server "$url" --token "$token" >/dev/null || bad "pools set etl 4"
  kill -TERM "$server_pid"
  wait "$server_pid"
}

# The plain hash of an entry as store.cpp's audit_hash makes it: SHA-256
# over the fields, each as LENGTH:VALUE; (length in bytes).
lp() { printf '%d:%s;' "$(printf '%s' "$1" | LC_ALL=C wc -c)" "$1"; }
field() { sqlite3 "$1" "SELECT $2 FROM audit_log WHERE id = $3"; }
# What someone with write access but no key does after editing entry N:
# recompute the plain chain from N to the end, and the head.
rehash_from() {
  local f=$1 n=$2 last prev id buf h
  last=$(sqlite3 "$f" "SELECT max(id) FROM audit_log")
  prev=$(printf '0%.0s' $(seq 1 64))  # the first entry's prev_hash: 64 zeros
  [ "$n" -gt 1 ] && prev=$(field "$f" hash $((n - 1)))
  for id in $(seq "$n" "$last"); do
    buf="$(lp "$prev")$(lp "$id")$(lp "$(field "$f" at "$id")")$(lp "$(field "$f" actor "$id")")"
    buf="$buf$(lp "$(field "$f" action "$id")")$(lp "$(field "$f" target "$id")")$(lp "$(field "$f" details "$id")")"
    h=$(printf '%s' "$buf" | sha256sum | cut -d' ' -f1)
    sqlite3 "$f" "UPDATE audit_log SET prev_hash = '$prev', hash = '$h' WHERE id = $id"
    prev=$h
  done
  sqlite3 "$f" "UPDATE settings SET value = '$last:$prev' WHERE key = 'audit_head'"
}
# The id of the entry that set pool etl to 3 slots.
etl3() { sqlite3 "$1" "SELECT id FROM audit_log WHERE action = 'pool.set' AND details LIKE '%\"slots\":3%' ORDER BY id LIMIT 1"; }
verify() {  # EXPECTED_EXIT NAME FILE [ARGS...]
  local want=$1 name=$2 file=$3
  shift 3
  out=$("$baton" audit verify --db "sqlite:$file" "$@" 2>&1)
  local rc=$?
  [ "$rc" -eq "$want" ] && ok || bad "$name: exit $rc (expected $want): $out"
}

# 1. No key: the rewrite is missed.
changes "$work/plain.db"
verify 0 "plain log" "$work/plain.db"
n=$(etl3 "$work/plain.db")
[ -n "$n" ] && ok || bad "no pool.set entry in the plain log"
sqlite3 "$work/plain.db" "UPDATE audit_log SET details = replace(details, '\"slots\":3', '\"slots\":300') WHERE id = $n"
verify 1 "an edit without recomputing" "$work/plain.db"
rehash_from "$work/plain.db" "$n"
verify 0 "a rewrite with the chain recomputed, no key (missed)" "$work/plain.db"
case "$out" in *"audit log intact"*) ok ;; *) bad "plain rewrite: $out" ;; esac

# 2. With the key: the same rewrite is caught, and named.
openssl rand -hex 32 > "$work/audit.key"
chmod 600 "$work/audit.key"
export BATON_AUDIT_KEY_FILE="$work/audit.key"
changes "$work/keyed.db"
verify 0 "keyed log, with the key" "$work/keyed.db"
case "$out" in *"keyed from entry"*) ok ;; *) bad "verify does not say where keying starts: $out" ;; esac
sqlite3 "$work/keyed.db" "SELECT count(*) FROM audit_log WHERE hash LIKE 'hmac-sha256:%'" | grep -q '^[1-9]' && ok \
  || bad "no keyed entries"
sqlite3 "$work/keyed.db" "SELECT count(*) FROM audit_log WHERE action = 'audit.keyed'" | grep -q '^0$' && ok \
  || bad "a log keyed from its first entry needs no audit.keyed marker"
n=$(etl3 "$work/keyed.db")
cp "$work/keyed.db" "$work/rewritten.db"
sqlite3 "$work/rewritten.db" "UPDATE audit_log SET details = replace(details, '\"slots\":3', '\"slots\":300') WHERE id = $n"
rehash_from "$work/rewritten.db" "$n"
verify 1 "a rewrite with the chain recomputed, with the key" "$work/rewritten.db"
case "$out" in *"broken at entry $n"*) ok ;; *) bad "verify does not name entry $n: $out" ;; esac
# The rewritten entries are plain SHA-256 after keyed ones: caught even without the key.
verify 1 "the same rewrite, without the key" "$work/rewritten.db" --audit-key-file ""
# An edit that keeps the old hash strings: only the key can tell.
cp "$work/keyed.db" "$work/edited.db"
sqlite3 "$work/edited.db" "UPDATE audit_log SET details = replace(details, '\"slots\":3', '\"slots\":300') WHERE id = $n"
verify 1 "an edit of a keyed entry, with the key" "$work/edited.db"
case "$out" in *"broken at entry $n"*"HMAC"*) ok ;; *) bad "verify with the key: $out" ;; esac
verify 2 "an edit of a keyed entry, without the key" "$work/edited.db" --audit-key-file ""
case "$out" in *"cannot be checked without the key"*) ok ;; *) bad "verify without the key: $out" ;; esac
# The newest entry removed and the head set back to the one before.
cp "$work/keyed.db" "$work/cut.db"
last=$(sqlite3 "$work/cut.db" "SELECT max(id) FROM audit_log")
sqlite3 "$work/cut.db" "DELETE FROM audit_log WHERE id = $last"
sqlite3 "$work/cut.db" "UPDATE settings SET value = (SELECT id || ':' || hash FROM audit_log ORDER BY id DESC LIMIT 1) WHERE key = 'audit_head'"
verify 1 "the newest entry cut, the head set back" "$work/cut.db"
# A wrong key is not the log's.
openssl rand -hex 32 > "$work/other.key"
verify 1 "another key" "$work/keyed.db" --audit-key-file "$work/other.key"

# 3. A process without the key does not append to a keyed log (nor does one
#    with another key), and changes nothing.
before=$(sqlite3 "$work/keyed.db" "SELECT count(*) FROM audit_log")
BATON_AUDIT_KEY_FILE= "$baton" tokens create eve --role admin --db "sqlite:$work/keyed.db" > "$work/eve.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q "audit_key_file" "$work/eve.log" && ok || bad "tokens create without the key: exit $rc $(cat "$work/eve.log")"
BATON_AUDIT_KEY_FILE="$work/other.key" "$baton" tokens create eve --role admin --db "sqlite:$work/keyed.db" >/dev/null 2>&1
[ $? -eq 1 ] && ok || bad "tokens create under another key"
[ "$(sqlite3 "$work/keyed.db" "SELECT count(*) FROM audit_log")" = "$before" ] && ok || bad "the audit log changed"
[ "$(sqlite3 "$work/keyed.db" "SELECT count(*) FROM tokens WHERE name = 'eve'")" = 0 ] && ok || bad "eve's token was made"
"$baton" tokens create eve --role viewer --db "sqlite:$work/keyed.db" >/dev/null && ok || bad "tokens create with the key"
verify 0 "keyed log after a change with the key" "$work/keyed.db"

# 4. A plain log that gets a key later: the first keyed change is an
#    audit.keyed entry that seals the plain ones before it.
cp "$work/plain.db" "$work/later.db"
sqlite3 "$work/later.db" "DELETE FROM audit_log WHERE id >= $(etl3 "$work/later.db")"  # back to an untampered prefix
sqlite3 "$work/later.db" "UPDATE settings SET value = (SELECT id || ':' || hash FROM audit_log ORDER BY id DESC LIMIT 1) WHERE key = 'audit_head'"
verify 0 "the plain prefix, without the key" "$work/later.db" --audit-key-file ""
# With the key, a log no process with the key has written to yet is not
# called intact: its head is not signed with the key.
verify 1 "the plain prefix, with the key" "$work/later.db"
case "$out" in *"not signed with this key"*) ok ;; *) bad "verify of an unkeyed log with the key: $out" ;; esac
"$baton" tokens create late --role viewer --db "sqlite:$work/later.db" >/dev/null && ok || bad "the first keyed change"
sqlite3 "$work/later.db" "SELECT action FROM audit_log ORDER BY id DESC LIMIT 2" | tr '\n' ' ' | grep -q "token.created audit.keyed" && ok \
  || bad "no audit.keyed entry before the first keyed one"
verify 0 "plain, then keyed" "$work/later.db"
# Rewriting the plain prefix and sealing it again needs the keyed entry's HMAC.
cp "$work/plain.db" "$work/later2.db"
sqlite3 "$work/later2.db" "DELETE FROM audit_log WHERE id >= $(etl3 "$work/later2.db")"
sqlite3 "$work/later2.db" "UPDATE settings SET value = (SELECT id || ':' || hash FROM audit_log ORDER BY id DESC LIMIT 1) WHERE key = 'audit_head'"
"$baton" tokens create late --role viewer --db "sqlite:$work/later2.db" >/dev/null || bad "the first keyed change (2)"
keyed=$(sqlite3 "$work/later2.db" "SELECT id FROM audit_log WHERE action = 'audit.keyed'")
m=$(sqlite3 "$work/later2.db" "SELECT min(id) FROM audit_log")
sqlite3 "$work/later2.db" "UPDATE audit_log SET actor = 'mallory' WHERE id = $m"
# Recompute the plain entries only, then point the keyed entry at them.
saved_head=$(sqlite3 "$work/later2.db" "SELECT value FROM settings WHERE key = 'audit_head'")
last_plain=$((keyed - 1))
sqlite3 "$work/later2.db" "CREATE TABLE keep AS SELECT * FROM audit_log WHERE id >= $keyed; DELETE FROM audit_log WHERE id >= $keyed"
rehash_from "$work/later2.db" "$m"
sqlite3 "$work/later2.db" "INSERT INTO audit_log SELECT * FROM keep; DROP TABLE keep"
sqlite3 "$work/later2.db" "UPDATE audit_log SET prev_hash = (SELECT hash FROM audit_log WHERE id = $last_plain) WHERE id = $keyed"
sqlite3 "$work/later2.db" "UPDATE settings SET value = '$saved_head' WHERE key = 'audit_head'"
verify 1 "the plain prefix rewritten, sealed by the keyed entry (with the key)" "$work/later2.db"
case "$out" in *"broken at entry $keyed"*) ok ;; *) bad "verify does not name the keyed entry $keyed: $out" ;; esac
verify 2 "the same without the key (not called intact)" "$work/later2.db" --audit-key-file ""

# 5. A keyed log rewritten whole as plain SHA-256: three keyed token.created
#    entries, one deleted, the other two sealed again as plain SHA-256 and
#    the head set without a MAC. Nothing keyed is left to check, but the
#    head is not signed with the key: caught with the key (exit 1).
"$baton" tokens create t1 --role viewer --db "sqlite:$work/resealed.db" >/dev/null || bad "tokens create t1"
"$baton" tokens create t2 --role viewer --db "sqlite:$work/resealed.db" >/dev/null || bad "tokens create t2"
"$baton" tokens create t3 --role viewer --db "sqlite:$work/resealed.db" >/dev/null || bad "tokens create t3"
[ "$(sqlite3 "$work/resealed.db" "SELECT count(*) FROM audit_log WHERE action = 'token.created' AND hash LIKE 'hmac-sha256:%'")" = 3 ] \
  && ok || bad "three keyed token.created entries: $(sqlite3 "$work/resealed.db" "SELECT id, action, hash FROM audit_log")"
verify 0 "three keyed entries, with the key" "$work/resealed.db"
sqlite3 "$work/resealed.db" "SELECT value FROM settings WHERE key = 'audit_head'" | grep -q ' mac=' && ok || bad "the head has no MAC"
mid=$(sqlite3 "$work/resealed.db" "SELECT id FROM audit_log WHERE action = 'token.created' AND target LIKE '%t2%'")
[ -n "$mid" ] && ok || bad "no token.created entry for t2"
sqlite3 "$work/resealed.db" "DELETE FROM audit_log WHERE id = $mid; UPDATE audit_log SET id = id - 1 WHERE id > $mid"
rehash_from "$work/resealed.db" 1
[ "$(sqlite3 "$work/resealed.db" "SELECT count(*) FROM audit_log WHERE hash LIKE 'hmac-sha256:%'")" = 0 ] && ok || bad "keyed entries left"
verify 1 "resealed as plain, the head unsigned, with the key" "$work/resealed.db"
case "$out" in *"not signed with this key"*) ok ;; *) bad "verify with the key: $out" ;; esac
case "$out" in *"intact"*) bad "called intact: $out" ;; *) ok ;; esac
verify 1 "the same with --audit-key-file" "$work/resealed.db" --audit-key-file "$work/audit.key"
verify 1 "the same under another key" "$work/resealed.db" --audit-key-file "$work/other.key"
# Without the key it is a plain log like any other: only the key finds this.
verify 0 "resealed as plain, without the key (missed)" "$work/resealed.db" --audit-key-file ""
# A head with a MAC copied from the real log does not fit the rewritten one.
cp "$work/resealed.db" "$work/resealed2.db"
real_head=$(sqlite3 "$work/keyed.db" "SELECT value FROM settings WHERE key = 'audit_head'")
sqlite3 "$work/resealed2.db" "UPDATE settings SET value = '$(sqlite3 "$work/resealed2.db" "SELECT id || ':' || hash FROM audit_log ORDER BY id DESC LIMIT 1") mac=${real_head##* mac=}' WHERE key = 'audit_head'"
verify 1 "resealed as plain, a MAC copied into the head" "$work/resealed2.db"

finish
