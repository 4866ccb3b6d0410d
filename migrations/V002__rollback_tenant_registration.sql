-- =============================================================================
-- V002 tenant registration and tenant isolation (rollback)
--
-- What it does
--   Removes everything V002__create_tenant_registration.sql added to this
--   database:
--     - the rows of registered tenants (every tenant except System
--       Operations) in auth: tenant hub and profile, users with profiles,
--       credentials, sessions and links, roles with profiles
--     - every row of raw.tenant_registration_r and
--       staging.tenant_registration_s (all of them were written by
--       api.tenant_register)
--     - the row level security policies onevault_tenant_isolation and
--       onevault_migration_owner, and ENABLE/FORCE ROW LEVEL SECURITY on the
--       tables that had them
--     - the functions api.tenant_register, api.tenant_list, api.tenant_get
--       and their util helpers, and USAGE on schema api for onevault_app and
--       onevault_system_operations
--     - the columns raw.tenant_registration_r.error_code,
--       staging.tenant_registration_s.status_reason and
--       staging.tenant_registration_s.error_code, but only while their
--       comment still starts with "Added by V002"
--   Rows are copied first into one new backup schema named
--   onevault_backup_v002_<YYYYMMDDHH24MISS in UTC>_<first 8 hex digits of
--   the run id>, one table per source table named <schema>_<table>, with the
--   same schema and table comments as the V001 rollback writes, so that
--   onevault restore reads it. The row counts and the restore statements
--   (parents before children) are printed as NOTICE lines and stored in the
--   details column of the migration log row. The tables involved are locked
--   against writes for the duration, so the backup contains exactly the rows
--   that are removed. No backup schema is created when there is nothing to
--   remove. Audit events are kept: they are history.
--   Before a column is dropped, any non-NULL value it still holds (on rows
--   that were not removed) is copied with the row's primary key into a view
--   <schema>_<table>__<column> of the backup schema, and an UPDATE statement
--   that puts the values back is printed and stored with the restore
--   statements. onevault restore reads only tables, so it skips these views:
--   run the UPDATE statement yourself after deploying V002 again.
--   The database roles onevault_app and onevault_system_operations are
--   kept, because roles belong to the whole cluster and other databases
--   may use them. They hold no V002 privilege in this database afterwards.
--   The run is recorded as one SUCCESS row in util.migration_log and one
--   audit event under the platform key.
--
-- What it requires
--   V000 (util.record_migration_run, audit.record_event). While registered
--   tenants exist it refuses (SQLSTATE 2BP01) unless the session setting
--   onevault.force_rollback is 'on' (onevault rollback --force sets it).
--
-- How it runs
--   One transaction (BEGIN ... COMMIT) without psql meta-commands: any error
--   rolls everything back, also under psql -f without ON_ERROR_STOP.
--   Run it with psql's ON_ERROR_ROLLBACK off, which is psql's default. When it
--   is on, psql wraps every statement in a savepoint and rolls back only the
--   statement that failed, so COMMIT commits the statements that succeeded
--   and the file is no longer all-or-nothing.
--   Running it again changes nothing: every step checks what exists first.
--
-- How to undo it
--   Run V002__create_tenant_registration.sql again first, because it adds
--   back the columns that the backup tables have. Then run
--   onevault restore <backup schema>, or the printed restore statements in
--   their order. The statements skip rows that exist already, so running
--   them twice changes nothing.
-- =============================================================================

BEGIN;

DO $prerequisites$
DECLARE
    c_system_tenant_hk CONSTANT bytea := pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex');
    v_missing text[] := ARRAY[]::text[];
    v_force boolean := COALESCE(pg_catalog.current_setting('onevault.force_rollback', true), '') = 'on';
    v_tenant_names text;
    v_tenant_count bigint := 0;
    v_request_count bigint := 0;
