#!/usr/bin/env bash
# Checks the V000 and V001 migration files against a real PostgreSQL with psql.
#
# Every scenario runs in a fresh database named <prefix><scenario>_<pid>,
# which is dropped at exit. The prefix is CHECK_DATABASE_PREFIX, by default
# sqlw_check_. Migration files run through psql -f WITHOUT
# ON_ERROR_STOP, as an operator would run them, so the all-or-nothing
# behaviour of the files themselves is what gets tested. One scenario sends
# each file as a single simple-protocol query through node-postgres (pg).
# The grant scenario starts a private throw-away cluster (unix socket only)
# so that it can create application roles without touching the shared server.
#
# Usage: test/sql/psql-check.sh
# Environment: PGHOST (default 127.0.0.1), PGPORT (5432), PGUSER (postgres),
# CHECK_DATABASE_PREFIX (sqlw_check_).
# Exit status: 0 when every check passed, 1 otherwise.

set -u

export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export PGUSER="${PGUSER:-postgres}"
unset PGOPTIONS PGDATABASE

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
V000="$ROOT/migrations/V000__create_platform_foundation.sql"
V000_ROLLBACK="$ROOT/migrations/V000__rollback_platform_foundation.sql"
V001="$ROOT/migrations/V001__create_system_operations_tenant.sql"
V001_ROLLBACK="$ROOT/migrations/V001__rollback_system_operations_tenant.sql"

WORK="$(mktemp -d /tmp/sqlw_check.XXXXXX)"
PRIVATE_CLUSTER=""
PASSED=0
FAILED=0

SYSTEM_HK='\x0000000000000000000000000000000000000000000000000000000000000001'
ROLE_HK_HEX='8a342a639b76f86163cf37dd3606eb66a5e2782ad076b0fd87161d45face6ef1'

