//! The PostgreSQL landlord's connections: an r2d2 pool whose connections each keep the
//! statements they prepared. A statement sent by text costs two round trips (prepare,
//! then execute); a prepared one, one. A fleet command runs the same few dozen
//! statements for every tenant, so after the first tenant every statement is one round
//! trip.

use std::collections::HashMap;

use postgres::types::ToSql;
use postgres::{NoTls, Row, Statement};
use r2d2_postgres::PostgresConnectionManager;
use r2d2_postgres::r2d2::{self, ManageConnection};

/// A connection and the statements prepared on it, by their text.
pub(crate) struct Connection {
    client: postgres::Client,
    statements: HashMap<String, Statement>,
    /// Times it was checked out, for a pool that renews its connections.
    uses: usize,
    /// Not to be used again once back in the pool ([`Connection::retire`]).
    retired: bool,
}

pub(crate) struct Manager {
    inner: PostgresConnectionManager<NoTls>,
    /// Checkouts after which a connection is closed and a new one made (none: never).
    renew_after: Option<usize>,
}

impl Manager {
    pub(crate) fn new(config: postgres::Config) -> Manager {
        Manager { inner: PostgresConnectionManager::new(config, NoTls), renew_after: None }
    }

    /// A manager whose connections are replaced after `uses` checkouts: a server process
    /// keeps in its caches every catalog entry its connection touched, and work across
    /// thousands of tenant schemas makes those caches, and every invalidation of them that
    /// other connections' DDL sends, grow without end.
    pub(crate) fn renewing(config: postgres::Config, uses: usize) -> Manager {
        Manager { inner: PostgresConnectionManager::new(config, NoTls), renew_after: Some(uses) }
    }
}

impl ManageConnection for Manager {
    type Connection = Connection;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Connection, postgres::Error> {
        Ok(Connection { client: self.inner.connect()?, statements: HashMap::new(), uses: 0, retired: false })
    }

    fn is_valid(&self, conn: &mut Connection) -> Result<(), postgres::Error> {
        self.inner.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut Connection) -> bool {
        conn.uses += 1;
        conn.retired || conn.client.is_closed() || self.renew_after.is_some_and(|limit| conn.uses >= limit)
    }
}

pub(crate) type Pool = r2d2::Pool<Manager>;
pub(crate) type Pooled = r2d2::PooledConnection<Manager>;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The statement for `sql`, prepared on this connection once.
fn prepared(
    statements: &mut HashMap<String, Statement>,
    client: &mut impl postgres::GenericClient,
    sql: &str,
) -> Result<Statement, postgres::Error> {
    if let Some(statement) = statements.get(sql) {
        return Ok(statement.clone());
    }
    let statement = client.prepare(sql)?;
    statements.insert(sql.to_string(), statement.clone());
    Ok(statement)
}

impl Connection {
    pub(crate) fn query(&mut self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, postgres::Error> {
        let statement = prepared(&mut self.statements, &mut self.client, sql)?;
        self.client.query(&statement, params)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        let statement = prepared(&mut self.statements, &mut self.client, sql)?;
        self.client.query_one(&statement, params)
    }

    /// Begins a transaction, running `first` (statements without parameters, or
    /// nothing) in the same round trip.
    pub(crate) fn begin(&mut self, first: &str) -> Result<Tx<'_>, postgres::Error> {
        match first {
            "" => self.client.batch_execute("BEGIN")?,
            first => self.client.batch_execute(&format!("BEGIN; {first}"))?,
        }
        Ok(Tx { conn: self, open: true })
    }

    /// The server ended the connection (or the network did).
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Closes the connection once it is back in the pool, instead of lending it again: its
    /// session holds what another program left in it.
    pub(crate) fn retire(&mut self) {
        self.retired = true;
    }

    /// The connection itself, for what needs no cached statements.
    pub(crate) fn client(&mut self) -> &mut postgres::Client {
        &mut self.client
    }
}

/// A transaction whose statements come from its connection's cache. Begun and committed
/// by text, so that a statement without parameters can ride along in the same round
/// trip; dropped without a commit, it rolls back.
pub(crate) struct Tx<'a> {
    conn: &'a mut Connection,
    open: bool,
}

impl Tx<'_> {
    pub(crate) fn execute(&mut self, sql: &str, params: Params<'_>) -> Result<u64, postgres::Error> {
        let statement = prepared(&mut self.conn.statements, &mut self.conn.client, sql)?;
        self.conn.client.execute(&statement, params)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: Params<'_>) -> Result<Row, postgres::Error> {
        self.conn.query_one(sql, params)
    }

    /// Commits, running `last` (statements without parameters, or nothing) first, in
    /// the same round trip.
    pub(crate) fn commit(mut self, last: &str) -> Result<(), postgres::Error> {
        self.open = false;
        match last {
            "" => self.conn.client.batch_execute("COMMIT"),
            last => self.conn.client.batch_execute(&format!("{last}; COMMIT")),
        }
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open && !self.conn.is_closed() {
            let _ = self.conn.client.batch_execute("ROLLBACK");
        }
    }
}
