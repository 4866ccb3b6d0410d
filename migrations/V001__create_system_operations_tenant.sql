-- =============================================================================
-- V001 System Operations Tenant (forward)
--
-- What it does
--   Creates the System Operations tenant, which owns pre-registration data
--   and system-level operations:
--     - tenant hub auth.tenant_h: tenant_hk = 31 zero bytes then 0x01,
--       tenant_bk = SYSTEM_OPERATIONS
--     - tenant profile in auth.tenant_profile_s (System Operations Tenant,
--       SYSTEM, ACTIVE, 999 users, INTERNAL_AUDIT)
--     - role hub auth.role_h: role_hk = util.hash_binary('SYSTEM_OPERATIONS_ADMIN'),
--       role_bk = SYSTEM_OPERATIONS_ADMIN, owned by the system tenant
--     - role profile in auth.role_profile_s (System Operations Administrator)
--     - partial indexes idx_tenant_h_system_lookup and
--       idx_tenant_profile_s_system_active
--     - function util.get_system_operations_tenant_hk()
--   It records its run as one SUCCESS row in util.migration_log and as one
--   audit event under the platform key (util.get_platform_hk(), 32 zero
--   bytes), never under the system tenant's key.
--
-- What it requires
--   V000 (platform foundation). The prerequisite check lists every missing
--   object and stops with one error (SQLSTATE 55000) before anything changes.
--
-- How it runs
--   The whole file is one transaction (BEGIN ... COMMIT) without psql
--   meta-commands, so psql -f, \i, pgAdmin and a driver that sends the file
--   as one simple-protocol query all behave the same: any error rolls back
--   everything. Do not run it inside an open transaction.
--   Running it again converges instead of skipping: a missing profile,
--   role profile, index or function is created, an index with another
--   definition is rebuilt, the function is replaced, and a stored profile
--   that differs from the values below gets a new satellite version (the
--   current one is closed). Unchanged objects get no new rows.
--   Session settings read: onevault.client, onevault.checksum,
--   onevault.run_id and onevault.record_source (see V000).
--
-- How to undo it
--   Run V001__rollback_system_operations_tenant.sql.
-- =============================================================================

BEGIN;

DO $prerequisites$
DECLARE
    v_check record;
    v_missing text[] := ARRAY[]::text[];
    v_util_functions_missing boolean;
BEGIN
    RAISE NOTICE '🚀 Starting migration V001: System Operations Tenant';
    RAISE NOTICE '📋 Prerequisites Check:';

    SELECT pg_catalog.bool_or(pg_catalog.to_regprocedure(signature) IS NULL)
    INTO v_util_functions_missing
    FROM pg_catalog.unnest(ARRAY[
        'util.hash_binary(text)',
        'util.hash_concat(text[])',
        'util.current_load_date()',
        'util.get_record_source()',
        'util.get_platform_hk()',
        'util.get_migration_run_id()',
        'util.record_migration_run(text,text,text,jsonb)'
    ]) AS required(signature);

    FOR v_check IN
        SELECT checks.label,
               checks.item,
               checks.present
        FROM (
            VALUES
                (1, 'Auth Schema', 'schema auth',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'auth')),
                (2, 'Util Functions', NULL,
                    NOT v_util_functions_missing),
                (3, 'Tenant Table', 'table auth.tenant_h',
                    pg_catalog.to_regclass('auth.tenant_h') IS NOT NULL),
                (4, 'Tenant Profile Table', 'table auth.tenant_profile_s',
                    pg_catalog.to_regclass('auth.tenant_profile_s') IS NOT NULL),
                (5, 'Role Table', 'table auth.role_h',
                    pg_catalog.to_regclass('auth.role_h') IS NOT NULL),
                (6, 'Role Profile Table', 'table auth.role_profile_s',
                    pg_catalog.to_regclass('auth.role_profile_s') IS NOT NULL),
                (7, 'Function util.hash_binary(text)', 'function util.hash_binary(text)',
                    pg_catalog.to_regprocedure('util.hash_binary(text)') IS NOT NULL),
                (8, 'Function util.hash_concat(text[])', 'function util.hash_concat(text[])',
                    pg_catalog.to_regprocedure('util.hash_concat(text[])') IS NOT NULL),
                (9, 'Function util.current_load_date()', 'function util.current_load_date()',
                    pg_catalog.to_regprocedure('util.current_load_date()') IS NOT NULL),
                (10, 'Function util.get_record_source()', 'function util.get_record_source()',
                    pg_catalog.to_regprocedure('util.get_record_source()') IS NOT NULL),
                (11, 'Function util.get_platform_hk()', 'function util.get_platform_hk()',
                    pg_catalog.to_regprocedure('util.get_platform_hk()') IS NOT NULL),
                (12, 'Function util.get_migration_run_id()', 'function util.get_migration_run_id()',
                    pg_catalog.to_regprocedure('util.get_migration_run_id()') IS NOT NULL),
                (13, 'Function util.record_migration_run(text, text, text, jsonb)', 'function util.record_migration_run(text, text, text, jsonb)',
                    pg_catalog.to_regprocedure('util.record_migration_run(text,text,text,jsonb)') IS NOT NULL),
                (14, 'Migration Log', 'table util.migration_log',
                    pg_catalog.to_regclass('util.migration_log') IS NOT NULL),
                (15, 'Audit Function', 'function audit.record_event(bytea, text, text, text, jsonb, text, text)',
                    pg_catalog.to_regprocedure('audit.record_event(bytea,text,text,text,jsonb,text,text)') IS NOT NULL),
                (16, 'Extension pgcrypto', 'extension pgcrypto',
                    EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pgcrypto'))
        ) AS checks(position, label, item, present)
        ORDER BY checks.position
    LOOP
        IF v_check.present THEN
            RAISE NOTICE '   %: ✅ EXISTS', v_check.label;
        ELSE
            RAISE NOTICE '   %: ❌ MISSING', v_check.label;
            IF v_check.item IS NOT NULL THEN
                v_missing := v_missing || v_check.item;
            END IF;
        END IF;
    END LOOP;

    IF pg_catalog.cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'V001 prerequisites missing: %', pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.to_jsonb(v_missing)::text,
                  HINT = 'Deploy V000 (platform foundation) first, then run V001 again.';
    END IF;

    -- Each step merges its outcome into this transaction-local setting; the
    -- last step writes it to the migration log and the audit event.
    PERFORM pg_catalog.set_config('onevault.v001_outcome', '{}', TRUE);