BEGIN
    RAISE NOTICE '🚀 Starting rollback V002: Tenant Registration';
    RAISE NOTICE '📋 Dependency Check:';

    SELECT pg_catalog.array_agg(required.item ORDER BY required.item)
    INTO v_missing
    FROM (
        VALUES
            ('function util.record_migration_run(text, text, text, jsonb)',
                pg_catalog.to_regprocedure('util.record_migration_run(text,text,text,jsonb)') IS NOT NULL),
            ('function util.get_migration_run_id()',
                pg_catalog.to_regprocedure('util.get_migration_run_id()') IS NOT NULL),
            ('function util.get_platform_hk()',
                pg_catalog.to_regprocedure('util.get_platform_hk()') IS NOT NULL),
            ('function audit.record_event(bytea, text, text, text, jsonb, text, text)',
                pg_catalog.to_regprocedure('audit.record_event(bytea,text,text,text,jsonb,text,text)') IS NOT NULL)
    ) AS required(item, present)
    WHERE NOT required.present;

    IF v_missing IS NOT NULL THEN
        RAISE NOTICE '   Platform Functions: ❌ MISSING';
        RAISE EXCEPTION 'Rollback V002 prerequisites missing: %', pg_catalog.array_to_string(v_missing, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'V000 has been rolled back or damaged. Deploy V000 again, then run this rollback.';
    END IF;
    RAISE NOTICE '   Platform Functions: ✅ EXISTS';

    IF pg_catalog.to_regclass('auth.tenant_h') IS NOT NULL THEN
        SELECT pg_catalog.count(*),
               pg_catalog.string_agg(tenant_bk, ', ' ORDER BY tenant_bk) FILTER (WHERE position <= 10)
        INTO v_tenant_count,
             v_tenant_names
        FROM (
            SELECT tenant_bk,
                   pg_catalog.row_number() OVER (ORDER BY tenant_bk) AS position
            FROM auth.tenant_h
            WHERE tenant_hk <> c_system_tenant_hk
        ) AS registered;
    END IF;

    IF pg_catalog.to_regclass('raw.tenant_registration_r') IS NOT NULL THEN
        SELECT pg_catalog.count(*)
        INTO v_request_count
        FROM raw.tenant_registration_r;
    END IF;

    RAISE NOTICE '   Registered Tenants: %', v_tenant_count;
    RAISE NOTICE '   Registration Requests: %', v_request_count;

    IF v_tenant_count > 0 AND NOT v_force THEN
        RAISE EXCEPTION 'Rollback V002 refused: % registered tenant(s) exist (%), and rolling back would remove them with their users, roles and sessions',
            v_tenant_count,
            v_tenant_names || CASE WHEN v_tenant_count > 10 THEN ', ...' ELSE '' END
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Keep V002, or run the rollback with the session setting onevault.force_rollback = on (onevault rollback --force) to back the rows up into a onevault_backup_v002_* schema and remove them.';
    END IF;

    IF v_tenant_count > 0 THEN
        RAISE NOTICE '⚠️ Forced rollback: backing up and removing % registered tenant(s)', v_tenant_count;
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_rollback_outcome',
        pg_catalog.jsonb_build_object(
            'forced', v_force,
            'registered_tenants', v_tenant_count,
            'registration_requests', v_request_count
        )::text,
        true
    );
END
$prerequisites$;

-- -----------------------------------------------------------------------------
-- Back up, then remove, the rows that V002 created
-- -----------------------------------------------------------------------------

DO $backup_and_remove$
DECLARE
    c_registered_tenant_rows CONSTANT text :=
        'tenant_hk <> pg_catalog.decode(''0000000000000000000000000000000000000000000000000000000000000001'', ''hex'')';
    v_run_id uuid := util.get_migration_run_id();
    v_source record;
    v_count bigint;
    v_counts jsonb := '{}';
    v_total bigint := 0;
    v_backup_schema text;
    v_backup_table text;
    v_statement text;
    v_restore_statements text[] := ARRAY[]::text[];
