//! Published pipelines (Azure ML's `PublishedPipeline`) and the tokens that start them over
//! REST: tables `published` and `tokens` (schema version 3, see [`crate::schema`]).
//!
//! A published pipeline is immutable but for its `enabled` flag: the pipeline text, the
//! manifest digest of its sources' snapshot (in the project's CAS), the defaults of its
//! parameters and the git commit are what it was published with. A name and version pair is
//! published once. A token is stored as the sha256 of its text only: whoever reads the
//! database cannot use what it holds.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use crate::schema::write_tx;
use crate::{Context, Error, History, Result};

/// A pipeline to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPublished {
    /// Its id (a UUID, made by the caller).
    pub id: String,
    /// Its name (Azure ML's `name`).
    pub name: String,
    /// Its version (Azure ML's `version`, free text such as `1.0`).
    pub version: String,
    /// What it does, for people.
    pub description: Option<String>,
    /// The pipeline file's text.
    pub pipeline: String,
    /// The manifest digest (hex) of its sources' snapshot, stored in the project's CAS.
    pub snapshot: String,
    /// Its parameters with their default values (canonical text), in file order.
    pub params: Vec<(String, String)>,
    /// The git commit of the project when published, if it is a repository.
    pub git_commit: Option<String>,
    /// When, in milliseconds since the Unix epoch.
    pub created_ms: u64,
}

/// A published pipeline as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Published {
    /// Its id (UUID).
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: Option<String>,
    /// The pipeline file's text.
    #[serde(skip)]
    pub pipeline: String,
    /// The manifest digest (hex) of its sources' snapshot.
    pub snapshot: String,
    /// Its parameters with their defaults.
    pub params: Vec<(String, String)>,
    /// The git commit when published.
    pub git_commit: Option<String>,
    /// When, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Whether it may be started (`runner published disable` / `enable`).
    pub enabled: bool,
}

/// A token as listed (never its text, which is not stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// When it was made, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
}

const COLUMNS: &str =
    "id, name, version, description, pipeline, snapshot, params, git_commit, created_ms, enabled";

fn from_row(row: &rusqlite::Row<'_>) -> Result<Published> {
    let params: String = row.get(6).context("read published")?;
    let params: Vec<(String, String)> = serde_json::from_str(&params)
        .map_err(|e| Error::Corrupt(format!("published params: {e}")))?;
    let created: i64 = row.get(8).context("read published")?;
    Ok(Published {
        id: row.get(0).context("read published")?,
        name: row.get(1).context("read published")?,
        version: row.get(2).context("read published")?,
        description: row.get(3).context("read published")?,
        pipeline: row.get(4).context("read published")?,
        snapshot: row.get(5).context("read published")?,
        params,
        git_commit: row.get(7).context("read published")?,
        created_ms: u64::try_from(created).map_err(|_| Error::Corrupt("negative time".into()))?,
        enabled: row.get::<_, i64>(9).context("read published")? != 0,
    })
}

