-- =============================================================================
-- V000 platform foundation (rollback)
--
-- What it does
--   Removes the OneVault platform created by V000: the schemas auth, raw,
--   staging, audit and api with everything in them, and every object in util
--   except util.migration_log (functions, and any other table, view or type).
--
--   Kept on purpose:
--     - util.migration_log and the util schema that contains it, because the
--       history of migration runs must outlive the platform. This run adds
--       its own row there.
--     - the pgcrypto extension, because it is installed database-wide in
--       schema public and other code may use it. The file cannot tell
--       whether V000 installed it or found it. Drop it yourself with
--       DROP EXTENSION pgcrypto when nothing else needs it.
--
--   Rejected without changing anything (one error, SQLSTATE 2BP01) when:
--     - any table of the platform contains rows other than platform audit
--       events. The error lists the row counts per table. Set
--       onevault.force_rollback to on to back up and remove them anyway.
--   Rejected in every case, forced or not (one error, SQLSTATE 2BP01), when:
--     - objects of later migrations are present: the function
--       util.get_system_operations_tenant_hk() of V001 or any function in
--       schema api (V002 creates them). Dropping them here would leave
--       util.migration_log listing V001 and V002 as applied. Roll back V002
--       and V001 first (onevault rollback --all runs them in order).
--     - an object outside the platform schemas depends on the platform, for
--       example a view in public that reads auth.tenant_h. Dropping it with
--       the platform would change data that this rollback does not own.
--
--   Platform audit events (tenant_hk = 32 zero bytes: the deploy and
--   rollback events of migrations) do not block the rollback. They are
--   copied into the details column of this run's util.migration_log row
--   (key archived_platform_audit_events) before the audit tables are
--   dropped. Because the audit tables are dropped, this run is recorded only
--   in util.migration_log.
--
--   When forced, every row of every non-empty platform table is first copied
--   into one new schema named onevault_backup_v000_<YYYYMMDDHH24MISS in
--   UTC>_<first 8 hex digits of the run id>, one table per source table named
--   <schema>_<table>. Row counts and restore statements (parents before
--   children) are printed as NOTICE lines and stored in the migration log
--   row's details. When V000 is not present the file changes nothing and
--   creates nothing, except its own row in util.migration_log when that
--   table exists.
--
-- How to force it
--     PGOPTIONS='-c onevault.force_rollback=on' psql -f V000__rollback_platform_foundation.sql
--   or type this in an interactive psql session before \i (or in pgAdmin's
--   query tool before running the file):
--     SET onevault.force_rollback = 'on';
--
-- What it requires
--   Nothing. Session settings read: onevault.force_rollback, onevault.client,
--   onevault.checksum and onevault.run_id (see V000).
--
-- How it runs
--   One transaction (BEGIN ... COMMIT) without psql meta-commands, so psql -f,
--   \i, pgAdmin and a driver that sends the file as one simple-protocol query
--   all behave the same: any error rolls back everything. The platform
--   tables are locked exclusively while the file runs.
--
-- How to undo it
--   Deploy V000 again (V000__create_platform_foundation.sql), then run the
--   printed restore statements of a forced rollback.
-- =============================================================================

BEGIN;

DO $rollback$
DECLARE
    c_platform_hk CONSTANT bytea := pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex');
    c_dropped_schemas CONSTANT text[] := ARRAY['api', 'staging', 'raw', 'auth', 'audit'];
    c_platform_schemas CONSTANT text[] := ARRAY['api', 'staging', 'raw', 'auth', 'audit', 'util'];

    v_force boolean := pg_catalog.lower(COALESCE(pg_catalog.current_setting('onevault.force_rollback', TRUE), '')) = 'on';
    v_run_id uuid := COALESCE(
        NULLIF(pg_catalog.current_setting('onevault.run_id', TRUE), ''),
        pg_catalog.gen_random_uuid()::text
    )::uuid;
    v_saved_client_min_messages text := pg_catalog.current_setting('client_min_messages');
    v_migration_log oid := pg_catalog.to_regclass('util.migration_log');

    v_present_schemas text[];
    v_util_functions text[];
    v_util_relations text[];
    v_util_types text[];
    v_external_dependents text[];
    v_later_objects text[];
    v_tables text[];
    v_table text;
    v_count bigint;
    v_platform_rows bigint;
    v_row_counts jsonb := '{}';
    v_blocking_counts jsonb := '{}';
    v_total_rows bigint := 0;
    v_blocking_list text;
    v_archived_events jsonb := '[]';

    v_remaining text[];
    v_ready text[];
    v_restore_order text[] := ARRAY[]::text[];
    v_backup_schema text;
    v_backup_table text;
    v_identity_column name;
    v_restore_statements text[] := ARRAY[]::text[];
    v_statement text;
    v_object text;
    v_details jsonb;
