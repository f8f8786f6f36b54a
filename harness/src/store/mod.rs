//! Where the history lives (storage only: `analysis::history` decides what is stored and judges it): a SQLite file (the embedded default) or a PostgreSQL database shared by many hosts.
//! One code path over both: the same rows, the same SQL where the dialects agree (`$N` parameters, `ON CONFLICT DO
//! NOTHING RETURNING`), the table definitions and the bulk sample insert per dialect. Each database holds its format
//! version in `meta`; older formats are migrated forward in one transaction, newer ones are refused by version.
//!
//! URLs are shown only through [`redact`]: every message naming a PostgreSQL database drops its password.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

pub mod connect;

/// The history format this etbench writes. 1: runs + samples; 2: + device identity, host and CI provenance per run,
/// which the series key carries; 3: + the run identity's stable digest (`identity`) and CPU affinity / memory limit
/// columns; series keys name the CPU mask, memory limit and energy sampling when a run had them.
pub const FORMAT: u32 = 3;

/// A history database: a SQLite file or a PostgreSQL URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Location {
    /// `--db` / `ETBENCH_HISTORY_URL`: `postgres://…` or `postgresql://…` is a server, any other text without a
    /// `scheme://` is a SQLite file path (`sqlite://PATH` too).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        if text.is_empty() {
            bail!("--db is empty; pass a SQLite file path or a postgres://USER@HOST:PORT/DATABASE URL");
        }
        if text.starts_with("service=") {
            return Ok(Self::Postgres(text.to_owned()));
        }
        match text.split_once("://") {
            Some(("postgres" | "postgresql", _)) => {
                url::Url::parse(text).map_err(|e| anyhow::anyhow!("--db {}: not a valid PostgreSQL URL ({e}); write postgres://USER:PASSWORD@HOST:PORT/DATABASE", redact(text)))?;
                Ok(Self::Postgres(text.to_owned()))
            }
            Some(("sqlite", path)) => Ok(Self::Sqlite(PathBuf::from(path))),
            Some((scheme, _)) if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) => bail!(
                "--db {}: `{scheme}://` is not a history database etbench can use; pass a SQLite file path or a postgres://USER@HOST:PORT/DATABASE URL",
                redact(text)
            ),
            _ => Ok(Self::Sqlite(PathBuf::from(text))),
        }
    }
}

impl fmt::Display for Location {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl From<&Path> for Location {
    fn from(p: &Path) -> Self {
        Location::Sqlite(p.to_owned())
    }
}
impl From<&PathBuf> for Location {
    fn from(p: &PathBuf) -> Self {
        Location::Sqlite(p.clone())
    }
}
impl From<PathBuf> for Location {
    fn from(p: PathBuf) -> Self {
        Location::Sqlite(p)
    }
}
impl From<&Location> for Location {
    fn from(l: &Location) -> Self {
        l.clone()
    }
}

/// A URL as it may be shown: without its password (in the user part or a `password=` parameter). Text that is not
/// a URL is shown as its scheme only, since where a password would be cannot be told.
pub fn redact(text: &str) -> String {
    let Ok(mut url) = url::Url::parse(text) else {
        return match text.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://(unreadable URL, not shown)"),
            None => text.to_owned(),
        };
    };
    let _ = url.set_password(None);
    if url.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case("password")) {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("password"))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    url.to_string()
}

/// Whether `text` (a `--db` value) carries a password: in the URL's user part or a `password=` parameter.
pub fn carries_password(text: &str) -> bool {
    !secrets(text).is_empty()
}

/// Every secret of a URL that a message might carry (the password, decoded and as written).
fn secrets(text: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(text) else { return Vec::new() };
    let mut out: Vec<String> = url.password().map(str::to_owned).into_iter().collect();
    out.extend(url.query_pairs().filter(|(k, _)| k.eq_ignore_ascii_case("password")).map(|(_, v)| v.into_owned()));
    let decoded: Vec<String> = out.iter().filter_map(|s| percent_decode(s)).collect();
    out.extend(decoded);
    out.retain(|s| !s.is_empty());
    out
}

fn percent_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(s).decode_utf8().ok().map(|d| d.into_owned())
}