END
$prerequisites$;

-- -----------------------------------------------------------------------------
-- Tenant hub
-- -----------------------------------------------------------------------------

DO $tenant_hub$
DECLARE
    c_tenant_hk CONSTANT bytea := pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex');
    c_tenant_bk CONSTANT text := 'SYSTEM_OPERATIONS';
    v_conflict text;
    v_inserted integer;
BEGIN
    -- A hub row that matches only one of the two keys cannot be converged
    -- safely, because other rows may already point at it.
    SELECT pg_catalog.string_agg(
               pg_catalog.format('tenant_hk %s with tenant_bk %s', pg_catalog.encode(tenant_hk, 'hex'), tenant_bk),
               '; '
           )
    INTO v_conflict
    FROM auth.tenant_h
    WHERE (tenant_hk = c_tenant_hk) <> (tenant_bk = c_tenant_bk)
      AND (tenant_hk = c_tenant_hk OR tenant_bk = c_tenant_bk);

    IF v_conflict IS NOT NULL THEN
        RAISE EXCEPTION 'V001 cannot create the System Operations tenant: auth.tenant_h already contains %', v_conflict
            USING ERRCODE = 'unique_violation',
                  HINT = 'The system tenant must have tenant_bk SYSTEM_OPERATIONS and tenant_hk 00...01. Repair or remove the conflicting row, then run V001 again.';
    END IF;

    INSERT INTO auth.tenant_h (
        tenant_hk,
        tenant_bk,
        load_date,
        record_source
    )
    VALUES (
        c_tenant_hk,
        c_tenant_bk,
        util.current_load_date(),
        util.get_record_source()
    )
    ON CONFLICT (tenant_hk) DO NOTHING;
    GET DIAGNOSTICS v_inserted = ROW_COUNT;

    IF v_inserted = 1 THEN
        RAISE NOTICE '✅ Created System Operations Tenant Hub';
    ELSE
        RAISE NOTICE 'ℹ️ System Operations Tenant Hub already exists';
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v001_outcome',
        (pg_catalog.current_setting('onevault.v001_outcome')::jsonb
            || pg_catalog.jsonb_build_object('tenant_hub', CASE WHEN v_inserted = 1 THEN 'created' ELSE 'unchanged' END))::text,
        TRUE
    );
END
$tenant_hub$;

-- -----------------------------------------------------------------------------
-- Tenant profile
-- -----------------------------------------------------------------------------