# Databases are found by name because new_database runs in a subshell.
cleanup() {
    local database
    local prefix_pattern="${CHECK_DATABASE_PREFIX:-sqlw_check_}"
    prefix_pattern="${prefix_pattern//_/\\_}"
    for database in $(psql -X -t -A -d postgres -c "SELECT datname FROM pg_database WHERE datname LIKE '${prefix_pattern}%\\_$$'"); do
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1
    done
    if [[ -n "$PRIVATE_CLUSTER" ]]; then
        runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PRIVATE_CLUSTER/data" -m immediate stop >/dev/null 2>&1
        rm -rf "$PRIVATE_CLUSTER"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

pass() {
    PASSED=$((PASSED + 1))
    printf 'ok      %s\n' "$1"
}

fail() {
    FAILED=$((FAILED + 1))
    printf 'not ok  %s\n' "$1"
    if [[ $# -gt 1 ]]; then
        printf '%s\n' "$2" | sed 's/^/        /' | head -40
    fi
}

assert_eq() {
    local name="$1" expected="$2" actual="$3"
    if [[ "$expected" == "$actual" ]]; then
        pass "$name"
    else
        fail "$name" "expected: $expected
actual:   $actual"
    fi
}

assert_contains() {
    local name="$1" needle="$2" haystack="$3"
    if [[ "$haystack" == *"$needle"* ]]; then
        pass "$name"
    else
        fail "$name" "missing: $needle
in: $haystack"
    fi
}

assert_not_contains() {
    local name="$1" needle="$2" haystack="$3"
    if [[ "$haystack" != *"$needle"* ]]; then
        pass "$name"
    else
        fail "$name" "unexpected: $needle"
    fi
}

assert_files_equal() {
    local name="$1" expected_file="$2" actual_file="$3"
    if cmp -s "$expected_file" "$actual_file"; then
        pass "$name"
    else
        fail "$name" "$(diff "$expected_file" "$actual_file" | head -30)"
    fi
}

# Creates a fresh database and prints its name.
new_database() {
    local database="${CHECK_DATABASE_PREFIX:-sqlw_check_}$1_$$"
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS \"$database\"" >/dev/null 2>&1
    psql -X -q -d postgres -c "CREATE DATABASE \"$database\"" >/dev/null
    printf '%s' "$database"
}

# Runs one SQL string and prints the unaligned, tuples-only result.
query() {
    psql -X -q -t -A -v ON_ERROR_STOP=1 -d "$1" -c "$2"
}

# Runs a migration file with psql -f and no ON_ERROR_STOP. stdout and stderr
# go to $WORK/<label>.out and $WORK/<label>.err. The NOTICE texts, without
# psql's prefix, go to $WORK/<label>.notices.
run_file() {
    local database="$1" file="$2" label="$3"
    psql -X -d "$database" -f "$file" >"$WORK/$label.out" 2>"$WORK/$label.err"
    sed -n 's/^psql:[^ ]*: NOTICE:  //p' "$WORK/$label.err" >"$WORK/$label.notices"
}

errors_of() {
    grep -E '(ERROR|WARNING):' "$WORK/$1.err" || true
}

# Writes the catalog of a database (pg_dump --schema-only) and a digest of
# the rows of every table. Mode "full" covers every row of every table,
# history tables included. Mode "data" leaves out util.migration_log and the
# audit tables, which are history.
snapshot() {
    local database="$1" file="$2" mode="${3:-data}"
    local exclude=""
    if [[ "$mode" == "data" ]]; then
        exclude="AND n.nspname <> 'audit' AND c.oid <> COALESCE(to_regclass('util.migration_log'), 0)"
    fi
    if ! pg_dump --schema-only --no-owner -d "$database" >"$file.dump" 2>"$file.dump_err"; then
        fail "pg_dump of $database" "$(cat "$file.dump_err")"
    fi
    # \restrict and \unrestrict carry a random key on every pg_dump run.
    grep -v -e '^-- Dumped' -e '^\\restrict ' -e '^\\unrestrict ' "$file.dump" >"$file"
    if ! grep -q 'CREATE\|PostgreSQL database dump' "$file"; then
        fail "pg_dump of $database produced no catalog"
    fi
    local digest_sql
    digest_sql="$(query "$database" "
        SELECT COALESCE(string_agg(
                   format('SELECT %L AS table_name, count(*) AS row_count, md5(COALESCE(string_agg(x::text, ''|'' ORDER BY x::text), '''')) AS digest FROM (SELECT to_jsonb(r) AS x FROM %s AS r) AS s',
                          c.oid::regclass::text, c.oid::regclass::text),
                   ' UNION ALL ' ORDER BY c.oid::regclass::text),
               'SELECT NULL, NULL, NULL WHERE false')
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
          $exclude")"
    query "$database" "$digest_sql ORDER BY 1" >>"$file"
}

# Digest of the platform rows that ignores load dates, for comparing a
# database with itself after a rollback and a restore or redeploy.
rows_without_dates() {
    local database="$1" schemas="${2:-'auth','raw','staging'}"
    local digest_sql
    digest_sql="$(query "$database" "
        SELECT string_agg(
                   format('SELECT %L AS table_name, count(*) AS row_count, md5(COALESCE(string_agg(x::text, ''|'' ORDER BY x::text), '''')) AS digest FROM (SELECT to_jsonb(r) - ''load_date'' - ''load_end_date'' AS x FROM %s AS r) AS s',
                          c.oid::regclass::text, c.oid::regclass::text),
                   ' UNION ALL ' ORDER BY c.oid::regclass::text)
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r'
          AND n.nspname IN ($schemas)")"
    query "$database" "$digest_sql ORDER BY 1"
}

# Prints the restore statements of the last rollback NOTICE output.
restore_statements_of() {
    sed -n 's/^   \(INSERT INTO .*\|SELECT pg_catalog.setval.*\)$/\1/p' "$WORK/$1.notices"
}

section() {
    printf '\n# %s\n' "$1"
}

# ---------------------------------------------------------------------------
# Scenario: first deploy, output, values, plans
# ---------------------------------------------------------------------------

section "first deploy of V000 and V001"
DB_MAIN="$(new_database main)"

run_file "$DB_MAIN" "$V000" v000_first
assert_eq "V000 first run has no error" "" "$(errors_of v000_first)"
assert_contains "V000 first run starts" "🚀 Starting migration V000: Platform Foundation" "$(head -1 "$WORK/v000_first.notices")"
assert_eq "V000 first run ends with success line" "🎉 Migration V000 completed successfully!" "$(tail -1 "$WORK/v000_first.notices")"
assert_contains "V000 first run creates tables" "✅ Created Platform Tables (16)" "$(cat "$WORK/v000_first.notices")"
assert_eq "V000 log row" "V000|platform_foundation|FORWARD|SUCCESS|psql|t|t" \
    "$(query "$DB_MAIN" "SELECT version, name, direction, status, executed_via, checksum IS NULL, finished_at >= started_at FROM util.migration_log")"
assert_eq "V000 audit event under platform key" "1" \
    "$(query "$DB_MAIN" "SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = '\\x$(printf '0%.0s' {1..64})'::bytea")"

run_file "$DB_MAIN" "$V001" v001_first
assert_eq "V001 first run has no error" "" "$(errors_of v001_first)"
EXPECTED_FIRST_RUN="🚀 Starting migration V001: System Operations Tenant
📋 Prerequisites Check:
   Auth Schema: ✅ EXISTS
   Util Functions: ✅ EXISTS
   Tenant Table: ✅ EXISTS
✅ Created System Operations Tenant Hub
✅ Created System Operations Tenant Profile
✅ Created System Operations Role
✅ Created System Operations Indexes
✅ Created System Operations Utility Function
🎉 Migration V001 completed successfully!"
# The package's lines must appear exactly and in order. The only other lines
# allowed are further prerequisite lines right after "Tenant Table".
FILTERED="$(awk 'NR <= 5 || !/^   [^ ].*: ✅ EXISTS$/' "$WORK/v001_first.notices")"
assert_eq "V001 first run prints the package lines in order" "$EXPECTED_FIRST_RUN" "$FILTERED"
EXTRA_LINES="$(sed -n '6,/^✅ Created System Operations Tenant Hub$/p' "$WORK/v001_first.notices" | sed '$d')"
assert_eq "V001 extra lines are prerequisite lines" "" "$(printf '%s\n' "$EXTRA_LINES" | grep -v '^   [^ ].*: ✅ EXISTS$' || true)"

assert_eq "system tenant hub" "SYSTEM_OPERATIONS|1" \
    "$(query "$DB_MAIN" "SELECT tenant_bk, count(*) OVER () FROM auth.tenant_h WHERE tenant_hk = '$SYSTEM_HK'")"
assert_eq "system tenant profile" "System Operations Tenant|SYSTEM|ACTIVE|999|{INTERNAL_AUDIT}|t|t" \
    "$(query "$DB_MAIN" "SELECT tenant_name, tenant_type, tenant_status, max_users, compliance_frameworks, is_active, contact_email IS NOT NULL FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK' AND load_end_date IS NULL")"
assert_eq "role hash key is sha256 of SYSTEM_OPERATIONS_ADMIN" "$ROLE_HK_HEX|SYSTEM_OPERATIONS_ADMIN|t" \
    "$(query "$DB_MAIN" "SELECT encode(role_hk, 'hex'), role_bk, tenant_hk = '$SYSTEM_HK' FROM auth.role_h")"
assert_eq "role profile in auth.role_profile_s" "System Operations Administrator|SYSTEM|t|{SYSTEM_ADMIN,TENANT_REGISTRATION,PRE_REGISTRATION_MANAGEMENT,SYSTEM_MONITORING,DATA_MIGRATION,BACKUP_MANAGEMENT}" \
    "$(query "$DB_MAIN" "SELECT role_name, role_type, is_system_role, permissions FROM auth.role_profile_s WHERE load_end_date IS NULL")"
assert_eq "constant function returns the key" "0000000000000000000000000000000000000000000000000000000000000001" \
    "$(query "$DB_MAIN" "SELECT encode(util.get_system_operations_tenant_hk(), 'hex')")"
assert_eq "constant function is inlinable" "sql|i|s|f|f|" \
    "$(query "$DB_MAIN" "SELECT l.lanname, p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proconfig FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.oid = 'util.get_system_operations_tenant_hk()'::regprocedure")"
assert_eq "constant function not executable by PUBLIC" "f" \
    "$(query "$DB_MAIN" "SELECT coalesce(bool_or(grantee = 0), false) FROM pg_proc, aclexplode(proacl) WHERE oid = 'util.get_system_operations_tenant_hk()'::regprocedure")"
assert_eq "V001 log row" "V001|system_operations_tenant|FORWARD|SUCCESS|created|created" \
    "$(query "$DB_MAIN" "SELECT version, name, direction, status, details->>'tenant_hub', details->>'role_profile' FROM util.migration_log WHERE version = 'V001'")"
assert_eq "V001 audit event under platform key, none under system key" "1|0" \
    "$(query "$DB_MAIN" "SELECT (SELECT count(*) FROM audit.audit_detail_s WHERE action = 'DEPLOY V001' AND tenant_hk = util.get_platform_hk()), (SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = '$SYSTEM_HK')")"

section "index plans"
PLAN_SMALL="$(psql -X -q -t -A -d "$DB_MAIN" <<'SQL'
SET enable_seqscan = off;
EXPLAIN SELECT tenant_hk FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS';
EXPLAIN SELECT * FROM auth.tenant_profile_s WHERE tenant_hk = util.get_system_operations_tenant_hk() AND load_end_date IS NULL;
SQL
)"
assert_contains "small table: hub lookup uses idx_tenant_h_system_lookup" "using idx_tenant_h_system_lookup" "$PLAN_SMALL"
assert_contains "small table: profile lookup uses idx_tenant_profile_s_system_active" "using idx_tenant_profile_s_system_active" "$PLAN_SMALL"
PLAN_LARGE="$(psql -X -q -t -A -d "$DB_MAIN" <<'SQL'
BEGIN;
INSERT INTO auth.tenant_h
SELECT util.hash_binary('T' || g), 'TENANT_' || g, now(), 'test'
FROM generate_series(1, 5000) AS g;
INSERT INTO auth.tenant_profile_s
SELECT util.hash_binary('T' || g), now() - v * interval '1 day', CASE WHEN v > 0 THEN now() - (v - 1) * interval '1 day' END,
       util.hash_binary('x'), 'Tenant ' || g, 'BUSINESS', 'ACTIVE', 10, '{}', NULL, true, 'test'
FROM generate_series(1, 5000) AS g, generate_series(0, 2) AS v;
ANALYZE auth.tenant_h;
ANALYZE auth.tenant_profile_s;
EXPLAIN SELECT tenant_hk FROM auth.tenant_h WHERE tenant_bk = 'SYSTEM_OPERATIONS';
EXPLAIN SELECT * FROM auth.tenant_profile_s WHERE tenant_hk = util.get_system_operations_tenant_hk() AND load_end_date IS NULL;
ROLLBACK;
SQL
)"
assert_contains "5000 tenants: hub lookup uses idx_tenant_h_system_lookup" "using idx_tenant_h_system_lookup" "$PLAN_LARGE"
assert_contains "5000 tenants: profile lookup uses idx_tenant_profile_s_system_active" "using idx_tenant_profile_s_system_active" "$PLAN_LARGE"

section "helpers"
assert_eq "hash_binary known vector" "$ROLE_HK_HEX" "$(query "$DB_MAIN" "SELECT encode(util.hash_binary('SYSTEM_OPERATIONS_ADMIN'), 'hex')")"
assert_eq "hash_concat separates parts" "f" "$(query "$DB_MAIN" "SELECT util.hash_concat('ab', 'c') = util.hash_concat('a', 'bc')")"
assert_eq "hash_concat delimiter inside a part" "f" "$(query "$DB_MAIN" "SELECT util.hash_concat('a|b', 'c') = util.hash_concat('a', 'b|c')")"
assert_eq "hash_concat NULL differs from token text" "f|f" \
    "$(query "$DB_MAIN" "SELECT util.hash_concat('a', NULL) = util.hash_concat('a', E'\\\\N'), util.hash_concat('a', NULL) = util.hash_concat('a', '')")"
assert_eq "current_load_date strictly increasing in one transaction" "t" "$(query "$DB_MAIN" "
    SELECT bool_and(d > previous)
    FROM (SELECT d, lag(d) OVER (ORDER BY n) AS previous
          FROM (SELECT n, util.current_load_date() AS d FROM generate_series(1, 2000) AS n) AS generated) AS pairs
    WHERE previous IS NOT NULL")"
assert_eq "audit keys differ in one instant" "2" "$(psql -X -q -t -A -d "$DB_MAIN" <<'SQL'
BEGIN;
SELECT count(DISTINCT k) FROM (SELECT audit.record_event(util.get_platform_hk(), 'TEST', 'SAME_INSTANT', 'SUCCESS', NULL) AS k FROM generate_series(1, 2)) AS keys;
ROLLBACK;
SQL
)"
assert_contains "raw payload with a password is rejected" "tenant_registration_r_no_secret_check" \
    "$(psql -X -q -d "$DB_MAIN" -c "INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, record_source) VALUES ('$SYSTEM_HK', '{\"admin\": {\"Password\": \"x\"}}', now(), 'test')" 2>&1)"