/// One stored run: the key columns, a few headline numbers for SQL, the whole run as JSON, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub series: String,
    pub device: String,
    pub device_id: String,
    pub host: String,
    pub model_name: String,
    pub model_sha256: String,
    pub method: String,
    pub threads: String,
    pub load_mode: String,
    pub input: String,
    pub etbench_version: String,
    pub executorch_version: String,
    pub run_id: String,
    pub batch: String,
    pub started_at: String,
    pub source: String,
    pub latency_median_ns: Option<f64>,
    pub run_json: String,
    pub ci_json: Option<String>,
    /// The series' stable digest ([`crate::analysis::history::SeriesKey::digest`]): the same for every night of a
    /// series whatever its display text.
    pub identity: String,
    /// The CPU mask the run was pinned to (empty: none).
    pub cpu_affinity: String,
    /// The memory limit in bytes (none: unlimited).
    pub memory_limit_bytes: Option<i64>,
    pub samples: Vec<i64>,
}

/// What `series()` reads back of a row.
pub struct Stored {
    pub series: String,
    pub batch: String,
    pub run_json: String,
    pub source: String,
    pub host: String,
    pub device_id: String,
    pub ci_json: Option<String>,
}

/// One column value, bound the same way by both clients.
#[derive(Debug)]
enum Value<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    OptReal(Option<f64>),
    OptInt(Option<i64>),
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Value::Text(s) => s.to_sql(),
            Value::OptText(s) => s.to_sql(),
            Value::OptReal(v) => v.to_sql(),
            Value::OptInt(v) => v.to_sql(),
        }
    }
}

impl postgres::types::ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Text(s) => s.to_sql(ty, out),
            Value::OptText(s) => s.to_sql(ty, out),
            Value::OptReal(v) => v.to_sql(ty, out),
            Value::OptInt(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(ty: &postgres::types::Type) -> bool {
        <&str as postgres::types::ToSql>::accepts(ty)
            || <f64 as postgres::types::ToSql>::accepts(ty)
            || <i64 as postgres::types::ToSql>::accepts(ty)
    }

    postgres::types::to_sql_checked!();
}

/// A result row of either client, read by column index.
trait Columns {
    fn text(&self, i: usize) -> anyhow::Result<String>;
    fn opt_text(&self, i: usize) -> anyhow::Result<Option<String>>;
    fn opt_real(&self, i: usize) -> anyhow::Result<Option<f64>>;
    fn opt_int(&self, i: usize) -> anyhow::Result<Option<i64>>;
}

impl Columns for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> anyhow::Result<String> {
        Ok(self.get(i)?)
    }
    fn opt_text(&self, i: usize) -> anyhow::Result<Option<String>> {
        Ok(self.get(i)?)
    }
    fn opt_real(&self, i: usize) -> anyhow::Result<Option<f64>> {
        Ok(self.get(i)?)
    }
    fn opt_int(&self, i: usize) -> anyhow::Result<Option<i64>> {
        Ok(self.get(i)?)
    }
}

impl Columns for postgres::Row {
    fn text(&self, i: usize) -> anyhow::Result<String> {
        Ok(self.try_get(i)?)
    }
    fn opt_text(&self, i: usize) -> anyhow::Result<Option<String>> {
        Ok(self.try_get(i)?)
    }
    fn opt_real(&self, i: usize) -> anyhow::Result<Option<f64>> {
        Ok(self.try_get(i)?)
    }
    fn opt_int(&self, i: usize) -> anyhow::Result<Option<i64>> {
        Ok(self.try_get(i)?)
    }
}

impl Row {
    /// The values of [`COLUMNS`], in order: the one list of them.
    fn values(&self) -> [Value<'_>; 22] {
        use Value::*;
        [
            Text(&self.series),
            Text(&self.device),
            Text(&self.device_id),
            Text(&self.host),
            Text(&self.model_name),
            Text(&self.model_sha256),
            Text(&self.method),
            Text(&self.threads),
            Text(&self.load_mode),
            Text(&self.input),
            Text(&self.etbench_version),
            Text(&self.executorch_version),
            Text(&self.run_id),
            Text(&self.batch),
            Text(&self.started_at),
            Text(&self.source),
            OptReal(self.latency_median_ns),
            Text(&self.run_json),
            OptText(self.ci_json.as_deref()),
            Text(&self.identity),
            Text(&self.cpu_affinity),
            OptInt(self.memory_limit_bytes),
        ]
    }