DO $tenant_profile$
DECLARE
    c_tenant_hk CONSTANT bytea := pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex');
    v_package record;
    v_package_hash_diff bytea;
    v_current record;
    v_has_current boolean;
    v_load_date timestamptz;
    v_outcome text;
BEGIN
    -- NOTE: contact_email is a placeholder on a reserved domain. A re-run
    -- restores every value below, so change them here, not in the table.
    SELECT 'System Operations Tenant'::text AS tenant_name,
           'SYSTEM'::text AS tenant_type,
           'ACTIVE'::text AS tenant_status,
           999 AS max_users,
           ARRAY['INTERNAL_AUDIT']::text[] AS compliance_frameworks,
           'system-operations@onevault.invalid'::text AS contact_email,
           TRUE AS is_active
    INTO v_package;

    v_package_hash_diff := util.hash_concat(
        v_package.tenant_name,
        v_package.tenant_type,
        v_package.tenant_status,
        v_package.max_users::text,
        v_package.compliance_frameworks::text,
        v_package.contact_email,
        v_package.is_active::text
    );

    -- The hash is recomputed from the stored columns instead of trusting the
    -- stored hash_diff, so a column edited in place is detected too.
    SELECT profile.load_date,
           profile.hash_diff,
           util.hash_concat(
               profile.tenant_name,
               profile.tenant_type,
               profile.tenant_status,
               profile.max_users::text,
               profile.compliance_frameworks::text,
               profile.contact_email,
               profile.is_active::text
           ) AS column_hash_diff
    INTO v_current
    FROM auth.tenant_profile_s AS profile
    WHERE profile.tenant_hk = c_tenant_hk
      AND profile.load_end_date IS NULL
    FOR UPDATE;
    v_has_current := FOUND;

    IF v_has_current
       AND v_current.column_hash_diff = v_package_hash_diff
       AND v_current.hash_diff = v_package_hash_diff THEN
        v_outcome := 'unchanged';
        RAISE NOTICE 'ℹ️ System Operations Tenant Profile already exists';
    ELSE
        v_load_date := util.current_load_date();

        IF v_has_current THEN
            v_outcome := 'updated';
            UPDATE auth.tenant_profile_s
            SET load_end_date = v_load_date
            WHERE tenant_hk = c_tenant_hk
              AND load_date = v_current.load_date;
        ELSE
            v_outcome := 'created';
        END IF;

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
            c_tenant_hk,
            v_load_date,
            NULL,
            v_package_hash_diff,
            v_package.tenant_name,
            v_package.tenant_type,
            v_package.tenant_status,
            v_package.max_users,
            v_package.compliance_frameworks,
            v_package.contact_email,
            v_package.is_active,
            util.get_record_source()
        );

        IF v_outcome = 'created' THEN
            RAISE NOTICE '✅ Created System Operations Tenant Profile';
        ELSE
            RAISE NOTICE '✅ Updated System Operations Tenant Profile (new version, previous version closed)';
        END IF;
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v001_outcome',
        (pg_catalog.current_setting('onevault.v001_outcome')::jsonb
            || pg_catalog.jsonb_build_object('tenant_profile', v_outcome))::text,
        TRUE
    );
END
$tenant_profile$;

-- -----------------------------------------------------------------------------
-- Role hub and role profile
-- -----------------------------------------------------------------------------

DO $role$
DECLARE
    c_tenant_hk CONSTANT bytea := pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex');
    c_role_bk CONSTANT text := 'SYSTEM_OPERATIONS_ADMIN';
    v_role_hk bytea := util.hash_binary(c_role_bk);
    v_existing_hub record;
    v_hub_exists boolean;
    v_hub_outcome text;
    v_package record;
    v_package_hash_diff bytea;
    v_current record;
    v_has_current boolean;
    v_load_date timestamptz;
    v_profile_outcome text;
