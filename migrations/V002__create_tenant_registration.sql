-- =============================================================================
-- V002 tenant registration and tenant isolation (forward)
--
-- What it does
--   Adds tenant registration through the api schema and makes the database
--   enforce tenant isolation:
--     - api.tenant_register(jsonb): lands the request in raw (without the
--       password, under the system tenant), validates it in staging, and
--       only then loads the tenant, its profile, the admin user with profile
--       and bcrypt credential, the default roles Administrator and User, and
--       the admin's link to Administrator in auth. Every attempt leaves one
--       audit event. Failures, also those raised by the database, are
--       recorded as FAILED and answered with a stable error code.
--     - api.tenant_list(jsonb) and api.tenant_get(jsonb) for the system
--       operations database role.
--     - row level security, enabled and forced, on every table of the
--       schemas auth, raw, staging and audit that has a tenant_hk column,
--       keyed on the setting onevault.current_tenant_hk.
--     - the NOLOGIN database roles onevault_app (may execute
--       api.tenant_register and nothing else) and onevault_system_operations
--       (may execute every api function, and row level security shows
--       the system tenant's rows to its members only).
--     - the nullable columns raw.tenant_registration_r.error_code,
--       staging.tenant_registration_s.status_reason and
--       staging.tenant_registration_s.error_code, which V000 lacks.
--   It records its run as one SUCCESS row in util.migration_log and as one
--   audit event under the platform key (util.get_platform_hk()).
--
-- Isolation model
--   A session chooses its tenant per transaction:
--       SELECT pg_catalog.set_config('onevault.current_tenant_hk', '<64 hex digits>', true);
--   A row of a protected table is visible and writable only when its
--   tenant_hk equals that tenant. Rows of the System Operations tenant and
--   platform audit events (the platform key, 32 zero bytes) also require
--   membership in onevault_system_operations. With no tenant set,
--   no row is visible. FORCE ROW LEVEL SECURITY applies this to table
--   owners too, except to the role that ran this migration (the migration
--   owner). A policy lets that role through, because migrations and the
--   SECURITY DEFINER api functions, which it owns, work across tenants.
--   Superusers and BYPASSRLS roles bypass row level security in PostgreSQL
--   whatever the policies say.
--
-- What it requires
--   V000 (platform foundation) and V001 (System Operations tenant), the
--   pgcrypto extension in schema public, and a role that owns the tables of
--   V000 and may create roles (CREATEROLE) or finds onevault_app and
--   onevault_system_operations already created. The prerequisite check
--   lists every missing object and stops with one error (SQLSTATE 55000)
--   before anything changes.
--
-- How it runs
--   The whole file is one transaction (BEGIN ... COMMIT) without psql
--   meta-commands, so psql -f, \i, pgAdmin and a driver that sends the file
--   as one simple-protocol query all behave the same: any error rolls back
--   everything. Do not run it inside an open transaction.
--   Run it with psql's ON_ERROR_ROLLBACK off, which is psql's default. When it
--   is on, psql wraps every statement in a savepoint and rolls back only the
--   statement that failed, so COMMIT commits the statements that succeeded
--   (and the run can even be logged as SUCCESS): the file is then no longer
--   all-or-nothing.
--   Running it again converges: missing roles, columns, functions,
--   policies and grants are created, functions are replaced, policies are
--   brought back to the definitions below, and role attributes are reset to
--   NOLOGIN without superuser, CREATEDB, CREATEROLE, REPLICATION or
--   BYPASSRLS. Database roles are cluster-wide, so a role that another
--   database's migration created is reused, and a concurrent creator is
--   tolerated.
--   Session settings read: onevault.client, onevault.checksum,
--   onevault.run_id and onevault.record_source (see V000). At run time the
--   policies read onevault.current_tenant_hk (see above), and
--   api.tenant_register reads onevault.password_bcrypt_cost (bcrypt cost,
--   10 to 15, default 10).
--
-- How to undo it
--   Run V002__rollback_tenant_registration.sql. It refuses while registered
--   tenants exist unless onevault.force_rollback is 'on'. It keeps the two
--   cluster-wide roles, because other databases of the cluster may use them.
-- =============================================================================

BEGIN;

DO $prerequisites$
DECLARE
    v_group record;
    v_missing text[] := ARRAY[]::text[];
    v_functions_before jsonb;
BEGIN
    RAISE NOTICE '🚀 Starting migration V002: Tenant Registration';
    RAISE NOTICE '📋 Prerequisites Check:';

    FOR v_group IN
        WITH required(position, label, item, present) AS (
            VALUES
                (1, 'Auth Schema', 'schema auth',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'auth')),
                (2, 'Raw Schema', 'schema raw',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'raw')),
                (3, 'Staging Schema', 'schema staging',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'staging')),
                (4, 'Audit Schema', 'schema audit',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'audit')),
                (5, 'Api Schema', 'schema api',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'api')),
                (6, 'Util Functions', 'function util.hash_binary(text)',
                    pg_catalog.to_regprocedure('util.hash_binary(text)') IS NOT NULL),
                (6, 'Util Functions', 'function util.hash_concat(text[])',
                    pg_catalog.to_regprocedure('util.hash_concat(text[])') IS NOT NULL),
                (6, 'Util Functions', 'function util.normalize_business_key(text)',
                    pg_catalog.to_regprocedure('util.normalize_business_key(text)') IS NOT NULL),
                (6, 'Util Functions', 'function util.current_load_date()',
                    pg_catalog.to_regprocedure('util.current_load_date()') IS NOT NULL),
                (6, 'Util Functions', 'function util.get_record_source()',
                    pg_catalog.to_regprocedure('util.get_record_source()') IS NOT NULL),
                (6, 'Util Functions', 'function util.get_platform_hk()',
                    pg_catalog.to_regprocedure('util.get_platform_hk()') IS NOT NULL),
                (6, 'Util Functions', 'function util.get_migration_run_id()',
                    pg_catalog.to_regprocedure('util.get_migration_run_id()') IS NOT NULL),
                (6, 'Util Functions', 'function util.record_migration_run(text, text, text, jsonb)',
                    pg_catalog.to_regprocedure('util.record_migration_run(text,text,text,jsonb)') IS NOT NULL),
                (6, 'Util Functions', 'function util.get_system_operations_tenant_hk()',
                    pg_catalog.to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL),
                (7, 'Audit Function', 'function audit.record_event(bytea, text, text, text, jsonb, text, text)',
                    pg_catalog.to_regprocedure('audit.record_event(bytea,text,text,text,jsonb,text,text)') IS NOT NULL),
                (8, 'Tenant Tables', 'table auth.tenant_h',
                    pg_catalog.to_regclass('auth.tenant_h') IS NOT NULL),
                (8, 'Tenant Tables', 'table auth.tenant_profile_s',
                    pg_catalog.to_regclass('auth.tenant_profile_s') IS NOT NULL),
                (9, 'User Tables', 'table auth.user_h',
                    pg_catalog.to_regclass('auth.user_h') IS NOT NULL),
                (9, 'User Tables', 'table auth.user_profile_s',
                    pg_catalog.to_regclass('auth.user_profile_s') IS NOT NULL),
                (9, 'User Tables', 'table auth.user_auth_s',
                    pg_catalog.to_regclass('auth.user_auth_s') IS NOT NULL),
                (10, 'Role Tables', 'table auth.role_h',
                    pg_catalog.to_regclass('auth.role_h') IS NOT NULL),
                (10, 'Role Tables', 'table auth.role_profile_s',
                    pg_catalog.to_regclass('auth.role_profile_s') IS NOT NULL),
                (10, 'Role Tables', 'table auth.user_role_l',
                    pg_catalog.to_regclass('auth.user_role_l') IS NOT NULL),
                (11, 'Registration Tables', 'table raw.tenant_registration_r',
                    pg_catalog.to_regclass('raw.tenant_registration_r') IS NOT NULL),
                (11, 'Registration Tables', 'table staging.tenant_registration_s',
                    pg_catalog.to_regclass('staging.tenant_registration_s') IS NOT NULL),
                (12, 'Audit Tables', 'table audit.audit_event_h',
                    pg_catalog.to_regclass('audit.audit_event_h') IS NOT NULL),
                (12, 'Audit Tables', 'table audit.audit_detail_s',
                    pg_catalog.to_regclass('audit.audit_detail_s') IS NOT NULL),
                (13, 'Extension pgcrypto', 'extension pgcrypto in schema public (public.crypt, public.gen_salt)',
                    pg_catalog.to_regprocedure('public.crypt(text,text)') IS NOT NULL
                    AND pg_catalog.to_regprocedure('public.gen_salt(text,integer)') IS NOT NULL)
        )
        SELECT required.label,
               pg_catalog.bool_and(required.present) AS present,
               pg_catalog.array_agg(required.item ORDER BY required.item) FILTER (WHERE NOT required.present) AS missing
        FROM required
        GROUP BY required.position, required.label
        ORDER BY required.position
    LOOP
        IF v_group.present THEN
            RAISE NOTICE '   %: ✅ EXISTS', v_group.label;
        ELSE
            RAISE NOTICE '   %: ❌ MISSING', v_group.label;
            v_missing := v_missing || v_group.missing;
        END IF;
    END LOOP;

    -- The system tenant is data, not schema: checked only when its table exists.
    IF pg_catalog.to_regclass('auth.tenant_h') IS NOT NULL THEN
        IF EXISTS (
            SELECT 1
            FROM auth.tenant_h
            WHERE tenant_hk = pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex')
              AND tenant_bk = 'SYSTEM_OPERATIONS'
        ) THEN
            RAISE NOTICE '   System Operations Tenant: ✅ EXISTS';
        ELSE
            RAISE NOTICE '   System Operations Tenant: ❌ MISSING';
            v_missing := v_missing || 'System Operations tenant row in auth.tenant_h (tenant_bk SYSTEM_OPERATIONS)'::text;
        END IF;
    END IF;

    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'V002 prerequisites missing: %', pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.to_jsonb(v_missing)::text,
                  HINT = 'Deploy V000 (platform foundation) and V001 (System Operations tenant) first, then run V002 again.';
    END IF;

    -- Definitions of the V002 functions before this run, so that the report
    -- can tell created, replaced and unchanged functions apart.
    SELECT COALESCE(
               pg_catalog.jsonb_object_agg(
                   p.oid::pg_catalog.regprocedure::text,
                   pg_catalog.md5(pg_catalog.pg_get_functiondef(p.oid))
               ),
               '{}'
           )
    INTO v_functions_before
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = p.pronamespace
    WHERE (n.nspname = 'api' AND p.proname IN ('tenant_register', 'tenant_list', 'tenant_get'))
       OR (n.nspname = 'util' AND p.proname IN (
               'get_password_bcrypt_cost',
               'registration_rule_outcome',
               'check_tenant_registration',
               'redact_tenant_registration_request',
               'load_tenant_registration',
               'classify_api_error',
               'describe_api_error',
               'describe_tenant'
           ));

    PERFORM pg_catalog.set_config('onevault.v002_functions_before', v_functions_before::text, true);

    -- Privileges on api before this run, so that the report can tell new
    -- grants from grants that were already in place.
    PERFORM pg_catalog.set_config(
        'onevault.v002_api_acl_before',
        (
            SELECT COALESCE(pg_catalog.string_agg(entry.acl, '; ' ORDER BY entry.acl), '')
            FROM (
                SELECT 'schema api ' || COALESCE(n.nspacl::text, 'default') AS acl
                FROM pg_catalog.pg_namespace AS n
                WHERE n.nspname = 'api'
                UNION ALL
                SELECT p.oid::pg_catalog.regprocedure::text || ' ' || COALESCE(p.proacl::text, 'default')
                FROM pg_catalog.pg_proc AS p
                JOIN pg_catalog.pg_namespace AS n
                    ON n.oid = p.pronamespace
                WHERE n.nspname = 'api'
                  AND p.proname IN ('tenant_register', 'tenant_list', 'tenant_get')
            ) AS entry
        ),
        true
    );

    -- Each step merges its outcome into this transaction-local setting, and
    -- the last step writes it to the migration log and the audit event.
    PERFORM pg_catalog.set_config('onevault.v002_outcome', '{}', true);
