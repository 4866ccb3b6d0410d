-- =============================================================================
-- V000 platform foundation (forward)
--
-- What it does
--   Creates the base of the OneVault platform: the pgcrypto extension (in
--   schema public), the schemas util, auth, raw, staging, audit and api, the
--   hashing and load-date helpers in util, the migration log
--   util.migration_log, the Data Vault tables for tenants, users, roles and
--   sessions in auth, the registration landing tables in raw and staging,
--   and the audit tables and functions in audit.
--   The file records its run as one SUCCESS row in util.migration_log and as
--   one audit event under the platform key (32 zero bytes, see
--   util.get_platform_hk()).
--
-- What it requires
--   PostgreSQL 13 or later, the pgcrypto extension available on the server,
--   and a role that may create schemas and the pgcrypto extension in this
--   database (pgcrypto is a trusted extension since PostgreSQL 13).
--
-- How it runs
--   The whole file is one transaction (BEGIN ... COMMIT) without psql
--   meta-commands, so psql -f, \i, pgAdmin and a driver that sends the file
--   as one simple-protocol query all behave the same: any error rolls back
--   everything, and the database stays as it was. Do not run it inside an
--   open transaction, because its COMMIT would end that transaction too.
--   Running it again converges: objects that exist are kept, missing ones
--   are created, functions are replaced, comments are rewritten.
--
-- Session settings read (all optional, read with current_setting(name, true))
--   onevault.client         'onevault' when the onevault tool runs the file.
--                           Anything else is logged as executed_via 'psql'.
--   onevault.checksum       SHA-256 of the file in lower-case hex (tool only).
--   onevault.run_id         uuid of the run. A new one is generated if absent.
--   onevault.record_source  record_source written by util.get_record_source().
--
-- How to undo it
--   Run V000__rollback_platform_foundation.sql. It removes everything created
--   here except util.migration_log and the pgcrypto extension.
-- =============================================================================

BEGIN;

-- Prerequisites: server version and pgcrypto availability. The previous
-- client_min_messages is saved so that the "already exists, skipping"
-- notices of a re-run can be hidden and the level restored afterwards.
DO $prerequisites$
DECLARE
    v_version_num integer := pg_catalog.current_setting('server_version_num')::integer;
    v_pgcrypto_schema name;
    v_pgcrypto_available boolean;
BEGIN
    RAISE NOTICE '🚀 Starting migration V000: Platform Foundation';
    RAISE NOTICE '📋 Prerequisites Check:';

    IF v_version_num < 130000 THEN
        RAISE NOTICE '   PostgreSQL 13 or later: ❌ MISSING (server is %)', pg_catalog.current_setting('server_version');
        RAISE EXCEPTION 'V000 requires PostgreSQL 13 or later, but the server is %', pg_catalog.current_setting('server_version')
            USING ERRCODE = 'feature_not_supported',
                  HINT = 'Upgrade the server, then run V000 again.';
    END IF;
    RAISE NOTICE '   PostgreSQL 13 or later: ✅ %', pg_catalog.current_setting('server_version');

    SELECT n.nspname
    INTO v_pgcrypto_schema
    FROM pg_catalog.pg_extension AS e
    JOIN pg_catalog.pg_namespace AS n
        ON n.oid = e.extnamespace
    WHERE e.extname = 'pgcrypto';

    SELECT pg_catalog.count(*) > 0
    INTO v_pgcrypto_available
    FROM pg_catalog.pg_available_extensions
    WHERE name = 'pgcrypto';

    IF v_pgcrypto_schema IS NOT NULL AND v_pgcrypto_schema <> 'public' THEN
        RAISE NOTICE '   Extension pgcrypto in schema public: ❌ MISSING (installed in schema %)', v_pgcrypto_schema;
        RAISE EXCEPTION 'V000 requires pgcrypto in schema public, but it is installed in schema %', v_pgcrypto_schema
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Run ALTER EXTENSION pgcrypto SET SCHEMA public, then run V000 again.';
    ELSIF v_pgcrypto_schema IS NULL AND NOT v_pgcrypto_available THEN
        RAISE NOTICE '   Extension pgcrypto available: ❌ MISSING';
        RAISE EXCEPTION 'V000 requires the pgcrypto extension, which is not available on this server'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Install the PostgreSQL contrib package of this server version, then run V000 again.';
    END IF;
    RAISE NOTICE '   Extension pgcrypto: ✅ %',
        CASE WHEN v_pgcrypto_schema IS NULL THEN 'AVAILABLE (will be created in schema public)' ELSE 'EXISTS' END;

    PERFORM pg_catalog.set_config(
        'onevault.v000_object_counts_before',
        (
            SELECT pg_catalog.jsonb_build_object(
                'schemas', (
                    SELECT pg_catalog.count(*)
                    FROM pg_catalog.pg_namespace
                    WHERE nspname IN ('util', 'auth', 'raw', 'staging', 'audit', 'api')
                ),
                'tables', (
                    SELECT pg_catalog.count(*)
                    FROM pg_catalog.pg_class AS c
                    JOIN pg_catalog.pg_namespace AS n
                        ON n.oid = c.relnamespace
                    WHERE n.nspname IN ('util', 'auth', 'raw', 'staging', 'audit')
                      AND c.relkind = 'r'
                ),
                'functions', (
                    SELECT pg_catalog.count(*)
                    FROM pg_catalog.pg_proc AS p
                    JOIN pg_catalog.pg_namespace AS n
                        ON n.oid = p.pronamespace
                    WHERE n.nspname IN ('util', 'audit')
                )
            )::text
        ),
        TRUE
    );
    PERFORM pg_catalog.set_config(
        'onevault.v000_saved_client_min_messages',
        pg_catalog.current_setting('client_min_messages'),
        TRUE
    );
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', TRUE);
END
$prerequisites$;