assert_contains "plaintext password hash is rejected" "user_auth_s_password_hash_bcrypt_check" "$(psql -X -q -d "$DB_MAIN" 2>&1 <<SQL
BEGIN;
INSERT INTO auth.user_h VALUES (util.hash_binary('plain'), 'PLAIN', '$SYSTEM_HK', now(), 'test');
INSERT INTO auth.user_auth_s (user_hk, load_date, hash_diff, tenant_hk, username, password_hash, password_changed_at, record_source)
VALUES (util.hash_binary('plain'), now(), util.hash_binary('x'), '$SYSTEM_HK', 'plain', 'secret123', now(), 'test');
ROLLBACK;
SQL
)"
assert_eq "business key normalisation" "ACME CORP LTD" "$(query "$DB_MAIN" "SELECT util.normalize_business_key(E'  acme \\t corp\\n  ltd ')")"
ROW_AUDIT="$(psql -X -q -t -A -d "$DB_MAIN" <<SQL
BEGIN;
CREATE TABLE public.audited (tenant_hk bytea, username text, password_hash text, secret_note text);
CREATE TRIGGER audited_change AFTER INSERT OR UPDATE OR DELETE ON public.audited
    FOR EACH ROW EXECUTE FUNCTION audit.log_row_change('secret_note');
INSERT INTO public.audited VALUES ('$SYSTEM_HK', 'alice', 'hash', 'note');
UPDATE public.audited SET username = 'bob';
DELETE FROM public.audited;
SELECT string_agg(d.action || ':' || (d.tenant_hk = '$SYSTEM_HK')::text || ':' || d.object_name || ':'
                  || (d.details::text LIKE '%password_hash%' OR d.details::text LIKE '%secret_note%')::text, ',' ORDER BY d.load_date)
FROM audit.audit_detail_s AS d
WHERE d.event_type = 'ROW_CHANGE';
ROLLBACK;
SQL
)"
assert_eq "row trigger audits under the row's tenant without secrets" "INSERT:true:audited:false,UPDATE:true:audited:false,DELETE:true:audited:false" "$ROW_AUDIT"
assert_contains "platform key is rejected as a tenant" "tenant_h_platform_key_reserved_check" \
    "$(psql -X -q -d "$DB_MAIN" -c "INSERT INTO auth.tenant_h VALUES (util.get_platform_hk(), 'PLATFORM', now(), 'test')" 2>&1)"

# ---------------------------------------------------------------------------
# Scenario: second run converges without changes
# ---------------------------------------------------------------------------

section "second run changes nothing"
snapshot "$DB_MAIN" "$WORK/before_rerun.snapshot"
LOG_BEFORE="$(query "$DB_MAIN" "SELECT count(*) FROM util.migration_log")"
AUDIT_BEFORE="$(query "$DB_MAIN" "SELECT count(*) FROM audit.audit_event_h")"
run_file "$DB_MAIN" "$V000" v000_second
run_file "$DB_MAIN" "$V001" v001_second
snapshot "$DB_MAIN" "$WORK/after_rerun.snapshot"
assert_eq "re-run has no error" "" "$(errors_of v000_second)$(errors_of v001_second)"
assert_files_equal "re-run leaves catalog and rows unchanged" "$WORK/before_rerun.snapshot" "$WORK/after_rerun.snapshot"
assert_eq "re-run adds one log row per file" "$((LOG_BEFORE + 2))" "$(query "$DB_MAIN" "SELECT count(*) FROM util.migration_log")"
assert_eq "re-run adds one audit event per file" "$((AUDIT_BEFORE + 2))" "$(query "$DB_MAIN" "SELECT count(*) FROM audit.audit_event_h")"
EXPECTED_SECOND_RUN="ℹ️ System Operations Tenant Hub already exists
ℹ️ System Operations Tenant Profile already exists
ℹ️ System Operations Role already exists
ℹ️ System Operations Indexes already exist
ℹ️ System Operations Utility Function already exists
🎉 Migration V001 completed successfully!"
assert_eq "V001 re-run prints already-exists lines" "$EXPECTED_SECOND_RUN" "$(grep -v '^   \|^🚀\|^📋' "$WORK/v001_second.notices")"
assert_eq "V000 re-run reports existing objects" "ℹ️ Platform Tables already exist (16)" "$(grep 'Platform Tables' "$WORK/v000_second.notices")"

section "run through \\i"
psql -X -d "$DB_MAIN" >"$WORK/v001_include.out" 2>"$WORK/v001_include.err" <<SQL
\\i $V001
SQL
assert_eq "\\i run has no error" "" "$(grep -E 'ERROR|WARNING' "$WORK/v001_include.err" || true)"
assert_contains "\\i run completes" "🎉 Migration V001 completed successfully!" "$(cat "$WORK/v001_include.err")"

section "session settings of the tool"
RUN_ID="3f2504e0-4f89-41d3-9a0c-0305e82c3301"
CHECKSUM="$(sha256sum "$V001" | cut -d' ' -f1)"
PGOPTIONS="-c onevault.client=onevault -c onevault.checksum=$CHECKSUM -c onevault.run_id=$RUN_ID -c onevault.record_source=check" \
    psql -X -d "$DB_MAIN" -f "$V001" >/dev/null 2>"$WORK/v001_tool.err"
assert_eq "tool settings land in the log row" "onevault|$CHECKSUM|SUCCESS" \
    "$(query "$DB_MAIN" "SELECT executed_via, checksum, status FROM util.migration_log WHERE run_id = '$RUN_ID'")"
assert_eq "tool run id lands in the audit event" "1|check" \
    "$(query "$DB_MAIN" "SELECT count(*), max(d.record_source) FROM audit.audit_detail_s d WHERE d.details->>'run_id' = '$RUN_ID'")"
assert_eq "log table accepts a FAILED row written by the tool" "1" "$(query "$DB_MAIN" "
    WITH inserted AS (
        INSERT INTO util.migration_log (run_id, version, name, direction, status, started_at, finished_at, executed_via, error_message, error_detail)
        VALUES (gen_random_uuid(), 'V001', 'system_operations_tenant', 'FORWARD', 'FAILED', now(), now(), 'onevault', 'test failure', '{\"sqlstate\": \"55000\"}')
        RETURNING 1)
    SELECT count(*) FROM inserted")"
query "$DB_MAIN" "DELETE FROM util.migration_log WHERE status = 'FAILED'" >/dev/null

# ---------------------------------------------------------------------------
# Scenario: repairs
# ---------------------------------------------------------------------------

section "re-run repairs half-created state"
query "$DB_MAIN" "DELETE FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'" >/dev/null
run_file "$DB_MAIN" "$V001" repair_profile
assert_contains "missing tenant profile is created" "✅ Created System Operations Tenant Profile" "$(cat "$WORK/repair_profile.notices")"
assert_eq "one current tenant profile" "1" "$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK' AND load_end_date IS NULL")"