END
$prerequisites$;

-- -----------------------------------------------------------------------------
-- Database roles (cluster-wide)
-- -----------------------------------------------------------------------------

DO $roles$
DECLARE
    v_role_name text;
    v_role record;
    v_outcomes jsonb := '{}';
    v_outcome text;
BEGIN
    FOREACH v_role_name IN ARRAY ARRAY['onevault_app', 'onevault_system_operations'] LOOP
        v_outcome := 'unchanged';

        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = v_role_name) THEN
            -- Another database of the cluster may create the same role at the
            -- same moment. Its CREATE ROLE wins, and this one converges.
            BEGIN
                EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', v_role_name);
                v_outcome := 'created';
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    v_outcome := 'unchanged';
            END;
        END IF;

        SELECT rolcanlogin,
               rolsuper,
               rolcreatedb,
               rolcreaterole,
               rolreplication,
               rolbypassrls
        INTO v_role
        FROM pg_catalog.pg_roles
        WHERE rolname = v_role_name;

        -- Altered only when an attribute differs, so that concurrent runs in
        -- other databases do not update the same pg_authid row at once.
        IF v_role.rolcanlogin OR v_role.rolsuper OR v_role.rolcreatedb
           OR v_role.rolcreaterole OR v_role.rolreplication OR v_role.rolbypassrls THEN
            EXECUTE pg_catalog.format(
                'ALTER ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
                v_role_name
            );
            v_outcome := 'repaired';
        END IF;

        v_outcomes := v_outcomes || pg_catalog.jsonb_build_object(v_role_name, v_outcome);
    END LOOP;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_each_text(v_outcomes) AS entry WHERE entry.value <> 'unchanged') THEN
        RAISE NOTICE 'ℹ️ Tenant Registration Roles already exist (onevault_app, onevault_system_operations)';
    ELSIF NOT EXISTS (SELECT 1 FROM pg_catalog.jsonb_each_text(v_outcomes) AS entry WHERE entry.value <> 'created') THEN
        RAISE NOTICE '✅ Created Tenant Registration Roles (onevault_app, onevault_system_operations)';
    ELSE
        RAISE NOTICE '✅ Repaired Tenant Registration Roles (%)', v_outcomes::text;
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_outcome',
        (pg_catalog.current_setting('onevault.v002_outcome')::jsonb
            || pg_catalog.jsonb_build_object('roles', v_outcomes))::text,
        true
    );
END
$roles$;

-- -----------------------------------------------------------------------------
-- Columns that V000 lacks
-- -----------------------------------------------------------------------------

DO $columns_before$
BEGIN
    PERFORM pg_catalog.set_config(
        'onevault.v002_columns_before',
        (
            SELECT pg_catalog.count(*)
            FROM pg_catalog.pg_attribute
            WHERE NOT attisdropped
              AND (
                  (attrelid = 'raw.tenant_registration_r'::pg_catalog.regclass AND attname = 'error_code')
                  OR (attrelid = 'staging.tenant_registration_s'::pg_catalog.regclass AND attname IN ('status_reason', 'error_code'))
              )
        )::text,
        true
    );
    PERFORM pg_catalog.set_config('onevault.v002_saved_client_min_messages', pg_catalog.current_setting('client_min_messages'), true);
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
END
$columns_before$;

-- ADD COLUMN IF NOT EXISTS takes an ACCESS EXCLUSIVE lock even when the
-- column exists, so a run that finds the columns in place skips the ALTER
-- and does not block concurrent registrations.
DO $add_columns$
BEGIN
    IF NOT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_attribute
        WHERE attrelid = 'raw.tenant_registration_r'::pg_catalog.regclass
          AND attname = 'error_code'
          AND NOT attisdropped
    ) THEN
        ALTER TABLE raw.tenant_registration_r
            ADD COLUMN IF NOT EXISTS error_code text;
    END IF;

    IF NOT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_attribute
        WHERE attrelid = 'staging.tenant_registration_s'::pg_catalog.regclass
          AND attname = 'status_reason'
          AND NOT attisdropped
    ) THEN
        ALTER TABLE staging.tenant_registration_s
            ADD COLUMN IF NOT EXISTS status_reason text;
    END IF;

    IF NOT EXISTS (
        SELECT 1
        FROM pg_catalog.pg_attribute
        WHERE attrelid = 'staging.tenant_registration_s'::pg_catalog.regclass
          AND attname = 'error_code'
          AND NOT attisdropped
    ) THEN
        ALTER TABLE staging.tenant_registration_s
            ADD COLUMN IF NOT EXISTS error_code text;
    END IF;
END
$add_columns$;

-- The rollback drops a column only when its comment starts with "Added by
-- V002", so a column of the same name that V000 adds later is kept.
COMMENT ON COLUMN raw.tenant_registration_r.error_code IS
    'Added by V002. Stable error code of a FAILED registration (for example VALIDATION_FAILED, CONFLICT, TIMEOUT), NULL otherwise.';
COMMENT ON COLUMN staging.tenant_registration_s.status_reason IS
    'Added by V002. Why the row is FAILED: the failed rules, or the error code, step and SQLSTATE of a database error. NULL otherwise.';
COMMENT ON COLUMN staging.tenant_registration_s.error_code IS
    'Added by V002. Stable error code of a FAILED registration, NULL otherwise.';

DO $columns_report$
DECLARE
    v_before integer := pg_catalog.current_setting('onevault.v002_columns_before')::integer;
    v_outcome text;
BEGIN
    PERFORM pg_catalog.set_config(
        'client_min_messages',
        pg_catalog.current_setting('onevault.v002_saved_client_min_messages'),
        true
    );

    IF v_before = 3 THEN
        v_outcome := 'unchanged';
        RAISE NOTICE 'ℹ️ Registration Status Columns already exist';
    ELSIF v_before = 0 THEN
        v_outcome := 'created';
        RAISE NOTICE '✅ Created Registration Status Columns';
    ELSE
        v_outcome := 'repaired';
        RAISE NOTICE '✅ Repaired Registration Status Columns (% of 3 added)', 3 - v_before;
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_outcome',
        (pg_catalog.current_setting('onevault.v002_outcome')::jsonb
            || pg_catalog.jsonb_build_object('columns', v_outcome))::text,
        true
    );
END
$columns_report$;

-- -----------------------------------------------------------------------------
-- Helper functions (util), callable only by their owner
-- -----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION util.get_password_bcrypt_cost()
RETURNS integer
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    c_default_cost CONSTANT integer := 10;
    c_min_cost CONSTANT integer := 10;
    c_max_cost CONSTANT integer := 15;
    v_setting text := NULLIF(pg_catalog.btrim(pg_catalog.current_setting('onevault.password_bcrypt_cost', true)), '');
BEGIN
    IF v_setting IS NULL THEN
        RETURN c_default_cost;
    END IF;

    IF v_setting !~ '^[0-9]{1,2}$' OR v_setting::integer NOT BETWEEN c_min_cost AND c_max_cost THEN
        RAISE EXCEPTION 'onevault.password_bcrypt_cost must be a whole number from % to %, but it is "%"',
            c_min_cost, c_max_cost, pg_catalog.left(v_setting, 20)
            USING ERRCODE = 'OV001',
                  HINT = 'Reset the setting, or set it to a cost from 10 to 15 (each step doubles the hashing time).';
    END IF;

    RETURN v_setting::integer;
END;
$function$;

COMMENT ON FUNCTION util.get_password_bcrypt_cost() IS
    'Returns the bcrypt cost for new password hashes: the setting onevault.password_bcrypt_cost, or 10 when it is unset or empty. Raises SQLSTATE OV001 when the setting is not a whole number from 10 to 15, so that no caller can lower the cost below 10. Each step of the cost doubles the hashing time. Created by V002.';

CREATE OR REPLACE FUNCTION util.registration_rule_outcome(
    p_field text,
    p_rule text,
    p_passed boolean,
    p_message text
)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $function$
    SELECT pg_catalog.jsonb_build_object(
               'field', p_field,
               'rule', p_rule,
               'outcome', CASE WHEN p_passed IS NULL THEN 'skipped' WHEN p_passed THEN 'passed' ELSE 'failed' END
           )
           || CASE
                  WHEN p_passed IS NOT TRUE THEN pg_catalog.jsonb_build_object('message', p_message)
                  ELSE '{}'::jsonb
              END
$function$;

COMMENT ON FUNCTION util.registration_rule_outcome(text, text, boolean, text) IS
    'Builds one entry of a validation result: {field, rule, outcome} with outcome passed (p_passed true), failed (false) or skipped (NULL, because an earlier rule of the field failed), plus the message for failed and skipped rules. Created by V002.';

