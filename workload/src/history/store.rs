//! The history database through sqlx's `Any` driver: one code path and one migration for
//! SQLite and PostgreSQL. Writes are batched multi-row inserts in one transaction; queries
//! downsample in the database (`GROUP BY` a bucket of `step` milliseconds), so at most one row
//! per series and bucket leaves it.

use super::HistoryError;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// One stored reading: a metric (`cpu`, `disk`, …), its series (a mountpoint, a sensor, a GPU;
/// empty for single-series metrics), when, and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub metric: &'static str,
    pub series: String,
    pub at_ms: i64,
    pub value: f64,
}

/// One downsampled bucket of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub series: String,
    pub start_ms: i64,
    pub avg: f64,
    pub min: f64,
    pub max: f64,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The rollup period: five minutes.
pub const ROLLUP_MS: i64 = 300_000;

/// Rows per INSERT statement: well under SQLite's 32,766 bind parameters (4 per row).
const ROWS_PER_STATEMENT: usize = 500;

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// A pool that connects on first use, so an unreachable database does not stop the server.
    pub fn lazy(url: &str) -> Result<Self, HistoryError> {
        super::database_kind(url)?;
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            // SQLite in memory lives as long as its one connection.
            .max_connections(if url.contains(":memory:") { 1 } else { 4 })
            .min_connections(0)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy(url)
            .map_err(|e| HistoryError::Database(e.to_string()))?;
        Ok(Self { pool })
    }

    /// Applies the embedded migrations (idempotent).
    pub async fn migrate(&self) -> Result<(), HistoryError> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| HistoryError::Database(e.to_string()))
    }

    /// Inserts every point in one transaction; a point already stored is kept as is.
    pub async fn insert(&self, points: &[Point]) -> Result<(), HistoryError> {
        let mut transaction = self.pool.begin().await.map_err(database)?;
        for chunk in points.chunks(ROWS_PER_STATEMENT) {
            let mut sql =
                String::from("INSERT INTO history_samples (metric, series, at_ms, value) VALUES ");
            for index in 0..chunk.len() {
                let n = index * 4;
                if index > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!("(${}, ${}, ${}, ${})", n + 1, n + 2, n + 3, n + 4));
            }
            sql.push_str(" ON CONFLICT (metric, series, at_ms) DO NOTHING");
            let mut query = sqlx::query(&sql);
            for point in chunk {
                query = query
                    .bind(point.metric)
                    .bind(point.series.as_str())
                    .bind(point.at_ms)
                    .bind(point.value);
            }
            let inserted = query.execute(&mut *transaction).await.map_err(database)?;
            // A point already stored is not counted twice in its rollup.
            if inserted.rows_affected() == chunk.len() as u64 {
                roll_up(&mut transaction, chunk).await?;
            } else {
                for point in chunk {
                    roll_up_if_new(&mut transaction, point).await?;
                }
            }
        }
        transaction.commit().await.map_err(database)
    }

    /// Deletes points older than `cutoff_ms`; returns how many.
    pub async fn delete_before(&self, cutoff_ms: i64) -> Result<u64, HistoryError> {
        let result = sqlx::query("DELETE FROM history_samples WHERE at_ms < $1")
            .bind(cutoff_ms)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        // A rollup goes once its whole period is past the cutoff.
        sqlx::query("DELETE FROM history_rollups WHERE bucket_ms + $2 <= $1")
            .bind(cutoff_ms)
            .bind(ROLLUP_MS)
            .execute(&self.pool)
            .await
            .map_err(database)?;
        Ok(result.rows_affected())
    }

    /// Average, minimum and maximum per series and bucket of `step_ms` in `[from_ms, to_ms)`.
    /// A step that is a whole number of rollup periods, over a range aligned to them, is read
    /// from the five-minute rollups; anything else from the raw points.
    /// Buckets of `step_ms` over `[from_ms, to_ms)`, at most `limit` rows (series × buckets).
    pub async fn downsample(
        &self,
        metric: &str,
        (from_ms, to_ms): (i64, i64),
        step_ms: i64,
        limit: i64,
    ) -> Result<Vec<Bucket>, HistoryError> {
        let rollups = step_ms % ROLLUP_MS == 0 && from_ms % ROLLUP_MS == 0;
        let sql = if rollups {
            "SELECT series, ((bucket_ms - $2) / $4) AS bucket, SUM(total) / SUM(count) AS avg, \
             MIN(low) AS min, MAX(high) AS max FROM history_rollups \
             WHERE metric = $1 AND bucket_ms >= $2 AND bucket_ms < $3 \
             GROUP BY series, bucket ORDER BY series, bucket LIMIT $5"
        } else {
            "SELECT series, ((at_ms - $2) / $4) AS bucket, AVG(value) AS avg, MIN(value) AS min, \
             MAX(value) AS max FROM history_samples \
             WHERE metric = $1 AND at_ms >= $2 AND at_ms < $3 \
             GROUP BY series, bucket ORDER BY series, bucket LIMIT $5"
        };
        let rows = sqlx::query(sql)
            .bind(metric)
            .bind(from_ms)
            .bind(to_ms)
            .bind(step_ms)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(database)?;
        rows.iter()
            .map(|row| {
                let bucket: i64 = row.try_get("bucket").map_err(database)?;
                Ok(Bucket {
                    series: row.try_get("series").map_err(database)?,
                    start_ms: bucket
                        .checked_mul(step_ms)
                        .and_then(|offset| from_ms.checked_add(offset))
                        .unwrap_or(to_ms),
                    avg: row.try_get("avg").map_err(database)?,
                    min: row.try_get("min").map_err(database)?,
                    max: row.try_get("max").map_err(database)?,
                })
            })
            .collect()
    }

    /// Points stored for `metric` (tests and the benchmark count with it).
    pub async fn count(&self, metric: &str) -> Result<i64, HistoryError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM history_samples WHERE metric = $1")
            .bind(metric)
            .fetch_one(&self.pool)
            .await
            .map_err(database)?;
        row.try_get("n").map_err(database)
    }
}

