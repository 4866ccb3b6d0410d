-- =============================================================================
-- V001 System Operations Tenant (rollback)
--
-- What it does
--   Removes what V001 created: the System Operations tenant hub and its
--   profile versions, the SYSTEM_OPERATIONS_ADMIN role hub and its profile
--   versions, the indexes idx_tenant_h_system_lookup and
--   idx_tenant_profile_s_system_active, and the function
--   util.get_system_operations_tenant_hk().
--
--   Before it removes anything it counts every row that references the system
--   tenant (tenant_hk 00...01) or a role of that tenant:
--     auth.tenant_h, auth.tenant_profile_s, auth.role_h, auth.role_profile_s,
--     auth.user_h, auth.user_profile_s, auth.user_auth_s, auth.user_role_l
--     (also links from users of other tenants to a system tenant role),
--     auth.session_h, auth.session_state_s, auth.user_session_l,
--     raw.tenant_registration_r, staging.tenant_registration_s
--     (also staging rows of those raw rows), and audit.audit_event_h and
--     audit.audit_detail_s rows whose tenant_hk is the system tenant's key.
--   Rows that V001 did not write (anything but the tenant hub, the tenant
--   profile versions, the role hub and the role profile versions) make the
--   rollback fail with one error (SQLSTATE 2BP01) that lists the row counts
--   per table, and nothing changes. Functions whose body calls
--   util.get_system_operations_tenant_hk() (the api and util functions of
--   V002) make it fail the same way even when forced, because dropping the
--   function would break them: roll back V002 first.
--
--   Audit rows are counted but never removed: audit tables have no foreign
--   key to auth.tenant_h, and the audit trail must outlive the tenant.
--
--   Every row that is removed is first copied into one new backup schema
--   named onevault_backup_v001_<YYYYMMDDHH24MISS in UTC>_<first 8 hex digits
--   of the run id>, one table per source table named <schema>_<table>. The
--   row counts and the restore statements (hubs before satellites and links)
--   are printed as NOTICE lines and stored in the details column of the
--   migration log row. When nothing of V001 is present the file creates no
--   backup schema and changes nothing except its own migration log row and
--   audit event.
--
--   The run is recorded as one SUCCESS row in util.migration_log and as one
--   audit event under the platform key (32 zero bytes).
--
-- How to force it
--   Rows that V001 did not write are removed (after the backup) only when the
--   session setting onevault.force_rollback is on. Forcing applies to rows
--   only: functions that call util.get_system_operations_tenant_hk() still
--   block the rollback.
--     PGOPTIONS='-c onevault.force_rollback=on' psql -f V001__rollback_system_operations_tenant.sql
--   or type this in an interactive psql session before \i (or in pgAdmin's
--   query tool before running the file):
--     SET onevault.force_rollback = 'on';
--   The onevault tool sets it for you when you confirm a forced rollback.
--
-- What it requires
--   Nothing: without V000 or V001 it reports that V001 is not present. When
--   util.migration_log is missing, the run cannot be recorded and a NOTICE
--   reports it.
--
-- How it runs
--   One transaction (BEGIN ... COMMIT) without psql meta-commands, so psql -f,
--   \i, pgAdmin and a driver that sends the file as one simple-protocol query
--   all behave the same: any error rolls back everything. The tables involved
--   are locked against writes for the duration, so the backup contains exactly
--   the rows that are removed.
--   Run it with psql's ON_ERROR_ROLLBACK off, which is psql's default. When it
--   is on, psql wraps every statement in a savepoint and rolls back only the
--   statement that failed, so COMMIT commits the statements that succeeded
--   and the file is no longer all-or-nothing.
--
-- How to undo it
--   Run the printed restore statements to bring back the removed rows, then
--   deploy V001 again (V001__create_system_operations_tenant.sql) to recreate
--   its function and indexes. The statements skip rows that exist already,
--   so they also work after V001 has been deployed again. The schema USAGE
--   on util that V001 granted to the application roles onevault_app and
--   app_user is revoked with the function.
-- =============================================================================

BEGIN;