CREATE OR REPLACE FUNCTION util.check_tenant_registration(p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    c_known_fields CONSTANT text[] := ARRAY['tenant_name', 'admin_email', 'admin_password', 'admin_first_name', 'admin_last_name'];
    c_tenant_name_min_chars CONSTANT integer := 2;
    c_tenant_name_max_chars CONSTANT integer := 100;
    -- Letters and digits of ASCII, space and . , & ' _ -, starting with a
    -- letter or digit. ASCII only, so that upper() in the business key does
    -- not depend on the database's locale.
    c_tenant_name_pattern CONSTANT text := '^[A-Za-z0-9][A-Za-z0-9 .,&''_-]*$';
    c_email_max_chars CONSTANT integer := 254;
    c_email_local_max_chars CONSTANT integer := 64;
    c_email_pattern CONSTANT text :=
        '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+([.][A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*'
        || '@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?[.])+[A-Za-z]{2,63}$';
    c_password_min_chars CONSTANT integer := 12;
    -- bcrypt ignores every byte after the 72nd, so a longer password would
    -- be accepted with only its first 72 bytes mattering.
    c_password_max_bytes CONSTANT integer := 72;
    c_person_name_max_chars CONSTANT integer := 100;
    v_results jsonb := '[]';
    v_key text;
    v_field text;
    v_value jsonb;
    v_text text;
    v_passed boolean;
    v_tenant_name text;
    v_tenant_name_ok boolean := false;
    v_email text;
    v_email_ok boolean := false;
    v_password text;
BEGIN
    IF p_request IS NULL OR pg_catalog.jsonb_typeof(p_request) <> 'object' THEN
        RETURN pg_catalog.jsonb_build_array(
            util.registration_rule_outcome('request', 'object', false, 'The request must be a JSON object.')
        );
    END IF;
    v_results := v_results || util.registration_rule_outcome('request', 'object', true, NULL);

    FOR v_key IN
        SELECT key
        FROM pg_catalog.jsonb_object_keys(p_request) AS key
        WHERE NOT key = ANY (c_known_fields)
        ORDER BY key
    LOOP
        v_results := v_results || util.registration_rule_outcome(
            pg_catalog.left(v_key, 64),
            'known_field',
            false,
            'This field is not part of a registration request. Known fields: tenant_name, admin_email, admin_password, admin_first_name, admin_last_name.'
        );
    END LOOP;

    -- Required text fields: required, then type, then the field's own rules.
    -- A field whose earlier rule failed has its later rules skipped.
    FOREACH v_field IN ARRAY ARRAY['tenant_name', 'admin_email', 'admin_password'] LOOP
        v_value := p_request -> v_field;
        v_text := NULL;

        IF v_value IS NULL OR pg_catalog.jsonb_typeof(v_value) = 'null' THEN
            v_results := v_results
                || util.registration_rule_outcome(v_field, 'required', false, pg_catalog.format('%s is required.', v_field))
                || util.registration_rule_outcome(v_field, 'type', NULL, 'Not checked because the field is missing.');
        ELSIF pg_catalog.jsonb_typeof(v_value) <> 'string' THEN
            v_results := v_results
                || util.registration_rule_outcome(v_field, 'required', true, NULL)
                || util.registration_rule_outcome(v_field, 'type', false, pg_catalog.format('%s must be a JSON string, not %s.', v_field, pg_catalog.jsonb_typeof(v_value)));
        ELSIF (v_field = 'admin_password' AND v_value #>> '{}' = '')
              OR (v_field <> 'admin_password' AND pg_catalog.btrim(v_value #>> '{}', E' \t\r\n') = '') THEN
            v_results := v_results
                || util.registration_rule_outcome(v_field, 'required', false, pg_catalog.format('%s is required and must not be blank.', v_field))
                || util.registration_rule_outcome(v_field, 'type', true, NULL);
        ELSE
            v_results := v_results
                || util.registration_rule_outcome(v_field, 'required', true, NULL)
                || util.registration_rule_outcome(v_field, 'type', true, NULL);
            v_text := v_value #>> '{}';
        END IF;

        IF v_field = 'tenant_name' THEN
            -- The display form: trimmed, inner whitespace collapsed to one space.
            v_tenant_name := pg_catalog.regexp_replace(pg_catalog.btrim(v_text, E' \t\r\n'), '[[:space:]]+', ' ', 'g');
            IF v_text IS NULL THEN
                v_results := v_results
                    || util.registration_rule_outcome(v_field, 'min_length', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'max_length', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'allowed_characters', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'not_registered', NULL, 'Not checked because an earlier rule failed.');
            ELSE
                v_tenant_name_ok := true;

                v_passed := pg_catalog.char_length(v_tenant_name) >= c_tenant_name_min_chars;
                v_tenant_name_ok := v_tenant_name_ok AND v_passed;
                v_results := v_results || util.registration_rule_outcome(v_field, 'min_length', v_passed,
                    pg_catalog.format('tenant_name must be at least %s characters long.', c_tenant_name_min_chars));

                v_passed := pg_catalog.char_length(v_tenant_name) <= c_tenant_name_max_chars;
                v_tenant_name_ok := v_tenant_name_ok AND v_passed;
                v_results := v_results || util.registration_rule_outcome(v_field, 'max_length', v_passed,
                    pg_catalog.format('tenant_name must be at most %s characters long.', c_tenant_name_max_chars));

                v_passed := v_tenant_name ~ c_tenant_name_pattern;
                v_tenant_name_ok := v_tenant_name_ok AND v_passed;
                v_results := v_results || util.registration_rule_outcome(v_field, 'allowed_characters', v_passed,
                    'tenant_name may contain only the letters A-Z and a-z, digits, spaces and . , & '' _ -, and must start with a letter or digit.');

                IF v_tenant_name_ok THEN
                    -- The same normalisation as the business key, so that names that
                    -- differ only in case or spacing are the same tenant.
                    v_passed := NOT EXISTS (
                        SELECT 1
                        FROM auth.tenant_h
                        WHERE tenant_bk = util.normalize_business_key(v_tenant_name)
                    );
                    v_tenant_name_ok := v_passed;
                    v_results := v_results || util.registration_rule_outcome(v_field, 'not_registered', v_passed,
                        'A tenant with this name is already registered (names are compared without regard to case and spacing).');
                ELSE
                    v_results := v_results || util.registration_rule_outcome(v_field, 'not_registered', NULL, 'Not checked because an earlier rule failed.');
                END IF;
            END IF;

        ELSIF v_field = 'admin_email' THEN
            v_email := pg_catalog.btrim(v_text, E' \t\r\n');
            IF v_text IS NULL THEN
                v_results := v_results
                    || util.registration_rule_outcome(v_field, 'max_length', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'syntax', NULL, 'Not checked because an earlier rule failed.');
            ELSE
                v_passed := pg_catalog.char_length(v_email) <= c_email_max_chars;
                v_email_ok := v_passed;
                v_results := v_results || util.registration_rule_outcome(v_field, 'max_length', v_passed,
                    pg_catalog.format('admin_email must be at most %s characters long.', c_email_max_chars));

                v_passed := v_email ~ c_email_pattern
                    AND pg_catalog.char_length(pg_catalog.split_part(v_email, '@', 1)) <= c_email_local_max_chars;
                v_email_ok := v_email_ok AND v_passed;
                v_results := v_results || util.registration_rule_outcome(v_field, 'syntax', v_passed,
                    pg_catalog.format('admin_email must be an e-mail address such as name@example.com, with at most %s characters before the @.', c_email_local_max_chars));
            END IF;

        ELSE
            v_password := v_text;
            IF v_password IS NULL THEN
                v_results := v_results
                    || util.registration_rule_outcome(v_field, 'min_length', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'max_length', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'not_email', NULL, 'Not checked because an earlier rule failed.')
                    || util.registration_rule_outcome(v_field, 'not_tenant_name', NULL, 'Not checked because an earlier rule failed.');
            ELSE
                v_results := v_results || util.registration_rule_outcome(v_field, 'min_length',
                    pg_catalog.char_length(v_password) >= c_password_min_chars,
                    pg_catalog.format('admin_password must be at least %s characters long.', c_password_min_chars));

                v_results := v_results || util.registration_rule_outcome(v_field, 'max_length',
                    pg_catalog.octet_length(v_password) <= c_password_max_bytes,
                    pg_catalog.format('admin_password must be at most %s bytes long in UTF-8, because bcrypt ignores the bytes after that.', c_password_max_bytes));

                v_results := v_results || util.registration_rule_outcome(v_field, 'not_email',
                    CASE
                        WHEN v_email IS NULL THEN NULL
                        ELSE pg_catalog.lower(pg_catalog.btrim(v_password, E' \t\r\n')) <> pg_catalog.lower(v_email)
                    END,
                    CASE
                        WHEN v_email IS NULL THEN 'Not checked because admin_email is missing or not a string.'
                        ELSE 'admin_password must not be the admin e-mail address.'
                    END);

                v_results := v_results || util.registration_rule_outcome(v_field, 'not_tenant_name',
                    CASE
                        WHEN v_tenant_name IS NULL THEN NULL
                        ELSE util.normalize_business_key(v_password) <> util.normalize_business_key(v_tenant_name)
                    END,
                    CASE
                        WHEN v_tenant_name IS NULL THEN 'Not checked because tenant_name is missing or not a string.'
                        ELSE 'admin_password must not be the tenant name.'
                    END);
            END IF;
        END IF;
    END LOOP;

    -- Optional name fields: a string or null, at most 100 characters, no
    -- control characters.
    FOREACH v_field IN ARRAY ARRAY['admin_first_name', 'admin_last_name'] LOOP
        v_value := p_request -> v_field;

        IF v_value IS NULL OR pg_catalog.jsonb_typeof(v_value) = 'null' THEN
            CONTINUE;
        END IF;

        IF pg_catalog.jsonb_typeof(v_value) <> 'string' THEN
            v_results := v_results
                || util.registration_rule_outcome(v_field, 'type', false, pg_catalog.format('%s must be a JSON string or null, not %s.', v_field, pg_catalog.jsonb_typeof(v_value)))
                || util.registration_rule_outcome(v_field, 'max_length', NULL, 'Not checked because an earlier rule failed.')
                || util.registration_rule_outcome(v_field, 'allowed_characters', NULL, 'Not checked because an earlier rule failed.');
            CONTINUE;
        END IF;

        v_text := pg_catalog.btrim(v_value #>> '{}', E' \t\r\n');
        v_results := v_results
            || util.registration_rule_outcome(v_field, 'type', true, NULL)
            || util.registration_rule_outcome(v_field, 'max_length', pg_catalog.char_length(v_text) <= c_person_name_max_chars,
                   pg_catalog.format('%s must be at most %s characters long.', v_field, c_person_name_max_chars))
            || util.registration_rule_outcome(v_field, 'allowed_characters', v_text !~ '[[:cntrl:]]',
                   pg_catalog.format('%s must not contain control characters such as tabs or line breaks.', v_field));
    END LOOP;

    RETURN v_results;
END;
$function$;

COMMENT ON FUNCTION util.check_tenant_registration(jsonb) IS
    'Validates a tenant registration request and returns one outcome per rule (see util.registration_rule_outcome), in a fixed order. Rules: request object and known_field; tenant_name required, type (string), min_length 2, max_length 100 (after trimming and collapsing whitespace), allowed_characters (ASCII letters, digits, space and . , & '' _ -, starting with a letter or digit), not_registered (no auth.tenant_h row with the same util.normalize_business_key); admin_email required, type, max_length 254, syntax (local part at most 64 characters); admin_password required, type, min_length 12 characters, max_length 72 bytes, not_email, not_tenant_name (both compared without regard to case); admin_first_name and admin_last_name optional: type (string or null), max_length 100, allowed_characters (no control characters). Never returns the password. Created by V002.';

CREATE OR REPLACE FUNCTION util.redact_tenant_registration_request(p_request jsonb)
RETURNS jsonb
LANGUAGE sql
IMMUTABLE
AS $function$
    SELECT CASE
        WHEN pg_catalog.jsonb_typeof(p_request) = 'object' THEN
            COALESCE(
                (
                    SELECT pg_catalog.jsonb_object_agg(
                        field.name,
                        CASE pg_catalog.jsonb_typeof(p_request -> field.name)
                            WHEN 'string' THEN pg_catalog.to_jsonb(pg_catalog.left(p_request ->> field.name, 1000))
                            WHEN 'object' THEN pg_catalog.jsonb_build_object('json_type', 'object')
                            WHEN 'array' THEN pg_catalog.jsonb_build_object('json_type', 'array')
                            ELSE p_request -> field.name
                        END
                    )
                    FROM pg_catalog.unnest(ARRAY['tenant_name', 'admin_email', 'admin_first_name', 'admin_last_name']) AS field(name)
                    WHERE p_request ? field.name
                ),
                '{}'::jsonb
            )
            || COALESCE(
                (
                    SELECT pg_catalog.jsonb_build_object(
                        'unknown_fields',
                        pg_catalog.jsonb_agg(pg_catalog.left(key, 64) ORDER BY key)
                    )
                    FROM pg_catalog.jsonb_object_keys(p_request) AS key
                    WHERE key <> ALL (ARRAY['tenant_name', 'admin_email', 'admin_password', 'admin_first_name', 'admin_last_name'])
                    HAVING pg_catalog.count(*) > 0
                ),
                '{}'::jsonb
            )
        ELSE
            pg_catalog.jsonb_build_object('request_json_type', COALESCE(pg_catalog.jsonb_typeof(p_request), 'sql_null'))
    END
$function$;

COMMENT ON FUNCTION util.redact_tenant_registration_request(jsonb) IS
    'Returns the part of a registration request that may be stored in raw: tenant_name, admin_email, admin_first_name and admin_last_name, strings cut to 1000 characters, objects and arrays replaced by their JSON type, plus the names of unknown fields (cut to 64 characters) under unknown_fields. admin_password and the values of unknown fields are never included. For a request that is not a JSON object, returns only its JSON type. Created by V002.';

CREATE OR REPLACE FUNCTION util.load_tenant_registration(
    p_tenant_name text,
    p_tenant_bk text,
    p_admin_email text,
    p_admin_first_name text,
    p_admin_last_name text,
    p_password_hash text
)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    c_tenant_type CONSTANT text := 'BUSINESS';
    c_tenant_status CONSTANT text := 'ACTIVE';
    c_max_users CONSTANT integer := 100;
    c_compliance_frameworks CONSTANT text[] := ARRAY[]::text[];
    v_tenant_hk bytea := util.hash_binary(p_tenant_bk);
    v_tenant_hex text;
    v_user_bk text := util.normalize_business_key(p_admin_email);
    v_user_hk bytea;
    v_username text := pg_catalog.lower(p_admin_email);
    v_load_date timestamptz := util.current_load_date();
    v_record_source text := util.get_record_source();
    v_role record;
    v_role_hk bytea;
    v_admin_role_hk bytea;
    v_roles jsonb := '[]';
BEGIN
    IF p_password_hash IS NULL OR p_password_hash !~ '^[$]2[abxy][$]' THEN
        RAISE EXCEPTION 'util.load_tenant_registration needs a bcrypt password hash'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    v_tenant_hex := pg_catalog.encode(v_tenant_hk, 'hex');
    v_user_hk := util.hash_concat(v_tenant_hex, v_user_bk);

    INSERT INTO auth.tenant_h (tenant_hk, tenant_bk, load_date, record_source)
    VALUES (v_tenant_hk, p_tenant_bk, v_load_date, v_record_source);

    INSERT INTO auth.tenant_profile_s (
        tenant_hk,
        load_date,
        load_end_date,
        hash_diff,
        tenant_name,
        tenant_type,
        tenant_status,
        max_users,
        compliance_frameworks,
        contact_email,
        is_active,
        record_source
    )
    VALUES (
        v_tenant_hk,
        v_load_date,
        NULL,
        util.hash_concat(
            p_tenant_name,
            c_tenant_type,
            c_tenant_status,
            c_max_users::text,
            c_compliance_frameworks::text,
            p_admin_email,
            true::text
        ),
        p_tenant_name,
        c_tenant_type,
        c_tenant_status,
        c_max_users,
        c_compliance_frameworks,
        p_admin_email,
        true,
        v_record_source
    );

    INSERT INTO auth.user_h (user_hk, user_bk, tenant_hk, load_date, record_source)
    VALUES (v_user_hk, v_user_bk, v_tenant_hk, v_load_date, v_record_source);

    INSERT INTO auth.user_profile_s (
        user_hk,
        load_date,
        load_end_date,
        hash_diff,
        tenant_hk,
        first_name,
        last_name,
        email,
        is_active,
        record_source
    )
    VALUES (
        v_user_hk,
        v_load_date,
        NULL,
        util.hash_concat(p_admin_first_name, p_admin_last_name, p_admin_email, true::text),
        v_tenant_hk,
        p_admin_first_name,
        p_admin_last_name,
        p_admin_email,
        true,
        v_record_source
    );

    -- hash_diff covers the credential and the counters. Timestamps are left
    -- out because their text form depends on the TimeZone setting.
    INSERT INTO auth.user_auth_s (
        user_hk,
        load_date,
        load_end_date,
        hash_diff,
        tenant_hk,
        username,
        password_hash,
        failed_login_attempts,
        locked_until,
        last_login_at,
        password_changed_at,
        must_change_password,
        record_source
    )
    VALUES (
        v_user_hk,
        v_load_date,
        NULL,
        util.hash_concat(v_username, p_password_hash, 0::text, false::text),
        v_tenant_hk,
        v_username,
        p_password_hash,
        0,
        NULL,
        NULL,
        v_load_date,
        false,
        v_record_source
    );

    FOR v_role IN
        SELECT defaults.role_bk,
               defaults.role_name,
               defaults.permissions,
               defaults.description
        FROM (
            VALUES
                (1, 'ADMINISTRATOR', 'Administrator',
                    ARRAY['TENANT_ADMIN', 'USER_MANAGEMENT', 'ROLE_MANAGEMENT', 'DATA_READ', 'DATA_WRITE', 'AUDIT_READ']::text[],
                    'Manages the tenant: its users, their roles, its data and its audit trail.'),
                (2, 'USER', 'User',
                    ARRAY['DATA_READ', 'DATA_WRITE', 'PROFILE_SELF_MANAGE']::text[],
                    'Works with the tenant''s data and manages their own profile.')
        ) AS defaults(position, role_bk, role_name, permissions, description)
        ORDER BY defaults.position
    LOOP
        v_role_hk := util.hash_concat(v_tenant_hex, v_role.role_bk);

        INSERT INTO auth.role_h (role_hk, role_bk, tenant_hk, load_date, record_source)
        VALUES (v_role_hk, v_role.role_bk, v_tenant_hk, v_load_date, v_record_source);

        INSERT INTO auth.role_profile_s (
            role_hk,
            load_date,
            load_end_date,
            hash_diff,
            tenant_hk,
            role_name,
            role_type,
            is_system_role,
            permissions,
            description,
            record_source
        )
        VALUES (
            v_role_hk,
            v_load_date,
            NULL,
            util.hash_concat(v_role.role_name, 'TENANT_DEFAULT', false::text, v_role.permissions::text, v_role.description),
            v_tenant_hk,
            v_role.role_name,
            'TENANT_DEFAULT',
            false,
            v_role.permissions,
            v_role.description,
            v_record_source
        );

        IF v_role.role_bk = 'ADMINISTRATOR' THEN
            v_admin_role_hk := v_role_hk;
        END IF;

        v_roles := v_roles || pg_catalog.jsonb_build_object(
            'role_id', pg_catalog.encode(v_role_hk, 'hex'),
            'role_bk', v_role.role_bk,
            'role_name', v_role.role_name,
            'permissions', pg_catalog.to_jsonb(v_role.permissions)
        );
    END LOOP;

    INSERT INTO auth.user_role_l (link_user_role_hk, user_hk, role_hk, tenant_hk, load_date, record_source)
    VALUES (
        util.hash_concat(pg_catalog.encode(v_user_hk, 'hex'), pg_catalog.encode(v_admin_role_hk, 'hex')),
        v_user_hk,
        v_admin_role_hk,
        v_tenant_hk,
        v_load_date,
        v_record_source
    );

    RETURN pg_catalog.jsonb_build_object(
        'tenant_id', v_tenant_hex,
        'tenant_bk', p_tenant_bk,
        'tenant_name', p_tenant_name,
        'admin_user_id', pg_catalog.encode(v_user_hk, 'hex'),
        'admin_username', v_username,
        'roles', v_roles,
        'registered_at', pg_catalog.to_char(v_load_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
    );
END;
$function$;

COMMENT ON FUNCTION util.load_tenant_registration(text, text, text, text, text, text) IS
    'Loads one validated registration into auth and returns {tenant_id, tenant_bk, tenant_name, admin_user_id, admin_username, roles, registered_at}. Keys: tenant_hk = util.hash_binary(tenant_bk) where tenant_bk = util.normalize_business_key(tenant name), so the key depends on the name only; user_bk = util.normalize_business_key(admin e-mail) and user_hk = util.hash_concat(hex tenant_hk, user_bk); role_hk = util.hash_concat(hex tenant_hk, role_bk) for the default roles ADMINISTRATOR and USER; link_user_role_hk = util.hash_concat(hex user_hk, hex role_hk). The tenant profile is BUSINESS, ACTIVE, 100 users, contact e-mail = admin e-mail. hash_diff of user_profile_s is util.hash_concat(first_name, last_name, email, is_active), of user_auth_s util.hash_concat(username, password_hash, failed_login_attempts, must_change_password). Raises on any conflict; the caller runs it in a subtransaction. Created by V002.';

CREATE OR REPLACE FUNCTION util.classify_api_error(p_sqlstate text, p_constraint text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $function$
    SELECT CASE
        WHEN p_sqlstate = '23505' AND p_constraint IN ('tenant_h_tenant_bk_key', 'tenant_h_pkey') THEN 'TENANT_NAME_TAKEN'
        WHEN p_sqlstate = 'OV001' THEN 'CONFIGURATION_INVALID'
        WHEN p_sqlstate IN ('42883', '42P01', '3F000') THEN 'PREREQUISITE_MISSING'
        WHEN p_sqlstate IN ('40001', '40P01') THEN 'CONFLICT'
        WHEN p_sqlstate IN ('57014', '55P03') THEN 'TIMEOUT'
        WHEN p_sqlstate = '25006' THEN 'READ_ONLY'
        WHEN pg_catalog.left(p_sqlstate, 2) = '23' THEN 'CONSTRAINT_VIOLATION'
        WHEN pg_catalog.left(p_sqlstate, 2) = '53' THEN 'RESOURCES_EXHAUSTED'
        ELSE 'INTERNAL_ERROR'
    END
$function$;

COMMENT ON FUNCTION util.classify_api_error(text, text) IS
    'Maps the SQLSTATE (and constraint name) of an error caught in an api function to a stable error code: TENANT_NAME_TAKEN (unique violation on the tenant hub), CONFIGURATION_INVALID (OV001), PREREQUISITE_MISSING (42883 undefined function, 42P01 undefined table, 3F000 undefined schema: a migration is missing or damaged), CONFLICT (40001 serialization failure, 40P01 deadlock), TIMEOUT (57014 statement timeout or cancel, 55P03 lock timeout), READ_ONLY (25006), CONSTRAINT_VIOLATION (other class 23), RESOURCES_EXHAUSTED (class 53), INTERNAL_ERROR (anything else). Created by V002.';

CREATE OR REPLACE FUNCTION util.describe_api_error(p_error_code text)
RETURNS text
LANGUAGE sql
IMMUTABLE
AS $function$
    SELECT CASE p_error_code
        WHEN 'VALIDATION_FAILED' THEN 'The request is invalid. Correct the fields listed in errors and send it again.'
        WHEN 'TENANT_NOT_FOUND' THEN 'No tenant matches the request.'
        WHEN 'CONFLICT' THEN 'The request conflicted with a concurrent change and was not completed. Send it again.'
        WHEN 'TIMEOUT' THEN 'The request timed out or was cancelled and was not completed. Send it again later.'
        WHEN 'READ_ONLY' THEN 'The database accepts no changes in this session (a read-only transaction or a standby). Send the request to the primary server.'
        WHEN 'CONSTRAINT_VIOLATION' THEN 'The request broke a data integrity rule of the database and was not completed. Report the request_id to the operator.'
        WHEN 'CONFIGURATION_INVALID' THEN 'The server configuration for this request is invalid, so it was not completed. Report the request_id to the operator.'
        WHEN 'PREREQUISITE_MISSING' THEN 'A database object that the request needs does not exist, so it was not completed. Report the request to the operator, who finds the object with onevault verify.'
        WHEN 'RESOURCES_EXHAUSTED' THEN 'The database ran out of resources and did not complete the request. Send it again later.'
        ELSE 'The request failed because of an internal error and was not completed. Report the request_id to the operator.'
    END
$function$;

COMMENT ON FUNCTION util.describe_api_error(text) IS
    'Returns the message that api functions send with a stable error code. Messages never contain SQLERRM, constraint names or request values. Created by V002.';

CREATE OR REPLACE FUNCTION util.describe_tenant(p_tenant_hk bytea)
RETURNS jsonb
LANGUAGE sql
STABLE
AS $function$
    SELECT pg_catalog.jsonb_build_object(
        'tenant_id', pg_catalog.encode(hub.tenant_hk, 'hex'),
        'tenant_bk', hub.tenant_bk,
        'tenant_name', profile.tenant_name,
        'tenant_type', profile.tenant_type,
        'tenant_status', profile.tenant_status,
        'is_active', profile.is_active,
        'max_users', profile.max_users,
        'contact_email', profile.contact_email,
        'compliance_frameworks', pg_catalog.to_jsonb(profile.compliance_frameworks),
        'registered_at', pg_catalog.to_char(hub.load_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'is_system_tenant', hub.tenant_hk = util.get_system_operations_tenant_hk(),
        'user_count', (SELECT pg_catalog.count(*) FROM auth.user_h AS users WHERE users.tenant_hk = hub.tenant_hk),
        'role_count', (SELECT pg_catalog.count(*) FROM auth.role_h AS roles WHERE roles.tenant_hk = hub.tenant_hk)
    )
    FROM auth.tenant_h AS hub
    LEFT JOIN auth.tenant_profile_s AS profile
        ON profile.tenant_hk = hub.tenant_hk
       AND profile.load_end_date IS NULL
    WHERE hub.tenant_hk = p_tenant_hk
$function$;

COMMENT ON FUNCTION util.describe_tenant(bytea) IS
    'Returns one tenant as JSON: tenant_id (hex tenant_hk), tenant_bk, the current profile, registered_at (hub load_date in UTC, ISO 8601), is_system_tenant, user_count and role_count. Returns NULL for an unknown key. Created by V002.';

-- -----------------------------------------------------------------------------
-- api functions
-- -----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION api.tenant_register(p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    c_system_tenant_hk CONSTANT bytea := util.get_system_operations_tenant_hk();
    v_started_at timestamptz := pg_catalog.clock_timestamp();
    v_record_source text := util.get_record_source();
    v_password text;
    v_password_hash text;
    v_outcomes jsonb;
    v_errors jsonb := '[]';
    v_is_valid boolean := false;
    v_tenant_name text;
    v_tenant_bk text;
    v_admin_email text;
    v_first_name text;
    v_last_name text;
    v_raw_id bigint;
    v_staging_id bigint;
    v_data jsonb;
    v_step text;
    v_failed_step text;
    v_error_code text;
    v_sqlstate text;
    v_error_message text;
    v_error_constraint text;
    v_error_table text;
    v_reason text;
    v_details jsonb;
BEGIN
    -- The password lives only in this variable and in p_request. It is
    -- never stored, logged or put into a message: raw gets the redacted
    -- request, staging the rule outcomes, auth the bcrypt hash.
    IF pg_catalog.jsonb_typeof(p_request -> 'admin_password') = 'string' THEN
        v_password := p_request ->> 'admin_password';
    END IF;

    -- Step 1, in a subtransaction: validate, hash, land in raw and staging.
    BEGIN
        v_step := 'validate';
        v_outcomes := util.check_tenant_registration(p_request);

        SELECT COALESCE(
                   pg_catalog.jsonb_agg(
                       pg_catalog.jsonb_build_object('field', entry.outcome ->> 'field', 'rule', entry.outcome ->> 'rule', 'message', entry.outcome ->> 'message')
                       ORDER BY entry.position
                   ),
                   '[]'
               )
        INTO v_errors
        FROM pg_catalog.jsonb_array_elements(v_outcomes) WITH ORDINALITY AS entry(outcome, position)
        WHERE entry.outcome ->> 'outcome' = 'failed';
        v_is_valid := pg_catalog.jsonb_array_length(v_errors) = 0;

        IF pg_catalog.jsonb_typeof(p_request -> 'tenant_name') = 'string' THEN
            v_tenant_name := pg_catalog.left(
                pg_catalog.regexp_replace(pg_catalog.btrim(p_request ->> 'tenant_name', E' \t\r\n'), '[[:space:]]+', ' ', 'g'),
                1000
            );
            v_tenant_bk := util.normalize_business_key(v_tenant_name);
        END IF;
        IF pg_catalog.jsonb_typeof(p_request -> 'admin_email') = 'string' THEN
            v_admin_email := pg_catalog.left(pg_catalog.btrim(p_request ->> 'admin_email', E' \t\r\n'), 1000);
        END IF;
        IF pg_catalog.jsonb_typeof(p_request -> 'admin_first_name') = 'string' THEN
            v_first_name := NULLIF(pg_catalog.left(pg_catalog.btrim(p_request ->> 'admin_first_name', E' \t\r\n'), 1000), '');
        END IF;
        IF pg_catalog.jsonb_typeof(p_request -> 'admin_last_name') = 'string' THEN
            v_last_name := NULLIF(pg_catalog.left(pg_catalog.btrim(p_request ->> 'admin_last_name', E' \t\r\n'), 1000), '');
        END IF;

        -- Hashed before anything is stored, and only for a valid request.
        IF v_is_valid THEN
            v_step := 'hash_password';
            v_password_hash := public.crypt(v_password, public.gen_salt('bf', util.get_password_bcrypt_cost()));
        END IF;

        v_step := 'land_raw';
        INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, status, record_source)
        VALUES (c_system_tenant_hk, util.redact_tenant_registration_request(p_request), v_started_at, 'RECEIVED', v_record_source)
        RETURNING raw_registration_id INTO v_raw_id;

        v_step := 'stage';
        INSERT INTO staging.tenant_registration_s (
            raw_registration_id,
            tenant_hk,
            tenant_bk,
            tenant_name,
            contact_email,
            admin_email,
            admin_first_name,
            admin_last_name,
            validation_results,
            is_valid,
            status,
            processed_at,
            record_source
        )
        VALUES (
            v_raw_id,
            c_system_tenant_hk,
            v_tenant_bk,
            v_tenant_name,
            v_admin_email,
            v_admin_email,
            v_first_name,
            v_last_name,
            v_outcomes,
            v_is_valid,
            CASE WHEN v_is_valid THEN 'VALID' ELSE 'PENDING' END,
            pg_catalog.clock_timestamp(),
            v_record_source
        )
        RETURNING staging_registration_id INTO v_staging_id;

        IF NOT v_is_valid THEN
            v_error_code := 'VALIDATION_FAILED';
            v_failed_step := 'validate';
        END IF;
    EXCEPTION
        WHEN OTHERS OR query_canceled THEN
            GET STACKED DIAGNOSTICS
                v_sqlstate = RETURNED_SQLSTATE,
                v_error_message = MESSAGE_TEXT,
                v_error_constraint = CONSTRAINT_NAME,
                v_error_table = TABLE_NAME;
            v_failed_step := v_step;
            v_error_code := util.classify_api_error(v_sqlstate, v_error_constraint);
            -- The subtransaction's rows are gone, whatever the variables say.
            v_raw_id := NULL;
            v_staging_id := NULL;
    END;

    -- Step 2, in a subtransaction: load auth, mark LOADED, audit the success.
    IF v_error_code IS NULL THEN
        BEGIN
            v_step := 'load_auth';
            v_data := util.load_tenant_registration(v_tenant_name, v_tenant_bk, v_admin_email, v_first_name, v_last_name, v_password_hash);

            v_step := 'mark_loaded';
            UPDATE raw.tenant_registration_r
            SET status = 'LOADED',
                status_reason = NULL,
                error_code = NULL
            WHERE raw_registration_id = v_raw_id;

            UPDATE staging.tenant_registration_s
            SET status = 'LOADED',
                processed_at = pg_catalog.clock_timestamp()
            WHERE staging_registration_id = v_staging_id;

            v_step := 'audit';
            PERFORM audit.record_event(
                c_system_tenant_hk,
                'TENANT_REGISTRATION',
                'REGISTER',
                'SUCCESS',
                pg_catalog.jsonb_build_object(
                    'request_id', v_raw_id,
                    'staging_registration_id', v_staging_id,
                    'tenant_id', v_data ->> 'tenant_id',
                    'tenant_bk', v_tenant_bk,
                    'admin_user_id', v_data ->> 'admin_user_id',
                    'duration_ms', pg_catalog.round((EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - v_started_at) * 1000)::numeric, 1)
                ),
                'api',
                'tenant_register'
            );

            RETURN pg_catalog.jsonb_build_object(
                'success', true,
                'data', v_data || pg_catalog.jsonb_build_object('request_id', v_raw_id)
            );
        EXCEPTION
            WHEN OTHERS OR query_canceled THEN
                GET STACKED DIAGNOSTICS
                    v_sqlstate = RETURNED_SQLSTATE,
                    v_error_message = MESSAGE_TEXT,
                    v_error_constraint = CONSTRAINT_NAME,
                    v_error_table = TABLE_NAME;
                v_failed_step := v_step;
                v_error_code := util.classify_api_error(v_sqlstate, v_error_constraint);
        END;
    END IF;

    -- A concurrent registration of the same name committed first: answer as
    -- the not_registered rule would have.
    IF v_error_code = 'TENANT_NAME_TAKEN' THEN
        v_error_code := 'VALIDATION_FAILED';
        v_is_valid := false;
        v_errors := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
            'field', 'tenant_name',
            'rule', 'not_registered',
            'message', 'A tenant with this name is already registered (names are compared without regard to case and spacing).'
        ));
        SELECT pg_catalog.jsonb_agg(
                   CASE
                       WHEN entry.outcome ->> 'field' = 'tenant_name' AND entry.outcome ->> 'rule' = 'not_registered'
                           THEN entry.outcome || pg_catalog.jsonb_build_object('outcome', 'failed', 'message', v_errors -> 0 ->> 'message')
                       ELSE entry.outcome
                   END
                   ORDER BY entry.position
               )
        INTO v_outcomes
        FROM pg_catalog.jsonb_array_elements(v_outcomes) WITH ORDINALITY AS entry(outcome, position);
    END IF;

    IF v_error_code <> 'VALIDATION_FAILED' THEN
        v_errors := '[]';
    END IF;

    -- Step 3, outside the failed work: mark raw and staging FAILED and audit
    -- the failure. These writes survive the error caught above.
    IF v_error_code = 'VALIDATION_FAILED' THEN
        SELECT 'Validation failed: ' || pg_catalog.string_agg((error ->> 'field') || '.' || (error ->> 'rule'), ', ')
        INTO v_reason
        FROM pg_catalog.jsonb_array_elements(v_errors) AS error;
    ELSE
        -- SQLERRM can quote values, so it is kept only when it cannot
        -- contain the password.
        IF v_password IS NOT NULL AND v_password <> '' AND pg_catalog.strpos(v_error_message, v_password) > 0 THEN
            v_error_message := '(message withheld because it contained request data)';
        END IF;
        v_reason := pg_catalog.format(
            '%s at step %s: SQLSTATE %s%s: %s',
            v_error_code,
            v_failed_step,
            v_sqlstate,
            CASE WHEN v_error_constraint <> '' THEN pg_catalog.format(' (constraint %s on %s)', v_error_constraint, v_error_table) ELSE '' END,
            pg_catalog.left(v_error_message, 500)
        );
    END IF;

    BEGIN
        v_step := 'record_failure';
        IF v_raw_id IS NULL THEN
            -- Step 1 failed before or while landing the request. Land it now,
            -- or an empty payload when the request itself cannot be stored.
            BEGIN
                INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, status, status_reason, error_code, record_source)
                VALUES (c_system_tenant_hk, util.redact_tenant_registration_request(p_request), v_started_at, 'FAILED', v_reason, v_error_code, v_record_source)
                RETURNING raw_registration_id INTO v_raw_id;
            EXCEPTION
                WHEN OTHERS THEN
                    INSERT INTO raw.tenant_registration_r (tenant_hk, request_payload, received_at, status, status_reason, error_code, record_source)
                    VALUES (c_system_tenant_hk, '{}'::jsonb, v_started_at, 'FAILED', v_reason || ' (request not stored because storing it failed)', v_error_code, v_record_source)
                    RETURNING raw_registration_id INTO v_raw_id;
            END;
        ELSE
            UPDATE raw.tenant_registration_r
            SET status = 'FAILED',
                status_reason = v_reason,
                error_code = v_error_code
            WHERE raw_registration_id = v_raw_id;
        END IF;

        IF v_staging_id IS NULL THEN
            INSERT INTO staging.tenant_registration_s (
                raw_registration_id,
                tenant_hk,
                tenant_bk,
                tenant_name,
                contact_email,
                admin_email,
                validation_results,
                is_valid,
                status,
                processed_at,
                status_reason,
                error_code,
                record_source
            )
            VALUES (
                v_raw_id,
                c_system_tenant_hk,
                v_tenant_bk,
                v_tenant_name,
                v_admin_email,
                v_admin_email,
                COALESCE(v_outcomes, '[]'),
                false,
                'FAILED',
                pg_catalog.clock_timestamp(),
                v_reason,
                v_error_code,
                v_record_source
            )
            RETURNING staging_registration_id INTO v_staging_id;
        ELSE
            UPDATE staging.tenant_registration_s
            SET status = 'FAILED',
                is_valid = CASE WHEN v_error_code = 'VALIDATION_FAILED' THEN false ELSE is_valid END,
                validation_results = COALESCE(v_outcomes, validation_results),
                processed_at = pg_catalog.clock_timestamp(),
                status_reason = v_reason,
                error_code = v_error_code
            WHERE staging_registration_id = v_staging_id;
        END IF;

        v_details := pg_catalog.jsonb_build_object(
            'request_id', v_raw_id,
            'staging_registration_id', v_staging_id,
            'error_code', v_error_code,
            'failed_step', v_failed_step,
            'sqlstate', v_sqlstate,
            'failed_rules', (
                SELECT COALESCE(pg_catalog.jsonb_agg((error ->> 'field') || '.' || (error ->> 'rule')), '[]')
                FROM pg_catalog.jsonb_array_elements(v_errors) AS error
            ),
            'tenant_bk', v_tenant_bk,
            'duration_ms', pg_catalog.round((EXTRACT(EPOCH FROM pg_catalog.clock_timestamp() - v_started_at) * 1000)::numeric, 1)
        );
        PERFORM audit.record_event(c_system_tenant_hk, 'TENANT_REGISTRATION', 'REGISTER', 'FAILURE', v_details, 'api', 'tenant_register');
    EXCEPTION
        WHEN OTHERS OR query_canceled THEN
            GET STACKED DIAGNOSTICS v_sqlstate = RETURNED_SQLSTATE;
            -- NOTE: nothing of this attempt is stored when recording the
            -- failure fails too. The server log gets the SQLSTATE only.
            RAISE WARNING 'api.tenant_register could not record a failed registration (error code %): SQLSTATE %', v_error_code, v_sqlstate;
            v_raw_id := NULL;
    END;

    RETURN pg_catalog.jsonb_build_object(
        'success', false,
        'error_code', v_error_code,
        'message', util.describe_api_error(v_error_code),
        'errors', v_errors
    )
    || CASE WHEN v_raw_id IS NULL THEN '{}'::jsonb ELSE pg_catalog.jsonb_build_object('request_id', v_raw_id) END;
END;
$function$;

COMMENT ON FUNCTION api.tenant_register(jsonb) IS
    'Registers a tenant. Request keys: tenant_name, admin_email, admin_password (required), admin_first_name, admin_last_name (optional). Lands the request without the password in raw.tenant_registration_r under the system tenant, records every rule outcome in staging.tenant_registration_s (see util.check_tenant_registration), and for a valid request loads auth (see util.load_tenant_registration) with the password as a bcrypt hash of cost util.get_password_bcrypt_cost(). Returns {success: true, data: {tenant_id, tenant_bk, tenant_name, admin_user_id, admin_username, roles, registered_at, request_id}} or {success: false, error_code, message, errors: [{field, rule, message}], request_id}. Error codes: VALIDATION_FAILED (errors lists every failed rule), CONFLICT, TIMEOUT, READ_ONLY, CONSTRAINT_VIOLATION, CONFIGURATION_INVALID, PREREQUISITE_MISSING, RESOURCES_EXHAUSTED, INTERNAL_ERROR. A failure leaves no auth rows, marks the raw and staging rows FAILED with the reason and writes an audit event; these writes survive a database error because the failed work runs in a subtransaction. Every attempt writes one TENANT_REGISTRATION audit event under the system tenant. Returns a response for every error it can catch, timeouts and cancels included. Only a terminated session or a server crash ends the call without one. Runs as its owner; executable by onevault_app and onevault_system_operations. Created by V002.';

CREATE OR REPLACE FUNCTION api.tenant_list(p_request jsonb DEFAULT '{}'::jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    c_default_limit CONSTANT integer := 100;
    c_max_limit CONSTANT integer := 1000;
    v_request jsonb := COALESCE(p_request, '{}'::jsonb);
    v_errors jsonb := '[]';
    v_key text;
    v_limit integer := c_default_limit;
    v_offset integer := 0;
    v_tenants jsonb;
    v_total bigint;
    v_sqlstate text;
    v_error_message text;
    v_error_code text;
BEGIN
    IF pg_catalog.jsonb_typeof(v_request) <> 'object' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'request', 'rule', 'object', 'message', 'The request must be a JSON object.');
    ELSE
        FOR v_key IN
            SELECT key
            FROM pg_catalog.jsonb_object_keys(v_request) AS key
            WHERE key NOT IN ('limit', 'offset')
            ORDER BY key
        LOOP
            v_errors := v_errors || pg_catalog.jsonb_build_object('field', pg_catalog.left(v_key, 64), 'rule', 'known_field',
                'message', 'This field is not part of a tenant list request. Known fields: limit, offset.');
        END LOOP;

        IF v_request ? 'limit' THEN
            IF pg_catalog.jsonb_typeof(v_request -> 'limit') = 'number'
               AND (v_request ->> 'limit') ~ '^[0-9]{1,7}$'
               AND (v_request ->> 'limit')::integer BETWEEN 1 AND c_max_limit THEN
                v_limit := (v_request ->> 'limit')::integer;
            ELSE
                v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'limit', 'rule', 'range',
                    'message', pg_catalog.format('limit must be a whole number from 1 to %s.', c_max_limit));
            END IF;
        END IF;

        IF v_request ? 'offset' THEN
            IF pg_catalog.jsonb_typeof(v_request -> 'offset') = 'number' AND (v_request ->> 'offset') ~ '^[0-9]{1,9}$' THEN
                v_offset := (v_request ->> 'offset')::integer;
            ELSE
                v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'offset', 'rule', 'range',
                    'message', 'offset must be a whole number from 0 to 999999999.');
            END IF;
        END IF;
    END IF;

    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RETURN pg_catalog.jsonb_build_object(
            'success', false,
            'error_code', 'VALIDATION_FAILED',
            'message', util.describe_api_error('VALIDATION_FAILED'),
            'errors', v_errors
        );
    END IF;

    BEGIN
        SELECT pg_catalog.count(*)
        INTO v_total
        FROM auth.tenant_h;

        SELECT COALESCE(pg_catalog.jsonb_agg(util.describe_tenant(page.tenant_hk) ORDER BY page.load_date, page.tenant_bk), '[]')
        INTO v_tenants
        FROM (
            SELECT tenant_hk,
                   tenant_bk,
                   load_date
            FROM auth.tenant_h
            ORDER BY load_date, tenant_bk
            LIMIT v_limit
            OFFSET v_offset
        ) AS page;

        RETURN pg_catalog.jsonb_build_object(
            'success', true,
            'data', pg_catalog.jsonb_build_object(
                'tenants', v_tenants,
                'total', v_total,
                'limit', v_limit,
                'offset', v_offset
            )
        );
    EXCEPTION
        WHEN OTHERS OR query_canceled THEN
            GET STACKED DIAGNOSTICS
                v_sqlstate = RETURNED_SQLSTATE,
                v_error_message = MESSAGE_TEXT;
            v_error_code := util.classify_api_error(v_sqlstate, NULL);
            -- The caller may execute this function only as a member of
            -- onevault_system_operations, so naming the missing object
            -- tells an operator, not an application, what to deploy.
            RETURN pg_catalog.jsonb_build_object(
                'success', false,
                'error_code', v_error_code,
                'message', util.describe_api_error(v_error_code),
                'errors', '[]'::jsonb
            )
            || CASE
                   WHEN v_error_code = 'PREREQUISITE_MISSING'
                   THEN pg_catalog.jsonb_build_object('missing_object', v_error_message)
                   ELSE '{}'::jsonb
               END;
    END;
END;
$function$;

COMMENT ON FUNCTION api.tenant_list(jsonb) IS
    'Lists tenants, the System Operations tenant included, in order of registration. Request keys (optional): limit (1 to 1000, default 100), offset (default 0). Returns {success: true, data: {tenants: [util.describe_tenant(...)], total, limit, offset}} or {success: false, error_code, message, errors}. Runs as its owner and sees every tenant, so only onevault_system_operations may execute it. Created by V002.';

CREATE OR REPLACE FUNCTION api.tenant_get(p_request jsonb)
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    v_errors jsonb := '[]';
    v_key text;
    v_tenant_hk bytea;
    v_tenant jsonb;
    v_roles jsonb;
    v_administrators jsonb;
    v_sqlstate text;
    v_error_message text;
    v_error_code text;
BEGIN
    IF p_request IS NULL OR pg_catalog.jsonb_typeof(p_request) <> 'object' THEN
        v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'request', 'rule', 'object', 'message', 'The request must be a JSON object.');
    ELSE
        FOR v_key IN
            SELECT key
            FROM pg_catalog.jsonb_object_keys(p_request) AS key
            WHERE key NOT IN ('tenant_id', 'tenant_name')
            ORDER BY key
        LOOP
            v_errors := v_errors || pg_catalog.jsonb_build_object('field', pg_catalog.left(v_key, 64), 'rule', 'known_field',
                'message', 'This field is not part of a tenant get request. Known fields: tenant_id, tenant_name.');
        END LOOP;

        IF (p_request ? 'tenant_id') = (p_request ? 'tenant_name') THEN
            v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'tenant_id', 'rule', 'one_of',
                'message', 'Give exactly one of tenant_id and tenant_name.');
        ELSIF p_request ? 'tenant_id' THEN
            IF pg_catalog.jsonb_typeof(p_request -> 'tenant_id') = 'string' AND (p_request ->> 'tenant_id') ~ '^[0-9A-Fa-f]{64}$' THEN
                v_tenant_hk := pg_catalog.decode(p_request ->> 'tenant_id', 'hex');
            ELSE
                v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'tenant_id', 'rule', 'syntax',
                    'message', 'tenant_id must be 64 hexadecimal digits (the tenant hash key).');
            END IF;
        ELSIF pg_catalog.jsonb_typeof(p_request -> 'tenant_name') <> 'string' THEN
            v_errors := v_errors || pg_catalog.jsonb_build_object('field', 'tenant_name', 'rule', 'type',
                'message', 'tenant_name must be a JSON string.');
        END IF;
    END IF;

    IF pg_catalog.jsonb_array_length(v_errors) > 0 THEN
        RETURN pg_catalog.jsonb_build_object(
            'success', false,
            'error_code', 'VALIDATION_FAILED',
            'message', util.describe_api_error('VALIDATION_FAILED'),
            'errors', v_errors
        );
    END IF;

    BEGIN
        IF v_tenant_hk IS NULL THEN
            SELECT tenant_hk
            INTO v_tenant_hk
            FROM auth.tenant_h
            WHERE tenant_bk = util.normalize_business_key(p_request ->> 'tenant_name');
        END IF;

        v_tenant := util.describe_tenant(v_tenant_hk);
        IF v_tenant IS NULL THEN
            RETURN pg_catalog.jsonb_build_object(
                'success', false,
                'error_code', 'TENANT_NOT_FOUND',
                'message', util.describe_api_error('TENANT_NOT_FOUND'),
                'errors', '[]'::jsonb
            );
        END IF;

        SELECT COALESCE(
                   pg_catalog.jsonb_agg(
                       pg_catalog.jsonb_build_object(
                           'role_id', pg_catalog.encode(hub.role_hk, 'hex'),
                           'role_bk', hub.role_bk,
                           'role_name', profile.role_name,
                           'role_type', profile.role_type,
                           'is_system_role', profile.is_system_role,
                           'permissions', pg_catalog.to_jsonb(profile.permissions)
                       )
                       ORDER BY hub.load_date, hub.role_bk
                   ),
                   '[]'
               )
        INTO v_roles
        FROM auth.role_h AS hub
        LEFT JOIN auth.role_profile_s AS profile
            ON profile.role_hk = hub.role_hk
           AND profile.load_end_date IS NULL
        WHERE hub.tenant_hk = v_tenant_hk;

        SELECT COALESCE(
                   pg_catalog.jsonb_agg(
                       pg_catalog.jsonb_build_object(
                           'user_id', pg_catalog.encode(users.user_hk, 'hex'),
                           'email', profile.email,
                           'first_name', profile.first_name,
                           'last_name', profile.last_name,
                           'is_active', profile.is_active
                       )
                       ORDER BY users.load_date, users.user_bk
                   ),
                   '[]'
               )
        INTO v_administrators
        FROM auth.user_h AS users
        JOIN auth.user_role_l AS link
            ON link.user_hk = users.user_hk
        JOIN auth.role_h AS roles
            ON roles.role_hk = link.role_hk
           AND roles.tenant_hk = users.tenant_hk
           AND roles.role_bk = 'ADMINISTRATOR'
        LEFT JOIN auth.user_profile_s AS profile
            ON profile.user_hk = users.user_hk
           AND profile.load_end_date IS NULL
        WHERE users.tenant_hk = v_tenant_hk;

        RETURN pg_catalog.jsonb_build_object(
            'success', true,
            'data', v_tenant || pg_catalog.jsonb_build_object('roles', v_roles, 'administrators', v_administrators)
        );
    EXCEPTION
        WHEN OTHERS OR query_canceled THEN
            GET STACKED DIAGNOSTICS
                v_sqlstate = RETURNED_SQLSTATE,
                v_error_message = MESSAGE_TEXT;
            v_error_code := util.classify_api_error(v_sqlstate, NULL);
            -- The caller may execute this function only as a member of
            -- onevault_system_operations, so naming the missing object
            -- tells an operator, not an application, what to deploy.
            RETURN pg_catalog.jsonb_build_object(
                'success', false,
                'error_code', v_error_code,
                'message', util.describe_api_error(v_error_code),
                'errors', '[]'::jsonb
            )
            || CASE
                   WHEN v_error_code = 'PREREQUISITE_MISSING'
                   THEN pg_catalog.jsonb_build_object('missing_object', v_error_message)
                   ELSE '{}'::jsonb
               END;
    END;