const ROLL_UP: &str =
    "INSERT INTO history_rollups (metric, series, bucket_ms, count, total, low, high) VALUES ";
/// Adds to existing rollups; `CASE` rather than two-argument MIN/MAX (SQLite) or LEAST/GREATEST
/// (PostgreSQL), which neither shares.
const ROLL_UP_MERGE: &str = " ON CONFLICT (metric, series, bucket_ms) DO UPDATE SET \
    count = history_rollups.count + excluded.count, \
    total = history_rollups.total + excluded.total, \
    low = CASE WHEN excluded.low < history_rollups.low THEN excluded.low ELSE history_rollups.low END, \
    high = CASE WHEN excluded.high > history_rollups.high THEN excluded.high ELSE history_rollups.high END";

/// (metric, series, period start) and (count, total, low, high) of one rollup row.
type RollupKey<'a> = (&'a str, &'a str, i64);
type Rollup = (i64, f64, f64, f64);

/// Folds freshly inserted points into their rollups, one row per (metric, series, period).
async fn roll_up(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    points: &[Point],
) -> Result<(), HistoryError> {
    let mut folded: std::collections::BTreeMap<RollupKey<'_>, Rollup> = Default::default();
    for p in points {
        let key = (
            p.metric,
            p.series.as_str(),
            p.at_ms - p.at_ms.rem_euclid(ROLLUP_MS),
        );
        let entry = folded
            .entry(key)
            .or_insert((0, 0.0, f64::INFINITY, f64::NEG_INFINITY));
        entry.0 += 1;
        entry.1 += p.value;
        entry.2 = entry.2.min(p.value);
        entry.3 = entry.3.max(p.value);
    }
    let rows: Vec<_> = folded.into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
        let mut sql = String::from(ROLL_UP);
        for index in 0..chunk.len() {
            let n = index * 7;
            if index > 0 {
                sql.push(',');
            }
            sql.push_str(&format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            ));
        }
        sql.push_str(ROLL_UP_MERGE);
        let mut query = sqlx::query(&sql);
        for ((metric, series, bucket), (count, total, low, high)) in chunk {
            query = query
                .bind(*metric)
                .bind(*series)
                .bind(*bucket)
                .bind(*count)
                .bind(*total)
                .bind(*low)
                .bind(*high);
        }
        query.execute(&mut **transaction).await.map_err(database)?;
    }
    Ok(())
}

/// The slow path after a partial duplicate batch: a point counts only if it was not stored.
async fn roll_up_if_new(
    transaction: &mut sqlx::Transaction<'_, sqlx::Any>,
    point: &Point,
) -> Result<(), HistoryError> {
    // Whether this point was new is not known after a partly duplicate batch, so the period's
    // rollup is rebuilt from the raw rows (rare: only when a batch is retried after a commit).
    let bucket = point.at_ms - point.at_ms.rem_euclid(ROLLUP_MS);
    sqlx::query("DELETE FROM history_rollups WHERE metric = $1 AND series = $2 AND bucket_ms = $3")
        .bind(point.metric)
        .bind(point.series.as_str())
        .bind(bucket)
        .execute(&mut **transaction)
        .await
        .map_err(database)?;
    sqlx::query(
        "INSERT INTO history_rollups (metric, series, bucket_ms, count, total, low, high) \
         SELECT metric, series, $3, COUNT(*), SUM(value), MIN(value), MAX(value) FROM history_samples \
         WHERE metric = $1 AND series = $2 AND at_ms >= $3 AND at_ms < $4 GROUP BY metric, series",
    )
    .bind(point.metric)
    .bind(point.series.as_str())
    .bind(bucket)
    .bind(bucket + ROLLUP_MS)
    .execute(&mut **transaction)
    .await
    .map_err(database)?;
    Ok(())
}

fn database(error: sqlx::Error) -> HistoryError {
    HistoryError::Database(error.to_string())
}