BEGIN
    -- Writers would change the rows between the count, the backup and the
    -- delete; readers may go on.
    IF pg_catalog.to_regclass('auth.tenant_h') IS NOT NULL
       AND pg_catalog.to_regclass('raw.tenant_registration_r') IS NOT NULL
       AND pg_catalog.to_regclass('staging.tenant_registration_s') IS NOT NULL THEN
        LOCK TABLE auth.tenant_h, auth.tenant_profile_s, auth.user_h, auth.user_profile_s,
                   auth.user_auth_s, auth.role_h, auth.role_profile_s, auth.user_role_l,
                   auth.session_h, auth.session_state_s, auth.user_session_l,
                   raw.tenant_registration_r, staging.tenant_registration_s
            IN SHARE ROW EXCLUSIVE MODE;
    END IF;

    -- Children before parents, so that the deletes below respect the
    -- foreign keys of V000. The restore order is the reverse.
    CREATE TEMPORARY TABLE IF NOT EXISTS v002_rollback_source (
        position integer PRIMARY KEY,
        schema_name text NOT NULL,
        table_name text NOT NULL,
        row_filter text NOT NULL,
        row_count bigint
    ) ON COMMIT DROP;

    INSERT INTO v002_rollback_source (position, schema_name, table_name, row_filter)
    VALUES
        (1, 'auth', 'user_session_l', c_registered_tenant_rows),
        (2, 'auth', 'session_state_s', c_registered_tenant_rows),
        (3, 'auth', 'session_h', c_registered_tenant_rows),
        (4, 'auth', 'user_role_l', c_registered_tenant_rows),
        (5, 'auth', 'user_auth_s', c_registered_tenant_rows),
        (6, 'auth', 'user_profile_s', c_registered_tenant_rows),
        (7, 'auth', 'user_h', c_registered_tenant_rows),
        (8, 'auth', 'role_profile_s', c_registered_tenant_rows),
        (9, 'auth', 'role_h', c_registered_tenant_rows),
        (10, 'auth', 'tenant_profile_s', c_registered_tenant_rows),
        (11, 'auth', 'tenant_h', c_registered_tenant_rows),
        (12, 'staging', 'tenant_registration_s', 'true'),
        (13, 'raw', 'tenant_registration_r', 'true')
    ON CONFLICT (position) DO NOTHING;

    FOR v_source IN
        SELECT position,
               schema_name,
               table_name,
               row_filter
        FROM v002_rollback_source
        WHERE pg_catalog.to_regclass(pg_catalog.format('%I.%I', schema_name, table_name)) IS NOT NULL
        ORDER BY position
    LOOP
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %I.%I WHERE %s', v_source.schema_name, v_source.table_name, v_source.row_filter)
        INTO v_count;

        UPDATE v002_rollback_source
        SET row_count = v_count
        WHERE position = v_source.position;

        v_total := v_total + v_count;
    END LOOP;

    IF v_total = 0 THEN
        RAISE NOTICE 'ℹ️ No Tenant Registration Rows to remove (no backup schema created)';
        PERFORM pg_catalog.set_config(
            'onevault.v002_rollback_outcome',
            (pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb
                || pg_catalog.jsonb_build_object(
                       'backup_schema', NULL,
                       'row_counts', '{}'::jsonb,
                       'restore_statements', '[]'::jsonb
                   ))::text,
            true
        );
        RETURN;
    END IF;

    -- The same name, schema comment and table comments as the V001
    -- rollback, because onevault restore parses all three:
    -- onevault_backup_v002_<YYYYMMDDHH24MISS in UTC>_<first 8 hex digits of
    -- the run id>, one table per source table named <schema>_<table>.
    v_backup_schema := 'onevault_backup_v002_'
        || pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS')
        || '_'
        || pg_catalog.left(pg_catalog.replace(v_run_id::text, '-', ''), 8);

    IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = v_backup_schema) THEN
        RAISE EXCEPTION 'Backup schema % already exists', v_backup_schema
            USING ERRCODE = 'duplicate_schema',
                  HINT = 'Run the rollback again with another onevault.run_id, or wait one second.';
    END IF;

    EXECUTE pg_catalog.format('CREATE SCHEMA %I', v_backup_schema);
    EXECUTE pg_catalog.format(
        'COMMENT ON SCHEMA %I IS %L',
        v_backup_schema,
        pg_catalog.format(
            'Rows removed by rollback V002 (run %s) at %s UTC. Restore statements are in util.migration_log.details of that run.',
            v_run_id,
            pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
        )
    );

    RAISE NOTICE '💾 Backed up % rows into schema % (rows per table):', v_total, v_backup_schema;

    -- Every copy is taken before the first delete.
    FOR v_source IN
        SELECT schema_name,
               table_name,
               row_filter,
               row_count
        FROM v002_rollback_source
        WHERE row_count > 0
        ORDER BY position
    LOOP
        v_backup_table := v_source.schema_name || '_' || v_source.table_name;

        EXECUTE pg_catalog.format(
            'CREATE TABLE %I.%I AS SELECT * FROM %I.%I WHERE %s',
            v_backup_schema, v_backup_table,
            v_source.schema_name, v_source.table_name, v_source.row_filter
        );
        GET DIAGNOSTICS v_count = ROW_COUNT;

        IF v_count <> v_source.row_count THEN
            RAISE EXCEPTION 'Backup of %.% copied % rows, expected %', v_source.schema_name, v_source.table_name, v_count, v_source.row_count
                USING ERRCODE = 'internal_error';
        END IF;

        EXECUTE pg_catalog.format(
            'COMMENT ON TABLE %I.%I IS %L',
            v_backup_schema,
            v_backup_table,
            pg_catalog.format('Rows of %s.%s removed by rollback V002 (run %s).', v_source.schema_name, v_source.table_name, v_run_id)
        );

        RAISE NOTICE '   %.%: %', v_source.schema_name, v_source.table_name, v_count;
        v_counts := v_counts || pg_catalog.jsonb_build_object(v_source.schema_name || '.' || v_source.table_name, v_count);

        -- Restore runs parents first, so statements are prepended here while
        -- the loop walks children first.
        v_statement := pg_catalog.format(
            'INSERT INTO %I.%I %sSELECT * FROM %I.%I ON CONFLICT DO NOTHING;',
            v_source.schema_name,
            v_source.table_name,
            CASE
                WHEN EXISTS (
                    SELECT 1
                    FROM pg_catalog.pg_attribute
                    WHERE attrelid = pg_catalog.format('%I.%I', v_source.schema_name, v_source.table_name)::pg_catalog.regclass
                      AND attidentity = 'a'
                      AND NOT attisdropped
                )
                THEN 'OVERRIDING SYSTEM VALUE '
                ELSE ''
            END,
            v_backup_schema,
            v_backup_table
        );
        v_restore_statements := v_statement || v_restore_statements;
    END LOOP;

    RAISE NOTICE '📋 Restore statements (deploy V002 again first, because the backup tables have the columns that V002 adds; then run them in this order, or run onevault restore %):', v_backup_schema;
    FOREACH v_statement IN ARRAY v_restore_statements LOOP
        RAISE NOTICE '   %', v_statement;
    END LOOP;

    FOR v_source IN
        SELECT schema_name,
               table_name,
               row_filter,
               row_count
        FROM v002_rollback_source
        WHERE row_count > 0
        ORDER BY position
    LOOP
        EXECUTE pg_catalog.format('DELETE FROM %I.%I WHERE %s', v_source.schema_name, v_source.table_name, v_source.row_filter);
        GET DIAGNOSTICS v_count = ROW_COUNT;

        IF v_count <> v_source.row_count THEN
            RAISE EXCEPTION 'Rollback V002 removed % rows from %.%, expected %', v_count, v_source.schema_name, v_source.table_name, v_source.row_count
                USING ERRCODE = 'internal_error';
        END IF;
    END LOOP;

    RAISE NOTICE '✅ Removed Tenant Registration Rows (% rows)', v_total;

    PERFORM pg_catalog.set_config(
        'onevault.v002_rollback_outcome',
        (pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb
            || pg_catalog.jsonb_build_object(
                   'backup_schema', v_backup_schema,
                   'row_counts', v_counts,
                   'restore_statements', pg_catalog.to_jsonb(v_restore_statements)
               ))::text,
        true
    );