query "$DB_MAIN" "DELETE FROM auth.role_profile_s" >/dev/null
run_file "$DB_MAIN" "$V001" repair_role
assert_contains "missing role profile is created" "✅ Created System Operations Role Profile" "$(cat "$WORK/repair_role.notices")"
assert_eq "one current role profile" "1" "$(query "$DB_MAIN" "SELECT count(*) FROM auth.role_profile_s WHERE load_end_date IS NULL")"

query "$DB_MAIN" "DROP INDEX auth.idx_tenant_profile_s_system_active" >/dev/null
query "$DB_MAIN" "DROP INDEX auth.idx_tenant_h_system_lookup; CREATE INDEX idx_tenant_h_system_lookup ON auth.tenant_h (tenant_hk)" >/dev/null
run_file "$DB_MAIN" "$V001" repair_index
assert_contains "dropped and altered indexes are repaired" "✅ Repaired System Operations Indexes (created: idx_tenant_profile_s_system_active; rebuilt with the expected definition: idx_tenant_h_system_lookup)" "$(cat "$WORK/repair_index.notices")"
assert_contains "index definition restored" "INCLUDE (tenant_hk) WHERE (tenant_bk = 'SYSTEM_OPERATIONS'::text)" \
    "$(query "$DB_MAIN" "SELECT pg_get_indexdef('auth.idx_tenant_h_system_lookup'::regclass)")"

query "$DB_MAIN" "CREATE OR REPLACE FUNCTION util.get_system_operations_tenant_hk() RETURNS bytea LANGUAGE sql STABLE AS 'SELECT NULL::bytea'" >/dev/null
run_file "$DB_MAIN" "$V001" repair_function
assert_contains "changed function is replaced" "✅ Updated System Operations Utility Function" "$(cat "$WORK/repair_function.notices")"
assert_eq "function is immutable again" "i" "$(query "$DB_MAIN" "SELECT provolatile FROM pg_proc WHERE oid = 'util.get_system_operations_tenant_hk()'::regprocedure")"

query "$DB_MAIN" "UPDATE auth.tenant_profile_s SET max_users = 5 WHERE tenant_hk = '$SYSTEM_HK' AND load_end_date IS NULL" >/dev/null
VERSIONS_BEFORE="$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'")"
run_file "$DB_MAIN" "$V001" repair_changed
assert_contains "changed profile gets a new version" "✅ Updated System Operations Tenant Profile" "$(cat "$WORK/repair_changed.notices")"
assert_eq "new version added, old one closed at the new load_date" "$((VERSIONS_BEFORE + 1))|999|t" "$(query "$DB_MAIN" "
    SELECT count(*),
           max(max_users) FILTER (WHERE load_end_date IS NULL),
           bool_or(load_end_date = (SELECT load_date FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK' AND load_end_date IS NULL))
    FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'")"
run_file "$DB_MAIN" "$V001" repair_unchanged
assert_eq "unchanged profile gets no new row" "$((VERSIONS_BEFORE + 1))" "$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'")"

query "$DB_MAIN" "UPDATE auth.role_profile_s SET permissions = '{SYSTEM_ADMIN}' WHERE load_end_date IS NULL" >/dev/null
run_file "$DB_MAIN" "$V001" repair_role_changed
assert_contains "changed role profile gets a new version" "✅ Updated System Operations Role Profile" "$(cat "$WORK/repair_role_changed.notices")"
assert_eq "role profile versions" "2|6" "$(query "$DB_MAIN" "SELECT count(*), max(cardinality(permissions)) FILTER (WHERE load_end_date IS NULL) FROM auth.role_profile_s")"

# ---------------------------------------------------------------------------
# Scenario: missing prerequisites
# ---------------------------------------------------------------------------

section "V001 without its prerequisites changes nothing"
DB_PREREQ="$(new_database prereq)"
run_file "$DB_PREREQ" "$V000" prereq_v000
query "$DB_PREREQ" "DROP FUNCTION util.current_load_date(); DROP TABLE auth.role_profile_s" >/dev/null
snapshot "$DB_PREREQ" "$WORK/prereq_before.snapshot" full
run_file "$DB_PREREQ" "$V001" prereq_v001
snapshot "$DB_PREREQ" "$WORK/prereq_after.snapshot" full
assert_files_equal "failed V001 leaves catalog and rows unchanged" "$WORK/prereq_before.snapshot" "$WORK/prereq_after.snapshot"
PREREQ_ERRORS="$(grep -c 'ERROR:  V001 prerequisites missing' "$WORK/prereq_v001.err")"
assert_eq "one prerequisite error" "1" "$PREREQ_ERRORS"
assert_contains "error names every missing item" "V001 prerequisites missing: table auth.role_profile_s, function util.current_load_date()" "$(cat "$WORK/prereq_v001.err")"
assert_contains "missing item is marked" "   Role Profile Table: ❌ MISSING" "$(cat "$WORK/prereq_v001.notices")"
assert_contains "missing util function marks Util Functions" "   Util Functions: ❌ MISSING" "$(cat "$WORK/prereq_v001.notices")"
assert_not_contains "no object is reported created" "✅ Created" "$(cat "$WORK/prereq_v001.notices")"
assert_not_contains "no completion line" "completed successfully" "$(cat "$WORK/prereq_v001.notices")"
assert_contains "COMMIT turned into ROLLBACK" "ROLLBACK" "$(cat "$WORK/prereq_v001.out")"

DB_NONE="$(new_database empty)"
snapshot "$DB_NONE" "$WORK/control_before.snapshot" full
query "$DB_NONE" "CREATE TABLE public.control (id integer)" >/dev/null
snapshot "$DB_NONE" "$WORK/control_after.snapshot" full
if cmp -s "$WORK/control_before.snapshot" "$WORK/control_after.snapshot"; then
    fail "snapshot detects a catalog change"
else
    pass "snapshot detects a catalog change"
fi
query "$DB_NONE" "INSERT INTO public.control VALUES (1)" >/dev/null
snapshot "$DB_NONE" "$WORK/control_row.snapshot" full
if cmp -s "$WORK/control_after.snapshot" "$WORK/control_row.snapshot"; then
    fail "snapshot detects a row change"
else
    pass "snapshot detects a row change"
fi
query "$DB_NONE" "DROP TABLE public.control" >/dev/null
snapshot "$DB_NONE" "$WORK/none_before.snapshot" full
run_file "$DB_NONE" "$V001" none_v001
snapshot "$DB_NONE" "$WORK/none_after.snapshot" full
assert_files_equal "V001 on an empty database changes nothing" "$WORK/none_before.snapshot" "$WORK/none_after.snapshot"
assert_contains "V001 on an empty database names V000" "Deploy V000 (platform foundation) first" "$(cat "$WORK/none_v001.err")"

section "V000 failure changes nothing"
DB_V000_FAIL="$(new_database v000fail)"
query "$DB_V000_FAIL" "CREATE SCHEMA elsewhere; CREATE EXTENSION pgcrypto WITH SCHEMA elsewhere" >/dev/null
snapshot "$DB_V000_FAIL" "$WORK/v000_fail_before.snapshot" full
run_file "$DB_V000_FAIL" "$V000" v000_fail
snapshot "$DB_V000_FAIL" "$WORK/v000_fail_after.snapshot" full
assert_contains "V000 rejects pgcrypto in another schema" "requires pgcrypto in schema public, but it is installed in schema elsewhere" "$(cat "$WORK/v000_fail.err")"
assert_files_equal "failed V000 leaves catalog unchanged" "$WORK/v000_fail_before.snapshot" "$WORK/v000_fail_after.snapshot"

# ---------------------------------------------------------------------------
# Scenario: V001 rollback, twice, restore, redeploy
# ---------------------------------------------------------------------------

section "V001 rollback removes and backs up"
ROWS_BEFORE_ROLLBACK="$(rows_without_dates "$DB_MAIN")"
ROWS_WITH_DATES_BEFORE="$(query "$DB_MAIN" "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (SELECT to_jsonb(p) AS t FROM auth.tenant_profile_s p UNION ALL SELECT to_jsonb(r) FROM auth.role_profile_s r UNION ALL SELECT to_jsonb(h) FROM auth.tenant_h h UNION ALL SELECT to_jsonb(h) FROM auth.role_h h) AS rows")"
PROFILE_VERSIONS="$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'")"
run_file "$DB_MAIN" "$V001_ROLLBACK" rollback_first
assert_eq "rollback has no error" "" "$(errors_of rollback_first)"
assert_eq "rollback ends with success line" "🎉 Rollback V001 completed successfully!" "$(tail -1 "$WORK/rollback_first.notices")"
assert_eq "rollback starts with its line" "🔄 Starting rollback V001: System Operations Tenant" "$(head -1 "$WORK/rollback_first.notices")"
assert_eq "no V001 objects remain" "0|0|0|0|||" "$(query "$DB_MAIN" "
    SELECT (SELECT count(*) FROM auth.tenant_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.role_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.role_profile_s WHERE tenant_hk = '$SYSTEM_HK'),
           to_regclass('auth.idx_tenant_h_system_lookup'),
           to_regclass('auth.idx_tenant_profile_s_system_active'),
           to_regprocedure('util.get_system_operations_tenant_hk()')")"