-- -----------------------------------------------------------------------------
-- Extension and schemas
-- -----------------------------------------------------------------------------

-- pgcrypto provides crypt() and gen_salt() for bcrypt password hashes. Call
-- its functions schema-qualified (public.crypt, public.gen_salt).
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public;

CREATE SCHEMA IF NOT EXISTS util;
CREATE SCHEMA IF NOT EXISTS auth;
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS audit;
CREATE SCHEMA IF NOT EXISTS api;

COMMENT ON SCHEMA util IS
    'Hashing and load-date helpers, the record-source default and the migration log.';
COMMENT ON SCHEMA auth IS
    'Business vault of tenants, users, roles and sessions: hubs, links and satellites. Every row carries tenant_hk.';
COMMENT ON SCHEMA raw IS
    'Incoming requests as received, without secrets, owned by the tenant they concern (the system tenant before that tenant exists).';
COMMENT ON SCHEMA staging IS
    'Validation results of raw requests. A row that failed validation is never loaded into auth.';
COMMENT ON SCHEMA audit IS
    'One audit event per system operation. Audit tables have no foreign key to auth, so events outlive what they describe.';
COMMENT ON SCHEMA api IS
    'Functions that applications call (JSON in, JSON out). Applications never write tables directly.';

-- -----------------------------------------------------------------------------
-- util: hashing, load dates, record source
-- -----------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION util.hash_binary(p_input text)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $function$
    SELECT pg_catalog.sha256(pg_catalog.convert_to(p_input, 'UTF8'))
$function$;

COMMENT ON FUNCTION util.hash_binary(text) IS
    'Returns the raw 32-byte SHA-256 of the UTF-8 bytes of the text, without any normalisation. Returns NULL for NULL. Normalise business keys with util.normalize_business_key() before hashing them.';

-- The escape makes the encoding injective: a part can contain neither an
-- unescaped delimiter nor the NULL token, so ('ab','c') and ('a','bc') differ.
-- E'' strings are used because their meaning does not depend on
-- standard_conforming_strings.
CREATE OR REPLACE FUNCTION util.hash_concat(VARIADIC p_parts text[])
RETURNS bytea
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $function$
    SELECT pg_catalog.sha256(
        pg_catalog.convert_to(
            pg_catalog.array_to_string(
                ARRAY(
                    SELECT COALESCE(
                        pg_catalog.replace(
                            pg_catalog.replace(part.value, E'\\', E'\\\\'),
                            '|',
                            E'\\|'
                        ),
                        E'\\N'
                    )
                    FROM pg_catalog.unnest(p_parts) WITH ORDINALITY AS part(value, position)
                    ORDER BY part.position
                ),
                '|'
            ),
            'UTF8'
        )
    )
$function$;

COMMENT ON FUNCTION util.hash_concat(text[]) IS
    E'Returns the SHA-256 of several parts as one 32-byte key. In each part a backslash becomes two backslashes and | becomes \\|. A NULL part becomes the token \\N (backslash, capital N). The parts are joined with the delimiter | and the UTF-8 bytes of the result are hashed. Parts are not normalised, and an empty array hashes like one empty string. Use it for link keys and hash_diff values.';