    /// A row selected as [`COLUMNS`] (its samples are filled in by the caller).
    fn read(c: &impl Columns) -> anyhow::Result<Self> {
        Ok(Row {
            series: c.text(0)?,
            device: c.text(1)?,
            device_id: c.text(2)?,
            host: c.text(3)?,
            model_name: c.text(4)?,
            model_sha256: c.text(5)?,
            method: c.text(6)?,
            threads: c.text(7)?,
            load_mode: c.text(8)?,
            input: c.text(9)?,
            etbench_version: c.text(10)?,
            executorch_version: c.text(11)?,
            run_id: c.text(12)?,
            batch: c.text(13)?,
            started_at: c.text(14)?,
            source: c.text(15)?,
            latency_median_ns: c.opt_real(16)?,
            run_json: c.text(17)?,
            ci_json: c.opt_text(18)?,
            identity: c.text(19)?,
            cpu_affinity: c.text(20)?,
            memory_limit_bytes: c.opt_int(21)?,
            samples: Vec::new(),
        })
    }
}

impl Stored {
    fn read(c: &impl Columns) -> anyhow::Result<Self> {
        Ok(Stored {
            series: c.text(0)?,
            batch: c.text(1)?,
            run_json: c.text(2)?,
            source: c.text(3)?,
            host: c.text(4)?,
            device_id: c.text(5)?,
            ci_json: c.opt_text(6)?,
        })
    }
}

const COLUMNS: &str = "series, device, device_id, host, model_name, model_sha256, method, threads, load_mode, input, \
                       etbench_version, executorch_version, run_id, batch, started_at, source, latency_median_ns, run_json, ci_json, \
                       identity, cpu_affinity, memory_limit_bytes";

/// Shared by both dialects: a run already present (same series, run id and start) is skipped, and no id comes back.
fn insert_run() -> String {
    let params: Vec<String> = (1..=COLUMNS.split(',').count()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO runs ({COLUMNS}) VALUES ({}) ON CONFLICT (series, run_id, started_at) DO NOTHING RETURNING id",
        params.join(", ")
    )
}

const SELECT_STORED: &str =
    "SELECT series, batch, run_json, source, host, device_id, ci_json FROM runs ORDER BY series, started_at, id";

const SQLITE_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    series TEXT NOT NULL,
    device TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    method TEXT NOT NULL,
    threads TEXT NOT NULL,
    load_mode TEXT NOT NULL,
    input TEXT NOT NULL,
    etbench_version TEXT NOT NULL,
    executorch_version TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    started_at TEXT NOT NULL,
    source TEXT NOT NULL,
    latency_median_ns REAL,
    run_json TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    ci_json TEXT,
    identity TEXT NOT NULL DEFAULT '',
    cpu_affinity TEXT NOT NULL DEFAULT '',
    memory_limit_bytes INTEGER,
    UNIQUE (series, run_id, started_at)
);
CREATE INDEX IF NOT EXISTS runs_by_series_time ON runs (series, started_at);
CREATE TABLE IF NOT EXISTS samples (
    run INTEGER NOT NULL REFERENCES runs (id),
    iteration INTEGER NOT NULL,
    latency_ns INTEGER NOT NULL,
    PRIMARY KEY (run, iteration)
) WITHOUT ROWID;
";

/// Format 1 → 2 in SQLite: the new columns; the rows' identity columns and series keys are filled in by the caller.
const SQLITE_1_TO_2: &str = "
ALTER TABLE runs ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN ci_json TEXT;
";

/// Format 2 → 3, both dialects: the identity columns; their values and the series keys are filled in by the caller.
const MIGRATE_2_TO_3: [&str; 3] = [
    "ALTER TABLE runs ADD COLUMN identity TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE runs ADD COLUMN cpu_affinity TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE runs ADD COLUMN memory_limit_bytes BIGINT",
];

const POSTGRES_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series TEXT NOT NULL,
    device TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_sha256 TEXT NOT NULL,
    method TEXT NOT NULL,
    threads TEXT NOT NULL,
    load_mode TEXT NOT NULL,
    input TEXT NOT NULL,
    etbench_version TEXT NOT NULL,
    executorch_version TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch TEXT NOT NULL,
    started_at TEXT NOT NULL,
    source TEXT NOT NULL,
    latency_median_ns DOUBLE PRECISION,
    run_json TEXT NOT NULL,
    device_id TEXT NOT NULL DEFAULT '',
    host TEXT NOT NULL DEFAULT '',
    ci_json TEXT,
    identity TEXT NOT NULL DEFAULT '',
    cpu_affinity TEXT NOT NULL DEFAULT '',
    memory_limit_bytes BIGINT,
    UNIQUE (series, run_id, started_at)
);
CREATE INDEX IF NOT EXISTS runs_by_series_time ON runs (series, started_at);
CREATE TABLE IF NOT EXISTS samples (
    run BIGINT NOT NULL REFERENCES runs (id),
    iteration BIGINT NOT NULL,
    latency_ns BIGINT NOT NULL,
    PRIMARY KEY (run, iteration)
);
";