BACKUP_SCHEMA="$(query "$DB_MAIN" "SELECT details->>'backup_schema' FROM util.migration_log WHERE version = 'V001' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1")"
if [[ "$BACKUP_SCHEMA" =~ ^onevault_backup_v001_[0-9]{14}_[0-9a-f]{8}$ ]]; then
    pass "backup schema name has the documented form ($BACKUP_SCHEMA)"
else
    fail "backup schema name has the documented form" "$BACKUP_SCHEMA"
fi
assert_eq "backup holds exactly the removed rows" "1|$PROFILE_VERSIONS|1|2" "$(query "$DB_MAIN" "
    SELECT (SELECT count(*) FROM $BACKUP_SCHEMA.auth_tenant_h),
           (SELECT count(*) FROM $BACKUP_SCHEMA.auth_tenant_profile_s),
           (SELECT count(*) FROM $BACKUP_SCHEMA.auth_role_h),
           (SELECT count(*) FROM $BACKUP_SCHEMA.auth_role_profile_s)")"
assert_eq "log row details hold counts" "{\"auth.role_h\": 1, \"auth.tenant_h\": 1, \"auth.role_profile_s\": 2, \"auth.tenant_profile_s\": $PROFILE_VERSIONS}|REMOVED|false" \
    "$(query "$DB_MAIN" "SELECT details->'row_counts', details->>'result', details->>'forced' FROM util.migration_log WHERE version = 'V001' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1")"
assert_contains "rollback prints restore statements" "INSERT INTO auth.tenant_h SELECT * FROM $BACKUP_SCHEMA.auth_tenant_h ON CONFLICT DO NOTHING;" "$(cat "$WORK/rollback_first.notices")"
assert_eq "restore statements in FK order" "auth.tenant_h auth.tenant_profile_s auth.role_h auth.role_profile_s" \
    "$(restore_statements_of rollback_first | awk '{print $3}' | paste -sd' ')"
assert_eq "rollback audit event under platform key" "1" "$(query "$DB_MAIN" "SELECT count(*) FROM audit.audit_detail_s WHERE action = 'ROLLBACK V001' AND tenant_hk = util.get_platform_hk()")"

section "second V001 rollback creates nothing"
snapshot "$DB_MAIN" "$WORK/rollback_twice_before.snapshot"
run_file "$DB_MAIN" "$V001_ROLLBACK" rollback_second
snapshot "$DB_MAIN" "$WORK/rollback_twice_after.snapshot"
assert_files_equal "second rollback leaves catalog and rows unchanged" "$WORK/rollback_twice_before.snapshot" "$WORK/rollback_twice_after.snapshot"
assert_contains "second rollback says V001 is not present" "ℹ️ V001 is not present: nothing to remove" "$(cat "$WORK/rollback_second.notices")"
assert_eq "still one backup schema" "1" "$(query "$DB_MAIN" "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'onevault_backup_v001_%'")"

section "printed restore statements work"
restore_statements_of rollback_first >"$WORK/restore_v001.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB_MAIN" -f "$WORK/restore_v001.sql" >/dev/null 2>"$WORK/restore_v001.err"
assert_eq "restore statements run without error" "" "$(cat "$WORK/restore_v001.err")"
assert_eq "restored rows equal the rows before rollback, load dates included" "$ROWS_WITH_DATES_BEFORE" \
    "$(query "$DB_MAIN" "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (SELECT to_jsonb(p) AS t FROM auth.tenant_profile_s p UNION ALL SELECT to_jsonb(r) FROM auth.role_profile_s r UNION ALL SELECT to_jsonb(h) FROM auth.tenant_h h UNION ALL SELECT to_jsonb(h) FROM auth.role_h h) AS rows")"

section "redeploy after rollback"
run_file "$DB_MAIN" "$V001" redeploy
assert_eq "redeploy has no error" "" "$(errors_of redeploy)"
assert_contains "redeploy recreates the indexes" "✅ Created System Operations Indexes" "$(cat "$WORK/redeploy.notices")"
assert_contains "redeploy recreates the function" "✅ Created System Operations Utility Function" "$(cat "$WORK/redeploy.notices")"
assert_contains "redeploy keeps the restored profile" "ℹ️ System Operations Tenant Profile already exists" "$(cat "$WORK/redeploy.notices")"
assert_eq "rows after restore and redeploy equal the rows before rollback" "$ROWS_BEFORE_ROLLBACK" "$(rows_without_dates "$DB_MAIN")"

section "redeploy on a clean database after rollback"
DB_CYCLE="$(new_database cycle)"
run_file "$DB_CYCLE" "$V000" cycle_v000
run_file "$DB_CYCLE" "$V001" cycle_v001
run_file "$DB_CYCLE" "$V001_ROLLBACK" cycle_rollback
run_file "$DB_CYCLE" "$V001" cycle_redeploy
assert_eq "deploy after rollback prints the first-run lines" "$EXPECTED_FIRST_RUN" "$(awk 'NR <= 5 || !/^   [^ ].*: ✅ EXISTS$/' "$WORK/cycle_redeploy.notices")"

# ---------------------------------------------------------------------------
# Scenario: rollback blocked by data of the system tenant, then forced
# ---------------------------------------------------------------------------