END
$backup_and_remove$;

-- -----------------------------------------------------------------------------
-- Row level security
-- -----------------------------------------------------------------------------

DO $row_level_security$
DECLARE
    v_table record;
    v_tables text[] := ARRAY[]::text[];
BEGIN
    FOR v_table IN
        SELECT DISTINCT
               n.nspname AS schema_name,
               c.relname AS table_name,
               c.oid AS table_oid
        FROM pg_catalog.pg_policy AS p
        JOIN pg_catalog.pg_class AS c
            ON c.oid = p.polrelid
        JOIN pg_catalog.pg_namespace AS n
            ON n.oid = c.relnamespace
        WHERE p.polname IN ('onevault_tenant_isolation', 'onevault_migration_owner')
        ORDER BY n.nspname, c.relname
    LOOP
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS onevault_tenant_isolation ON %I.%I', v_table.schema_name, v_table.table_name);
        EXECUTE pg_catalog.format('DROP POLICY IF EXISTS onevault_migration_owner ON %I.%I', v_table.schema_name, v_table.table_name);

        -- Row level security stays on where another policy still relies on it.
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = v_table.table_oid) THEN
            EXECUTE pg_catalog.format('ALTER TABLE %I.%I NO FORCE ROW LEVEL SECURITY', v_table.schema_name, v_table.table_name);
            EXECUTE pg_catalog.format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY', v_table.schema_name, v_table.table_name);
        END IF;

        v_tables := v_tables || pg_catalog.format('%I.%I', v_table.schema_name, v_table.table_name);
    END LOOP;

    IF pg_catalog.cardinality(v_tables) = 0 THEN
        RAISE NOTICE 'ℹ️ Tenant Row Level Security already removed';
    ELSE
        RAISE NOTICE '✅ Removed Tenant Row Level Security (% tables)', pg_catalog.cardinality(v_tables);
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_rollback_outcome',
        (pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb
            || pg_catalog.jsonb_build_object('row_level_security_removed', pg_catalog.to_jsonb(v_tables)))::text,
        true
    );