DO $rollback$
DECLARE
    c_tenant_hk CONSTANT bytea := pg_catalog.decode('0000000000000000000000000000000000000000000000000000000000000001', 'hex');
    c_platform_hk CONSTANT bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    c_role_hk CONSTANT bytea := pg_catalog.sha256(pg_catalog.convert_to('SYSTEM_OPERATIONS_ADMIN', 'UTF8'));
    c_index_names CONSTANT text[] := ARRAY['idx_tenant_h_system_lookup', 'idx_tenant_profile_s_system_active'];
    c_users_of_tenant CONSTANT text := 'SELECT u.user_hk FROM auth.user_h AS u WHERE u.tenant_hk = $1';
    c_roles_of_tenant CONSTANT text := 'SELECT r.role_hk FROM auth.role_h AS r WHERE r.tenant_hk = $1';
    c_sessions_of_tenant CONSTANT text := 'SELECT s.session_hk FROM auth.session_h AS s WHERE s.tenant_hk = $1';
    c_force_rows_hint CONSTANT text := 'To back up and remove the rows anyway, run onevault rollback --force, or under psql set onevault.force_rollback to on: PGOPTIONS=''-c onevault.force_rollback=on'' psql -f <this file>, or SET onevault.force_rollback = ''on''; in the session before \i <this file>. Audit rows are kept in any case.';
    c_raw_of_tenant CONSTANT text := 'SELECT r.raw_registration_id FROM raw.tenant_registration_r AS r WHERE r.tenant_hk = $1';

    v_force boolean := pg_catalog.lower(COALESCE(pg_catalog.current_setting('onevault.force_rollback', TRUE), '')) = 'on';
    v_run_id uuid := COALESCE(
        NULLIF(pg_catalog.current_setting('onevault.run_id', TRUE), ''),
        pg_catalog.gen_random_uuid()::text
    )::uuid;

    -- Tables in delete order: children before parents. The restore order is
    -- the reverse. written_filter selects the rows that V001 itself writes.
    v_targets jsonb;
    v_target record;
    v_platform_tables text[] := ARRAY[
        'auth.tenant_h', 'auth.tenant_profile_s', 'auth.user_h', 'auth.user_profile_s',
        'auth.user_auth_s', 'auth.role_h', 'auth.role_profile_s', 'auth.user_role_l',
        'auth.session_h', 'auth.session_state_s', 'auth.user_session_l',
        'raw.tenant_registration_r', 'staging.tenant_registration_s',
        'audit.audit_event_h', 'audit.audit_detail_s'
    ];
    v_missing_tables text[];
    v_tables_present boolean;

    v_count bigint;
    v_written_count bigint;
    v_row_counts jsonb := '{}';
    v_blocking_counts jsonb := '{}';
    v_audit_counts jsonb := '{}';
    v_total_rows bigint := 0;
    v_total_blocking bigint := 0;
    v_function_oid oid := pg_catalog.to_regprocedure('util.get_system_operations_tenant_hk()');
    v_function_callers text[] := ARRAY[]::text[];
    v_indexes_present text[];
    v_blocking_rows_list text;
    v_audit_list text;
    v_blocking_list text;
    v_message text;

    v_backup_schema text;
    v_backup_table text;
    v_restore_statements text[] := ARRAY[]::text[];
    v_statement text;
    v_removed_objects text[] := ARRAY[]::text[];
    v_details jsonb;
    v_role name;