BEGIN
    SELECT role_bk,
           tenant_hk
    INTO v_existing_hub
    FROM auth.role_h
    WHERE role_hk = v_role_hk;
    v_hub_exists := FOUND;

    IF v_hub_exists AND (v_existing_hub.role_bk <> c_role_bk OR v_existing_hub.tenant_hk <> c_tenant_hk) THEN
        RAISE EXCEPTION 'V001 cannot create the System Operations role: auth.role_h already contains role_hk % with role_bk % for tenant_hk %',
            pg_catalog.encode(v_role_hk, 'hex'), v_existing_hub.role_bk, pg_catalog.encode(v_existing_hub.tenant_hk, 'hex')
            USING ERRCODE = 'unique_violation',
                  HINT = 'Repair or remove the conflicting role row, then run V001 again.';
    END IF;

    IF v_hub_exists THEN
        v_hub_outcome := 'unchanged';
    ELSE
        v_hub_outcome := 'created';
        INSERT INTO auth.role_h (
            role_hk,
            role_bk,
            tenant_hk,
            load_date,
            record_source
        )
        VALUES (
            v_role_hk,
            c_role_bk,
            c_tenant_hk,
            util.current_load_date(),
            util.get_record_source()
        );
    END IF;

    SELECT 'System Operations Administrator'::text AS role_name,
           'SYSTEM'::text AS role_type,
           TRUE AS is_system_role,
           ARRAY[
               'SYSTEM_ADMIN',
               'TENANT_REGISTRATION',
               'PRE_REGISTRATION_MANAGEMENT',
               'SYSTEM_MONITORING',
               'DATA_MIGRATION',
               'BACKUP_MANAGEMENT'
           ]::text[] AS permissions,
           'Administers system operations: tenant registration, pre-registration data, monitoring, data migration and backups.'::text AS description
    INTO v_package;

    v_package_hash_diff := util.hash_concat(
        v_package.role_name,
        v_package.role_type,
        v_package.is_system_role::text,
        v_package.permissions::text,
        v_package.description
    );

    SELECT profile.load_date,
           profile.hash_diff,
           util.hash_concat(
               profile.role_name,
               profile.role_type,
               profile.is_system_role::text,
               profile.permissions::text,
               profile.description
           ) AS column_hash_diff
    INTO v_current
    FROM auth.role_profile_s AS profile
    WHERE profile.role_hk = v_role_hk
      AND profile.load_end_date IS NULL
    FOR UPDATE;
    v_has_current := FOUND;

    IF v_has_current
       AND v_current.column_hash_diff = v_package_hash_diff
       AND v_current.hash_diff = v_package_hash_diff THEN
        v_profile_outcome := 'unchanged';
    ELSE
        v_load_date := util.current_load_date();

        IF v_has_current THEN
            v_profile_outcome := 'updated';
            UPDATE auth.role_profile_s
            SET load_end_date = v_load_date
            WHERE role_hk = v_role_hk
              AND load_date = v_current.load_date;
        ELSE
            v_profile_outcome := 'created';
        END IF;

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
            v_package_hash_diff,
            c_tenant_hk,
            v_package.role_name,
            v_package.role_type,
            v_package.is_system_role,
            v_package.permissions,
            v_package.description,
            util.get_record_source()
        );
    END IF;

    IF v_hub_outcome = 'created' THEN
        RAISE NOTICE '✅ Created System Operations Role';
    ELSIF v_profile_outcome = 'created' THEN
        RAISE NOTICE '✅ Created System Operations Role Profile (the role hub already existed)';
    ELSIF v_profile_outcome = 'updated' THEN
        RAISE NOTICE '✅ Updated System Operations Role Profile (new version, previous version closed)';
    ELSE
        RAISE NOTICE 'ℹ️ System Operations Role already exists';
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v001_outcome',
        (pg_catalog.current_setting('onevault.v001_outcome')::jsonb
            || pg_catalog.jsonb_build_object('role_hub', v_hub_outcome, 'role_profile', v_profile_outcome))::text,
        TRUE
    );
END
$role$;

-- -----------------------------------------------------------------------------
-- Indexes
-- -----------------------------------------------------------------------------

-- Drops an index of the same name whose definition differs, so that the
-- CREATE INDEX IF NOT EXISTS below rebuilds it, and hides the server's
-- "already exists, skipping" notices until the report step.
DO $index_check$
DECLARE
    v_expected record;
    v_actual text;
    v_outcomes jsonb := '{}';
    v_saved_search_path text := pg_catalog.current_setting('search_path');