END
$row_level_security$;

-- -----------------------------------------------------------------------------
-- Functions and privileges
-- -----------------------------------------------------------------------------

DO $functions_before$
BEGIN
    PERFORM pg_catalog.set_config(
        'onevault.v002_functions_before',
        (
            SELECT pg_catalog.count(*)
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
                   ))
        )::text,
        true
    );
    PERFORM pg_catalog.set_config('onevault.v002_saved_client_min_messages', pg_catalog.current_setting('client_min_messages'), true);
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
END
$functions_before$;

DROP FUNCTION IF EXISTS api.tenant_register(jsonb);
DROP FUNCTION IF EXISTS api.tenant_list(jsonb);
DROP FUNCTION IF EXISTS api.tenant_get(jsonb);
DROP FUNCTION IF EXISTS util.load_tenant_registration(text, text, text, text, text, text);
DROP FUNCTION IF EXISTS util.check_tenant_registration(jsonb);
DROP FUNCTION IF EXISTS util.registration_rule_outcome(text, text, boolean, text);
DROP FUNCTION IF EXISTS util.redact_tenant_registration_request(jsonb);
DROP FUNCTION IF EXISTS util.get_password_bcrypt_cost();
DROP FUNCTION IF EXISTS util.classify_api_error(text, text);
DROP FUNCTION IF EXISTS util.describe_api_error(text);
DROP FUNCTION IF EXISTS util.describe_tenant(bytea);

DO $privileges$
DECLARE
    v_functions_removed integer := pg_catalog.current_setting('onevault.v002_functions_before')::integer;
    v_role name;
    v_revoked text[] := ARRAY[]::text[];
BEGIN
    PERFORM pg_catalog.set_config(
        'client_min_messages',
        pg_catalog.current_setting('onevault.v002_saved_client_min_messages'),
        true
    );

    FOR v_role IN
        SELECT rolname
        FROM pg_catalog.pg_roles
        WHERE rolname IN ('onevault_app', 'onevault_system_operations')
          AND pg_catalog.has_schema_privilege(oid, 'api', 'USAGE')
        ORDER BY rolname
    LOOP
        EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA api FROM %I', v_role);
        v_revoked := v_revoked || v_role::text;
    END LOOP;

    IF v_functions_removed = 0 AND pg_catalog.cardinality(v_revoked) = 0 THEN
        RAISE NOTICE 'ℹ️ Tenant Registration Functions already removed';
    ELSE
        RAISE NOTICE '✅ Removed Tenant Registration Functions (%) and API Access', v_functions_removed;
    END IF;
    RAISE NOTICE 'ℹ️ Kept cluster roles onevault_app and onevault_system_operations (other databases of the cluster may use them)';

    PERFORM pg_catalog.set_config(
        'onevault.v002_rollback_outcome',
        (pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb
            || pg_catalog.jsonb_build_object(
                   'functions_removed', v_functions_removed,
                   'api_usage_revoked_from', pg_catalog.to_jsonb(v_revoked)
               ))::text,
        true
    );
END
$privileges$;

-- -----------------------------------------------------------------------------
-- Columns
-- -----------------------------------------------------------------------------

DO $columns$
DECLARE
    v_run_id uuid := util.get_migration_run_id();
    v_outcome jsonb := pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb;
    v_backup_schema text := v_outcome ->> 'backup_schema';
    v_restore_statements jsonb := COALESCE(v_outcome -> 'restore_statements', '[]'::jsonb);
    v_column record;
    v_key_columns text[];
    v_values_count bigint;
    v_values_list text;
    v_saved_view text;
    v_statement text;
    v_saved_counts jsonb := '{}';
    v_dropped text[] := ARRAY[]::text[];
    v_kept text[] := ARRAY[]::text[];