fn ms(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl History {
    /// Records `p` as published.
    ///
    /// Errors: [`Error::AlreadyPublished`] when its name and version are taken; SQLite
    /// failures.
    pub fn publish(&self, p: &NewPublished) -> Result<()> {
        const CTX: &str = "publish";
        let params = serde_json::to_string(&p.params).expect("pairs of strings serialize");
        let tx = write_tx(&self.conn).context(CTX)?;
        let taken: Option<String> = tx
            .query_row(
                "SELECT id FROM published WHERE name = ?1 AND version = ?2",
                params![p.name, p.version],
                |r| r.get(0),
            )
            .optional()
            .context(CTX)?;
        if let Some(id) = taken {
            return Err(Error::AlreadyPublished {
                name: p.name.clone(),
                version: p.version.clone(),
                id,
            });
        }
        tx.execute(
            &format!(
                "INSERT INTO published ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1)"
            ),
            params![
                p.id,
                p.name,
                p.version,
                p.description,
                p.pipeline,
                p.snapshot,
                params,
                p.git_commit,
                ms(p.created_ms)
            ],
        )
        .context(CTX)?;
        tx.commit().context(CTX)
    }

    /// Every published pipeline, newest first; the disabled ones only when `all`.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn published(&self, all: bool) -> Result<Vec<Published>> {
        const CTX: &str = "list published";
        let filter = if all { "" } else { "WHERE enabled = 1" };
        let sql = format!("SELECT {COLUMNS} FROM published {filter} ORDER BY created_ms DESC, id");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query([]).context(CTX)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().context(CTX)? {
            out.push(from_row(row)?);
        }
        Ok(out)
    }

    /// The published pipeline `id`, if any.
    ///
    /// Errors: SQLite failures; a corrupt row.
    pub fn published_one(&self, id: &str) -> Result<Option<Published>> {
        const CTX: &str = "read published";
        let sql = format!("SELECT {COLUMNS} FROM published WHERE id = ?1");
        let mut stmt = self.conn.prepare_cached(&sql).context(CTX)?;
        let mut rows = stmt.query(params![id]).context(CTX)?;
        rows.next().context(CTX)?.map(from_row).transpose()
    }

    /// Enables or disables published pipeline `id`. Returns whether it exists.
    ///
    /// Errors: SQLite failures.
    pub fn set_published_enabled(&self, id: &str, enabled: bool) -> Result<bool> {
        const CTX: &str = "enable or disable published";
        let n = self
            .conn
            .execute(
                "UPDATE published SET enabled = ?2 WHERE id = ?1",
                params![id, i64::from(enabled)],
            )
            .context(CTX)?;
        Ok(n > 0)
    }

    /// Records a token named `name` whose text hashes to `hash` (sha256, hex).
    ///
    /// Errors: [`Error::TokenExists`] when a token of that name exists and is not revoked (a
    /// revoked one is replaced); SQLite failures.
    pub fn create_token(&self, name: &str, hash: &str, created_ms: u64) -> Result<()> {
        const CTX: &str = "create token";
        let tx = write_tx(&self.conn).context(CTX)?;
        let live: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM tokens WHERE name = ?1 AND revoked_ms IS NULL",
                params![name],
                |r| r.get(0),
            )
            .optional()
            .context(CTX)?;
        if live.is_some() {
            return Err(Error::TokenExists(name.to_owned()));
        }
        tx.execute(
            "INSERT OR REPLACE INTO tokens (name, hash, created_ms, revoked_ms) VALUES (?1, ?2, ?3, NULL)",
            params![name, hash, ms(created_ms)],
        )
        .context(CTX)?;
        tx.commit().context(CTX)
    }

    /// Every token, by name.
    ///
    /// Errors: SQLite failures.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>> {
        const CTX: &str = "list tokens";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, created_ms, revoked_ms FROM tokens ORDER BY name")
            .context(CTX)?;
        let rows = stmt
            .query_map([], |r| {
                let created: i64 = r.get(1)?;
                let revoked: Option<i64> = r.get(2)?;
                Ok(TokenInfo {
                    name: r.get(0)?,
                    created_ms: u64::try_from(created).unwrap_or(0),
                    revoked_ms: revoked.map(|v| u64::try_from(v).unwrap_or(0)),
                })
            })
            .context(CTX)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context(CTX)
    }

    /// Revokes token `name` at `at_ms`. Returns whether a live token of that name existed.
    ///
    /// Errors: SQLite failures.
    pub fn revoke_token(&self, name: &str, at_ms: u64) -> Result<bool> {
        const CTX: &str = "revoke token";
        let n = self
            .conn
            .execute(
                "UPDATE tokens SET revoked_ms = ?2 WHERE name = ?1 AND revoked_ms IS NULL",
                params![name, ms(at_ms)],
            )
            .context(CTX)?;
        Ok(n > 0)
    }

    /// The name of the live (not revoked) token whose text hashes to `hash`, if any. The
    /// caller hashes what a client sent: the lookup compares digests, so its timing says
    /// nothing about the token's text.
    ///
    /// Errors: SQLite failures.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<String>> {
        const CTX: &str = "find token";
        self.conn
            .query_row(
                "SELECT name FROM tokens WHERE hash = ?1 AND revoked_ms IS NULL",
                params![hash],
                |r| r.get(0),
            )
            .optional()
            .context(CTX)
    }

    /// Every token's name, stored hash (sha256 hex) and whether it is revoked: for a server
    /// that compares what a client sent against each in constant time, and tells a revoked
    /// token from an unknown one.
    ///
    /// Errors: SQLite failures.
    pub fn token_hashes(&self) -> Result<Vec<(String, String, bool)>> {
        const CTX: &str = "list token hashes";
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, hash, revoked_ms IS NOT NULL FROM tokens")
            .context(CTX)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).context(CTX)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().context(CTX)
    }
}