BEGIN
    -- pg_get_indexdef() qualifies names relative to search_path, so pin it
    -- while comparing.
    -- NOTE: the expected texts are pg_get_indexdef() output of PostgreSQL 15.
    -- A version that formats them differently rebuilds both indexes on every
    -- run, which is correct but not a no-op.
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog', TRUE);

    FOR v_expected IN
        SELECT expected.index_name,
               expected.definition
        FROM (
            VALUES
                ('idx_tenant_h_system_lookup',
                 'CREATE INDEX idx_tenant_h_system_lookup ON auth.tenant_h USING btree (tenant_bk) INCLUDE (tenant_hk) WHERE (tenant_bk = ''SYSTEM_OPERATIONS''::text)'),
                ('idx_tenant_profile_s_system_active',
                 'CREATE INDEX idx_tenant_profile_s_system_active ON auth.tenant_profile_s USING btree (tenant_hk, load_date) WHERE ((tenant_hk = decode(''0000000000000000000000000000000000000000000000000000000000000001''::text, ''hex''::text)) AND (load_end_date IS NULL))')
        ) AS expected(index_name, definition)
    LOOP
        SELECT pg_catalog.pg_get_indexdef(c.oid)
        INTO v_actual
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n
            ON n.oid = c.relnamespace
        WHERE n.nspname = 'auth'
          AND c.relname = v_expected.index_name
          AND c.relkind = 'i';

        IF v_actual IS NULL THEN
            v_outcomes := v_outcomes || pg_catalog.jsonb_build_object(v_expected.index_name, 'created');
        ELSIF v_actual = v_expected.definition THEN
            v_outcomes := v_outcomes || pg_catalog.jsonb_build_object(v_expected.index_name, 'unchanged');
        ELSE
            EXECUTE pg_catalog.format('DROP INDEX auth.%I', v_expected.index_name);
            v_outcomes := v_outcomes || pg_catalog.jsonb_build_object(v_expected.index_name, 'rebuilt');
        END IF;
    END LOOP;

    PERFORM pg_catalog.set_config('search_path', v_saved_search_path, TRUE);
    PERFORM pg_catalog.set_config('onevault.v001_index_outcomes', v_outcomes::text, TRUE);
    PERFORM pg_catalog.set_config('onevault.v001_saved_client_min_messages', pg_catalog.current_setting('client_min_messages'), TRUE);
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', TRUE);
END
$index_check$;

-- Serves WHERE tenant_bk = 'SYSTEM_OPERATIONS' with an index-only scan of a
-- one-row index, whatever the number of tenants.
-- onevault:allow OV301 partial index of one row: the build reads auth.tenant_h (one row per tenant) once under a SHARE lock
CREATE INDEX IF NOT EXISTS idx_tenant_h_system_lookup
    ON auth.tenant_h (tenant_bk)
    INCLUDE (tenant_hk)
    WHERE tenant_bk = 'SYSTEM_OPERATIONS';

-- Serves WHERE tenant_hk = util.get_system_operations_tenant_hk() AND
-- load_end_date IS NULL: the function is inlined to the same constant, so
-- the planner can prove that the query matches the index predicate.
-- onevault:allow OV301 partial index of one row: the build reads auth.tenant_profile_s (a few versions per tenant) once under a SHARE lock
CREATE INDEX IF NOT EXISTS idx_tenant_profile_s_system_active
    ON auth.tenant_profile_s (tenant_hk, load_date)
    WHERE tenant_hk = pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex')
      AND load_end_date IS NULL;

COMMENT ON INDEX auth.idx_tenant_h_system_lookup IS
    'Partial index over the System Operations tenant hub row (tenant_bk SYSTEM_OPERATIONS). Created by V001.';
COMMENT ON INDEX auth.idx_tenant_profile_s_system_active IS
    'Partial index over the current System Operations tenant profile version. Created by V001.';

DO $index_report$
DECLARE
    v_outcomes jsonb := pg_catalog.current_setting('onevault.v001_index_outcomes')::jsonb;
    v_created text;
    v_rebuilt text;
    v_unchanged_count bigint;
BEGIN
    PERFORM pg_catalog.set_config(
        'client_min_messages',
        pg_catalog.current_setting('onevault.v001_saved_client_min_messages'),
        TRUE
    );

    SELECT pg_catalog.string_agg(entry.key, ', ' ORDER BY entry.key) FILTER (WHERE entry.value = 'created'),
           pg_catalog.string_agg(entry.key, ', ' ORDER BY entry.key) FILTER (WHERE entry.value = 'rebuilt'),
           pg_catalog.count(*) FILTER (WHERE entry.value = 'unchanged')
    INTO v_created,
         v_rebuilt,
         v_unchanged_count
    FROM pg_catalog.jsonb_each_text(v_outcomes) AS entry;

    IF v_rebuilt IS NULL AND v_created IS NULL THEN
        RAISE NOTICE 'ℹ️ System Operations Indexes already exist';
    ELSIF v_rebuilt IS NULL AND v_unchanged_count = 0 THEN
        RAISE NOTICE '✅ Created System Operations Indexes';
    ELSE
        RAISE NOTICE '✅ Repaired System Operations Indexes (created: %; rebuilt with the expected definition: %)',
            COALESCE(v_created, 'none'), COALESCE(v_rebuilt, 'none');
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v001_outcome',
        (pg_catalog.current_setting('onevault.v001_outcome')::jsonb
            || pg_catalog.jsonb_build_object('indexes', v_outcomes))::text,
        TRUE
    );