BEGIN
    FOR v_column IN
        SELECT wanted.schema_name,
               wanted.table_name,
               wanted.column_name,
               a.attrelid AS table_oid,
               pg_catalog.format_type(a.atttypid, a.atttypmod) AS column_type,
               pg_catalog.col_description(a.attrelid, a.attnum) AS comment
        FROM (
            VALUES
                ('raw', 'tenant_registration_r', 'error_code'),
                ('staging', 'tenant_registration_s', 'status_reason'),
                ('staging', 'tenant_registration_s', 'error_code')
        ) AS wanted(schema_name, table_name, column_name)
        JOIN pg_catalog.pg_attribute AS a
            ON a.attrelid = pg_catalog.to_regclass(pg_catalog.format('%I.%I', wanted.schema_name, wanted.table_name))
           AND a.attname = wanted.column_name
           AND NOT a.attisdropped
    LOOP
        IF COALESCE(v_column.comment, '') NOT LIKE 'Added by V002%' THEN
            v_kept := v_kept || pg_catalog.format('%s.%s.%s', v_column.schema_name, v_column.table_name, v_column.column_name);
            CONTINUE;
        END IF;

        EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %I.%I WHERE %I IS NOT NULL', v_column.schema_name, v_column.table_name, v_column.column_name)
            INTO v_values_count;

        IF v_values_count > 0 THEN
            -- The values sit on rows that stay, so they are saved with the
            -- primary key of their row. A view over the values as literals
            -- keeps them after the column is gone and, unlike a table, is
            -- not read by onevault restore, which expects whole rows.
            SELECT pg_catalog.array_agg(a.attname::text ORDER BY key.position)
            INTO v_key_columns
            FROM pg_catalog.pg_index AS i
            CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS key(attnum, position)
            JOIN pg_catalog.pg_attribute AS a
                ON a.attrelid = i.indrelid
               AND a.attnum = key.attnum
            WHERE i.indrelid = v_column.table_oid
              AND i.indisprimary;

            IF v_key_columns IS NULL THEN
                RAISE EXCEPTION 'Rollback V002 cannot save the values of %.%.%, because the table has no primary key', v_column.schema_name, v_column.table_name, v_column.column_name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Nothing was changed. Deploy V000 again to recreate the primary key, or set the column to NULL after saving its values yourself.';
            END IF;

            IF v_backup_schema IS NULL THEN
                v_backup_schema := 'onevault_backup_v002_'
                    || pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDDHH24MISS')
                    || '_'
                    || pg_catalog.left(pg_catalog.replace(v_run_id::text, '-', ''), 8);
                EXECUTE pg_catalog.format('CREATE SCHEMA %I', v_backup_schema);
                EXECUTE pg_catalog.format(
                    'COMMENT ON SCHEMA %I IS %L',
                    v_backup_schema,
                    pg_catalog.format(
                        'Rows removed by rollback V002 (run %s) at %s UTC. Restore statements are in util.migration_log.details of that run.',
                        v_run_id,
                        pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                    )
                );
            END IF;

            -- One row literal per value: (key columns as text, value as text),
            -- cast back to the source types in the view's select list.
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.string_agg(pg_catalog.format(''(%%s)'', (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(part), '', '') FROM pg_catalog.unnest(ARRAY[%s, %I::text]) AS part)), '', '') FROM %I.%I WHERE %I IS NOT NULL',
                (SELECT pg_catalog.string_agg(pg_catalog.format('%I::text', key_column), ', ') FROM pg_catalog.unnest(v_key_columns) AS key_column),
                v_column.column_name,
                v_column.schema_name, v_column.table_name, v_column.column_name
            )
                INTO v_values_list;

            v_saved_view := pg_catalog.format('%s_%s__%s', v_column.schema_name, v_column.table_name, v_column.column_name);
            EXECUTE pg_catalog.format(
                'CREATE VIEW %I.%I AS SELECT %s, saved.%I::%s AS %I FROM (VALUES %s) AS saved(%s)',
                v_backup_schema,
                v_saved_view,
                (
                    SELECT pg_catalog.string_agg(pg_catalog.format('saved.%I::%s AS %I', key_column, pg_catalog.format_type(a.atttypid, a.atttypmod), key_column), ', ' ORDER BY key.position)
                    FROM pg_catalog.unnest(v_key_columns) WITH ORDINALITY AS key(key_column, position)
                    JOIN pg_catalog.pg_attribute AS a
                        ON a.attrelid = v_column.table_oid
                       AND a.attname = key.key_column
                ),
                v_column.column_name,
                v_column.column_type,
                v_column.column_name,
                v_values_list,
                (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(name), ', ') FROM pg_catalog.unnest(v_key_columns || v_column.column_name::text) AS name)
            );
            EXECUTE pg_catalog.format(
                'COMMENT ON VIEW %I.%I IS %L',
                v_backup_schema,
                v_saved_view,
                pg_catalog.format('Values of %s.%s.%s on rows that rollback V002 (run %s) kept, saved before the column was dropped. onevault restore does not read views: put them back with the UPDATE statement in util.migration_log.details of that run.', v_column.schema_name, v_column.table_name, v_column.column_name, v_run_id)
            );

            v_statement := pg_catalog.format(
                'UPDATE %I.%I AS target SET %I = saved.%I FROM %I.%I AS saved WHERE %s AND target.%I IS NULL;',
                v_column.schema_name, v_column.table_name,
                v_column.column_name, v_column.column_name,
                v_backup_schema, v_saved_view,
                (SELECT pg_catalog.string_agg(pg_catalog.format('target.%I = saved.%I', key_column, key_column), ' AND ') FROM pg_catalog.unnest(v_key_columns) AS key_column),
                v_column.column_name
            );
            v_restore_statements := v_restore_statements || pg_catalog.to_jsonb(v_statement);
            v_saved_counts := v_saved_counts || pg_catalog.jsonb_build_object(pg_catalog.format('%s.%s.%s', v_column.schema_name, v_column.table_name, v_column.column_name), v_values_count);

            RAISE NOTICE '💾 Saved % value(s) of %.%.% into view %.% before dropping the column; onevault restore does not read it, so after deploying V002 again run:',
                v_values_count, v_column.schema_name, v_column.table_name, v_column.column_name, v_backup_schema, v_saved_view;
            RAISE NOTICE '   %', v_statement;
        END IF;

        EXECUTE pg_catalog.format(
            'ALTER TABLE %I.%I DROP COLUMN IF EXISTS %I',
            v_column.schema_name, v_column.table_name, v_column.column_name
        );
        v_dropped := v_dropped || pg_catalog.format('%s.%s.%s', v_column.schema_name, v_column.table_name, v_column.column_name);
    END LOOP;

    IF pg_catalog.cardinality(v_dropped) = 0 THEN
        RAISE NOTICE 'ℹ️ Registration Status Columns already removed';
    ELSE
        RAISE NOTICE '✅ Removed Registration Status Columns (%)', pg_catalog.array_to_string(v_dropped, ', ');
    END IF;
    IF pg_catalog.cardinality(v_kept) > 0 THEN
        RAISE NOTICE 'ℹ️ Kept columns that V002 did not add (their comment does not start with "Added by V002"): %',
            pg_catalog.array_to_string(v_kept, ', ');
    END IF;

    PERFORM pg_catalog.set_config(
        'onevault.v002_rollback_outcome',
        (v_outcome
            || pg_catalog.jsonb_build_object(
                   'backup_schema', v_backup_schema,
                   'restore_statements', v_restore_statements,
                   'saved_column_value_counts', v_saved_counts,
                   'columns_dropped', pg_catalog.to_jsonb(v_dropped),
                   'columns_kept', pg_catalog.to_jsonb(v_kept)
               ))::text,
        true
    );
END
$columns$;

-- -----------------------------------------------------------------------------
-- Audit event and migration log row
-- -----------------------------------------------------------------------------

DO $record_run$
DECLARE
    v_details jsonb := pg_catalog.current_setting('onevault.v002_rollback_outcome')::jsonb;
BEGIN
    PERFORM audit.record_event(
        util.get_platform_hk(),
        'MIGRATION',
        'ROLLBACK V002',
        'SUCCESS',
        v_details || pg_catalog.jsonb_build_object(
            'version', 'V002',
            'name', 'tenant_registration',
            'direction', 'ROLLBACK',
            'run_id', util.get_migration_run_id()
        )
    );
    PERFORM util.record_migration_run('V002', 'tenant_registration', 'ROLLBACK', v_details);

    RAISE NOTICE '🎉 Rollback V002 completed successfully!';
END
$record_run$;

COMMIT;