BEGIN
    RAISE NOTICE '🔄 Starting rollback V001: System Operations Tenant';

    -- ---------------------------------------------------------------------
    -- What exists
    -- ---------------------------------------------------------------------

    SELECT pg_catalog.array_agg(required.name ORDER BY required.position)
    INTO v_missing_tables
    FROM pg_catalog.unnest(v_platform_tables) WITH ORDINALITY AS required(name, position)
    WHERE pg_catalog.to_regclass(required.name) IS NULL;

    v_tables_present := v_missing_tables IS NULL;
    IF NOT v_tables_present
       AND pg_catalog.cardinality(v_missing_tables) < pg_catalog.cardinality(v_platform_tables) THEN
        RAISE EXCEPTION 'Rollback V001 cannot check the platform tables, because some are missing: %',
            pg_catalog.array_to_string(v_missing_tables, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Deploy V000 again to recreate the missing tables, then run this rollback again.';
    END IF;

    SELECT pg_catalog.array_agg(c.relname::text ORDER BY c.relname)
    INTO v_indexes_present
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = c.relnamespace
    WHERE n.nspname = 'auth'
      AND c.relname = ANY (c_index_names)
      AND c.relkind = 'i';

    IF v_tables_present THEN
        -- Writers would change the rows between the count, the backup and
        -- the delete; readers may go on.
        LOCK TABLE auth.tenant_h, auth.tenant_profile_s, auth.user_h, auth.user_profile_s,
                   auth.user_auth_s, auth.role_h, auth.role_profile_s, auth.user_role_l,
                   auth.session_h, auth.session_state_s, auth.user_session_l,
                   raw.tenant_registration_r, staging.tenant_registration_s,
                   audit.audit_event_h, audit.audit_detail_s
            IN SHARE ROW EXCLUSIVE MODE;

        v_targets := pg_catalog.jsonb_build_array(
            pg_catalog.jsonb_build_object(
                'table', 'auth.user_session_l',
                'filter', 'tenant_hk = $1 OR user_hk IN (' || c_users_of_tenant || ') OR session_hk IN (' || c_sessions_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.session_state_s',
                'filter', 'tenant_hk = $1 OR session_hk IN (' || c_sessions_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.session_h',
                'filter', 'tenant_hk = $1'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.user_role_l',
                'filter', 'tenant_hk = $1 OR user_hk IN (' || c_users_of_tenant || ') OR role_hk IN (' || c_roles_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.user_auth_s',
                'filter', 'tenant_hk = $1 OR user_hk IN (' || c_users_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.user_profile_s',
                'filter', 'tenant_hk = $1 OR user_hk IN (' || c_users_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.user_h',
                'filter', 'tenant_hk = $1'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.role_profile_s',
                'filter', 'tenant_hk = $1 OR role_hk IN (' || c_roles_of_tenant || ')',
                'written_filter', 'role_hk = $2 AND tenant_hk = $1'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.role_h',
                'filter', 'tenant_hk = $1',
                'written_filter', 'role_hk = $2 AND role_bk = ''SYSTEM_OPERATIONS_ADMIN'''),
            pg_catalog.jsonb_build_object(
                'table', 'staging.tenant_registration_s',
                'filter', 'tenant_hk = $1 OR raw_registration_id IN (' || c_raw_of_tenant || ')'),
            pg_catalog.jsonb_build_object(
                'table', 'raw.tenant_registration_r',
                'filter', 'tenant_hk = $1'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.tenant_profile_s',
                'filter', 'tenant_hk = $1',
                'written_filter', 'TRUE'),
            pg_catalog.jsonb_build_object(
                'table', 'auth.tenant_h',
                'filter', 'tenant_hk = $1',
                'written_filter', 'tenant_bk = ''SYSTEM_OPERATIONS''')
        );

        FOR v_target IN
            SELECT entry.value ->> 'table' AS table_name,
                   entry.value ->> 'filter' AS filter,
                   entry.value ->> 'written_filter' AS written_filter
            FROM pg_catalog.jsonb_array_elements(v_targets) AS entry(value)
        LOOP
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', v_target.table_name, v_target.filter)
                INTO v_count
                USING c_tenant_hk, c_role_hk;

            v_written_count := 0;
            IF v_count > 0 AND v_target.written_filter IS NOT NULL THEN
                EXECUTE pg_catalog.format(
                    'SELECT pg_catalog.count(*) FROM %s WHERE (%s) AND (%s)',
                    v_target.table_name, v_target.filter, v_target.written_filter
                )
                    INTO v_written_count
                    USING c_tenant_hk, c_role_hk;
            END IF;

            IF v_count > 0 THEN
                v_row_counts := v_row_counts || pg_catalog.jsonb_build_object(v_target.table_name, v_count);
                v_total_rows := v_total_rows + v_count;
            END IF;
            IF v_count > v_written_count THEN
                v_blocking_counts := v_blocking_counts
                    || pg_catalog.jsonb_build_object(v_target.table_name, v_count - v_written_count);
                v_total_blocking := v_total_blocking + (v_count - v_written_count);
            END IF;
        END LOOP;

        SELECT pg_catalog.count(*)
        INTO v_count
        FROM audit.audit_event_h
        WHERE tenant_hk = c_tenant_hk;
        IF v_count > 0 THEN
            v_audit_counts := v_audit_counts || pg_catalog.jsonb_build_object('audit.audit_event_h', v_count);
        END IF;

        SELECT pg_catalog.count(*)
        INTO v_count
        FROM audit.audit_detail_s
        WHERE tenant_hk = c_tenant_hk;
        IF v_count > 0 THEN
            v_audit_counts := v_audit_counts || pg_catalog.jsonb_build_object('audit.audit_detail_s', v_count);
        END IF;
    END IF;

    IF v_function_oid IS NOT NULL THEN
        -- PostgreSQL does not record which function bodies call a function,
        -- so the bodies are searched for its name.
        SELECT COALESCE(
                   pg_catalog.array_agg(p.oid::pg_catalog.regprocedure::text ORDER BY p.oid::pg_catalog.regprocedure::text),
                   ARRAY[]::text[]
               )
        INTO v_function_callers
        FROM pg_catalog.pg_proc AS p
        WHERE p.oid <> v_function_oid
          AND pg_catalog.strpos(p.prosrc, 'get_system_operations_tenant_hk') > 0;
    END IF;

    -- ---------------------------------------------------------------------
    -- Nothing to remove
    -- ---------------------------------------------------------------------

    IF v_total_rows = 0 AND v_function_oid IS NULL AND v_indexes_present IS NULL THEN
        RAISE NOTICE 'ℹ️ V001 is not present: nothing to remove';
        IF v_audit_counts <> '{}' THEN
            RAISE NOTICE 'ℹ️ Audit rows under the system tenant key are kept: %', v_audit_counts;
        END IF;
        v_details := pg_catalog.jsonb_build_object(
            'result', 'NOT_PRESENT',
            'forced', v_force,
            'backup_schema', NULL,
            'row_counts', '{}'::jsonb,
            'retained_audit_row_counts', v_audit_counts
        );
    ELSE
        -- -----------------------------------------------------------------
        -- Functions that call util.get_system_operations_tenant_hk() always
        -- block the rollback, because dropping the function would break
        -- them. Rows that V001 did not write block it unless forced.
        -- -----------------------------------------------------------------

        SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', entry.key, entry.value), ', ' ORDER BY entry.key)
        INTO v_blocking_rows_list
        FROM pg_catalog.jsonb_each_text(v_blocking_counts) AS entry;

        SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s (audit rows are kept)', entry.key, entry.value), ', ' ORDER BY entry.key)
        INTO v_audit_list
        FROM pg_catalog.jsonb_each_text(v_audit_counts) AS entry;

        v_blocking_list := NULLIF(pg_catalog.concat_ws(', ', v_blocking_rows_list, v_audit_list), '');

        IF pg_catalog.cardinality(v_function_callers) > 0 THEN
            v_message := pg_catalog.format(
                'Rollback V001 rejected: %s function(s) call util.get_system_operations_tenant_hk(), which this rollback would drop: %s.',
                pg_catalog.cardinality(v_function_callers),
                pg_catalog.array_to_string(v_function_callers, ', ')
            );
            IF v_blocking_list IS NOT NULL THEN
                v_message := v_message || pg_catalog.format(
                    ' Rows that V001 did not write also reference the System Operations tenant (rows per table: %s).',
                    v_blocking_list
                );
            END IF;
            RAISE EXCEPTION '%', v_message
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.jsonb_build_object(
                          'function_callers', pg_catalog.to_jsonb(v_function_callers),
                          'blocking_row_counts', v_blocking_counts,
                          'retained_audit_row_counts', v_audit_counts
                      )::text,
                      HINT = 'Nothing was changed. Roll back V002 first (onevault rollback --to V001, or V002__rollback_tenant_registration.sql under psql), because V002''s api and util functions are the ones that call it, and drop any other function listed yourself. Forcing does not override this check, because it forces the removal of rows, not of functions.'
                          || CASE
                                 WHEN v_blocking_list IS NOT NULL AND NOT v_force
                                 THEN ' ' || c_force_rows_hint
                                 ELSE ''
                             END;
        END IF;

        IF v_blocking_list IS NOT NULL AND NOT v_force THEN
            RAISE EXCEPTION 'Rollback V001 rejected: the System Operations tenant is in use. Rows that V001 did not write reference it (rows per table: %).', v_blocking_list
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.jsonb_build_object(
                          'blocking_row_counts', v_blocking_counts,
                          'retained_audit_row_counts', v_audit_counts
                      )::text,
                      HINT = 'Nothing was changed. ' || c_force_rows_hint;
        END IF;

        IF v_blocking_rows_list IS NOT NULL THEN
            RAISE NOTICE '⚠️ Forced rollback (onevault.force_rollback = on): also removing rows that V001 did not write: %', v_blocking_rows_list;
        END IF;

        -- -----------------------------------------------------------------
        -- Backup of every row that will be removed
        -- -----------------------------------------------------------------

        IF v_total_rows > 0 THEN
            v_backup_schema := 'onevault_backup_v001_'
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
                    'Rows removed by rollback V001 (run %s) at %s UTC. Restore statements are in util.migration_log.details of that run.',
                    v_run_id,
                    pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                )
            );

            RAISE NOTICE '💾 Backed up % rows into schema % (rows per table):', v_total_rows, v_backup_schema;

            FOR v_target IN
                SELECT entry.value ->> 'table' AS table_name,
                       entry.value ->> 'filter' AS filter
                FROM pg_catalog.jsonb_array_elements(v_targets) AS entry(value)
                WHERE v_row_counts ? (entry.value ->> 'table')
            LOOP
                v_backup_table := pg_catalog.replace(v_target.table_name, '.', '_');

                EXECUTE pg_catalog.format(
                    'CREATE TABLE %I.%I AS SELECT * FROM %s WHERE %s',
                    v_backup_schema, v_backup_table, v_target.table_name, v_target.filter
                )
                    USING c_tenant_hk, c_role_hk;
                GET DIAGNOSTICS v_count = ROW_COUNT;

                IF v_count <> (v_row_counts ->> v_target.table_name)::bigint THEN
                    RAISE EXCEPTION 'Backup of % copied % rows, expected %', v_target.table_name, v_count, v_row_counts ->> v_target.table_name
                        USING ERRCODE = 'internal_error';
                END IF;

                EXECUTE pg_catalog.format(
                    'COMMENT ON TABLE %I.%I IS %L',
                    v_backup_schema,
                    v_backup_table,
                    pg_catalog.format('Rows of %s removed by rollback V001 (run %s).', v_target.table_name, v_run_id)
                );

                RAISE NOTICE '   %: %', v_target.table_name, v_count;

                -- Restore runs hubs first, so statements are prepended here
                -- while the loop walks children first.
                v_statement := pg_catalog.format(
                    'INSERT INTO %s %sSELECT * FROM %I.%I ON CONFLICT DO NOTHING;',
                    v_target.table_name,
                    CASE
                        WHEN EXISTS (
                            SELECT 1
                            FROM pg_catalog.pg_attribute
                            WHERE attrelid = v_target.table_name::pg_catalog.regclass
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

            RAISE NOTICE '📋 Restore statements (run them in this order, then deploy V001 again to recreate its function and indexes):';
            FOREACH v_statement IN ARRAY v_restore_statements LOOP
                RAISE NOTICE '   %', v_statement;
            END LOOP;
        END IF;

        -- -----------------------------------------------------------------
        -- Removal: rows (children first), then indexes and function
        -- -----------------------------------------------------------------

        FOR v_target IN
            SELECT entry.value ->> 'table' AS table_name,
                   entry.value ->> 'filter' AS filter
            FROM pg_catalog.jsonb_array_elements(v_targets) AS entry(value)
            WHERE v_row_counts ? (entry.value ->> 'table')
        LOOP
            EXECUTE pg_catalog.format('DELETE FROM %s WHERE %s', v_target.table_name, v_target.filter)
                USING c_tenant_hk, c_role_hk;
            GET DIAGNOSTICS v_count = ROW_COUNT;

            IF v_count <> (v_row_counts ->> v_target.table_name)::bigint THEN
                RAISE EXCEPTION 'Rollback V001 removed % rows from %, expected %', v_count, v_target.table_name, v_row_counts ->> v_target.table_name
                    USING ERRCODE = 'internal_error';
            END IF;
        END LOOP;

        IF v_total_rows > 0 THEN
            IF v_total_blocking > 0 THEN
                RAISE NOTICE '✅ Removed rows that referenced the System Operations tenant but were not written by V001: %', v_total_blocking;
            END IF;
            RAISE NOTICE '✅ Removed System Operations Role (role hub rows: %, role profile rows: %)',
                COALESCE(v_row_counts ->> 'auth.role_h', '0'), COALESCE(v_row_counts ->> 'auth.role_profile_s', '0');
            RAISE NOTICE '✅ Removed System Operations Tenant (tenant hub rows: %, tenant profile rows: %)',
                COALESCE(v_row_counts ->> 'auth.tenant_h', '0'), COALESCE(v_row_counts ->> 'auth.tenant_profile_s', '0');
        END IF;

        IF v_indexes_present IS NOT NULL THEN
            DROP INDEX IF EXISTS auth.idx_tenant_profile_s_system_active;
            DROP INDEX IF EXISTS auth.idx_tenant_h_system_lookup;
            v_removed_objects := v_removed_objects || ARRAY(
                SELECT 'index auth.' || index_name
                FROM pg_catalog.unnest(v_indexes_present) AS present(index_name)
            );
            RAISE NOTICE '✅ Removed System Operations Indexes (%)', pg_catalog.array_to_string(v_indexes_present, ', ');
        END IF;

        IF v_function_oid IS NOT NULL THEN
            -- RESTRICT: a view or default that uses the function makes the
            -- whole rollback fail instead of being dropped with it.
            DROP FUNCTION util.get_system_operations_tenant_hk() RESTRICT;
            v_removed_objects := v_removed_objects || 'function util.get_system_operations_tenant_hk()'::text;
            RAISE NOTICE '✅ Removed System Operations Utility Function';

            -- V001 granted USAGE on util to the application roles together
            -- with EXECUTE on the function, so both go with the function.
            FOR v_role IN
                SELECT rolname
                FROM pg_catalog.pg_roles
                WHERE rolname IN ('onevault_app', 'app_user')
                ORDER BY rolname
            LOOP
                EXECUTE pg_catalog.format('REVOKE USAGE ON SCHEMA util FROM %I', v_role);
                v_removed_objects := v_removed_objects || ('grant USAGE on schema util to ' || v_role::text);
            END LOOP;
        END IF;

        IF v_audit_counts <> '{}' THEN
            RAISE NOTICE 'ℹ️ Kept audit rows under the system tenant key (the audit trail outlives the tenant): %', v_audit_counts;
        END IF;

        -- Verify: no row outside audit may still reference the system tenant.
        IF v_tables_present THEN
            FOR v_target IN
                SELECT entry.value ->> 'table' AS table_name,
                       entry.value ->> 'filter' AS filter
                FROM pg_catalog.jsonb_array_elements(v_targets) AS entry(value)
            LOOP
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', v_target.table_name, v_target.filter)
                    INTO v_count
                    USING c_tenant_hk, c_role_hk;
                IF v_count > 0 THEN
                    RAISE EXCEPTION 'Rollback V001 left % rows in % that reference the system tenant', v_count, v_target.table_name
                        USING ERRCODE = 'internal_error';
                END IF;
            END LOOP;
        END IF;

        v_details := pg_catalog.jsonb_build_object(
            'result', 'REMOVED',
            'forced', v_force,
            'backup_schema', v_backup_schema,
            'row_counts', v_row_counts,
            'blocking_row_counts', v_blocking_counts,
            'retained_audit_row_counts', v_audit_counts,
            'function_callers', pg_catalog.to_jsonb(v_function_callers),
            'removed_objects', pg_catalog.to_jsonb(v_removed_objects),
            'restore_statements', pg_catalog.to_jsonb(v_restore_statements)
        );
    END IF;

    -- ---------------------------------------------------------------------
    -- Audit event and migration log row
    -- ---------------------------------------------------------------------

    IF pg_catalog.to_regprocedure('audit.record_event(bytea,text,text,text,jsonb,text,text)') IS NOT NULL THEN
        PERFORM audit.record_event(
            c_platform_hk,
            'MIGRATION',
            'ROLLBACK V001',
            'SUCCESS',
            v_details || pg_catalog.jsonb_build_object(
                'version', 'V001',
                'name', 'system_operations_tenant',
                'direction', 'ROLLBACK',
                'run_id', v_run_id
            )
        );
    END IF;

    IF pg_catalog.to_regclass('util.migration_log') IS NOT NULL THEN
        -- onevault:allow OV202 one row per run: the migration log is history
        INSERT INTO util.migration_log (
            run_id,
            version,
            name,
            direction,
            status,
            started_at,
            finished_at,
            executed_via,
            checksum,
            details
        )
        VALUES (
            v_run_id,
            'V001',
            'system_operations_tenant',
            'ROLLBACK',
            'SUCCESS',
            pg_catalog.now(),
            pg_catalog.clock_timestamp(),
            CASE
                WHEN pg_catalog.current_setting('onevault.client', TRUE) = 'onevault' THEN 'onevault'
                ELSE 'psql'
            END,
            pg_catalog.lower(NULLIF(pg_catalog.current_setting('onevault.checksum', TRUE), '')),
            v_details
        );
    ELSE
        RAISE NOTICE 'ℹ️ util.migration_log does not exist, so this run is not recorded';
    END IF;

    RAISE NOTICE '🎉 Rollback V001 completed successfully!';
END
$rollback$;

COMMIT;
