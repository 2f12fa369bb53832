-- auth: the people who use the console in the browser (`chargeplane user add`) and their
-- signed-in sessions.
CREATE TABLE console_users (
    name            text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._@-]{1,64}$'),
    password_hash   text NOT NULL,            -- argon2id
    role            text NOT NULL CHECK (role IN ('read', 'operate')),
    -- wrong passwords since the last sign-in or lockout; at the limit the user is locked
    failed_sign_ins integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- A signed-in browser. Its cookie holds the session's random id; the table keeps only the
-- id's SHA-256, so a copy of the table signs nobody in.
CREATE TABLE console_sessions (
    id_hash      bytea PRIMARY KEY,
    user_name    text NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz NOT NULL DEFAULT now(),
    -- the sooner of: a while after its last use, and a fixed time after sign-in
    expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (user_name);