section "V001 rollback rejected while the system tenant is in use"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB_MAIN" >/dev/null <<SQL
-- A user of the system tenant with profile, credentials, role and session.
INSERT INTO auth.user_h VALUES (util.hash_binary('SYS_USER'), 'SYS_USER', '$SYSTEM_HK', util.current_load_date(), 'test');
INSERT INTO auth.user_profile_s VALUES (util.hash_binary('SYS_USER'), util.current_load_date(), NULL, util.hash_binary('p'), '$SYSTEM_HK', 'Sys', 'User', 'sys@example.com', true, 'test');
INSERT INTO auth.user_auth_s (user_hk, load_date, hash_diff, tenant_hk, username, password_hash, password_changed_at, record_source)
VALUES (util.hash_binary('SYS_USER'), util.current_load_date(), util.hash_binary('a'), '$SYSTEM_HK', 'sysuser', public.crypt('correct horse', public.gen_salt('bf', 4)), now(), 'test');
INSERT INTO auth.user_role_l VALUES (util.hash_binary('L1'), util.hash_binary('SYS_USER'), util.hash_binary('SYSTEM_OPERATIONS_ADMIN'), '$SYSTEM_HK', util.current_load_date(), 'test');
INSERT INTO auth.session_h VALUES (util.hash_binary('S1'), 'S1', '$SYSTEM_HK', util.current_load_date(), 'test');
INSERT INTO auth.session_state_s VALUES (util.hash_binary('S1'), util.current_load_date(), NULL, util.hash_binary('s'), '$SYSTEM_HK', 'ACTIVE', now() + interval '1 hour', now(), '127.0.0.1', 'psql', 'test');
INSERT INTO auth.user_session_l VALUES (util.hash_binary('US1'), util.hash_binary('SYS_USER'), util.hash_binary('S1'), '$SYSTEM_HK', util.current_load_date(), 'test');
-- Another tenant whose user holds the system role: only the link must go.
INSERT INTO auth.tenant_h VALUES (util.hash_binary('ACME'), 'ACME', util.current_load_date(), 'test');
INSERT INTO auth.user_h VALUES (util.hash_binary('ACME_USER'), 'ACME_USER', util.hash_binary('ACME'), util.current_load_date(), 'test');
INSERT INTO auth.user_role_l VALUES (util.hash_binary('L2'), util.hash_binary('ACME_USER'), util.hash_binary('SYSTEM_OPERATIONS_ADMIN'), util.hash_binary('ACME'), util.current_load_date(), 'test');
-- A pre-registration owned by the system tenant, plus one of ACME.
INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, record_source) VALUES ('$SYSTEM_HK', '{"tenant_name": "New Co"}', now(), 'test');
INSERT INTO staging.tenant_registration_s (raw_registration_id, tenant_hk, tenant_bk, validation_results, is_valid, status, record_source)
SELECT raw_registration_id, tenant_hk, 'NEW CO', '[{"rule": "name", "ok": true}]', true, 'VALID', 'test' FROM raw.tenant_registration_r;
INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, record_source) VALUES (util.hash_binary('ACME'), '{"tenant_name": "Acme"}', now(), 'test');
-- An audit event of the system tenant.
SELECT audit.record_event('$SYSTEM_HK', 'REGISTRATION', 'PRE_REGISTER', 'SUCCESS', '{}');
SQL
snapshot "$DB_MAIN" "$WORK/blocked_before.snapshot" full
run_file "$DB_MAIN" "$V001_ROLLBACK" rollback_blocked
snapshot "$DB_MAIN" "$WORK/blocked_after.snapshot" full
assert_files_equal "rejected rollback changes nothing" "$WORK/blocked_before.snapshot" "$WORK/blocked_after.snapshot"
BLOCKED_ERR="$(cat "$WORK/rollback_blocked.err")"
assert_eq "rejected rollback raises one error" "1" "$(grep -c 'ERROR:' "$WORK/rollback_blocked.err")"
for expected in "auth.user_h: 1" "auth.user_profile_s: 1" "auth.user_auth_s: 1" "auth.user_role_l: 2" \
                "auth.session_h: 1" "auth.session_state_s: 1" "auth.user_session_l: 1" \
                "raw.tenant_registration_r: 1" "staging.tenant_registration_s: 1" \
                "audit.audit_event_h: 1 (audit rows are kept)" "audit.audit_detail_s: 1 (audit rows are kept)"; do
    assert_contains "rejection lists $expected" "$expected" "$BLOCKED_ERR"
done
assert_not_contains "rejection does not count the rows V001 wrote" "auth.tenant_h:" "$BLOCKED_ERR"
assert_contains "rejection tells how to force" "onevault.force_rollback" "$BLOCKED_ERR"

section "forced V001 rollback backs up and removes"
OTHER_TENANT_BEFORE="$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_h WHERE tenant_hk <> '$SYSTEM_HK'")|$(query "$DB_MAIN" "SELECT count(*) FROM auth.user_h WHERE tenant_hk <> '$SYSTEM_HK'")|$(query "$DB_MAIN" "SELECT count(*) FROM raw.tenant_registration_r WHERE tenant_hk <> '$SYSTEM_HK'")"
PGOPTIONS='-c onevault.force_rollback=on' run_file "$DB_MAIN" "$V001_ROLLBACK" rollback_forced
assert_eq "forced rollback has no error" "" "$(errors_of rollback_forced)"
assert_eq "forced rollback leaves no row of the system tenant" "0|0|0|0|0|0|0|0|0|0|0|0|0" "$(query "$DB_MAIN" "
    SELECT (SELECT count(*) FROM auth.tenant_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.tenant_profile_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.role_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.role_profile_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.user_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.user_profile_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.user_auth_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.user_role_l WHERE tenant_hk = '$SYSTEM_HK' OR role_hk = util.hash_binary('SYSTEM_OPERATIONS_ADMIN')),
           (SELECT count(*) FROM auth.session_h WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.session_state_s WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM auth.user_session_l WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM raw.tenant_registration_r WHERE tenant_hk = '$SYSTEM_HK'),
           (SELECT count(*) FROM staging.tenant_registration_s WHERE tenant_hk = '$SYSTEM_HK')")"
assert_eq "other tenants' rows stay" "$OTHER_TENANT_BEFORE" \
    "$(query "$DB_MAIN" "SELECT count(*) FROM auth.tenant_h WHERE tenant_hk <> '$SYSTEM_HK'")|$(query "$DB_MAIN" "SELECT count(*) FROM auth.user_h WHERE tenant_hk <> '$SYSTEM_HK'")|$(query "$DB_MAIN" "SELECT count(*) FROM raw.tenant_registration_r WHERE tenant_hk <> '$SYSTEM_HK'")"
assert_eq "audit rows of the system tenant are kept" "1" "$(query "$DB_MAIN" "SELECT count(*) FROM audit.audit_event_h WHERE tenant_hk = '$SYSTEM_HK'")"
FORCED_BACKUP="$(query "$DB_MAIN" "SELECT details->>'backup_schema' FROM util.migration_log WHERE version = 'V001' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1")"
assert_eq "forced backup holds only the removed rows" "2|1|1|1|1|1|1|1|1|1" "$(query "$DB_MAIN" "
    SELECT (SELECT count(*) FROM $FORCED_BACKUP.auth_user_role_l),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_user_h),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_user_profile_s),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_user_auth_s),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_session_h),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_session_state_s),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_user_session_l),
           (SELECT count(*) FROM $FORCED_BACKUP.raw_tenant_registration_r),
           (SELECT count(*) FROM $FORCED_BACKUP.staging_tenant_registration_s),
           (SELECT count(*) FROM $FORCED_BACKUP.auth_tenant_h)")"
assert_eq "forced backup has no other tenant's user" "0" "$(query "$DB_MAIN" "SELECT count(*) FROM $FORCED_BACKUP.auth_user_h WHERE tenant_hk <> '$SYSTEM_HK'")"
assert_eq "forced log row details" "true|13" "$(query "$DB_MAIN" "SELECT details->>'forced', (SELECT count(*) FROM jsonb_object_keys(details->'row_counts')) FROM util.migration_log WHERE version = 'V001' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1")"
restore_statements_of rollback_forced >"$WORK/restore_forced.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB_MAIN" -f "$WORK/restore_forced.sql" >/dev/null 2>"$WORK/restore_forced.err"
assert_eq "forced restore statements run without error" "" "$(cat "$WORK/restore_forced.err")"
assert_eq "forced restore brings the system user back" "1|2" "$(query "$DB_MAIN" "SELECT (SELECT count(*) FROM auth.user_h WHERE tenant_hk = '$SYSTEM_HK'), (SELECT count(*) FROM auth.user_role_l)")"
run_file "$DB_MAIN" "$V001" redeploy_after_forced
assert_eq "deploy after forced rollback and restore works" "" "$(errors_of redeploy_after_forced)"

section "V001 rollback of a half-deployed V001"
DB_HALF="$(new_database half)"
run_file "$DB_HALF" "$V000" half_v000
run_file "$DB_HALF" "$V001" half_v001
query "$DB_HALF" "DROP FUNCTION util.get_system_operations_tenant_hk(); DROP INDEX auth.idx_tenant_h_system_lookup; DELETE FROM auth.role_profile_s; DELETE FROM auth.tenant_profile_s" >/dev/null
run_file "$DB_HALF" "$V001_ROLLBACK" half_rollback
assert_eq "half-deployed rollback has no error" "" "$(errors_of half_rollback)"
assert_eq "half-deployed rollback removes the rest" "0|0|" "$(query "$DB_HALF" "SELECT (SELECT count(*) FROM auth.tenant_h), (SELECT count(*) FROM auth.role_h), to_regclass('auth.idx_tenant_profile_s_system_active')")"

