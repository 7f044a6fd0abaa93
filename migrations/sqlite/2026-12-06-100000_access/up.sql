-- Local users: argon2id PHC strings, never the password.
CREATE TABLE users (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    role VARCHAR(16) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_ms BIGINT NOT NULL,
    last_login_ms BIGINT NULL
);

-- Browser sessions. The cookie carries a random id; only its SHA-256 is stored, so a copy of
-- the database does not log anyone in. Revoked at logout, and when the user's role or
-- password changes; every node checks this table on every request.
CREATE TABLE sessions (
    id_hash CHAR(64) NOT NULL PRIMARY KEY,
    user_name VARCHAR(64) NOT NULL,
    csrf_token CHAR(43) NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    address VARCHAR(64) NULL,
    FOREIGN KEY (user_name) REFERENCES users (name) ON DELETE CASCADE
);
CREATE INDEX sessions_by_user ON sessions (user_name);

-- Bearer tokens for programs, stored as SHA-256 (the token is shown once, at creation).
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash CHAR(64) NOT NULL UNIQUE,
    prefix VARCHAR(16) NOT NULL,
    name VARCHAR(64) NOT NULL,
    role VARCHAR(16) NOT NULL,
    created_by VARCHAR(80) NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NULL,
    revoked BOOLEAN NOT NULL DEFAULT 0,
    last_used_ms BIGINT NULL
);

-- Every change of configuration, users and tokens: who, when, from where, before and after.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms BIGINT NOT NULL,
    actor VARCHAR(80) NOT NULL,
    address VARCHAR(64) NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(255) NOT NULL,
    before_json TEXT NULL,
    after_json TEXT NULL
);
CREATE INDEX audit_by_time ON audit_log (at_ms);