END
$index_report$;

-- -----------------------------------------------------------------------------
-- Utility function
-- -----------------------------------------------------------------------------

DO $function_check$
BEGIN
    PERFORM pg_catalog.set_config(
        'onevault.v001_function_before',
        COALESCE(
            pg_catalog.pg_get_functiondef(pg_catalog.to_regprocedure('util.get_system_operations_tenant_hk()')),
            ''
        ),
        TRUE
    );
END
$function_check$;

-- Written so that the planner inlines it: LANGUAGE sql, IMMUTABLE, a single
-- SELECT of a constant, and no STRICT, SECURITY DEFINER or SET clause (each
-- of those prevents inlining).
CREATE OR REPLACE FUNCTION util.get_system_operations_tenant_hk()
RETURNS bytea
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $function$
    SELECT pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex')
$function$;

COMMENT ON FUNCTION util.get_system_operations_tenant_hk() IS
    'Returns the hash key of the System Operations tenant: 31 zero bytes followed by 0x01. The planner inlines the call as a constant, so predicates that use it can match partial indexes such as auth.idx_tenant_profile_s_system_active. Created by V001.';

-- Only roles granted explicitly may call it. The grants to application roles
-- follow in the next step.
REVOKE ALL ON FUNCTION util.get_system_operations_tenant_hk() FROM PUBLIC;

DO $function_report$
DECLARE
    v_before text := pg_catalog.current_setting('onevault.v001_function_before');
    v_after text := pg_catalog.pg_get_functiondef('util.get_system_operations_tenant_hk()'::pg_catalog.regprocedure);
    v_outcome text;
    v_role name;
    v_granted text[] := ARRAY[]::text[];
BEGIN
    -- Application roles get EXECUTE on the constant function and USAGE on
    -- util, nothing on any table: the tenant key is not secret, tenant rows
    -- are. A grant that fails raises and rolls back the whole migration.
    FOR v_role IN
        SELECT rolname
        FROM pg_catalog.pg_roles
        WHERE rolname IN ('onevault_app', 'app_user')
        ORDER BY rolname
    LOOP
        EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA util TO %I', v_role);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION util.get_system_operations_tenant_hk() TO %I', v_role);
        v_granted := v_granted || v_role::text;
    END LOOP;

    IF v_before = '' THEN
        v_outcome := 'created';
        RAISE NOTICE '✅ Created System Operations Utility Function';
    ELSIF v_before = v_after THEN
        v_outcome := 'unchanged';
        RAISE NOTICE 'ℹ️ System Operations Utility Function already exists';
    ELSE
        v_outcome := 'replaced';
        RAISE NOTICE '✅ Updated System Operations Utility Function (definition replaced)';
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v001_outcome',
        (pg_catalog.current_setting('onevault.v001_outcome')::jsonb
            || pg_catalog.jsonb_build_object(
                   'function', v_outcome,
                   'execute_granted_to', pg_catalog.to_jsonb(v_granted)
               ))::text,
        TRUE
    );
END
$function_report$;

-- -----------------------------------------------------------------------------
-- Audit event and migration log row
-- -----------------------------------------------------------------------------

DO $record_run$
DECLARE
    v_details jsonb := pg_catalog.current_setting('onevault.v001_outcome')::jsonb;
BEGIN
    PERFORM audit.record_event(
        util.get_platform_hk(),
        'MIGRATION',
        'DEPLOY V001',
        'SUCCESS',
        v_details || pg_catalog.jsonb_build_object(
            'version', 'V001',
            'name', 'system_operations_tenant',
            'direction', 'FORWARD',
            'run_id', util.get_migration_run_id()
        )
    );
    PERFORM util.record_migration_run('V001', 'system_operations_tenant', 'FORWARD', v_details);

    RAISE NOTICE '🎉 Migration V001 completed successfully!';
END
$record_run$;

COMMIT;