CREATE OR REPLACE FUNCTION util.normalize_business_key(p_business_key text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $function$
    SELECT pg_catalog.upper(
        pg_catalog.regexp_replace(
            pg_catalog.regexp_replace(p_business_key, '^[[:space:]]+|[[:space:]]+$', '', 'g'),
            '[[:space:]]+',
            ' ',
            'g'
        )
    )
$function$;

COMMENT ON FUNCTION util.normalize_business_key(text) IS
    'Normalises a business key before it is hashed: trims leading and trailing whitespace, collapses inner runs of whitespace to one space and converts to upper case. This is the only place where business keys are normalised.';

CREATE OR REPLACE FUNCTION util.get_platform_hk()
RETURNS bytea
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
AS $function$
    SELECT pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')
$function$;

COMMENT ON FUNCTION util.get_platform_hk() IS
    'Returns the reserved platform key, 32 zero bytes. Audit events about the platform itself (deployments, rollbacks) carry it as tenant_hk. No tenant may use it: auth.tenant_h rejects it.';

CREATE OR REPLACE FUNCTION util.current_load_date()
RETURNS timestamptz
LANGUAGE plpgsql
VOLATILE
AS $function$
DECLARE
    v_previous_text text := pg_catalog.current_setting('onevault.last_load_date', TRUE);
    v_next timestamptz := pg_catalog.clock_timestamp();
BEGIN
    IF v_previous_text IS NOT NULL AND v_previous_text <> '' THEN
        v_next := GREATEST(v_next, v_previous_text::timestamptz + INTERVAL '1 microsecond');
    END IF;

    -- Stored as UTC ISO 8601 text, which reads back exactly under any DateStyle.
    PERFORM pg_catalog.set_config(
        'onevault.last_load_date',
        pg_catalog.to_char(v_next AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        FALSE
    );
    RETURN v_next;
END;
$function$;

COMMENT ON FUNCTION util.current_load_date() IS
    'Returns a load_date that is strictly greater than every value it returned before in this session, even inside one transaction: clock_timestamp(), or the previous value plus 1 microsecond when the clock has not moved on. The previous value is kept in the session setting onevault.last_load_date. Values from different sessions can still be equal.';

CREATE OR REPLACE FUNCTION util.get_record_source()
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
AS $function$
    SELECT COALESCE(NULLIF(pg_catalog.current_setting('onevault.record_source', TRUE), ''), 'onevault')
$function$;

COMMENT ON FUNCTION util.get_record_source() IS
    'Returns the record_source for new rows: the session setting onevault.record_source, or onevault when it is absent or empty.';

-- -----------------------------------------------------------------------------
-- util: migration log
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS util.migration_log (
    migration_log_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id uuid NOT NULL,
    version text NOT NULL,
    name text NOT NULL,
    direction text NOT NULL
        CONSTRAINT migration_log_direction_check CHECK (direction IN ('FORWARD', 'ROLLBACK')),
    status text NOT NULL
        CONSTRAINT migration_log_status_check CHECK (status IN ('RUNNING', 'SUCCESS', 'FAILED')),
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    executed_by text NOT NULL DEFAULT SESSION_USER,
    executed_via text NOT NULL
        CONSTRAINT migration_log_executed_via_check CHECK (executed_via IN ('onevault', 'psql')),
    checksum text
        CONSTRAINT migration_log_checksum_check CHECK (checksum ~ '^[0-9a-f]{64}$'),
    error_message text,
    error_detail jsonb,
    details jsonb,
    CONSTRAINT migration_log_failure_message_check CHECK (status <> 'FAILED' OR error_message IS NOT NULL)
);

COMMENT ON TABLE util.migration_log IS
    'History of migration runs: one row per run of one file, never updated in place by the migration files. A file writes its own SUCCESS row as the last step of its transaction. The onevault tool writes a FAILED row outside a failed transaction. Rollback V000 keeps this table, so the history outlives the platform.';
COMMENT ON COLUMN util.migration_log.run_id IS
    'Run identifier from the session setting onevault.run_id, or a uuid generated by the file.';
COMMENT ON COLUMN util.migration_log.executed_via IS
    'onevault when the session setting onevault.client is onevault, otherwise psql (any other client: psql, pgAdmin, a driver).';
COMMENT ON COLUMN util.migration_log.checksum IS
    'SHA-256 of the migration file in lower-case hex from the session setting onevault.checksum, NULL when the tool did not run the file.';
COMMENT ON COLUMN util.migration_log.details IS
    'Outcome of the run, for example which objects were created, the backup schema of a rollback and its row counts.';

CREATE INDEX IF NOT EXISTS idx_migration_log_version
    ON util.migration_log (version, direction, started_at);

CREATE OR REPLACE FUNCTION util.get_migration_run_id()
RETURNS uuid
LANGUAGE plpgsql
VOLATILE
AS $function$
DECLARE
    v_run_id text := NULLIF(pg_catalog.current_setting('onevault.run_id', TRUE), '');
BEGIN
    IF v_run_id IS NULL THEN
        -- Kept for the rest of the transaction so that every caller in this
        -- run gets the same id.
        v_run_id := pg_catalog.gen_random_uuid()::text;
        PERFORM pg_catalog.set_config('onevault.run_id', v_run_id, TRUE);
    END IF;
    RETURN v_run_id::uuid;
END;
$function$;

COMMENT ON FUNCTION util.get_migration_run_id() IS
    'Returns the run id of the current migration run: the session setting onevault.run_id, or a new uuid that is stored in that setting until the end of the transaction. Raises an error when the setting is not a valid uuid.';

CREATE OR REPLACE FUNCTION util.record_migration_run(
    p_version text,
    p_name text,
    p_direction text,
    p_details jsonb
)
RETURNS bigint
LANGUAGE sql
VOLATILE
AS $function$
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
        util.get_migration_run_id(),
        p_version,
        p_name,
        p_direction,
        'SUCCESS',
        pg_catalog.now(),
        pg_catalog.clock_timestamp(),
        CASE
            WHEN pg_catalog.current_setting('onevault.client', TRUE) = 'onevault' THEN 'onevault'
            ELSE 'psql'
        END,
        pg_catalog.lower(NULLIF(pg_catalog.current_setting('onevault.checksum', TRUE), '')),
        p_details
    )
    RETURNING migration_log_id
$function$;

COMMENT ON FUNCTION util.record_migration_run(text, text, text, jsonb) IS
    'Inserts the SUCCESS row of the current migration run into util.migration_log and returns its migration_log_id. Reads the session settings onevault.client, onevault.checksum and onevault.run_id. started_at is the transaction start, finished_at the current clock time, so call it as the last step of a migration file.';

-- -----------------------------------------------------------------------------
-- auth: tenants
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS auth.tenant_h (
    tenant_hk bytea PRIMARY KEY
        CONSTRAINT tenant_h_tenant_hk_length_check CHECK (pg_catalog.octet_length(tenant_hk) = 32)
        CONSTRAINT tenant_h_platform_key_reserved_check CHECK (tenant_hk <> pg_catalog.decode(pg_catalog.repeat('00', 32), 'hex')),
    tenant_bk text NOT NULL
        CONSTRAINT tenant_h_tenant_bk_key UNIQUE,
    load_date timestamptz NOT NULL,
    record_source text NOT NULL
);

COMMENT ON TABLE auth.tenant_h IS
    'Tenant hub: one row per tenant. tenant_hk is a 32-byte hash key. The platform key (32 zero bytes) is reserved for platform audit events and rejected here.';

CREATE TABLE IF NOT EXISTS auth.tenant_profile_s (
    tenant_hk bytea NOT NULL
        CONSTRAINT tenant_profile_s_tenant_hk_fkey REFERENCES auth.tenant_h (tenant_hk),
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_name text NOT NULL,
    tenant_type text NOT NULL,
    tenant_status text NOT NULL,
    max_users integer NOT NULL
        CONSTRAINT tenant_profile_s_max_users_check CHECK (max_users > 0),
    compliance_frameworks text[] NOT NULL DEFAULT '{}',
    contact_email text,
    is_active boolean NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT tenant_profile_s_pkey PRIMARY KEY (tenant_hk, load_date),
    CONSTRAINT tenant_profile_s_load_end_date_check CHECK (load_end_date IS NULL OR load_end_date >= load_date)
);

COMMENT ON TABLE auth.tenant_profile_s IS
    'Tenant profile satellite: one version per change. The current version has load_end_date NULL.';
COMMENT ON COLUMN auth.tenant_profile_s.hash_diff IS
    'util.hash_concat(tenant_name, tenant_type, tenant_status, max_users::text, compliance_frameworks::text, contact_email, is_active::text).';

CREATE UNIQUE INDEX IF NOT EXISTS uq_tenant_profile_s_current
    ON auth.tenant_profile_s (tenant_hk)
    WHERE load_end_date IS NULL;

-- -----------------------------------------------------------------------------
-- auth: users
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS auth.user_h (
    user_hk bytea PRIMARY KEY
        CONSTRAINT user_h_user_hk_length_check CHECK (pg_catalog.octet_length(user_hk) = 32),
    user_bk text NOT NULL,
    tenant_hk bytea NOT NULL
        CONSTRAINT user_h_tenant_hk_fkey REFERENCES auth.tenant_h (tenant_hk),
    load_date timestamptz NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT user_h_tenant_bk_key UNIQUE (tenant_hk, user_bk),
    CONSTRAINT user_h_user_tenant_key UNIQUE (user_hk, tenant_hk)
);

COMMENT ON TABLE auth.user_h IS
    'User hub: one row per user of one tenant. Satellites and links reference (user_hk, tenant_hk), so a user''s rows always carry the user''s own tenant.';

CREATE TABLE IF NOT EXISTS auth.user_profile_s (
    user_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    first_name text,
    last_name text,
    email text,
    is_active boolean NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT user_profile_s_pkey PRIMARY KEY (user_hk, load_date),
    CONSTRAINT user_profile_s_user_fkey FOREIGN KEY (user_hk, tenant_hk) REFERENCES auth.user_h (user_hk, tenant_hk),
    CONSTRAINT user_profile_s_load_end_date_check CHECK (load_end_date IS NULL OR load_end_date >= load_date)
);

COMMENT ON TABLE auth.user_profile_s IS
    'User profile satellite: name, e-mail address and active flag. The current version has load_end_date NULL.';

CREATE UNIQUE INDEX IF NOT EXISTS uq_user_profile_s_current
    ON auth.user_profile_s (user_hk)
    WHERE load_end_date IS NULL;

CREATE TABLE IF NOT EXISTS auth.user_auth_s (
    user_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    username text NOT NULL,
    password_hash text NOT NULL
        CONSTRAINT user_auth_s_password_hash_bcrypt_check CHECK (password_hash ~ '^[$]2[abxy][$][0-9]{2}[$][./A-Za-z0-9]{53}$'),
    failed_login_attempts integer NOT NULL DEFAULT 0
        CONSTRAINT user_auth_s_failed_login_attempts_check CHECK (failed_login_attempts >= 0),
    locked_until timestamptz,
    last_login_at timestamptz,
    password_changed_at timestamptz NOT NULL,
    must_change_password boolean NOT NULL DEFAULT FALSE,
    record_source text NOT NULL,
    CONSTRAINT user_auth_s_pkey PRIMARY KEY (user_hk, load_date),
    CONSTRAINT user_auth_s_user_fkey FOREIGN KEY (user_hk, tenant_hk) REFERENCES auth.user_h (user_hk, tenant_hk),
    CONSTRAINT user_auth_s_load_end_date_check CHECK (load_end_date IS NULL OR load_end_date >= load_date)
);

COMMENT ON TABLE auth.user_auth_s IS
    'User credential satellite: username, bcrypt password hash, failed login count and lockout. The current version has load_end_date NULL.';
COMMENT ON COLUMN auth.user_auth_s.password_hash IS
    'bcrypt hash from public.crypt(password, public.gen_salt(''bf'', cost)). The CHECK constraint rejects anything that is not a bcrypt hash, so a plaintext password cannot be stored.';

CREATE UNIQUE INDEX IF NOT EXISTS uq_user_auth_s_current
    ON auth.user_auth_s (user_hk)
    WHERE load_end_date IS NULL;

CREATE UNIQUE INDEX IF NOT EXISTS uq_user_auth_s_current_username
    ON auth.user_auth_s (tenant_hk, pg_catalog.lower(username))
    WHERE load_end_date IS NULL;

-- -----------------------------------------------------------------------------
-- auth: roles
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS auth.role_h (
    role_hk bytea PRIMARY KEY
        CONSTRAINT role_h_role_hk_length_check CHECK (pg_catalog.octet_length(role_hk) = 32),
    role_bk text NOT NULL,
    tenant_hk bytea NOT NULL
        CONSTRAINT role_h_tenant_hk_fkey REFERENCES auth.tenant_h (tenant_hk),
    load_date timestamptz NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT role_h_tenant_bk_key UNIQUE (tenant_hk, role_bk),
    CONSTRAINT role_h_role_tenant_key UNIQUE (role_hk, tenant_hk)
);

COMMENT ON TABLE auth.role_h IS
    'Role hub: one row per role, owned by one tenant.';

CREATE TABLE IF NOT EXISTS auth.role_profile_s (
    role_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    role_name text NOT NULL,
    role_type text NOT NULL,
    is_system_role boolean NOT NULL DEFAULT FALSE,
    permissions text[] NOT NULL DEFAULT '{}',
    description text,
    record_source text NOT NULL,
    CONSTRAINT role_profile_s_pkey PRIMARY KEY (role_hk, load_date),
    CONSTRAINT role_profile_s_role_fkey FOREIGN KEY (role_hk, tenant_hk) REFERENCES auth.role_h (role_hk, tenant_hk),
    CONSTRAINT role_profile_s_load_end_date_check CHECK (load_end_date IS NULL OR load_end_date >= load_date)
);

COMMENT ON TABLE auth.role_profile_s IS
    'Role profile satellite: name, type, system flag and permissions of a role. The current version has load_end_date NULL.';
COMMENT ON COLUMN auth.role_profile_s.hash_diff IS
    'util.hash_concat(role_name, role_type, is_system_role::text, permissions::text, description).';

CREATE UNIQUE INDEX IF NOT EXISTS uq_role_profile_s_current
    ON auth.role_profile_s (role_hk)
    WHERE load_end_date IS NULL;

CREATE TABLE IF NOT EXISTS auth.user_role_l (
    link_user_role_hk bytea PRIMARY KEY
        CONSTRAINT user_role_l_link_hk_length_check CHECK (pg_catalog.octet_length(link_user_role_hk) = 32),
    user_hk bytea NOT NULL,
    role_hk bytea NOT NULL
        CONSTRAINT user_role_l_role_hk_fkey REFERENCES auth.role_h (role_hk),
    tenant_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT user_role_l_user_fkey FOREIGN KEY (user_hk, tenant_hk) REFERENCES auth.user_h (user_hk, tenant_hk),
    CONSTRAINT user_role_l_user_role_key UNIQUE (user_hk, role_hk)
);

COMMENT ON TABLE auth.user_role_l IS
    'Link between a user and a role. tenant_hk is the user''s tenant. The role may belong to another tenant, for example a system role. link_user_role_hk is util.hash_concat(encode(user_hk, ''hex''), encode(role_hk, ''hex'')).';

CREATE INDEX IF NOT EXISTS idx_user_role_l_role_hk
    ON auth.user_role_l (role_hk);

CREATE INDEX IF NOT EXISTS idx_user_role_l_tenant_hk
    ON auth.user_role_l (tenant_hk);

-- -----------------------------------------------------------------------------
-- auth: sessions
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS auth.session_h (
    session_hk bytea PRIMARY KEY
        CONSTRAINT session_h_session_hk_length_check CHECK (pg_catalog.octet_length(session_hk) = 32),
    session_bk text NOT NULL,
    tenant_hk bytea NOT NULL
        CONSTRAINT session_h_tenant_hk_fkey REFERENCES auth.tenant_h (tenant_hk),
    load_date timestamptz NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT session_h_tenant_bk_key UNIQUE (tenant_hk, session_bk),
    CONSTRAINT session_h_session_tenant_key UNIQUE (session_hk, tenant_hk)
);

COMMENT ON TABLE auth.session_h IS
    'Session hub: one row per login session. session_bk is an opaque session id and never the bearer token itself.';

CREATE TABLE IF NOT EXISTS auth.session_state_s (
    session_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    session_status text NOT NULL
        CONSTRAINT session_state_s_status_check CHECK (session_status IN ('ACTIVE', 'EXPIRED', 'REVOKED', 'LOGGED_OUT')),
    expires_at timestamptz NOT NULL,
    last_activity_at timestamptz,
    ip_address inet,
    user_agent text,
    record_source text NOT NULL,
    CONSTRAINT session_state_s_pkey PRIMARY KEY (session_hk, load_date),
    CONSTRAINT session_state_s_session_fkey FOREIGN KEY (session_hk, tenant_hk) REFERENCES auth.session_h (session_hk, tenant_hk),
    CONSTRAINT session_state_s_load_end_date_check CHECK (load_end_date IS NULL OR load_end_date >= load_date)
);

COMMENT ON TABLE auth.session_state_s IS
    'Session state satellite: status, expiry and last activity. The current version has load_end_date NULL.';

CREATE UNIQUE INDEX IF NOT EXISTS uq_session_state_s_current
    ON auth.session_state_s (session_hk)
    WHERE load_end_date IS NULL;

CREATE TABLE IF NOT EXISTS auth.user_session_l (
    link_user_session_hk bytea PRIMARY KEY
        CONSTRAINT user_session_l_link_hk_length_check CHECK (pg_catalog.octet_length(link_user_session_hk) = 32),
    user_hk bytea NOT NULL,
    session_hk bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    load_date timestamptz NOT NULL,
    record_source text NOT NULL,
    CONSTRAINT user_session_l_user_fkey FOREIGN KEY (user_hk, tenant_hk) REFERENCES auth.user_h (user_hk, tenant_hk),
    CONSTRAINT user_session_l_session_fkey FOREIGN KEY (session_hk, tenant_hk) REFERENCES auth.session_h (session_hk, tenant_hk),
    CONSTRAINT user_session_l_user_session_key UNIQUE (user_hk, session_hk)
);

COMMENT ON TABLE auth.user_session_l IS
    'Link between a user and a session of the same tenant.';

CREATE INDEX IF NOT EXISTS idx_user_session_l_session_hk
    ON auth.user_session_l (session_hk, tenant_hk);

-- -----------------------------------------------------------------------------
-- raw and staging: registration requests
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS raw.tenant_registration_r (
    raw_registration_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_hk bytea NOT NULL
        CONSTRAINT tenant_registration_r_tenant_hk_length_check CHECK (pg_catalog.octet_length(tenant_hk) = 32),
    request_payload jsonb NOT NULL
        CONSTRAINT tenant_registration_r_no_secret_check CHECK (
            NOT pg_catalog.jsonb_path_exists(
                request_payload,
                '$.** ? (@.type() == "object").keyvalue() ? (@.key like_regex "passw(or)?d|secret|token" flag "i")'
            )
        ),
    received_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'RECEIVED'
        CONSTRAINT tenant_registration_r_status_check CHECK (status IN ('RECEIVED', 'VALIDATED', 'REJECTED', 'LOADED', 'FAILED')),
    status_reason text,
    record_source text NOT NULL
);

COMMENT ON TABLE raw.tenant_registration_r IS
    'Tenant registration requests as received. tenant_hk is the system tenant until the new tenant exists. The CHECK constraint rejects a payload with a key that looks like a password, secret or token at any depth, so secrets must be removed before the request is stored.';

CREATE INDEX IF NOT EXISTS idx_tenant_registration_r_tenant_hk
    ON raw.tenant_registration_r (tenant_hk);

CREATE TABLE IF NOT EXISTS staging.tenant_registration_s (
    staging_registration_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    raw_registration_id bigint NOT NULL
        CONSTRAINT tenant_registration_s_raw_fkey REFERENCES raw.tenant_registration_r (raw_registration_id),
    tenant_hk bytea NOT NULL
        CONSTRAINT tenant_registration_s_tenant_hk_length_check CHECK (pg_catalog.octet_length(tenant_hk) = 32),
    tenant_bk text,
    tenant_name text,
    contact_email text,
    admin_email text,
    admin_first_name text,
    admin_last_name text,
    validation_results jsonb NOT NULL DEFAULT '[]',
    is_valid boolean NOT NULL,
    status text NOT NULL DEFAULT 'PENDING'
        CONSTRAINT tenant_registration_s_status_check CHECK (status IN ('PENDING', 'VALID', 'INVALID', 'LOADED', 'FAILED')),
    processed_at timestamptz,
    record_source text NOT NULL,
    CONSTRAINT tenant_registration_s_loaded_only_if_valid_check CHECK (status NOT IN ('VALID', 'LOADED') OR is_valid)
);

COMMENT ON TABLE staging.tenant_registration_s IS
    'Validated, normalised registration requests, one row per validation of a raw request. validation_results contains one entry per rule with its outcome. A row with is_valid false can never reach status VALID or LOADED.';
COMMENT ON COLUMN staging.tenant_registration_s.tenant_bk IS
    'Business key of the new tenant, normalised with util.normalize_business_key().';

CREATE INDEX IF NOT EXISTS idx_tenant_registration_s_raw_registration_id
    ON staging.tenant_registration_s (raw_registration_id);

CREATE INDEX IF NOT EXISTS idx_tenant_registration_s_tenant_hk
    ON staging.tenant_registration_s (tenant_hk);

-- -----------------------------------------------------------------------------
-- audit
-- -----------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS audit.audit_event_h (
    audit_event_hk bytea PRIMARY KEY
        CONSTRAINT audit_event_h_audit_event_hk_length_check CHECK (pg_catalog.octet_length(audit_event_hk) = 32),
    audit_event_bk text NOT NULL
        CONSTRAINT audit_event_h_audit_event_bk_key UNIQUE,
    tenant_hk bytea NOT NULL
        CONSTRAINT audit_event_h_tenant_hk_length_check CHECK (pg_catalog.octet_length(tenant_hk) = 32),
    load_date timestamptz NOT NULL,
    record_source text NOT NULL
);

COMMENT ON TABLE audit.audit_event_h IS
    'Audit event hub: one row per event. tenant_hk is the tenant the event concerns, or the platform key (32 zero bytes) for platform events such as deployments. There is no foreign key to auth.tenant_h, so events survive the tenant they describe.';

CREATE INDEX IF NOT EXISTS idx_audit_event_h_tenant_hk
    ON audit.audit_event_h (tenant_hk, load_date);

CREATE TABLE IF NOT EXISTS audit.audit_detail_s (
    audit_event_hk bytea NOT NULL
        CONSTRAINT audit_detail_s_audit_event_hk_fkey REFERENCES audit.audit_event_h (audit_event_hk),
    load_date timestamptz NOT NULL,
    load_end_date timestamptz,
    hash_diff bytea NOT NULL,
    tenant_hk bytea NOT NULL,
    event_type text NOT NULL,
    action text NOT NULL,
    actor text NOT NULL,
    outcome text NOT NULL
        CONSTRAINT audit_detail_s_outcome_check CHECK (outcome IN ('SUCCESS', 'FAILURE', 'DENIED')),
    object_schema text,
    object_name text,
    details jsonb,
    record_source text NOT NULL,
    CONSTRAINT audit_detail_s_pkey PRIMARY KEY (audit_event_hk, load_date)
);

COMMENT ON TABLE audit.audit_detail_s IS
    'Audit event details: event type, action, actor (session_user), outcome, affected object and details. hash_diff is util.hash_concat(event_type, action, actor, outcome, object_schema, object_name, details::text).';

CREATE INDEX IF NOT EXISTS idx_audit_detail_s_tenant_hk
    ON audit.audit_detail_s (tenant_hk);

CREATE OR REPLACE FUNCTION audit.record_event(
    p_tenant_hk bytea,
    p_event_type text,
    p_action text,
    p_outcome text,
    p_details jsonb,
    p_object_schema text DEFAULT NULL,
    p_object_name text DEFAULT NULL
)
RETURNS bytea
LANGUAGE plpgsql
VOLATILE
AS $function$
DECLARE
    -- A random uuid, never a timestamp, so two events in the same instant
    -- get different keys.
    v_event_bk text := pg_catalog.gen_random_uuid()::text;
    v_event_hk bytea := util.hash_binary(v_event_bk);
    v_load_date timestamptz := util.current_load_date();
    v_record_source text := util.get_record_source();
BEGIN
    IF p_tenant_hk IS NULL OR pg_catalog.octet_length(p_tenant_hk) <> 32 THEN
        RAISE EXCEPTION 'audit.record_event: p_tenant_hk must be a 32-byte key, got %', p_tenant_hk
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_event_type IS NULL OR p_action IS NULL OR p_outcome IS NULL THEN
        RAISE EXCEPTION 'audit.record_event: p_event_type, p_action and p_outcome must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;

    INSERT INTO audit.audit_event_h (
        audit_event_hk,
        audit_event_bk,
        tenant_hk,
        load_date,
        record_source
    )
    VALUES (
        v_event_hk,
        v_event_bk,
        p_tenant_hk,
        v_load_date,
        v_record_source
    );

    INSERT INTO audit.audit_detail_s (
        audit_event_hk,
        load_date,
        hash_diff,
        tenant_hk,
        event_type,
        action,
        actor,
        outcome,
        object_schema,
        object_name,
        details,
        record_source
    )
    VALUES (
        v_event_hk,
        v_load_date,
        util.hash_concat(p_event_type, p_action, SESSION_USER, p_outcome, p_object_schema, p_object_name, p_details::text),
        p_tenant_hk,
        p_event_type,
        p_action,
        SESSION_USER,
        p_outcome,
        p_object_schema,
        p_object_name,
        p_details,
        v_record_source
    );

    RETURN v_event_hk;
END;
$function$;

COMMENT ON FUNCTION audit.record_event(bytea, text, text, text, jsonb, text, text) IS
    'Records one audit event (hub and detail rows) and returns its audit_event_hk. The key is the SHA-256 of a random uuid, so events never collide. actor is session_user. Pass util.get_platform_hk() as p_tenant_hk for platform events. Runs with the caller''s rights and is not executable by PUBLIC.';

CREATE OR REPLACE FUNCTION audit.log_row_change()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET bytea_output = 'hex'
AS $function$
DECLARE
    v_row_json jsonb;
    v_tenant_hk bytea;
    v_excluded_columns text[] := ARRAY['password_hash'] || TG_ARGV;
    v_details jsonb;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_row_json := pg_catalog.to_jsonb(OLD);
    ELSE
        v_row_json := pg_catalog.to_jsonb(NEW);
    END IF;

    -- bytea_output is pinned to hex above, so a bytea tenant_hk appears in
    -- the JSON as backslash-x followed by hex digits.
    IF pg_catalog.jsonb_typeof(v_row_json -> 'tenant_hk') = 'string'
       AND pg_catalog.left(v_row_json ->> 'tenant_hk', 2) = E'\\x' THEN
        v_tenant_hk := pg_catalog.decode(pg_catalog.substr(v_row_json ->> 'tenant_hk', 3), 'hex');
    END IF;

    v_details := pg_catalog.jsonb_build_object(
        'operation', TG_OP,
        'old', CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN pg_catalog.to_jsonb(OLD) - v_excluded_columns END,
        'new', CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN pg_catalog.to_jsonb(NEW) - v_excluded_columns END
    );

    PERFORM audit.record_event(
        COALESCE(v_tenant_hk, util.get_platform_hk()),
        'ROW_CHANGE',
        TG_OP,
        'SUCCESS',
        v_details,
        TG_TABLE_SCHEMA,
        TG_TABLE_NAME
    );
    RETURN NULL;
END;
$function$;

COMMENT ON FUNCTION audit.log_row_change() IS
    'Trigger function for AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW: records one audit event per changed row with the old and new row as JSON. The event belongs to the row''s tenant_hk, or to the platform key when the table has no tenant_hk. The column password_hash and any column named in the trigger arguments are left out of the details. Runs as its owner so that writers need no privilege on the audit tables.';

-- Functions that write or expose platform data are not for PUBLIC. The pure
-- helpers (hashing, normalisation, record source) stay executable by PUBLIC.
REVOKE ALL ON FUNCTION util.current_load_date() FROM PUBLIC;
REVOKE ALL ON FUNCTION util.get_migration_run_id() FROM PUBLIC;
REVOKE ALL ON FUNCTION util.record_migration_run(text, text, text, jsonb) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.record_event(bytea, text, text, text, jsonb, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.log_row_change() FROM PUBLIC;

-- -----------------------------------------------------------------------------
-- Report, audit event and migration log row
-- -----------------------------------------------------------------------------

DO $record_run$
DECLARE
    v_before jsonb := pg_catalog.current_setting('onevault.v000_object_counts_before')::jsonb;
    v_after jsonb;
    v_kind text;
    v_label text;
    v_created integer;
    v_total integer;
    v_details jsonb;
BEGIN
    PERFORM pg_catalog.set_config(
        'client_min_messages',
        pg_catalog.current_setting('onevault.v000_saved_client_min_messages'),
        TRUE
    );

    v_after := pg_catalog.jsonb_build_object(
        'schemas', (
            SELECT pg_catalog.count(*)
            FROM pg_catalog.pg_namespace
            WHERE nspname IN ('util', 'auth', 'raw', 'staging', 'audit', 'api')
        ),
        'tables', (
            SELECT pg_catalog.count(*)
            FROM pg_catalog.pg_class AS c
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = c.relnamespace
            WHERE n.nspname IN ('util', 'auth', 'raw', 'staging', 'audit')
              AND c.relkind = 'r'
        ),
        'functions', (
            SELECT pg_catalog.count(*)
            FROM pg_catalog.pg_proc AS p
            JOIN pg_catalog.pg_namespace AS n
                ON n.oid = p.pronamespace
            WHERE n.nspname IN ('util', 'audit')
        )
    );

    FOREACH v_kind IN ARRAY ARRAY['schemas', 'tables', 'functions'] LOOP
        v_label := 'Platform ' || pg_catalog.initcap(v_kind);
        v_total := (v_after ->> v_kind)::integer;
        v_created := v_total - (v_before ->> v_kind)::integer;
        IF v_created = 0 THEN
            RAISE NOTICE 'ℹ️ % already exist (%)', v_label, v_total;
        ELSIF v_created = v_total THEN
            RAISE NOTICE '✅ Created % (%)', v_label, v_created;
        ELSE
            RAISE NOTICE '✅ Repaired % (% created, % already existed)', v_label, v_created, v_total - v_created;
        END IF;
    END LOOP;

    v_details := pg_catalog.jsonb_build_object(
        'objects_before', v_before,
        'objects_after', v_after
    );

    PERFORM audit.record_event(
        util.get_platform_hk(),
        'MIGRATION',
        'DEPLOY V000',
        'SUCCESS',
        v_details || pg_catalog.jsonb_build_object(
            'version', 'V000',
            'name', 'platform_foundation',
            'direction', 'FORWARD',
            'run_id', util.get_migration_run_id()
        )
    );
    PERFORM util.record_migration_run('V000', 'platform_foundation', 'FORWARD', v_details);

    RAISE NOTICE '🎉 Migration V000 completed successfully!';
END
$record_run$;

COMMIT;