section "forced V001 rollback with SET before \\i"
run_file "$DB_HALF" "$V001" half_redeploy
query "$DB_HALF" "INSERT INTO auth.user_h VALUES (util.hash_binary('SYS_USER'), 'SYS_USER', '$SYSTEM_HK', now(), 'test')" >/dev/null
psql -X -d "$DB_HALF" >/dev/null 2>"$WORK/set_force.err" <<SQL
SET onevault.force_rollback = 'on';
\\i $V001_ROLLBACK
SQL
assert_eq "SET before \\i forces the rollback" "" "$(grep -E 'ERROR|WARNING' "$WORK/set_force.err" || true)"
assert_eq "SET before \\i removed the system user" "0|true" "$(query "$DB_HALF" "SELECT (SELECT count(*) FROM auth.user_h), (SELECT details->>'forced' FROM util.migration_log WHERE direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1)")"

# ---------------------------------------------------------------------------
# Scenario: V000 rollback
# ---------------------------------------------------------------------------

section "V000 rollback of an empty platform"
run_file "$DB_CYCLE" "$V001_ROLLBACK" cycle_rollback_again
run_file "$DB_CYCLE" "$V000_ROLLBACK" v000_rollback
assert_eq "V000 rollback has no error" "" "$(errors_of v000_rollback)"
assert_eq "only util, public and the V001 backups remain" "public,util" "$(query "$DB_CYCLE" "SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname NOT LIKE 'onevault\\_backup\\_v001\\_%' AND nspname <> 'information_schema'")"
assert_eq "util holds only the migration log" "migration_log|0" "$(query "$DB_CYCLE" "
    SELECT string_agg(relname, ',' ORDER BY relname) FILTER (WHERE relkind = 'r'),
           (SELECT count(*) FROM pg_proc WHERE pronamespace = 'util'::regnamespace)
    FROM pg_class WHERE relnamespace = 'util'::regnamespace")"
assert_eq "pgcrypto is kept" "public" "$(query "$DB_CYCLE" "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'pgcrypto'")"
# Platform events: V000 deploy, V001 deploy, rollback, deploy, rollback.
assert_eq "V000 rollback logged with archived platform events" "SUCCESS|REMOVED|5" "$(query "$DB_CYCLE" "
    SELECT status, details->>'result', jsonb_array_length(details->'archived_platform_audit_events')
    FROM util.migration_log WHERE version = 'V000' AND direction = 'ROLLBACK'")"
assert_eq "history kept" "5" "$(query "$DB_CYCLE" "SELECT count(*) FROM util.migration_log WHERE direction = 'FORWARD' OR version = 'V001'")"

snapshot "$DB_CYCLE" "$WORK/v000_twice_before.snapshot"
run_file "$DB_CYCLE" "$V000_ROLLBACK" v000_rollback_again
snapshot "$DB_CYCLE" "$WORK/v000_twice_after.snapshot"
assert_files_equal "second V000 rollback changes and creates nothing" "$WORK/v000_twice_before.snapshot" "$WORK/v000_twice_after.snapshot"
assert_contains "second V000 rollback says not present" "ℹ️ V000 is not present: nothing to remove" "$(cat "$WORK/v000_rollback_again.notices")"

run_file "$DB_CYCLE" "$V000" v000_after_rollback
run_file "$DB_CYCLE" "$V001" v001_after_v000_rollback
assert_eq "V000 and V001 deploy after V000 rollback" "" "$(errors_of v000_after_rollback)$(errors_of v001_after_v000_rollback)"
assert_eq "platform is back" "16|1" "$(query "$DB_CYCLE" "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE relkind = 'r' AND nspname IN ('util','auth','raw','staging','audit')), (SELECT count(*) FROM auth.tenant_h)")"

section "V000 rollback rejected with data, then forced"
PGOPTIONS='-c onevault.force_rollback=on' run_file "$DB_MAIN" "$V000_ROLLBACK" v000_with_v001
assert_contains "forced V000 rollback rejected while V001 is present" "(V001)" "$(cat "$WORK/v000_with_v001.err")"
assert_eq "V001 function survives the rejected V000 rollback" "t" "$(query "$DB_MAIN" "SELECT to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL")"
PGOPTIONS='-c onevault.force_rollback=on' run_file "$DB_MAIN" "$V001_ROLLBACK" v001_before_v000
assert_eq "forced V001 rollback before V000 has no error" "" "$(errors_of v001_before_v000)"
snapshot "$DB_MAIN" "$WORK/v000_blocked_before.snapshot" full
run_file "$DB_MAIN" "$V000_ROLLBACK" v000_blocked
snapshot "$DB_MAIN" "$WORK/v000_blocked_after.snapshot" full
assert_files_equal "rejected V000 rollback changes nothing" "$WORK/v000_blocked_before.snapshot" "$WORK/v000_blocked_after.snapshot"
assert_contains "V000 rejection lists counts" "auth.tenant_h: 1" "$(cat "$WORK/v000_blocked.err")"

query "$DB_MAIN" "CREATE VIEW public.tenant_names AS SELECT tenant_bk FROM auth.tenant_h" >/dev/null
PGOPTIONS='-c onevault.force_rollback=on' run_file "$DB_MAIN" "$V000_ROLLBACK" v000_dependent
assert_contains "V000 rollback rejects outside dependents even when forced" "view public.tenant_names" "$(cat "$WORK/v000_dependent.err")"
assert_eq "outside view survives" "t" "$(query "$DB_MAIN" "SELECT to_regclass('public.tenant_names') IS NOT NULL")"
query "$DB_MAIN" "DROP VIEW public.tenant_names" >/dev/null

ROWS_BEFORE_V000="$(rows_without_dates "$DB_MAIN")"
PGOPTIONS='-c onevault.force_rollback=on' run_file "$DB_MAIN" "$V000_ROLLBACK" v000_forced
assert_eq "forced V000 rollback has no error" "" "$(errors_of v000_forced)"
V000_BACKUP="$(query "$DB_MAIN" "SELECT details->>'backup_schema' FROM util.migration_log WHERE version = 'V000' AND direction = 'ROLLBACK' ORDER BY migration_log_id DESC LIMIT 1")"
if [[ "$V000_BACKUP" =~ ^onevault_backup_v000_[0-9]{14}_[0-9a-f]{8}$ ]]; then
    pass "V000 backup schema name has the documented form ($V000_BACKUP)"
else
    fail "V000 backup schema name has the documented form" "$V000_BACKUP"
fi
assert_eq "forced V000 rollback removed the platform" "" "$(query "$DB_MAIN" "SELECT to_regnamespace('auth')")"
run_file "$DB_MAIN" "$V000" v000_redeploy_for_restore
restore_statements_of v000_forced >"$WORK/restore_v000.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB_MAIN" -f "$WORK/restore_v000.sql" >/dev/null 2>"$WORK/restore_v000.err"
assert_eq "V000 restore statements run without error" "" "$(cat "$WORK/restore_v000.err")"
assert_eq "V000 restore brings every row back" "$ROWS_BEFORE_V000" "$(rows_without_dates "$DB_MAIN")"
assert_eq "identity sequence moved past restored ids" "t" "$(query "$DB_MAIN" "
    WITH inserted AS (
        INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, record_source)
        VALUES (util.hash_binary('ACME'), '{}', now(), 'test') RETURNING raw_registration_id)
    SELECT raw_registration_id > 2 FROM inserted")"

# ---------------------------------------------------------------------------
# Scenario: one simple-protocol query per file through node-postgres
# ---------------------------------------------------------------------------

section "simple protocol through node-postgres"
DB_NODE="$(new_database node)"
DB_NODE_FAIL="$(new_database nodefail)"
NODE_OUTPUT="$(cd "$ROOT" && DB_NODE="$DB_NODE" DB_NODE_FAIL="$DB_NODE_FAIL" V000="$V000" V001="$V001" \
    V000_ROLLBACK="$V000_ROLLBACK" V001_ROLLBACK="$V001_ROLLBACK" node -e '
const { Client } = require("pg");
const fs = require("fs");

async function runFile(database, file, settings = {}) {
  const client = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER, database });
  const notices = [];
  client.on("notice", (notice) => notices.push(notice.message));
  await client.connect();
  try {
    for (const [name, value] of Object.entries(settings)) {
      await client.query("SELECT set_config($1, $2, false)", [name, value]);
    }
    await client.query(fs.readFileSync(file, "utf8"));
    return { ok: true, notices };
  } catch (error) {
    return { ok: false, notices, code: error.code, message: error.message };
  } finally {
    await client.end();
  }
}