END;
$function$;

COMMENT ON FUNCTION api.tenant_get(jsonb) IS
    'Returns one tenant. Request: {tenant_id: 64 hex digits} or {tenant_name: name, compared without regard to case and spacing}. Returns {success: true, data: {...util.describe_tenant(...), roles: [{role_id, role_bk, role_name, role_type, is_system_role, permissions}], administrators: [{user_id, email, first_name, last_name, is_active}]}}, or {success: false, error_code: VALIDATION_FAILED or TENANT_NOT_FOUND or another stable code, message, errors}. Runs as its owner and sees every tenant, so only onevault_system_operations may execute it. Created by V002.';

-- -----------------------------------------------------------------------------
-- Privileges
-- -----------------------------------------------------------------------------

REVOKE ALL ON FUNCTION util.get_password_bcrypt_cost() FROM PUBLIC;
REVOKE ALL ON FUNCTION util.registration_rule_outcome(text, text, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.check_tenant_registration(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.redact_tenant_registration_request(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.load_tenant_registration(text, text, text, text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.classify_api_error(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.describe_api_error(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION util.describe_tenant(bytea) FROM PUBLIC;

-- The application role reaches data only through the api functions, which
-- run as their owner. Table privileges granted to it by hand are removed.
-- Grants to onevault_system_operations are an operator's choice and stay.
REVOKE ALL ON ALL TABLES IN SCHEMA auth, raw, staging, audit, util FROM onevault_app;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA auth, raw, staging, audit, util FROM onevault_app;

GRANT USAGE ON SCHEMA api TO onevault_app, onevault_system_operations;

-- EXECUTE on the functions of schema api converges to this set: PUBLIC may
-- execute none of them, onevault_app only api.tenant_register(jsonb), and
-- onevault_system_operations every V002 function. Grants to other roles, and
-- grants to onevault_system_operations on api functions of later
-- migrations, are left as they are. A function whose ACL is still the
-- default (NULL, PUBLIC may execute) was just created, so that revoke is
-- silent. Every other revoke undoes a grant made by hand and is reported.
DO $api_privileges$
DECLARE
    c_app_function CONSTANT pg_catalog.regprocedure := 'api.tenant_register(jsonb)'::pg_catalog.regprocedure;
    v_function record;
    v_revoked text[] := ARRAY[]::text[];
BEGIN
    FOR v_function IN
        SELECT p.oid::pg_catalog.regprocedure AS function_oid,
               pg_catalog.format('%I.%I(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) AS signature,
               p.proacl IS NULL AS has_default_acl,
               EXISTS (
                   SELECT 1
                   FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS acl
                   WHERE acl.grantee = 0
                     AND acl.privilege_type = 'EXECUTE'
               ) AS public_can_execute,
               EXISTS (
                   SELECT 1
                   FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS acl
                   WHERE acl.grantee = 'onevault_app'::pg_catalog.regrole
                     AND acl.privilege_type = 'EXECUTE'
               ) AS app_can_execute
        FROM pg_catalog.pg_proc AS p
        JOIN pg_catalog.pg_namespace AS n
            ON n.oid = p.pronamespace
        WHERE n.nspname = 'api'
        ORDER BY p.proname, p.oid
    LOOP
        IF v_function.public_can_execute THEN
            EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_function.function_oid);
            IF NOT v_function.has_default_acl THEN
                v_revoked := v_revoked || pg_catalog.format('%s from PUBLIC', v_function.signature);
                RAISE NOTICE '🔒 Revoked EXECUTE on % from PUBLIC (granted outside V002)', v_function.signature;
            END IF;
        END IF;

        IF v_function.app_can_execute AND v_function.function_oid <> c_app_function THEN
            -- CASCADE also removes grants that onevault_app passed on with a
            -- grant option, which would otherwise make the revoke fail.
            EXECUTE pg_catalog.format('REVOKE EXECUTE ON FUNCTION %s FROM onevault_app CASCADE', v_function.function_oid);
            v_revoked := v_revoked || pg_catalog.format('%s from onevault_app', v_function.signature);
            RAISE NOTICE '🔒 Revoked EXECUTE on % from onevault_app (granted outside V002)', v_function.signature;
        END IF;
    END LOOP;

    PERFORM pg_catalog.set_config(
        'onevault.v002_outcome',
        (pg_catalog.current_setting('onevault.v002_outcome')::jsonb
            || pg_catalog.jsonb_build_object('api_execute_revoked', pg_catalog.to_jsonb(v_revoked)))::text,
        true
    );
END
$api_privileges$;

-- The block above already revoked EXECUTE from PUBLIC, so these REVOKEs
-- change nothing and only state the intent. The GRANTs add any intended
-- grant that is missing.
REVOKE ALL ON FUNCTION api.tenant_register(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION api.tenant_list(jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION api.tenant_get(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api.tenant_register(jsonb) TO onevault_app, onevault_system_operations;
GRANT EXECUTE ON FUNCTION api.tenant_list(jsonb) TO onevault_system_operations;
GRANT EXECUTE ON FUNCTION api.tenant_get(jsonb) TO onevault_system_operations;

DO $functions_report$
DECLARE
    v_before jsonb := pg_catalog.current_setting('onevault.v002_functions_before')::jsonb;
    v_after jsonb;
    v_created integer;
    v_replaced integer;
    v_outcome text;
BEGIN
    SELECT pg_catalog.jsonb_object_agg(
               p.oid::pg_catalog.regprocedure::text,
               pg_catalog.md5(pg_catalog.pg_get_functiondef(p.oid))
           )
    INTO v_after
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = p.pronamespace
    WHERE (n.nspname = 'api' AND p.proname IN ('tenant_register', 'tenant_list', 'tenant_get'))
       OR (n.nspname = 'util' AND p.proname IN (
               'get_password_bcrypt_cost',
               'registration_rule_outcome',
               'check_tenant_registration',
               'redact_tenant_registration_request',
               'load_tenant_registration',
               'classify_api_error',
               'describe_api_error',
               'describe_tenant'
           ));

    SELECT pg_catalog.count(*) FILTER (WHERE NOT v_before ? after_entry.key),
           pg_catalog.count(*) FILTER (WHERE v_before ? after_entry.key AND v_before ->> after_entry.key <> after_entry.value)
    INTO v_created,
         v_replaced
    FROM pg_catalog.jsonb_each_text(v_after) AS after_entry;

    IF v_created = 0 AND v_replaced = 0 THEN
        v_outcome := 'unchanged';
        RAISE NOTICE 'ℹ️ Tenant Registration Functions already exist (%)', (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v_after));
    ELSIF v_created = (SELECT pg_catalog.count(*) FROM pg_catalog.jsonb_object_keys(v_after)) THEN
        v_outcome := 'created';
        RAISE NOTICE '✅ Created Tenant Registration Functions (%)', v_created;
    ELSE
        v_outcome := 'repaired';
        RAISE NOTICE '✅ Updated Tenant Registration Functions (% created, % replaced)', v_created, v_replaced;
    END IF;

    IF pg_catalog.current_setting('onevault.v002_api_acl_before') = (
        SELECT COALESCE(pg_catalog.string_agg(entry.acl, '; ' ORDER BY entry.acl), '')
        FROM (
            SELECT 'schema api ' || COALESCE(n.nspacl::text, 'default') AS acl
            FROM pg_catalog.pg_namespace AS n
            WHERE n.nspname = 'api'
            UNION ALL
            SELECT p.oid::pg_catalog.regprocedure::text || ' ' || COALESCE(p.proacl::text, 'default')
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = p.pronamespace
            WHERE n.nspname = 'api'
              AND p.proname IN ('tenant_register', 'tenant_list', 'tenant_get')
        ) AS entry
        ) THEN
        RAISE NOTICE 'ℹ️ API Access already granted (onevault_app: api.tenant_register, onevault_system_operations: every api function)';
    ELSIF pg_catalog.jsonb_array_length(pg_catalog.current_setting('onevault.v002_outcome')::jsonb -> 'api_execute_revoked') > 0 THEN
        RAISE NOTICE '✅ Repaired API Access (onevault_app: api.tenant_register, onevault_system_operations: every api function)';
    ELSE
        RAISE NOTICE '✅ Granted API Access (onevault_app: api.tenant_register, onevault_system_operations: every api function)';
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_outcome',
        (pg_catalog.current_setting('onevault.v002_outcome')::jsonb
            || pg_catalog.jsonb_build_object('functions', v_outcome, 'functions_created', v_created, 'functions_replaced', v_replaced))::text,
        true
    );
END
$functions_report$;

-- -----------------------------------------------------------------------------
-- Row level security
-- -----------------------------------------------------------------------------

-- One definition for every table with a tenant_hk column in auth, raw,
-- staging and audit, so that a table added to V000 later is protected too.
-- The expression uses pg_catalog only, because a policy runs with the
-- privileges of the querying role, which may have no USAGE on util.
--
-- ALTER TABLE and CREATE, ALTER or DROP POLICY take an ACCESS EXCLUSIVE lock
-- on the table. A run that found this state in place must not take those
-- locks, because a concurrent api.tenant_register holds locks on several of
-- these tables and the two would deadlock. So each statement runs only when
-- the catalog differs from the definition below: row level security off or
-- not forced, a policy missing or different (a policy changed by hand is
-- brought back), or a policy of another name (dropped and reported).
DO $row_level_security$
DECLARE
    c_isolation_expression CONSTANT text :=
        'tenant_hk = pg_catalog.decode(NULLIF(pg_catalog.current_setting(''onevault.current_tenant_hk'', true), ''''), ''hex'')'
        || ' AND (tenant_hk NOT IN (pg_catalog.decode(''0000000000000000000000000000000000000000000000000000000000000001'', ''hex''),'
        || ' pg_catalog.decode(''0000000000000000000000000000000000000000000000000000000000000000'', ''hex''))'
        || ' OR pg_catalog.pg_has_role(''onevault_system_operations'', ''MEMBER''))';
    -- c_isolation_expression as pg_policies shows it (pg_get_expr). NOTE:
    -- this text is the output of PostgreSQL 15. A server that prints the
    -- expression differently makes every run recreate the isolation policies,
    -- which is correct but takes the locks described above.
    c_isolation_deparsed CONSTANT text :=
        '((tenant_hk = decode(NULLIF(current_setting(''onevault.current_tenant_hk''::text, true), ''''::text), ''hex''::text))'
        || ' AND ((tenant_hk <> ALL (ARRAY[decode(''0000000000000000000000000000000000000000000000000000000000000001''::text, ''hex''::text),'
        || ' decode(''0000000000000000000000000000000000000000000000000000000000000000''::text, ''hex''::text)]))'
        || ' OR pg_has_role(''onevault_system_operations''::name, ''MEMBER''::text)))';
    c_isolation_comment CONSTANT text :=
        'Created by V002. A row is visible and writable only when tenant_hk equals the hex key in the setting onevault.current_tenant_hk (set it per transaction with set_config(..., true)). Rows of the System Operations tenant and platform audit events (platform key, 32 zero bytes) also require membership in onevault_system_operations. No tenant set: no rows.';
    v_owner_comment text := pg_catalog.format(
        'Created by V002. Lets the migration owner %s through, which runs migrations and owns the SECURITY DEFINER api functions. FORCE ROW LEVEL SECURITY applies the isolation policy to every other table owner.',
        current_user
    );
    v_table record;
    v_policy record;
    v_table_name text;
    v_table_changed boolean;
    v_changed text[] := ARRAY[]::text[];
    v_tables text[] := ARRAY[]::text[];
    v_dropped_policies text[] := ARRAY[]::text[];
BEGIN
    FOR v_table IN
        SELECT c.oid AS table_oid,
               n.nspname AS schema_name,
               c.relname AS table_name,
               c.relrowsecurity,
               c.relforcerowsecurity
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n
            ON n.oid = c.relnamespace
        WHERE n.nspname IN ('auth', 'raw', 'staging', 'audit')
          AND c.relkind IN ('r', 'p')
          AND EXISTS (
              SELECT 1
              FROM pg_catalog.pg_attribute AS a
              WHERE a.attrelid = c.oid
                AND a.attname = 'tenant_hk'
                AND NOT a.attisdropped
          )
        ORDER BY n.nspname, c.relname
    LOOP
        v_table_name := pg_catalog.format('%I.%I', v_table.schema_name, v_table.table_name);
        v_tables := v_tables || v_table_name;
        v_table_changed := FALSE;

        -- Policies of other names: a permissive one would widen what every
        -- role sees, so the table keeps only the two policies below.
        FOR v_policy IN
            SELECT p.policyname
            FROM pg_catalog.pg_policies AS p
            WHERE p.schemaname = v_table.schema_name
              AND p.tablename = v_table.table_name
              AND p.policyname NOT IN ('onevault_tenant_isolation', 'onevault_migration_owner')
            ORDER BY p.policyname
        LOOP
            EXECUTE pg_catalog.format('DROP POLICY %I ON %I.%I', v_policy.policyname, v_table.schema_name, v_table.table_name);
            v_dropped_policies := v_dropped_policies || pg_catalog.format('%I on %s', v_policy.policyname, v_table_name);
            RAISE NOTICE '🔒 Dropped policy % on % (not created by V002)', pg_catalog.quote_ident(v_policy.policyname), v_table_name;
            v_table_changed := TRUE;
        END LOOP;

        IF NOT v_table.relrowsecurity THEN
            EXECUTE pg_catalog.format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', v_table.schema_name, v_table.table_name);
            v_table_changed := TRUE;
        END IF;
        IF NOT v_table.relforcerowsecurity THEN
            EXECUTE pg_catalog.format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', v_table.schema_name, v_table.table_name);
            v_table_changed := TRUE;
        END IF;

        -- A policy that differs is dropped and created again, because ALTER
        -- POLICY cannot change the command or PERMISSIVE/RESTRICTIVE.
        IF NOT EXISTS (
            SELECT 1
            FROM pg_catalog.pg_policies AS p
            WHERE p.schemaname = v_table.schema_name
              AND p.tablename = v_table.table_name
              AND p.policyname = 'onevault_tenant_isolation'
              AND p.permissive = 'PERMISSIVE'
              AND p.cmd = 'ALL'
              AND p.roles = ARRAY['public']::name[]
              AND p.qual = c_isolation_deparsed
              AND p.with_check = c_isolation_deparsed
        ) THEN
            IF EXISTS (
                SELECT 1
                FROM pg_catalog.pg_policy AS p
                WHERE p.polrelid = v_table.table_oid
                  AND p.polname = 'onevault_tenant_isolation'
            ) THEN
                EXECUTE pg_catalog.format('DROP POLICY onevault_tenant_isolation ON %I.%I', v_table.schema_name, v_table.table_name);
            END IF;
            EXECUTE pg_catalog.format(
                'CREATE POLICY onevault_tenant_isolation ON %I.%I AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)',
                v_table.schema_name, v_table.table_name, c_isolation_expression, c_isolation_expression
            );
            v_table_changed := TRUE;
        END IF;

        IF NOT EXISTS (
            SELECT 1
            FROM pg_catalog.pg_policies AS p
            WHERE p.schemaname = v_table.schema_name
              AND p.tablename = v_table.table_name
              AND p.policyname = 'onevault_migration_owner'
              AND p.permissive = 'PERMISSIVE'
              AND p.cmd = 'ALL'
              AND p.roles = ARRAY[current_user]::name[]
              AND p.qual = 'true'
              AND p.with_check = 'true'
        ) THEN
            IF EXISTS (
                SELECT 1
                FROM pg_catalog.pg_policy AS p
                WHERE p.polrelid = v_table.table_oid
                  AND p.polname = 'onevault_migration_owner'
            ) THEN
                EXECUTE pg_catalog.format('DROP POLICY onevault_migration_owner ON %I.%I', v_table.schema_name, v_table.table_name);
            END IF;
            EXECUTE pg_catalog.format(
                'CREATE POLICY onevault_migration_owner ON %I.%I AS PERMISSIVE FOR ALL TO %I USING (true) WITH CHECK (true)',
                v_table.schema_name, v_table.table_name, current_user
            );
            v_table_changed := TRUE;
        END IF;

        -- COMMENT ON POLICY takes a SHARE UPDATE EXCLUSIVE lock, which does
        -- not block writers, but it too runs only when the text differs.
        IF pg_catalog.obj_description(
               (SELECT p.oid FROM pg_catalog.pg_policy AS p WHERE p.polrelid = v_table.table_oid AND p.polname = 'onevault_tenant_isolation'),
               'pg_policy'
           ) IS DISTINCT FROM c_isolation_comment THEN
            EXECUTE pg_catalog.format(
                'COMMENT ON POLICY onevault_tenant_isolation ON %I.%I IS %L',
                v_table.schema_name, v_table.table_name, c_isolation_comment
            );
        END IF;
        IF pg_catalog.obj_description(
               (SELECT p.oid FROM pg_catalog.pg_policy AS p WHERE p.polrelid = v_table.table_oid AND p.polname = 'onevault_migration_owner'),
               'pg_policy'
           ) IS DISTINCT FROM v_owner_comment THEN
            EXECUTE pg_catalog.format(
                'COMMENT ON POLICY onevault_migration_owner ON %I.%I IS %L',
                v_table.schema_name, v_table.table_name, v_owner_comment
            );
        END IF;

        IF v_table_changed THEN
            v_changed := v_changed || v_table_name;
        END IF;
    END LOOP;

    IF pg_catalog.cardinality(v_changed) = 0 THEN
        RAISE NOTICE 'ℹ️ Tenant Row Level Security already enabled (% tables)', pg_catalog.cardinality(v_tables);
    ELSIF pg_catalog.cardinality(v_changed) = pg_catalog.cardinality(v_tables) THEN
        RAISE NOTICE '✅ Enabled Tenant Row Level Security (% tables)', pg_catalog.cardinality(v_tables);
    ELSE
        RAISE NOTICE '✅ Repaired Tenant Row Level Security (%)', pg_catalog.array_to_string(v_changed, ', ');
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_outcome',
        (pg_catalog.current_setting('onevault.v002_outcome')::jsonb
            || pg_catalog.jsonb_build_object(
                   'row_level_security_tables', pg_catalog.to_jsonb(v_tables),
                   'row_level_security_changed', pg_catalog.to_jsonb(v_changed),
                   'row_level_security_dropped_policies', pg_catalog.to_jsonb(v_dropped_policies),
                   'migration_owner', current_user
               ))::text,
        true
    );
END
$row_level_security$;

-- -----------------------------------------------------------------------------
-- Audit event and migration log row
-- -----------------------------------------------------------------------------

DO $record_run$
DECLARE
    v_details jsonb := pg_catalog.current_setting('onevault.v002_outcome')::jsonb;
BEGIN
    PERFORM audit.record_event(
        util.get_platform_hk(),
        'MIGRATION',
        'DEPLOY V002',
        'SUCCESS',
        v_details || pg_catalog.jsonb_build_object(
            'version', 'V002',
            'name', 'tenant_registration',
            'direction', 'FORWARD',
            'run_id', util.get_migration_run_id()
        )
    );
    PERFORM util.record_migration_run('V002', 'tenant_registration', 'FORWARD', v_details);

    RAISE NOTICE '🎉 Migration V002 completed successfully!';
END
$record_run$;

COMMIT;