/// A migration to the next format, given the rows' series keys recomputed by the caller (`rekey`: run JSON, etbench
/// version and the host stored with the row (none before format 2) → the row's identity columns).
pub type Rekey<'a> = &'a dyn Fn(&str, &str, Option<&str>) -> anyhow::Result<Rekeyed>;

/// A stored row's identity columns as this etbench computes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Rekeyed {
    pub series: String,
    pub device_id: String,
    pub host: String,
    pub identity: String,
    pub cpu_affinity: String,
    pub memory_limit_bytes: Option<i64>,
}

const REKEY: &str = "UPDATE runs SET series = $1, device_id = $2, host = $3, identity = $4, cpu_affinity = $5, \
                     memory_limit_bytes = $6 WHERE id = $7";

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

pub struct Store {
    /// In a cell so reads take `&self` (a PostgreSQL client queries through `&mut`).
    conn: std::cell::RefCell<Conn>,
    location: Location,
}

impl Store {
    /// Opens the database, creating its tables when `create` (else it must exist), migrating an older format forward.
    pub fn open(location: &Location, create: bool, rekey: Rekey) -> anyhow::Result<Self> {
        let conn = match location {
            Location::Sqlite(path) => Conn::Sqlite(open_sqlite(path, create)?),
            Location::Postgres(url) => Conn::Postgres(Box::new(connect_postgres(url)?)),
        };
        let mut store = Self { conn: std::cell::RefCell::new(conn), location: location.clone() };
        store.prepare(create, rekey).map_err(|e| store.scrub(e))?;
        Ok(store)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// An error as it may be shown: no secret of the URL in it.
    fn scrub(&self, e: anyhow::Error) -> anyhow::Error {
        let Location::Postgres(url) = &self.location else { return e };
        let mut text = format!("{e:#}");
        for s in secrets(url) {
            text = text.replace(&s, "***");
        }
        anyhow::anyhow!(text)
    }

    fn bad(&self) -> String {
        format!("--db {}: not an etbench history database; pass another --db", self.location)
    }

    fn prepare(&mut self, create: bool, rekey: Rekey) -> anyhow::Result<()> {
        let location = self.location.clone();
        let bad = self.bad();
        match self.conn.get_mut() {
            Conn::Sqlite(conn) => prepare_sqlite(conn, create, rekey, &location, &bad),
            Conn::Postgres(client) => prepare_postgres(client, create, rekey, &location),
        }
    }

    /// Stores rows in one transaction: all of them or, on any error or a kill, none. Returns (added, already present).
    pub fn insert(&mut self, rows: &[Row]) -> anyhow::Result<(usize, usize)> {
        let location = self.location.clone();
        let result = (|| -> anyhow::Result<(usize, usize)> {
            let mut added = 0;
            match self.conn.get_mut() {
                Conn::Sqlite(conn) => {
                    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    {
                        let mut run = tx.prepare_cached(&insert_run())?;
                        let mut sample =
                            tx.prepare_cached("INSERT INTO samples (run, iteration, latency_ns) VALUES ($1, $2, $3)")?;
                        for r in rows {
                            let id: Option<i64> = rusqlite::OptionalExtension::optional(
                                run.query_row(rusqlite::params_from_iter(r.values()), |row| row.get(0)),
                            )?;
                            let Some(id) = id else { continue };
                            for (i, ns) in r.samples.iter().enumerate() {
                                sample.execute(rusqlite::params![id, i as i64, ns])?;
                            }
                            added += 1;
                        }
                    }
                    tx.commit()?;
                }
                Conn::Postgres(client) => {
                    let mut tx = client.transaction()?;
                    let run = tx.prepare(&insert_run())?;
                    let sample = tx.prepare("INSERT INTO samples (run, iteration, latency_ns) SELECT $1, i - 1, ns FROM unnest($2::bigint[]) WITH ORDINALITY AS s (ns, i)")?;
                    for r in rows {
                        let values = r.values();
                        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                        let id: Option<i64> = tx.query_opt(&run, &params)?.map(|row| row.get(0));
                        let Some(id) = id else { continue };
                        tx.execute(&sample, &[&id, &r.samples])?;
                        added += 1;
                    }
                    tx.commit()?;
                }
            }
            Ok((added, rows.len() - added))
        })();
        result
            .with_context(|| format!("writing the history {location} (nothing of this file was stored)"))
            .map_err(|e| self.scrub(e))
    }

    /// Every stored run, by series, oldest first.
    pub fn stored(&self) -> anyhow::Result<Vec<Stored>> {
        let result = (|| -> anyhow::Result<Vec<Stored>> {
            Ok(match &mut *self.conn.borrow_mut() {
                Conn::Sqlite(conn) => {
                    let mut stmt = conn.prepare(SELECT_STORED)?;
                    let mut rows = stmt.query([])?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        out.push(Stored::read(row)?);
                    }
                    out
                }
                Conn::Postgres(client) => {
                    client.query(SELECT_STORED, &[])?.iter().map(Stored::read).collect::<anyhow::Result<_>>()?
                }
            })
        })();
        // By series in byte order whatever the server's collation, so both stores list series alike (the SQL order
        // within a series, by start time, is kept).
        let mut rows =
            result.with_context(|| format!("reading the history {}", self.location)).map_err(|e| self.scrub(e))?;
        rows.sort_by(|a, b| a.series.cmp(&b.series));
        Ok(rows)
    }