async function queryValue(database, sql) {
  const client = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER, database });
  await client.connect();
  try {
    return (await client.query(sql)).rows[0].value;
  } finally {
    await client.end();
  }
}

(async () => {
  const db = process.env.DB_NODE;
  const results = {};
  results.v000 = await runFile(db, process.env.V000, { "onevault.client": "onevault", "onevault.run_id": "11111111-1111-4111-8111-111111111111" });
  results.v001 = await runFile(db, process.env.V001, { "onevault.client": "onevault" });
  results.v001_again = await runFile(db, process.env.V001);
  results.rollback_v001 = await runFile(db, process.env.V001_ROLLBACK);
  results.rollback_v000 = await runFile(db, process.env.V000_ROLLBACK);
  results.redeploy_v000 = await runFile(db, process.env.V000);

  const failDb = process.env.DB_NODE_FAIL;
  await runFile(failDb, process.env.V000);
  const setupClient = new Client({ host: process.env.PGHOST, port: Number(process.env.PGPORT), user: process.env.PGUSER, database: failDb });
  await setupClient.connect();
  await setupClient.query("DROP FUNCTION util.get_record_source() CASCADE");
  await setupClient.end();
  results.missing = await runFile(failDb, process.env.V001);

  for (const [name, result] of Object.entries(results)) {
    console.log(`${name} ok=${result.ok} code=${result.code ?? ""} last=${result.notices[result.notices.length - 1] ?? ""}`);
  }
  console.log(`first_run_lines=${JSON.stringify(results.v001.notices.filter((line, index) => index < 5 || !/^   [^ ].*: ✅ EXISTS$/.test(line)))}`);
  console.log(`log_rows=${await queryValue(db, "SELECT string_agg(version || \x27 \x27 || direction || \x27 \x27 || executed_via, \x27,\x27 ORDER BY migration_log_id) AS value FROM util.migration_log")}`);
  console.log(`v000_run_id=${await queryValue(db, "SELECT run_id::text AS value FROM util.migration_log ORDER BY migration_log_id LIMIT 1")}`);
  console.log(`missing_system_tenant=${await queryValue(failDb, "SELECT count(*)::text AS value FROM auth.tenant_h")}`);
})().catch((error) => { console.error(error); process.exit(1); });
' 2>&1)"
assert_contains "node: V000 succeeds" "v000 ok=true code= last=🎉 Migration V000 completed successfully!" "$NODE_OUTPUT"
assert_contains "node: V001 succeeds" "v001 ok=true code= last=🎉 Migration V001 completed successfully!" "$NODE_OUTPUT"
assert_contains "node: V001 re-run succeeds" "v001_again ok=true code= last=🎉 Migration V001 completed successfully!" "$NODE_OUTPUT"
assert_contains "node: V001 rollback succeeds" "rollback_v001 ok=true code= last=🎉 Rollback V001 completed successfully!" "$NODE_OUTPUT"
assert_contains "node: V000 rollback succeeds" "rollback_v000 ok=true code= last=🎉 Rollback V000 completed successfully!" "$NODE_OUTPUT"
assert_contains "node: V000 redeploy succeeds" "redeploy_v000 ok=true" "$NODE_OUTPUT"
assert_contains "node: missing prerequisite fails with 55000" "missing ok=false code=55000" "$NODE_OUTPUT"
assert_contains "node: failed V001 created nothing" "missing_system_tenant=0" "$NODE_OUTPUT"
assert_contains "node: first-run lines" "first_run_lines=[\"🚀 Starting migration V001: System Operations Tenant\",\"📋 Prerequisites Check:\",\"   Auth Schema: ✅ EXISTS\",\"   Util Functions: ✅ EXISTS\",\"   Tenant Table: ✅ EXISTS\",\"✅ Created System Operations Tenant Hub\",\"✅ Created System Operations Tenant Profile\",\"✅ Created System Operations Role\",\"✅ Created System Operations Indexes\",\"✅ Created System Operations Utility Function\",\"🎉 Migration V001 completed successfully!\"]" "$NODE_OUTPUT"
assert_contains "node: log rows tell the tool from other clients" "log_rows=V000 FORWARD onevault,V001 FORWARD onevault,V001 FORWARD psql,V001 ROLLBACK psql,V000 ROLLBACK psql,V000 FORWARD psql" "$NODE_OUTPUT"
assert_contains "node: tool run id recorded" "v000_run_id=11111111-1111-4111-8111-111111111111" "$NODE_OUTPUT"

# ---------------------------------------------------------------------------
# Scenario: grants to application roles, on a private cluster
# ---------------------------------------------------------------------------

section "grants to application roles (private cluster)"
if [[ "$(id -u)" == "0" ]] && id postgres >/dev/null 2>&1 && [[ -x /usr/lib/postgresql/15/bin/initdb ]]; then
    PRIVATE_CLUSTER="$(mktemp -d /tmp/sqlw_cluster.XXXXXX)"
    chown postgres "$PRIVATE_CLUSTER"
    runuser -u postgres -- /usr/lib/postgresql/15/bin/initdb -D "$PRIVATE_CLUSTER/data" -U postgres -A trust >/dev/null 2>&1
    runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D "$PRIVATE_CLUSTER/data" -w -l "$PRIVATE_CLUSTER/log" \
        -o "-c listen_addresses='' -c unix_socket_directories=$PRIVATE_CLUSTER" start >/dev/null 2>&1
    PRIVATE=(env PGHOST="$PRIVATE_CLUSTER" PGPORT=5432 PGUSER=postgres)
    "${PRIVATE[@]}" psql -X -q -d postgres -c "CREATE ROLE onevault_app NOLOGIN" -c "CREATE ROLE app_user LOGIN" -c "CREATE DATABASE sqlw_grants" >/dev/null
    "${PRIVATE[@]}" psql -X -d sqlw_grants -f "$V000" >/dev/null 2>&1
    "${PRIVATE[@]}" psql -X -d sqlw_grants -f "$V001" >/dev/null 2>"$WORK/grants.err"
    assert_eq "grants: V001 has no error" "" "$(grep -E 'ERROR|WARNING|FATAL' "$WORK/grants.err" || true)"
    assert_contains "grants: V001 completes" "🎉 Migration V001 completed successfully!" "$(cat "$WORK/grants.err")"
    assert_eq "grants: EXECUTE on the constant function" "t|t" \
        "$("${PRIVATE[@]}" psql -X -t -A -d sqlw_grants -c "SELECT has_function_privilege('onevault_app', 'util.get_system_operations_tenant_hk()', 'EXECUTE'), has_function_privilege('app_user', 'util.get_system_operations_tenant_hk()', 'EXECUTE')")"
    assert_eq "grants: no SELECT on any auth table" "0" \
        "$("${PRIVATE[@]}" psql -X -t -A -d sqlw_grants -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, unnest(ARRAY['onevault_app','app_user']) AS r(role_name) WHERE n.nspname IN ('auth','raw','staging','audit','util') AND c.relkind = 'r' AND has_table_privilege(r.role_name, c.oid, 'SELECT')")"
    assert_eq "grants: app_user calls the function" "0000000000000000000000000000000000000000000000000000000000000001" \
        "$("${PRIVATE[@]}" psql -X -t -A -U app_user -d sqlw_grants -c "SELECT encode(util.get_system_operations_tenant_hk(), 'hex')")"
    assert_eq "grants: recorded in the log row" "[\"app_user\", \"onevault_app\"]" \
        "$("${PRIVATE[@]}" psql -X -t -A -d sqlw_grants -c "SELECT details->'execute_granted_to' FROM util.migration_log WHERE version = 'V001'")"
else
    fail "grants scenario needs root, an OS user postgres and PostgreSQL 15 binaries to start a private cluster"
fi

printf '\n%d passed, %d failed\n' "$PASSED" "$FAILED"
[[ "$FAILED" -eq 0 ]]
