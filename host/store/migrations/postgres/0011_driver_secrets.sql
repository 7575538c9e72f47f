-- Each driver's secret configuration values (keys its manifest declares secret, and keys
-- named password, *_password, secret, *_secret, token, *_token, at any depth), stored once:
-- the latest values, replaced on every settings change. Stored driver versions keep `****`
-- in their place; loading a version (start-up, rollback, another server following) puts the
-- values from here back. `config` is a JSON object holding only the secret values, at their
-- paths.
CREATE TABLE driver_secrets (
    driver TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