    /// Every stored run as a full row (for `history copy`); samples come from the run's JSON.
    pub fn rows(&self) -> anyhow::Result<Vec<Row>> {
        let sql = format!("SELECT {COLUMNS} FROM runs ORDER BY series, started_at, id");
        let result = (|| -> anyhow::Result<Vec<Row>> {
            Ok(match &mut *self.conn.borrow_mut() {
                Conn::Sqlite(conn) => {
                    let mut stmt = conn.prepare(&sql)?;
                    let mut rows = stmt.query([])?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        out.push(Row::read(row)?);
                    }
                    out
                }
                Conn::Postgres(client) => {
                    client.query(&sql, &[])?.iter().map(Row::read).collect::<anyhow::Result<_>>()?
                }
            })
        })();
        result.with_context(|| format!("reading the history {}", self.location)).map_err(|e| self.scrub(e))
    }
}

/// Creates the tables of a new SQLite history, or migrates an older format forward, in one transaction.
fn prepare_sqlite(
    conn: &mut rusqlite::Connection,
    create: bool,
    rekey: Rekey,
    location: &Location,
    bad: &str,
) -> anyhow::Result<()> {
    // A writer takes the write lock at once (concurrent adds queue on it); a reader only when it migrates.
    let behavior =
        if create { rusqlite::TransactionBehavior::Immediate } else { rusqlite::TransactionBehavior::Deferred };
    let read_only = conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false);
    let tx = conn.transaction_with_behavior(behavior).with_context(|| bad.to_owned())?;
    let tables = |sql: &str| tx.query_row(sql, [], |r| r.get::<_, i64>(0)).with_context(|| bad.to_owned());
    if tables("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'")? == 0 {
        if tables("SELECT count(*) FROM sqlite_master")? > 0 || !create {
            bail!(bad.to_owned());
        }
        tx.execute_batch(SQLITE_SCHEMA)?;
        tx.execute("INSERT INTO meta (name, value) VALUES ('format', $1)", [FORMAT.to_string()])?;
        return tx.commit().with_context(|| format!("writing {location}"));
    }
    let found: Option<String> =
        rusqlite::OptionalExtension::optional(
            tx.query_row("SELECT value FROM meta WHERE name = 'format'", [], |r| r.get(0)),
        )?;
    let format = parse_format(found.as_deref(), location)?;
    if format < FORMAT && read_only {
        bail!("--db {location}: history format {format} is migrated to format {FORMAT} when first opened, which needs write access to the file; run any `etbench history` command on it once with write access");
    }
    if format < FORMAT {
        if format == 1 {
            tx.execute_batch(SQLITE_1_TO_2)?;
        }
        for step in MIGRATE_2_TO_3 {
            tx.execute(step, [])?;
        }
        let rows: Vec<(i64, String, String, String)> = {
            let mut stmt = tx.prepare("SELECT id, run_json, etbench_version, host FROM runs")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        for (id, json, version, host) in &rows {
            // Format 1 stored no host: the run's own says it for local runs.
            let k = rekey(json, version, (format >= 2).then_some(host.as_str()))?;
            let (series, device_id, host, identity) = (&k.series, &k.device_id, &k.host, &k.identity);
            tx.execute(
                REKEY,
                rusqlite::params![series, device_id, host, identity, k.cpu_affinity, k.memory_limit_bytes, id],
            )?;
        }
        tx.execute("UPDATE meta SET value = $1 WHERE name = 'format'", [FORMAT.to_string()])?;
        migrated(location, format, rows.len());
    }
    tx.commit().with_context(|| format!("writing {location}"))
}

