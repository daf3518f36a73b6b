//! The SQLite adapters: the landlord, tenant files with their migration driver and SQL
//! sandbox, and module archives. The only code in modreg that names rusqlite.

mod archive;
mod check;
mod copy;
mod driver;
mod error;
mod files;
mod kept;
pub mod landlord;
mod landlord_file;
mod reader;
mod sandbox;
mod schema;
mod script;
mod tenant_db;
mod tenant_files;

pub use landlord::SqliteLandlord;
pub use landlord_file::SqliteLandlordFile;
pub use reader::SqliteReadModel;
pub use sandbox::{MAX_VALUE_BYTES, limit_memory};
pub use tenant_files::SqliteTenantFiles;