BEGIN
    RAISE NOTICE '🔄 Starting rollback V000: Platform Foundation';

    -- ---------------------------------------------------------------------
    -- What exists
    -- ---------------------------------------------------------------------

    SELECT pg_catalog.array_agg(nspname::text ORDER BY pg_catalog.array_position(c_dropped_schemas, nspname::text))
    INTO v_present_schemas
    FROM pg_catalog.pg_namespace
    WHERE nspname = ANY (c_dropped_schemas);

    SELECT pg_catalog.array_agg(p.oid::pg_catalog.regprocedure::text ORDER BY p.proname, p.oid)
    INTO v_util_functions
    FROM pg_catalog.pg_proc AS p
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = p.pronamespace
    WHERE n.nspname = 'util';

    -- Relations of util other than the migration log. Indexes and owned
    -- sequences go with their tables.
    SELECT pg_catalog.array_agg(c.oid::pg_catalog.regclass::text ORDER BY c.relname)
    INTO v_util_relations
    FROM pg_catalog.pg_class AS c
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = c.relnamespace
    WHERE n.nspname = 'util'
      AND c.oid IS DISTINCT FROM v_migration_log
      AND (
          c.relkind IN ('r', 'p', 'v', 'm', 'f')
          OR (
              c.relkind = 'S'
              AND NOT EXISTS (
                  SELECT 1
                  FROM pg_catalog.pg_depend AS d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid
                    AND d.deptype IN ('a', 'i')
              )
          )
      );

    -- Stand-alone types of util (enums, domains, ranges, composite types
    -- made with CREATE TYPE); row types and array types go with their owners.
    SELECT pg_catalog.array_agg(t.oid::pg_catalog.regtype::text ORDER BY t.typname)
    INTO v_util_types
    FROM pg_catalog.pg_type AS t
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = t.typnamespace
    LEFT JOIN pg_catalog.pg_class AS c
        ON c.oid = t.typrelid
    WHERE n.nspname = 'util'
      AND t.typelem = 0
      AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'));

    IF v_present_schemas IS NULL AND v_util_functions IS NULL AND v_util_relations IS NULL AND v_util_types IS NULL THEN
        RAISE NOTICE 'ℹ️ V000 is not present: nothing to remove';
        v_details := pg_catalog.jsonb_build_object(
            'result', 'NOT_PRESENT',
            'forced', v_force,
            'backup_schema', NULL,
            'row_counts', '{}'::jsonb
        );
    ELSE
        -- -----------------------------------------------------------------
        -- Objects of later migrations
        -- -----------------------------------------------------------------

        -- Dropping the schemas would remove these objects while
        -- util.migration_log still lists V001 and V002 as applied, so their
        -- own rollbacks must run first. Forcing does not override this
        -- check, because forcing only allows the removal of rows.
        SELECT pg_catalog.array_agg(later.description ORDER BY later.position, later.description)
        INTO v_later_objects
        FROM (
            SELECT 1 AS position,
                   'function util.get_system_operations_tenant_hk() (V001)' AS description
            WHERE pg_catalog.to_regprocedure('util.get_system_operations_tenant_hk()') IS NOT NULL
            UNION ALL
            SELECT 2,
                   pg_catalog.format('function %s (V002)', p.oid::pg_catalog.regprocedure)
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = p.pronamespace
            WHERE n.nspname = 'api'
        ) AS later;

        IF v_later_objects IS NOT NULL THEN
            RAISE EXCEPTION 'Rollback V000 rejected: objects of later migrations are present: %. To continue, roll back V002 and V001 first (onevault rollback --all, which runs them in order).',
                pg_catalog.array_to_string(v_later_objects, ', ')
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.to_jsonb(v_later_objects)::text,
                      HINT = 'Nothing was changed. Run V002__rollback_tenant_registration.sql, then V001__rollback_system_operations_tenant.sql, then this file. onevault.force_rollback does not override this check.';
        END IF;

        -- -----------------------------------------------------------------
        -- Objects outside the platform that depend on it
        -- -----------------------------------------------------------------

        -- The migration log, its indexes, its sequence and its row type stay,
        -- so objects that depend on them are not in the way.
        WITH platform_objects AS (
            SELECT 'pg_catalog.pg_class'::pg_catalog.regclass AS classid,
                   c.oid AS objid
            FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = c.relnamespace
            WHERE n.nspname = ANY (c_platform_schemas)
              AND c.oid IS DISTINCT FROM v_migration_log
              AND NOT EXISTS (
                  SELECT 1
                  FROM pg_catalog.pg_depend AS owner
                  WHERE owner.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND owner.objid = c.oid
                    AND owner.refobjid = v_migration_log
                    AND owner.deptype IN ('a', 'i')
              )
            UNION ALL
            SELECT 'pg_catalog.pg_proc'::pg_catalog.regclass,
                   p.oid
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = p.pronamespace
            WHERE n.nspname = ANY (c_platform_schemas)
            UNION ALL
            SELECT 'pg_catalog.pg_type'::pg_catalog.regclass,
                   t.oid
            FROM pg_catalog.pg_type AS t
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = t.typnamespace
            WHERE n.nspname = ANY (c_platform_schemas)
              AND t.typrelid IS DISTINCT FROM v_migration_log
              AND NOT EXISTS (
                  SELECT 1
                  FROM pg_catalog.pg_type AS element
                  WHERE element.oid = t.typelem
                    AND element.typrelid = v_migration_log
              )
        ),
        dependents AS (
            SELECT DISTINCT
                   d.classid,
                   d.objid,
                   d.objsubid
            FROM pg_catalog.pg_depend AS d
            JOIN platform_objects AS o
                ON o.classid = d.refclassid
               AND o.objid = d.refobjid
            WHERE d.deptype IN ('n', 'a')
        ),
        located AS (
            SELECT dependents.classid,
                   dependents.objid,
                   dependents.objsubid,
                   CASE dependents.classid
                       WHEN 'pg_catalog.pg_class'::pg_catalog.regclass THEN
                           (SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_proc'::pg_catalog.regclass THEN
                           (SELECT p.pronamespace FROM pg_catalog.pg_proc AS p WHERE p.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_type'::pg_catalog.regclass THEN
                           (SELECT t.typnamespace FROM pg_catalog.pg_type AS t WHERE t.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_constraint'::pg_catalog.regclass THEN
                           (SELECT k.connamespace FROM pg_catalog.pg_constraint AS k WHERE k.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
                           (SELECT c.relnamespace
                            FROM pg_catalog.pg_rewrite AS r
                            JOIN pg_catalog.pg_class AS c
                                ON c.oid = r.ev_class
                            WHERE r.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_trigger'::pg_catalog.regclass THEN
                           (SELECT c.relnamespace
                            FROM pg_catalog.pg_trigger AS tg
                            JOIN pg_catalog.pg_class AS c
                                ON c.oid = tg.tgrelid
                            WHERE tg.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_attrdef'::pg_catalog.regclass THEN
                           (SELECT c.relnamespace
                            FROM pg_catalog.pg_attrdef AS a
                            JOIN pg_catalog.pg_class AS c
                                ON c.oid = a.adrelid
                            WHERE a.oid = dependents.objid)
                       WHEN 'pg_catalog.pg_policy'::pg_catalog.regclass THEN
                           (SELECT c.relnamespace
                            FROM pg_catalog.pg_policy AS pol
                            JOIN pg_catalog.pg_class AS c
                                ON c.oid = pol.polrelid
                            WHERE pol.oid = dependents.objid)
                   END AS namespace_oid,
                   -- A view depends through its rewrite rule; name the view.
                   CASE dependents.classid
                       WHEN 'pg_catalog.pg_rewrite'::pg_catalog.regclass THEN
                           (SELECT pg_catalog.format('%s %s', identified.type, identified.identity)
                            FROM pg_catalog.pg_rewrite AS r
                            CROSS JOIN LATERAL pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0) AS identified
                            WHERE r.oid = dependents.objid)
                       ELSE
                           (SELECT pg_catalog.format('%s %s', identified.type, identified.identity)
                            FROM pg_catalog.pg_identify_object(dependents.classid, dependents.objid, dependents.objsubid) AS identified)
                   END AS description
            FROM dependents
        )
        SELECT pg_catalog.array_agg(DISTINCT located.description ORDER BY located.description)
        INTO v_external_dependents
        FROM located
        LEFT JOIN pg_catalog.pg_namespace AS n
            ON n.oid = located.namespace_oid
        WHERE n.nspname IS NULL
           OR NOT (n.nspname = ANY (c_platform_schemas))
           OR (located.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND located.objid = v_migration_log);

        IF v_external_dependents IS NOT NULL THEN
            RAISE EXCEPTION 'Rollback V000 rejected: objects outside the platform depend on it: %',
                pg_catalog.array_to_string(v_external_dependents, '; ')
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.to_jsonb(v_external_dependents)::text,
                      HINT = 'Nothing was changed. Drop or change these objects first; onevault.force_rollback does not override this check.';
        END IF;

        -- -----------------------------------------------------------------
        -- Row counts; rows other than platform audit events block
        -- -----------------------------------------------------------------

        SELECT pg_catalog.array_agg(c.oid::pg_catalog.regclass::text ORDER BY n.nspname, c.relname)
        INTO v_tables
        FROM pg_catalog.pg_class AS c
        JOIN pg_catalog.pg_namespace AS n
            ON n.oid = c.relnamespace
        WHERE n.nspname = ANY (c_platform_schemas)
          AND c.relkind IN ('r', 'p')
          AND NOT c.relispartition
          AND c.oid IS DISTINCT FROM v_migration_log;

        FOREACH v_table IN ARRAY COALESCE(v_tables, ARRAY[]::text[]) LOOP
            EXECUTE pg_catalog.format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_table);
        END LOOP;

        FOREACH v_table IN ARRAY COALESCE(v_tables, ARRAY[]::text[]) LOOP
            EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s', v_table)
                INTO v_count;
            IF v_count = 0 THEN
                CONTINUE;
            END IF;

            v_row_counts := v_row_counts || pg_catalog.jsonb_build_object(v_table, v_count);
            v_total_rows := v_total_rows + v_count;

            v_platform_rows := 0;
            IF v_table IN ('audit.audit_event_h', 'audit.audit_detail_s') THEN
                EXECUTE pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE tenant_hk = $1', v_table)
                    INTO v_platform_rows
                    USING c_platform_hk;
            END IF;
            IF v_count > v_platform_rows THEN
                v_blocking_counts := v_blocking_counts || pg_catalog.jsonb_build_object(v_table, v_count - v_platform_rows);
            END IF;
        END LOOP;

        SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', entry.key, entry.value), ', ' ORDER BY entry.key)
        INTO v_blocking_list
        FROM pg_catalog.jsonb_each_text(v_blocking_counts) AS entry;

        IF v_blocking_list IS NOT NULL AND NOT v_force THEN
            RAISE EXCEPTION 'Rollback V000 rejected: the platform contains data (rows per table: %)', v_blocking_list
                USING ERRCODE = 'dependent_objects_still_exist',
                      DETAIL = pg_catalog.jsonb_build_object('blocking_row_counts', v_blocking_counts)::text,
                      HINT = 'Nothing was changed. Delete these rows, or set onevault.force_rollback to on to back up and remove all rows: run PGOPTIONS=''-c onevault.force_rollback=on'' psql -f <this file>, or run SET onevault.force_rollback = ''on''; in the session before the file.';
        END IF;
        IF v_blocking_list IS NOT NULL THEN
            RAISE NOTICE '⚠️ Forced rollback (onevault.force_rollback = on): removing platform data: %', v_blocking_list;
        END IF;

        -- -----------------------------------------------------------------
        -- Platform audit events move into the migration log row
        -- -----------------------------------------------------------------

        IF pg_catalog.to_regclass('audit.audit_event_h') IS NOT NULL
           AND pg_catalog.to_regclass('audit.audit_detail_s') IS NOT NULL THEN
            EXECUTE $archive$
                SELECT COALESCE(
                           pg_catalog.jsonb_agg(
                               pg_catalog.jsonb_build_object(
                                   'audit_event_hk', pg_catalog.encode(h.audit_event_hk, 'hex'),
                                   'audit_event_bk', h.audit_event_bk,
                                   'load_date', h.load_date,
                                   'record_source', h.record_source,
                                   'event_type', d.event_type,
                                   'action', d.action,
                                   'actor', d.actor,
                                   'outcome', d.outcome,
                                   'object_schema', d.object_schema,
                                   'object_name', d.object_name,
                                   'details', d.details
                               )
                               ORDER BY h.load_date, d.load_date
                           ),
                           '[]'::jsonb
                       )
                FROM audit.audit_event_h AS h
                LEFT JOIN audit.audit_detail_s AS d
                    ON d.audit_event_hk = h.audit_event_hk
                WHERE h.tenant_hk = $1
            $archive$
                INTO v_archived_events
                USING c_platform_hk;
        END IF;

        -- -----------------------------------------------------------------
        -- Forced: back up every row first
        -- -----------------------------------------------------------------

        IF v_force AND v_total_rows > 0 THEN
            -- Restore order: a table comes after every table it references.
            SELECT pg_catalog.array_agg(entry.key ORDER BY entry.key)
            INTO v_remaining
            FROM pg_catalog.jsonb_each(v_row_counts) AS entry;

            WHILE pg_catalog.cardinality(v_remaining) > 0 LOOP
                SELECT pg_catalog.array_agg(candidate.name ORDER BY candidate.name)
                INTO v_ready
                FROM pg_catalog.unnest(v_remaining) AS candidate(name)
                WHERE NOT EXISTS (
                    SELECT 1
                    FROM pg_catalog.pg_constraint AS k
                    WHERE k.contype = 'f'
                      AND k.conrelid = candidate.name::pg_catalog.regclass
                      AND k.confrelid <> k.conrelid
                      AND k.confrelid::pg_catalog.regclass::text = ANY (v_remaining)
                );
                IF v_ready IS NULL THEN
                    -- A cycle of foreign keys: keep the remaining tables in
                    -- name order, their restore may need deferred checks.
                    v_ready := v_remaining;
                END IF;
                v_restore_order := v_restore_order || v_ready;
                v_remaining := ARRAY(
                    SELECT name
                    FROM pg_catalog.unnest(v_remaining) AS left_over(name)
                    WHERE NOT (name = ANY (v_ready))
                    ORDER BY name
                );
            END LOOP;

            v_backup_schema := 'onevault_backup_v000_'
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
                    'Rows removed by rollback V000 (run %s) at %s UTC. Restore statements are in util.migration_log.details of that run.',
                    v_run_id,
                    pg_catalog.to_char(pg_catalog.clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                )
            );

            RAISE NOTICE '💾 Backed up % rows into schema % (rows per table):', v_total_rows, v_backup_schema;

            FOREACH v_table IN ARRAY v_restore_order LOOP
                v_backup_table := pg_catalog.replace(v_table, '.', '_');
                EXECUTE pg_catalog.format('CREATE TABLE %I.%I AS SELECT * FROM %s', v_backup_schema, v_backup_table, v_table);
                GET DIAGNOSTICS v_count = ROW_COUNT;
                IF v_count <> (v_row_counts ->> v_table)::bigint THEN
                    RAISE EXCEPTION 'Backup of % copied % rows, expected %', v_table, v_count, v_row_counts ->> v_table
                        USING ERRCODE = 'internal_error';
                END IF;
                EXECUTE pg_catalog.format(
                    'COMMENT ON TABLE %I.%I IS %L',
                    v_backup_schema,
                    v_backup_table,
                    pg_catalog.format('Rows of %s removed by rollback V000 (run %s).', v_table, v_run_id)
                );
                RAISE NOTICE '   %: %', v_table, v_count;

                SELECT a.attname
                INTO v_identity_column
                FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = v_table::pg_catalog.regclass
                  AND a.attidentity = 'a'
                  AND NOT a.attisdropped;

                v_restore_statements := v_restore_statements || pg_catalog.format(
                    'INSERT INTO %s %sSELECT * FROM %I.%I ON CONFLICT DO NOTHING;',
                    v_table,
                    CASE WHEN v_identity_column IS NOT NULL THEN 'OVERRIDING SYSTEM VALUE ' ELSE '' END,
                    v_backup_schema,
                    v_backup_table
                );

                -- A redeployed table starts its identity sequence at 1 again,
                -- so it must be moved past the restored ids.
                IF v_identity_column IS NOT NULL THEN
                    v_restore_statements := v_restore_statements || pg_catalog.format(
                        'SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence(%L, %L), (SELECT pg_catalog.max(%I) FROM %s));',
                        v_table,
                        v_identity_column,
                        v_identity_column,
                        v_table
                    );
                END IF;
            END LOOP;

            RAISE NOTICE '📋 Restore statements (deploy V000 again first, then run them in this order):';
            FOREACH v_statement IN ARRAY v_restore_statements LOOP
                RAISE NOTICE '   %', v_statement;
            END LOOP;
        END IF;

        -- -----------------------------------------------------------------
        -- Removal
        -- -----------------------------------------------------------------

        -- CASCADE only reaches objects inside these schemas, because every
        -- outside dependent was rejected above. Its per-object notices are
        -- hidden.
        PERFORM pg_catalog.set_config('client_min_messages', 'warning', TRUE);
        FOREACH v_object IN ARRAY COALESCE(v_present_schemas, ARRAY[]::text[]) LOOP
            EXECUTE pg_catalog.format('DROP SCHEMA %I CASCADE', v_object);
        END LOOP;
        FOREACH v_object IN ARRAY COALESCE(v_util_relations, ARRAY[]::text[]) LOOP
            IF pg_catalog.to_regclass(v_object) IS NOT NULL THEN
                EXECUTE pg_catalog.format(
                    'DROP %s IF EXISTS %s CASCADE',
                    CASE (SELECT relkind FROM pg_catalog.pg_class WHERE oid = v_object::pg_catalog.regclass)
                        WHEN 'v' THEN 'VIEW'
                        WHEN 'm' THEN 'MATERIALIZED VIEW'
                        WHEN 'f' THEN 'FOREIGN TABLE'
                        WHEN 'S' THEN 'SEQUENCE'
                        ELSE 'TABLE'
                    END,
                    v_object
                );
            END IF;
        END LOOP;
        FOREACH v_object IN ARRAY COALESCE(v_util_types, ARRAY[]::text[]) LOOP
            EXECUTE pg_catalog.format('DROP TYPE IF EXISTS %s CASCADE', v_object);
        END LOOP;
        -- RESTRICT: a function that something still needs makes the whole
        -- rollback fail instead of silently taking that object with it.
        FOREACH v_object IN ARRAY COALESCE(v_util_functions, ARRAY[]::text[]) LOOP
            EXECUTE pg_catalog.format(
                'DROP %s %s RESTRICT',
                CASE (SELECT prokind FROM pg_catalog.pg_proc WHERE oid = v_object::pg_catalog.regprocedure)
                    WHEN 'a' THEN 'AGGREGATE'
                    ELSE 'ROUTINE'
                END,
                v_object
            );
        END LOOP;
        PERFORM pg_catalog.set_config('client_min_messages', v_saved_client_min_messages, TRUE);

        IF v_present_schemas IS NOT NULL THEN
            RAISE NOTICE '✅ Removed Platform Schemas (%)', pg_catalog.array_to_string(v_present_schemas, ', ');
        END IF;
        IF v_util_functions IS NOT NULL OR v_util_relations IS NOT NULL OR v_util_types IS NOT NULL THEN
            RAISE NOTICE '✅ Removed Platform Util Objects (% functions, % relations, % types)',
                COALESCE(pg_catalog.cardinality(v_util_functions), 0),
                COALESCE(pg_catalog.cardinality(v_util_relations), 0),
                COALESCE(pg_catalog.cardinality(v_util_types), 0);
        END IF;
        IF pg_catalog.jsonb_array_length(v_archived_events) > 0 THEN
            RAISE NOTICE 'ℹ️ Archived % platform audit events in the details of this run''s util.migration_log row',
                pg_catalog.jsonb_array_length(v_archived_events);
        END IF;
        RAISE NOTICE 'ℹ️ Kept util.migration_log (migration history) and extension pgcrypto (shared with other code)';

        v_details := pg_catalog.jsonb_build_object(
            'result', 'REMOVED',
            'forced', v_force,
            'backup_schema', v_backup_schema,
            'row_counts', v_row_counts,
            'blocking_row_counts', v_blocking_counts,
            'removed_schemas', pg_catalog.to_jsonb(COALESCE(v_present_schemas, ARRAY[]::text[])),
            'removed_util_objects', pg_catalog.to_jsonb(
                COALESCE(v_util_functions, ARRAY[]::text[])
                || COALESCE(v_util_relations, ARRAY[]::text[])
                || COALESCE(v_util_types, ARRAY[]::text[])
            ),
            'restore_statements', pg_catalog.to_jsonb(v_restore_statements),
            'archived_platform_audit_events', v_archived_events
        );
    END IF;

    -- ---------------------------------------------------------------------
    -- Migration log row (the audit tables are gone)
    -- ---------------------------------------------------------------------

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
            'V000',
            'platform_foundation',
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

    RAISE NOTICE '🎉 Rollback V000 completed successfully!';
END
$rollback$;

COMMIT;