/// Creates the tables of a new PostgreSQL history, or migrates an older format forward, in one transaction.
fn prepare_postgres(
    client: &mut postgres::Client,
    create: bool,
    rekey: Rekey,
    location: &Location,
) -> anyhow::Result<()> {
    let mut tx = client.transaction()?;
    // Many hosts may open a new database at once: one creates the tables, the others wait and see them.
    tx.execute("SELECT pg_advisory_xact_lock(7368616231)", &[])?;
    let has_meta: bool = tx.query_one("SELECT to_regclass('meta') IS NOT NULL", &[])?.get(0);
    if !has_meta {
        if !create {
            bail!(
                "--db {location}: this database holds no etbench history yet; add runs with `etbench history add RESULTS.json --db URL` (or `etbench history copy`)"
            );
        }
        tx.batch_execute(POSTGRES_SCHEMA)?;
        tx.execute("INSERT INTO meta (name, value) VALUES ('format', $1)", &[&FORMAT.to_string()])?;
        return Ok(tx.commit()?);
    }
    let found: Option<String> = tx.query_opt("SELECT value FROM meta WHERE name = 'format'", &[])?.map(|r| r.get(0));
    // Format 2 is the first PostgreSQL format; later ones add their steps here.
    let format = parse_format(found.as_deref(), location)?;
    if format < FORMAT {
        for step in MIGRATE_2_TO_3 {
            tx.execute(step, &[])?;
        }
        let rows: Vec<(i64, String, String, String)> = tx
            .query("SELECT id, run_json, etbench_version, host FROM runs", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        for (id, json, version, host) in &rows {
            let k = rekey(json, version, Some(host))?;
            let values: [&(dyn postgres::types::ToSql + Sync); 7] =
                [&k.series, &k.device_id, &k.host, &k.identity, &k.cpu_affinity, &k.memory_limit_bytes, id];
            tx.execute(REKEY, &values)?;
        }
        tx.execute("UPDATE meta SET value = $1 WHERE name = 'format'", &[&FORMAT.to_string()])?;
        migrated(location, format, rows.len());
    }
    Ok(tx.commit()?)
}

fn migrated(location: &Location, from: u32, runs: usize) {
    eprintln!("etbench: history {location}: migrated from format {from} to {FORMAT} ({runs} run(s) kept)");
}

fn parse_format(found: Option<&str>, location: &Location) -> anyhow::Result<u32> {
    let Some(text) = found else {
        bail!("--db {location}: not an etbench history database (no format version); pass another --db")
    };
    match text.parse::<u32>() {
        Ok(v) if (1..=FORMAT).contains(&v) => Ok(v),
        Ok(v) if v > FORMAT => bail!(
            "--db {location}: history format {v} needs a newer etbench (this one reads formats 1 to {FORMAT}); upgrade etbench, or pass another --db"
        ),
        _ => bail!("--db {location}: unknown history format {text:?}; pass another --db"),
    }
}

fn open_sqlite(path: &Path, create: bool) -> anyhow::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    if !create && !path.is_file() {
        bail!(
            "no history database at {}; create it with `etbench history add RESULTS.json --db {}` (or pass --db)",
            path.display(),
            path.display()
        );
    }
    // Read commands open read-write too: an older format is migrated on first sight (never created, though).
    let flags = if create { OpenFlags::default() } else { OpenFlags::default() - OpenFlags::SQLITE_OPEN_CREATE };
    let conn = match rusqlite::Connection::open_with_flags(path, flags) {
        Ok(conn) => conn,
        // A read of a file this user may not write (the history of another account, a read-only mount).
        Err(_) if !create => rusqlite::Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("--db {}: cannot open the history database", path.display()))?,
        Err(e) => {
            return Err(e).with_context(|| {
                format!("--db {}: cannot open or create the history database; choose a writable path", path.display())
            })
        }
    };
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    Ok(conn)
}

fn connect_postgres(url: &str) -> anyhow::Result<postgres::Client> {
    let shown = redact(url);
    let target =
        connect::target(url, &|k| std::env::var(k).ok()).map_err(|e| anyhow::anyhow!("--db {shown}: {e:#}"))?;
    let config = &target.config;
    let hosts = connect::host_names(config);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let at = format!("{}:{port}", if hosts.is_empty() { "localhost".into() } else { hosts.join(",") });
    let user = config.get_user().unwrap_or("?").to_owned();
    let mut target = target;
    if target.config.get_connect_timeout().is_none() {
        target.config.connect_timeout(std::time::Duration::from_secs(10));
    }
    if target.config.get_application_name().is_none() {
        target.config.application_name("etbench");
    }
    let password_from = target.password_source.clone().unwrap_or_else(|| "nowhere (no password was given)".into());
    connect::connect(&target).map_err(|e| {
        let code = e.code().cloned();
        let fix = match code.as_ref() {
            Some(c) if *c == postgres::error::SqlState::INVALID_PASSWORD => {
                return anyhow::anyhow!(
                    "--db {shown}: the PostgreSQL server at {at} refused the password for user {user} (from {password_from}); check it there (the URL, PGPASSWORD, the password file or the service entry)"
                )
            }
            Some(c) if *c == postgres::error::SqlState::INVALID_CATALOG_NAME => "create the database first (createdb) or fix its name in the URL",
            Some(_) => "check the user, database and server settings",
            None => "check that the server runs and listens there (and the host and port in the URL)",
        };
        let mut cause = format!("{:#}", anyhow::Error::from(e));
        for s in secrets(url) {
            cause = cause.replace(&s, "***");
        }
        if cause.contains("password missing") {
            return anyhow::anyhow!(
                "--db {shown}: no password for user {user} at {at}: the URL has none, PGPASSWORD is not set and no password file or service entry matches; set PGPASSWORD, or add `{}:{}:*:{user}:PASSWORD` to ~/.pgpass (mode 0600)",
                hosts.first().map(String::as_str).unwrap_or("localhost"),
                port
            );
        }
        if let Some(hint) = connect::tls_hint(&target, &cause) {
            return anyhow::anyhow!("--db {shown}: TLS with the PostgreSQL server at {at} failed: {cause}; {hint}");
        }
        anyhow::anyhow!("--db {shown}: cannot connect to the PostgreSQL server at {at}: {cause}; {fix}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_drops_the_password_wherever_it_is() {
        assert_eq!(redact("postgres://etbench:s3cret@db.lab:5433/hist"), "postgres://etbench@db.lab:5433/hist");
        assert_eq!(
            redact("postgresql://u:p%40ss@h/d?sslmode=disable&password=x2"),
            "postgresql://u@h/d?sslmode=disable"
        );
        assert_eq!(redact("postgres://h/d?password=only"), "postgres://h/d");
        assert_eq!(redact("postgres://u:pw@[::1"), "postgres://(unreadable URL, not shown)");
        assert_eq!(redact("/var/lib/etbench/history.sqlite"), "/var/lib/etbench/history.sqlite");
        assert!(secrets("postgres://u:p%40ss@h/d").contains(&"p@ss".to_owned()));
    }

    #[test]
    fn locations_are_paths_or_postgres_urls_and_nothing_else() {
        assert_eq!(Location::parse("h.sqlite").unwrap(), Location::Sqlite("h.sqlite".into()));
        assert_eq!(Location::parse("sqlite:///tmp/h.db").unwrap(), Location::Sqlite("/tmp/h.db".into()));
        assert!(matches!(Location::parse("postgresql://u@h:1/d").unwrap(), Location::Postgres(_)));
        let err = Location::parse("mysql://root:hunter2@db/x").unwrap_err().to_string();
        assert!(err.contains("mysql://") && !err.contains("hunter2"), "{err}");
        assert_eq!(Location::Postgres("postgres://a:b@c/d".into()).to_string(), "postgres://a@c/d");
    }
}
